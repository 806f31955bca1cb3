import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, type StatsFs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCondition } from '../../agent/evaluate';
import { diskCheck, guardedStatfs, selectMounts } from '../../checks/disk';
import { parseMountInfo, type MountEntry, type Thresholds } from '../../checks/types';
import { fieldsOf, runCheck, settlesAtOnce, startRun } from '../helpers/check';

const PSEUDO = /^(proc|sysfs|tmpfs|devtmpfs|devpts|cgroup2?|overlay|mqueue|debugfs|tracefs|securityfs|pstore|bpf|autofs|squashfs|nsfs)$/;

describe('disk check', () => {
  it('expands to every real filesystem, / among them, sorted, without pseudo filesystems', async () => {
    const expansions = (await diskCheck.expand!(diskCheck.schema.parse({})))!;
    const mounts = expansions.map((e) => e.suffix);
    expect(mounts).toContain('/');
    expect(mounts).toEqual([...mounts].sort());
    expect(new Set(mounts).size).toBe(mounts.length);
    for (const e of expansions) {
      expect(e.spec).toEqual({ mount: e.suffix });
      expect(e.labels).toEqual({ mount: e.suffix });
      expect(e.suffix).not.toMatch(/^\/(proc|sys|dev)(\/|$)/);
      // The expanded spec must survive the schema again (a reload re-validates it).
      expect(diskCheck.schema.safeParse(e.spec).success).toBe(true);
    }
    const types = new Map(parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => [m.mountPoint, m.fsType]));
    for (const m of mounts) expect(types.get(m) ?? 'fallback').not.toMatch(PSEUDO);
  });

  it('reports df-like numbers for /', async () => {
    const obs = await runCheck(diskCheck, { mount: '/' });
    const v = obs.values as Record<string, number>;
    expect(v.totalBytes).toBeGreaterThan(0);
    expect(v.freeBytes).toBeGreaterThan(0);
    expect(v.freeBytes).toBeLessThanOrEqual(v.totalBytes);
    expect(v.usedPercent).toBeGreaterThan(0);
    expect(v.usedPercent).toBeLessThan(100);
    expect(v.inodesUsedPercent).toBeGreaterThanOrEqual(0);
    expect(v.inodesUsedPercent).toBeLessThanOrEqual(100);
    expect(Object.keys(v).sort()).toEqual(Object.keys(fieldsOf(diskCheck, { mount: '/' })).sort());
    expect(obs.message).toMatch(/^\/ [\d.]+% used, [\d.]+ [KMGTP]?B free of [\d.]+ [KMGTP]?B/);
  });

  it('agrees with df on used percent and free space', async () => {
    const out = execFileSync('df', ['-P', '-B1', '/'], { encoding: 'utf8' });
    const [, , used, avail, pct] = out.trim().split('\n')[1].split(/\s+/);
    const obs = await runCheck(diskCheck, { mount: '/' });
    // df rounds the percentage up and the disk moves between the two reads: allow a point.
    expect(Math.abs((obs.values.usedPercent as number) - (Number(used) / (Number(used) + Number(avail))) * 100)).toBeLessThan(1);
    expect(Math.abs((obs.values.usedPercent as number) - parseInt(pct, 10))).toBeLessThanOrEqual(1);
    expect(Math.abs((obs.values.freeBytes as number) - Number(avail)) / Number(avail)).toBeLessThan(0.01);
  });

  it('never stacks statfs calls on a hung mount (they would exhaust libuv\'s thread pool)', async () => {
    let calls = 0;
    const hang = () => {
      calls++;
      return new Promise<never>(() => undefined);
    };
    const first = guardedStatfs('/mnt/hung-nfs', hang);
    expect(guardedStatfs('/mnt/hung-nfs', hang)).toBe(first);
    expect(calls).toBe(1);
    // Once that call has been out for longer than a run may take (its timeout), a run on the
    // mount answers at once instead of waiting for it or queueing another (no timeout plays:
    // a run that waited would never settle).
    const { run } = startRun(diskCheck, { mount: '/mnt/hung-nfs' }, { timeoutMs: 5000, now: () => Date.now() + 5000 });
    expect(await settlesAtOnce(run)).toBe(true);
    const obs = await run;
    expect(obs).toMatchObject({ up: false, failure: 'timeout' });
    expect(obs.message).toMatch(/last statfs has not returned/);
    expect(calls).toBe(1);
  });

  it('shares a statfs in flight between checks on the same mount: each gets its answer', async () => {
    // The disk README's own example: two checks on / run together by `keepwatch check`.
    const [a, b] = await Promise.all([runCheck(diskCheck, { mount: '/' }), runCheck(diskCheck, { mount: '/' })]);
    expect(a.up).toBeUndefined();
    expect(b.up).toBeUndefined();
    expect(b.values.totalBytes).toBe(a.values.totalBytes);

    let calls = 0;
    let answer!: (s: StatsFs) => void;
    const slow = () => {
      calls++;
      return new Promise<StatsFs>((resolve) => (answer = resolve));
    };
    void guardedStatfs('/mnt/slow', slow);
    const runs = [startRun(diskCheck, { mount: '/mnt/slow' }), startRun(diskCheck, { mount: '/mnt/slow' })];
    // A call just made is not a hung one: both runs wait for it.
    expect(await settlesAtOnce(runs[0].run)).toBe(false);
    answer({ type: 0, bsize: 1000, blocks: 100, bfree: 40, bavail: 30, files: 10, ffree: 5 });
    for (const obs of await Promise.all(runs.map((r) => r.run))) {
      expect(obs).toEqual({ values: { usedPercent: 66.7, freeBytes: 30_000, totalBytes: 100_000, inodesUsedPercent: 50 }, message: expect.stringMatching(/^\/mnt\/slow 66\.7% used/) });
    }
    expect(calls).toBe(1);
  });

  it('cannot do its job on a path that does not exist', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-disk-'));
    rmSync(dir, { recursive: true });
    await expect(runCheck(diskCheck, { mount: dir })).rejects.toThrow(`disk check: ${dir} does not exist`);
  });

  it('validates its config', () => {
    expect(diskCheck.schema.safeParse({ mount: 'relative/path' }).success).toBe(false);
    expect(diskCheck.schema.safeParse({ mount: '/', include: ['ext4'] }).success).toBe(false);
    expect(diskCheck.schema.safeParse({ mounts: '/' }).success).toBe(false);
    expect(diskCheck.schema.safeParse({ include: ['ext4', 'xfs'], exclude: ['nfs4'] }).success).toBe(true);
  });

  it('keeps an entry that names its mount as it is', async () => {
    expect(await diskCheck.expand!(diskCheck.schema.parse({ mount: '/var' }))).toBeUndefined();
  });

  it('falls back to / when the filters leave nothing', async () => {
    const expansions = await diskCheck.expand!(diskCheck.schema.parse({ include: ['no-such-fs'] }));
    expect(expansions).toEqual([{ suffix: '/', spec: { mount: '/' }, labels: { mount: '/' } }]);
  });

  it('parses mountinfo, escaped paths and optional fields included', () => {
    const text = [
      '26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '27 26 254:0 /data /srv/my\\040data rw - ext4 /dev/vda rw',
      '28 26 0:24 / /run/user/1000 rw master:3 shared:9 - tmpfs tmpfs rw',
      'garbage',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { device: '254:0', mountPoint: '/', fsType: 'ext4' },
      { device: '254:0', mountPoint: '/srv/my data', fsType: 'ext4' },
      { device: '0:24', mountPoint: '/run/user/1000', fsType: 'tmpfs' },
    ]);
  });

  describe('choosing mounts', () => {
    const m = (mountPoint: string, fsType: string, device: string): MountEntry => ({ mountPoint, fsType, device });
    // A container: overlay root, the host disk bind-mounted as files and one data volume.
    const container = [
      m('/', 'overlay', '0:50'),
      m('/proc', 'proc', '0:51'),
      m('/dev/shm', 'tmpfs', '0:52'),
      m('/etc/hosts', 'ext4', '8:1'),
      m('/etc/resolv.conf', 'ext4', '8:1'),
      m('/var/lib/data', 'ext4', '8:1'),
      m('/srv/backup', 'xfs', '8:17'),
      m('/srv/b', 'xfs', '8:17'),
      m('/run/credentials/app.service', 'ext4', '8:33'),
      m('/boot', 'vfat', '8:2'),
      m('/snap/core/1', 'squashfs', '7:0'),
    ];
    const dirs = new Set(['/', '/var/lib/data', '/srv/backup', '/srv/b', '/boot', '/snap/core/1', '/run/credentials/app.service']);
    const isDir = async (p: string) => dirs.has(p);

    it.each([
      ['defaults', {}, ['/boot', '/srv/b', '/var/lib/data']],
      ['include', { include: ['xfs'] }, ['/srv/b']],
      ['exclude', { exclude: ['vfat'] }, ['/srv/b', '/var/lib/data']],
      ['include and exclude', { include: ['xfs', 'vfat'], exclude: ['vfat'] }, ['/srv/b']],
    ])('%s', async (_, spec, want) => {
      expect(await selectMounts(container, spec, isDir)).toEqual(want);
    });

    it('keeps the shortest directory of a filesystem, not a bind-mounted file', async () => {
      const mounts = [m('/etc/hosts', 'ext4', '8:1'), m('/data', 'ext4', '8:1'), m('/var/lib/data', 'ext4', '8:1')];
      expect(await selectMounts(mounts, {}, async (p) => p !== '/etc/hosts')).toEqual(['/data']);
      expect(await selectMounts(mounts, {}, async (p) => p === '/etc/hosts')).toEqual(['/etc/hosts']);
    });
  });

  it('has default conditions that parse against its fields', () => {
    const d = diskCheck.defaults as Thresholds;
    expect(d.warn).toContain('usedPercent > 80');
    expect(d.crit).toContain('usedPercent > 90');
    expect(d.crit).toContain('inodesUsedPercent > 95');
    const fields = fieldsOf(diskCheck, { mount: '/' });
    for (const c of [...d.warn!, ...d.crit!]) expect(() => parseCondition(c, fields)).not.toThrow();
  });
});
