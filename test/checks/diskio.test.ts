import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseCondition } from '../../agent/evaluate';
import { deviceName, diskioCheck, diskValues, parseDiskStats, SKIPPED_DEVICES, selectDevices } from '../../checks/diskio';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

/** The diskstats device a path's filesystem lives on (by st_dev), or undefined for tmpfs, overlay and the like. */
function deviceOf(p: string): string | undefined {
  const dev = statSync(p).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 2 ** 12) & ~0xff);
  return parseDiskStats(readFileSync('/proc/diskstats', 'utf8')).find((d) => d.major === major && d.minor === minor)?.name;
}

/**
 * The device that writes into `dir` reach: its filesystem's (by st_dev), or, for overlay in a
 * container (an anonymous st_dev; the upper dir is on one of the host's disks, which
 * /proc/diskstats shows), the whole disk whose written sectors grew most over a synced write.
 */
function deviceFor(dir: string): string | undefined {
  const own = deviceOf(dir);
  if (own) return own;
  const written = () => new Map(parseDiskStats(readFileSync('/proc/diskstats', 'utf8')).map((d) => [d.name, d.counters.writeSectors ?? 0]));
  const before = written();
  writeSynced(dir, 1 << 20);
  const grown = [...written()].map(([n, w]) => [n, w - (before.get(n) ?? w)] as const).filter(([n, d]) => d > 0 && readdirSync('/sys/block').includes(n.replace(/\//g, '!')));
  return grown.sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** Writes `bytes` to a new file in `dir` and waits until the device has them (fsync). */
function writeSynced(dir: string, bytes: number): void {
  const fd = openSync(path.join(dir, 'data'), 'w');
  try {
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    for (let done = 0; done < bytes; done += chunk.length) writeSync(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const HEADERLESS_14 = '   8       0 sda 120 30 4000 50 200 80 9000 300 0 250 350';
const LINE_18 = ' 259       0 nvme0n1 1000 10 80000 400 2000 50 160000 900 2 1100 1300 5 0 4096 3';
const LINE_20 = ' 254       0 vda 37785 8303 2027874 24197 26718 35779 2182712 8484 0 15392 34943 9677 4 817768 1238 4840 1022';
const OLD_PARTITION = '   3       1 hda1 35486 38030 38030 38030';

describe('diskio check', () => {
  it('parses this machine\'s /proc/diskstats, every disk /sys/block lists with counters among them', () => {
    const text = readFileSync('/proc/diskstats', 'utf8');
    const parsed = parseDiskStats(text);
    expect(parsed).toHaveLength(text.trim().split('\n').length);
    const names = new Set(parsed.map((d) => d.name));
    for (const d of readdirSync('/sys/block')) expect(names.has(d.replace(/!/g, '/'))).toBe(true);
    for (const d of parsed) {
      expect(Object.keys(d.counters).sort()).toEqual(['ioMs', 'readMs', 'readSectors', 'reads', 'weightedMs', 'writeMs', 'writeSectors', 'writes']);
      for (const v of Object.values(d.counters)) expect(Number.isInteger(v) && v! >= 0).toBe(true);
    }
  });

  it('parses the 11, 15 and 17 field lines of different kernels, old 4-field partitions and slashed names', () => {
    const text = [HEADERLESS_14, LINE_18, LINE_20, OLD_PARTITION, ' 104 0 cciss/c0d0 1 2 3 4 5 6 7 8 9 10 11', 'not a line', '8 0'].join('\n');
    expect(parseDiskStats(text)).toEqual([
      { major: 8, minor: 0, name: 'sda', counters: { reads: 120, readSectors: 4000, readMs: 50, writes: 200, writeSectors: 9000, writeMs: 300, ioMs: 250, weightedMs: 350 }, inFlight: 0 },
      { major: 259, minor: 0, name: 'nvme0n1', counters: { reads: 1000, readSectors: 80000, readMs: 400, writes: 2000, writeSectors: 160000, writeMs: 900, ioMs: 1100, weightedMs: 1300 }, inFlight: 2 },
      { major: 254, minor: 0, name: 'vda', counters: { reads: 37785, readSectors: 2027874, readMs: 24197, writes: 26718, writeSectors: 2182712, writeMs: 8484, ioMs: 15392, weightedMs: 34943 }, inFlight: 0 },
      { major: 3, minor: 1, name: 'hda1', counters: { reads: 35486, readSectors: 38030, writes: 38030, writeSectors: 38030 } },
      { major: 104, minor: 0, name: 'cciss/c0d0', counters: { reads: 1, readSectors: 3, readMs: 4, writes: 5, writeSectors: 7, writeMs: 8, ioMs: 10, weightedMs: 11 }, inFlight: 9 },
    ]);
  });

  test.each([
    [
      'a busy second',
      { reads: 100, readSectors: 2048, readMs: 300, writes: 50, writeSectors: 4096, writeMs: 150, ioMs: 500, weightedMs: 1500 }, 1,
      { readBytesPerSec: 1048576, writeBytesPerSec: 2097152, readIops: 100, writeIops: 50, utilPercent: 50, awaitMs: 3, queueDepth: 1.5 },
    ],
    [
      'no I/O: await 0, not NaN',
      { reads: 0, readSectors: 0, readMs: 0, writes: 0, writeSectors: 0, writeMs: 0, ioMs: 0, weightedMs: 0 }, 10,
      { readBytesPerSec: 0, writeBytesPerSec: 0, readIops: 0, writeIops: 0, utilPercent: 0, awaitMs: 0, queueDepth: 0 },
    ],
    [
      'io time a little over the interval (timer granularity) caps at 100%',
      { reads: 10, readSectors: 8, readMs: 1000, writes: 0, writeSectors: 0, writeMs: 0, ioMs: 2040, weightedMs: 8000 }, 2,
      { readBytesPerSec: 2048, writeBytesPerSec: 0, readIops: 5, writeIops: 0, utilPercent: 100, awaitMs: 100, queueDepth: 4 },
    ],
    [
      'an old kernel\'s partition: no times, so no utilisation, await or queue',
      { reads: 10, readSectors: 80, writes: 20, writeSectors: 160 }, 5,
      { readBytesPerSec: 8192, writeBytesPerSec: 16384, readIops: 2, writeIops: 4 },
    ],
  ])('values of %s', (_, d, elapsedS, expected) => {
    const rates = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v / elapsedS]));
    expect(diskValues({ deltas: d as never, rates: rates as never, elapsedS })).toEqual(expected);
  });

  it('expands to every whole disk here with a size, without loop, ram, zram and dm devices', async () => {
    const expansions = (await diskioCheck.expand!(diskioCheck.schema.parse({})))!;
    const disks = readdirSync('/sys/block')
      .filter((d) => Number(readFileSync(`/sys/block/${d}/size`, 'utf8')) > 0 && !SKIPPED_DEVICES.some((g) => g.test(d)))
      .map((d) => d.replace(/!/g, '/'))
      .sort();
    expect(disks.length).toBeGreaterThan(0);
    expect(expansions.map((e) => e.suffix)).toEqual(disks);
    for (const e of expansions) {
      expect(e.suffix).not.toMatch(/^(loop|ram|zram|dm-)\d/);
      expect(e.spec).toEqual({ device: e.suffix });
      expect(e.labels).toEqual({ device: e.suffix });
      expect(diskioCheck.schema.safeParse(e.spec).success).toBe(true);
    }
    expect(await diskioCheck.expand!(diskioCheck.schema.parse({ device: disks[0] }))).toBeUndefined();
  });

  it('selects devices by the built-in skip list, include and exclude', () => {
    const names = ['sda', 'sdb', 'nvme0n1', 'loop0', 'loop12', 'ram0', 'zram0', 'dm-0', 'dm-1', 'md0', 'sr0'];
    expect(selectDevices(names, {})).toEqual(['md0', 'nvme0n1', 'sda', 'sdb', 'sr0']);
    expect(selectDevices(names, { exclude: ['sr*', 'sdb'] })).toEqual(['md0', 'nvme0n1', 'sda']);
    expect(selectDevices(names, { include: ['dm-*', 'nvme*'] })).toEqual(['dm-0', 'dm-1', 'nvme0n1']);
  });

  it('resolves a device path through its links, and keeps a name as it is', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-diskio-'));
    try {
      const disk = readdirSync('/sys/block').find((d) => !d.includes('!'))!;
      symlinkSync(`/dev/${disk}`, path.join(dir, 'by-id-link'));
      expect(await deviceName(path.join(dir, 'by-id-link'))).toBe(disk);
      expect(await deviceName(`/dev/${disk}`)).toBe(disk);
      expect(await deviceName('sda1')).toBe('sda1');
      expect(await deviceName(path.join(dir, 'missing'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sees data written and synced between two runs on the device the file lives on', async () => {
    // The temp dir may be on tmpfs (no device) or overlay: the first directory whose writes reach a disk is used.
    const candidates = [os.tmpdir(), process.cwd()].map((base) => mkdtempSync(path.join(base, '.kw-diskio-')));
    try {
      const found = candidates.map((d) => [d, deviceFor(d)] as const).find(([, dev]) => dev !== undefined);
      expect(found).toBeDefined(); // writes to the temp dir or the repo reach a disk (not both on tmpfs)
      const [dir, device] = found as readonly [string, string];
      const name = `diskio:${device}-writes`;
      const started = performance.now();
      const first = await runCheck(diskioCheck, { device, sample: '100ms' }, { name });
      expect(first.message).toMatch(new RegExp(`^${device}: read .* over 0\\.1s$`));
      const bytes = 8 << 20;
      writeSynced(dir, bytes);
      const sinceFirst = performance.now() - started;
      if (sinceFirst < 250) await sleep(250 - sinceFirst); // the next reading must be 100ms after the last
      const obs = await runCheck(diskioCheck, { device }, { name });
      const bound = (performance.now() - started) / 1000;
      const v = obs.values as Record<string, number>;
      expect(obs.message).toMatch(/over the last [\d.]+s/);
      expect(v.writeBytesPerSec).toBeGreaterThanOrEqual(bytes / bound);
      expect(v.writeIops).toBeGreaterThan(0);
      expect(v.utilPercent).toBeGreaterThan(0);
      expect(v.utilPercent).toBeLessThanOrEqual(100);
      expect(v.awaitMs).toBeGreaterThanOrEqual(0);
      expect(v.queueDepth).toBeGreaterThanOrEqual(0);
      expect(Object.keys(v).sort()).toEqual(Object.keys(fieldsOf(diskioCheck, {})).sort());
    } finally {
      for (const d of candidates) rmSync(d, { recursive: true, force: true });
    }
  });

  it('reports a device that does not exist as a critical target failure listing those there are', async () => {
    const obs = await runCheck(diskioCheck, { device: 'nosuchdisk', sample: '100ms' }, { name: 'diskio:nosuch' });
    expect(obs).toMatchObject({ up: false, failure: 'error' });
    const some = readdirSync('/sys/block')[0].replace(/!/g, '/');
    expect(obs.message).toMatch(new RegExp(`^no device nosuchdisk in /proc/diskstats; devices here: .*\\b${some}\\b`));
    const byPath = await runCheck(diskioCheck, { device: '/dev/mapper/nosuch', sample: '100ms' }, { name: 'diskio:nosuch-path' });
    expect(byPath).toMatchObject({ up: false, failure: 'error' });
    expect(byPath.message).toMatch(/^\/dev\/mapper\/nosuch does not exist; devices here: /);
  });

  it('is unknown, saying why, when every disk was skipped', async () => {
    await expect(runCheck(diskioCheck, {}, { name: 'diskio-none' })).rejects.toThrow(/no disk to watch.*name one with device:/);
  });

  it('stops sampling at once when the signal aborts', async () => {
    const device = readdirSync('/sys/block')[0].replace(/!/g, '/');
    const { run, abort } = startRun(diskioCheck, { device, sample: '60s' }, { timeoutMs: 120_000 });
    setTimeout(() => abort(), 50);
    await expect(run).rejects.toThrow();
  });

  it('validates its keys', () => {
    const s = diskioCheck.schema;
    expect(s.safeParse({ device: 'sda', include: ['sd*'] }).success).toBe(false);
    expect(s.safeParse({ device: 'has space' }).success).toBe(false);
    expect(s.safeParse({ sample: '10ms' }).success).toBe(false);
    expect(s.safeParse({ devices: ['sda'] }).success).toBe(false);
    expect(diskioCheck.validate!(s.parse({ sample: '2s' }), { timeoutMs: 1000 })).toHaveLength(1);
    expect(diskioCheck.validate!(s.parse({}), { timeoutMs: 1000 })).toEqual([]);
  });

  it('warns on a saturated disk by default, and takes sizes and durations in conditions', () => {
    expect(diskioCheck.defaults).toEqual({ warn: ['utilPercent > 90'] });
    const f = fieldsOf(diskioCheck, {});
    expect(parseCondition('utilPercent > 90', f).field).toBe('utilPercent');
    expect(parseCondition('writeBytesPerSec > 100MB', f).value).toBe(100_000_000);
    expect(parseCondition('awaitMs > 0.02s', f).value).toBe(20);
  });
});
