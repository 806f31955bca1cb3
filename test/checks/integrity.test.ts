import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CheckStates } from '../../agent/check-state';
import { Store } from '../../agent/store/store';
import { integrityCheck } from '../../checks/integrity';
import { compare, type Baseline } from '../../checks/integrity/compare';
import type { FileRecord } from '../../checks/integrity/snapshot';
import type { CheckState, Finding, Observation } from '../../checks/types';
import { packageRoot } from '../../agent/paths';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { tempDir } from '../helpers/daemon';

let dir: ReturnType<typeof tempDir>;
let store: Store;
let state: CheckState;
const f = (...p: string[]) => path.join(dir.dir, 'etc', ...p);

beforeEach(() => {
  dir = tempDir();
  fs.mkdirSync(f('sudoers.d'), { recursive: true });
  fs.writeFileSync(f('passwd'), 'root:x:0:0:root:/root:/bin/bash\n', { mode: 0o644 });
  fs.writeFileSync(f('sudoers'), 'root ALL=(ALL:ALL) ALL\n', { mode: 0o440 });
  fs.writeFileSync(f('sudoers.d', 'ops'), '%ops ALL=(ALL) ALL\n', { mode: 0o440 });
  fs.symlinkSync('/usr/share/zoneinfo/UTC', f('localtime'));
  fs.mkdirSync(path.join(dir.dir, 'data'));
  store = Store.open(path.join(dir.dir, 'data'));
  state = new CheckStates(store).for('files');
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

/** Paths relative to the temp dir's etc/, as the check reports them (the temp dir is the root). */
const spec = (over: Record<string, unknown> = {}) => ({
  root: dir.dir, defaultPaths: false, paths: ['/etc/passwd', '/etc/sudoers', '/etc/sudoers.d/*', '/etc/localtime'], ...over,
});
const run = (over: Record<string, unknown> = {}, s = state) => runCheck(integrityCheck, spec(over), { name: 'files', state: s });
const ids = (o: Observation) => (o.findings ?? []).map((x) => `${x.severity} ${x.id}`).sort();
const finding = (o: Observation, id: string): Finding => {
  const hit = o.findings?.find((x) => x.id === id);
  if (!hit) throw new Error(`no finding ${id} in ${JSON.stringify(o.findings)}`);
  return hit;
};

describe('integrity check against files it watches', () => {
  test('the first run records the baseline in the store; a second run finds every file as it was', async () => {
    const first = await run();
    expect(first.message).toBe('baseline recorded: 4 files');
    expect(first.values).toMatchObject({ files: 4, changed: 0, added: 0, removed: 0, unreadable: 0, findings: 0, baselineAgeDays: 0 });
    expect(Object.keys(first.values).sort()).toEqual(Object.keys(fieldsOf(integrityCheck, spec())).sort());
    expect(first.findings).toEqual([]);
    const kept = (await state.get('baseline')) as Baseline;
    expect(Object.keys(kept.files)).toEqual(['/etc/localtime', '/etc/passwd', '/etc/sudoers', '/etc/sudoers.d/ops']);
    expect(kept.files['/etc/passwd']).toEqual({
      kind: 'file', sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      size: 32, mode: 0o644, uid: process.getuid!(), gid: process.getgid!(), mtimeMs: expect.any(Number),
    });
    expect(kept.files['/etc/passwd'].sha256).toBe(createHash('sha256').update('root:x:0:0:root:/root:/bin/bash\n').digest('hex'));
    expect(kept.files['/etc/localtime']).toMatchObject({ kind: 'link', link: '/usr/share/zoneinfo/UTC' });

    const second = await run();
    expect(second.values).toMatchObject({ files: 4, changed: 0, added: 0, removed: 0, findings: 0, hashedBytes: 32 + 23 + 19 });
    expect(second.message).toMatch(/^4 files match the baseline of \d{4}-\d\d-\d\dT[\d:.]+Z \(74 B hashed\)$/);
  });

  test('one byte changed (same size, same mtime) is a high finding that says the content changed', async () => {
    await run();
    const st = fs.statSync(f('passwd'));
    fs.writeFileSync(f('passwd'), 'root:x:0:0:root:/root:/bin/zsh\n'.padEnd(32, '\n'));
    fs.utimesSync(f('passwd'), st.atime, st.mtime);
    const o = await run();
    expect(o.values).toMatchObject({ changed: 1, added: 0, removed: 0, findings: 1, high: 1 });
    expect(ids(o)).toEqual(['high integrity.changed./etc/passwd']);
    const x = finding(o, 'integrity.changed./etc/passwd');
    expect(x.title).toMatch(/^\/etc\/passwd changed: content \(sha256 [0-9a-f]{12}…→[0-9a-f]{12}…\) \(modified .+Z\)$/);
    expect(x).toMatchObject({ subject: '/etc/passwd', refs: ['CIS 1.3.2', 'Lynis FINT-4350', 'Lynis FINT-4402'] });
    expect(x.fix).toMatch(/^If it was planned, accept it: keepwatch baseline accept files --by NAME --reason TEXT\./);
    expect(o.message).toMatch(/^4 files: 1 changed \(\/etc\/passwd\) since the baseline of /);
    // The baseline is not moved by a run: the change stays reported until it is accepted.
    expect(ids(await run())).toEqual(['high integrity.changed./etc/passwd']);
  });

  test('chmod, chown, a longer file and a link pointing elsewhere: each says what changed', async () => {
    await run();
    fs.chmodSync(f('sudoers'), 0o666);
    fs.chownSync(f('sudoers.d', 'ops'), 65534, 65534);
    fs.appendFileSync(f('passwd'), 'eve:x:0:0::/root:/bin/sh\n');
    fs.rmSync(f('localtime'));
    fs.symlinkSync('/usr/share/zoneinfo/Europe/Berlin', f('localtime'));
    const o = await run();
    expect(o.values).toMatchObject({ changed: 4, high: 4 });
    expect(finding(o, 'integrity.changed./etc/sudoers').title).toMatch(/^\/etc\/sudoers changed: mode 0440→0666 \(modified/);
    expect(finding(o, 'integrity.changed./etc/sudoers.d/ops').title).toMatch(new RegExp(`changed: owner ${process.getuid!()}:${process.getgid!()}→65534:65534`));
    expect(finding(o, 'integrity.changed./etc/passwd').title).toMatch(/changed: content \(sha256 .*\), size 32→57 bytes/);
    expect(finding(o, 'integrity.changed./etc/localtime').title).toMatch(/changed: link target \/usr\/share\/zoneinfo\/UTC→\/usr\/share\/zoneinfo\/Europe\/Berlin, size 23→33 bytes/);
  });

  test('a new file matching a glob is added (medium); a file gone is removed (high)', async () => {
    await run();
    fs.writeFileSync(f('sudoers.d', '.hidden'), 'eve ALL=(ALL) NOPASSWD: ALL\n');
    fs.rmSync(f('sudoers'));
    const o = await run();
    expect(o.values).toMatchObject({ files: 4, changed: 0, added: 1, removed: 1, findings: 2, high: 1, medium: 1 });
    expect(ids(o)).toEqual(['high integrity.removed./etc/sudoers', 'medium integrity.added./etc/sudoers.d/.hidden']);
    expect(finding(o, 'integrity.added./etc/sudoers.d/.hidden').title).toBe('/etc/sudoers.d/.hidden is new (not in the baseline)');
    expect(finding(o, 'integrity.removed./etc/sudoers').title).toBe('/etc/sudoers was removed');
    expect(o.message).toMatch(/^4 files: 1 added, 1 removed \(\/etc\/sudoers, …\) since the baseline/);
  });

  test('the default thresholds page on changed and removed, warn on added and unreadable', () => {
    expect(integrityCheck.defaults).toEqual({ warn: ['added > 0', 'unreadable > 0'], crit: ['changed > 0', 'removed > 0'] });
    expect(integrityCheck.category).toBe('security');
    expect(integrityCheck.baseline).toBe(true);
  });

  test('without a store the baseline is recorded, and the message says it cannot be kept', async () => {
    const o = await run({}, new CheckStates(undefined).for('files'));
    expect(o.message).toBe('baseline recorded: 4 files (not kept: this run has no store, so the next one records a new baseline; the agent keeps it under agent.dataDir)');
  });

  test('** reaches any depth, a directory path watches the files in it, exclude drops files, root is not reported', async () => {
    fs.mkdirSync(f('cron.d', 'deep'), { recursive: true });
    fs.writeFileSync(f('cron.d', 'a'), '* * * * * root true\n');
    fs.writeFileSync(f('cron.d', 'deep', 'b'), '* * * * * root true\n');
    fs.writeFileSync(f('cron.d', 'deep', 'b.dpkg-old'), 'x\n');
    const o = await run({ paths: ['/etc/cron.d/**', '/etc/sudoers.d'], exclude: ['/etc/**/*.dpkg-old'] });
    expect(o.message).toBe('baseline recorded: 3 files');
    expect(Object.keys(((await state.get('baseline')) as Baseline).files)).toEqual(['/etc/cron.d/a', '/etc/cron.d/deep/b', '/etc/sudoers.d/ops']);
  });

  test('a config that adds paths takes their files in quietly, and one that drops paths does not report them removed', async () => {
    await run({ paths: ['/etc/passwd'] });
    const wider = await run();
    expect(wider.values).toMatchObject({ files: 4, added: 0, removed: 0, findings: 0 });
    expect(Object.keys(((await state.get('baseline')) as Baseline).files)).toHaveLength(4);
    // Within the new scope, a file that appears afterwards is added.
    fs.writeFileSync(f('sudoers.d', 'new'), 'x\n');
    expect(ids(await run())).toEqual(['medium integrity.added./etc/sudoers.d/new']);
    const narrower = await run({ paths: ['/etc/passwd'] });
    expect(narrower.values).toMatchObject({ files: 1, removed: 0, findings: 0 });
  });

  test('the defaults watch sshd_config, sudoers and passwd under root; an optional file that is not there is skipped quietly', async () => {
    fs.mkdirSync(f('ssh'));
    fs.writeFileSync(f('ssh', 'sshd_config'), 'PermitRootLogin no\n');
    const o = await run({ defaultPaths: true, paths: [] });
    const kept = Object.keys(((await state.get('baseline')) as Baseline).files);
    expect(kept).toEqual(['/etc/passwd', '/etc/ssh/sshd_config', '/etc/sudoers', '/etc/sudoers.d/ops']);
    expect(o.values).toMatchObject({ files: 4, unreadable: 0 });
  });

  test('more files than maxFiles, or more bytes than maxBytes, is an error that says which limit', async () => {
    await expect(run({ maxFiles: 2 })).rejects.toThrow('more than 2 files match the paths (maxFiles); narrow them (exclude) or raise maxFiles (at most 100000)');
    await expect(run({ maxBytes: 40 })).rejects.toThrow('hashing would read more than maxBytes (40 bytes) in one run; raise maxBytes or narrow the paths');
    expect(await state.get('baseline')).toBeUndefined();
  });

  test('a FIFO is recorded, never opened; a large file is hashed in chunks', async () => {
    spawnSync('mkfifo', [f('sudoers.d', 'pipe')]);
    const big = Buffer.alloc(5 * 1024 * 1024 + 7, 'a');
    fs.writeFileSync(f('sudoers.d', 'big'), big);
    const o = await run();
    expect(o.values).toMatchObject({ files: 6, hashedBytes: 74 + big.length });
    const kept = ((await state.get('baseline')) as Baseline).files;
    expect(kept['/etc/sudoers.d/pipe']).toMatchObject({ kind: 'other' });
    expect(kept['/etc/sudoers.d/big'].sha256).toBe(createHash('sha256').update(big).digest('hex'));
  });

  test('an abort stops the run', async () => {
    const r = startRun(integrityCheck, spec());
    r.abort(new Error('timeout'));
    await expect(r.run).rejects.toThrow('timeout');
  });

  test('config: relative paths and an empty watch list are refused', () => {
    expect(integrityCheck.schema.safeParse({ paths: ['etc/passwd'] }).error?.issues[0].message).toBe('expected an absolute path or glob such as /etc/sudoers.d/*');
    expect(integrityCheck.schema.safeParse({ defaultPaths: false }).error?.issues[0]).toMatchObject({ path: ['paths'], message: 'nothing to watch: give paths, or leave defaultPaths on' });
    expect(integrityCheck.schema.safeParse({ maxFiles: 100_001 }).success).toBe(false);
  });
});

describe('integrity check as an unprivileged user (uid 65534)', () => {
  /** Runs the built check as nobody, with a baseline in memory, twice: the first records, the second compares. */
  function runAsNobody(rawSpec: Record<string, unknown>): Observation[] {
    const script = `
      const { integrityCheck } = require(${JSON.stringify(path.join(packageRoot(), 'dist/checks/integrity'))});
      const { CheckStates } = require(${JSON.stringify(path.join(packageRoot(), 'dist/agent/check-state'))});
      const state = new CheckStates(undefined).for('files');
      const ctx = { name: 'files', spec: integrityCheck.schema.parse(${JSON.stringify(rawSpec)}), signal: new AbortController().signal,
        timeoutMs: 5000, log: console, now: Date.now, holdsSecret: () => false, state };
      (async () => { const a = await integrityCheck.run(ctx); const b = await integrityCheck.run(ctx); process.stdout.write(JSON.stringify([a, b])); })()
        .catch((e) => { process.stderr.write(String(e.stack)); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  test('a file it may not read is recorded by its metadata and counted unreadable; a directory it may not list too', () => {
    fs.chmodSync(dir.dir, 0o755);
    fs.chmodSync(f(), 0o755);
    fs.chmodSync(f('sudoers'), 0o600);
    fs.chmodSync(f('sudoers.d'), 0o700);
    fs.writeFileSync(f('shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
    const [first, second] = runAsNobody({ ...spec({ defaultPaths: true }), paths: ['/etc/sudoers', '/etc/sudoers.d/*'] });
    expect(first.message).toBe('baseline recorded: 2 files, 2 unreadable (not kept: this run has no store, so the next one records a new baseline; the agent keeps it under agent.dataDir)');
    expect(ids(first)).toEqual(['low integrity.unreadable./etc/sudoers', 'low integrity.unreadable./etc/sudoers.d']);
    expect(finding(first, 'integrity.unreadable./etc/sudoers').title).toBe('/etc/sudoers cannot be checked: permission denied');
    // /etc/shadow is optional: unreadable, so not watched, and no finding either.
    expect(ids(second)).toEqual(ids(first));
    expect(second.values).toMatchObject({ files: 2, unreadable: 2, changed: 0, removed: 0, low: 2 });
  });
});

describe('compare (pure)', () => {
  const rec = (over: Partial<FileRecord> = {}): FileRecord => ({ kind: 'file', sha256: 'aa', size: 1, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0, ...over });
  const base = (files: Record<string, FileRecord>, patterns = ['/etc/**']): Baseline => ({ version: 1, takenAt: 0, patterns, exclude: [], files });
  const scope = { patterns: ['/etc/**'], exclude: [] };

  test('a file under a directory it can no longer list is unreadable, not removed', () => {
    const d = compare(base({ '/etc/a/x': rec(), '/etc/b': rec() }), new Map(), [{ path: '/etc/a', why: 'permission denied' }], scope);
    expect(d).toMatchObject({ removed: ['/etc/b'], unreadable: [{ path: '/etc/a', why: 'permission denied' }, { path: '/etc/a/x', why: '/etc/a: permission denied' }] });
  });

  test('a file whose content it cannot read now is compared by metadata only', () => {
    const d = compare(base({ '/etc/x': rec() }), new Map([['/etc/x', rec({ sha256: undefined, unreadable: true })]]), [], scope);
    expect(d).toMatchObject({ changed: [], unreadable: [{ path: '/etc/x', why: 'permission denied' }] });
    const chmodded = compare(base({ '/etc/x': rec() }), new Map([['/etc/x', rec({ sha256: undefined, unreadable: true, mode: 0o600 })]]), [], scope);
    expect(chmodded.changed).toEqual([{ path: '/etc/x', what: ['mode 0644→0600'] }]);
  });

  test('an optional path it cannot read counts only when the baseline has it', () => {
    const blind = [{ path: '/etc/shadow', why: 'permission denied', optional: true }];
    expect(compare(base({}), new Map(), blind, scope).unreadable).toEqual([]);
    expect(compare(base({ '/etc/shadow': rec() }), new Map(), blind, scope)).toMatchObject({ removed: [], unreadable: [{ path: '/etc/shadow' }] });
  });

  test('a file turned into a link says so', () => {
    const d = compare(base({ '/etc/x': rec() }), new Map([['/etc/x', rec({ kind: 'link', sha256: undefined, link: '/tmp/evil' })]]), [], scope);
    expect(d.changed).toEqual([{ path: '/etc/x', what: ['type file→link'] }]);
  });
});
