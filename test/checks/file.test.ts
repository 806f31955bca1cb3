import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCondition } from '../../agent/evaluate';
import { fileCheck } from '../../checks/file';
import type { Observation, Thresholds } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { fieldsOf, startRun } from '../helpers/check';

// A fixed clock: mtimes are set with utimes relative to it, so ages are exact.
const NOW = Date.UTC(2026, 11, 1, 8, 0, 0);
const HOUR = 3600;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-file-'));
  chmodSync(dir, 0o755);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file whose mtime is `ageSeconds` before NOW. */
function file(name: string, content: string | Buffer, ageSeconds = 0): string {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  const t = (NOW - ageSeconds * 1000) / 1000;
  utimesSync(p, t, t);
  return p;
}

function run(raw: Record<string, unknown>): Promise<Observation> {
  return startRun(fileCheck, raw, { now: () => NOW }).run;
}

describe('file check', () => {
  it('reports a present file: exists, count, age from the injected clock and size', async () => {
    const p = file('heartbeat', 'ok\n', 90);
    const obs = await run({ path: p });
    expect(obs.up).toBeUndefined();
    expect(obs.values).toEqual({ exists: true, count: 1, ageSeconds: 90, sizeBytes: 3 });
    expect(obs.message).toContain(`${p}: file, 3 B, modified 1m30s ago`);
  });

  it('a missing file is a failed target (critical whatever the thresholds)', async () => {
    const obs = await run({ path: path.join(dir, 'backup.sql.gz') });
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('error');
    expect(obs.values).toEqual({ exists: false, count: 0 });
    expect(obs.message).toBe(`no file at ${path.join(dir, 'backup.sql.gz')}`);
  });

  it('a missing file with required: false is a value, so a lock file may be absent', async () => {
    const obs = await run({ path: path.join(dir, 'job.lock'), required: false });
    expect(obs.up).toBeUndefined();
    expect(obs.values).toEqual({ exists: false, count: 0 });
    // ageSeconds is absent, so `ageSeconds > 1h` (a stale lock) does not fire on a missing one.
    const stale = parseCondition('ageSeconds > 1h', fieldsOf(fileCheck, { path: '/x', required: false }));
    expect(stale.test(obs.values)).toBeUndefined();
    const p = file('job.lock', '', 2 * HOUR);
    const present = await run({ path: p, required: false });
    expect(stale.test(present.values)).toBe(true);
    expect(present.values.sizeBytes).toBe(0);
  });

  it('age conditions read durations in seconds: a backup older than 26h fires, a newer one does not', async () => {
    const cond = parseCondition('ageSeconds > 26h', fieldsOf(fileCheck, { path: '/x' }));
    expect(cond.value).toBe(26 * HOUR);
    const old = await run({ path: file('old.gz', 'x', 27 * HOUR) });
    const fresh = await run({ path: file('fresh.gz', 'x', 25 * HOUR) });
    expect(cond.test(old.values)).toBe(true);
    expect(cond.test(fresh.values)).toBe(false);
  });

  it('a file modified in the future has a negative age and says so', async () => {
    const obs = await run({ path: file('skewed', 'x', -60) });
    expect(obs.values.ageSeconds).toBe(-60);
    expect(obs.message).toContain('in the future');
  });

  it('size conditions use bytes', async () => {
    const p = file('dump', Buffer.alloc(2048, 1));
    const obs = await run({ path: p });
    expect(obs.values.sizeBytes).toBe(2048);
    expect(parseCondition('sizeBytes < 1KiB', fieldsOf(fileCheck, { path: p })).test(obs.values)).toBe(false);
    expect(parseCondition('sizeBytes < 4KiB', fieldsOf(fileCheck, { path: p })).test(obs.values)).toBe(true);
  });

  describe('match', () => {
    it('finds a regular expression in the content, ^ and $ at line ends', async () => {
      const p = file('status', 'started 07:00\nstatus: OK\nfinished 07:40\n');
      const ok = await run({ path: p, match: '^status: OK$' });
      expect(ok.values.matched).toBe(true);
      expect(ok.message).toContain('/^status: OK$/ found');
      const bad = await run({ path: p, match: '^status: FAILED$' });
      expect(bad.values.matched).toBe(false);
      expect(bad.up).toBeUndefined();
      expect(bad.message).toContain('not found');
    });

    it('has default crit matched == false only when match is set', () => {
      const withMatch = (fileCheck.defaults as (s: unknown) => Thresholds)(fileCheck.schema.parse({ path: '/x', match: 'OK' }));
      expect(withMatch).toEqual({ crit: ['matched == false'] });
      const fields = fieldsOf(fileCheck, { path: '/x', match: 'OK' });
      expect(fields.matched.reason).toBe('body');
      expect(parseCondition(withMatch.crit![0], fields).test({ matched: false })).toBe(true);
      expect((fileCheck.defaults as (s: unknown) => Thresholds)(fileCheck.schema.parse({ path: '/x' }))).toEqual({});
      expect(fieldsOf(fileCheck, { path: '/x' }).matched).toBeUndefined();
    });

    it('reads only the last matchBytes of a large file, and says so', async () => {
      const big = Buffer.concat([Buffer.from('HEAD-MARKER\n'), Buffer.alloc(3 * 1024 * 1024, 0x2e), Buffer.from('\nTAIL-MARKER\n')]);
      const p = file('big.log', big);
      const head = await run({ path: p, match: 'HEAD-MARKER' });
      expect(head.values.matched).toBe(false);
      expect(head.message).toContain('not found in its last 1 MiB');
      const tail = await run({ path: p, match: 'TAIL-MARKER' });
      expect(tail.values.matched).toBe(true);
      const whole = await run({ path: p, match: 'HEAD-MARKER', matchBytes: '4MiB' });
      expect(whole.values.matched).toBe(true);
      expect(whole.message).not.toContain('in its last');
      expect(whole.values.sizeBytes).toBe(big.length);
    });

    it('refuses a FIFO at once instead of waiting for a writer', async () => {
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const obs = await run({ path: fifo, match: 'x' });
      expect(obs.up).toBe(false);
      expect(obs.message).toContain('not a regular file');
      expect(obs.values.exists).toBe(true);
      expect(obs.values.matched).toBeUndefined();
    });

    it('on a directory is a failed target; without match a directory reports its age only', async () => {
      const d = path.join(dir, 'spool');
      mkdirSync(d);
      const t = (NOW - 30_000) / 1000;
      utimesSync(d, t, t);
      const plain = await run({ path: d });
      expect(plain.values).toEqual({ exists: true, count: 1, ageSeconds: 30 });
      expect(plain.message).toContain('directory');
      const matched = await run({ path: d, match: 'x' });
      expect(matched.up).toBe(false);
      expect(matched.message).toContain('is a directory');
    });
  });

  describe('globs', () => {
    it('take the newest match by mtime and count the matches; hidden files and directories do not match', async () => {
      file('backups/db-2026-11-28.sql.gz', 'a', 3 * 24 * HOUR);
      const newest = file('backups/db-2026-11-30.sql.gz', 'newest', 20 * HOUR);
      file('backups/db-2026-11-29.sql.gz', 'bb', 2 * 24 * HOUR);
      file('backups/.db-partial.sql.gz', 'tmp', 0);
      file('backups/other.sql.gz', 'x', 0);
      mkdirSync(path.join(dir, 'backups/db-dir.sql.gz'));
      const obs = await run({ path: path.join(dir, 'backups/db-*.sql.gz') });
      expect(obs.values).toEqual({ exists: true, count: 3, ageSeconds: 20 * HOUR, sizeBytes: 6 });
      expect(obs.message).toContain(`${newest} (newest of 3 matching`);
    });

    it('expand wildcards in directory names too', async () => {
      file('hosts/web1/last-run', 'x', 100);
      const p = file('hosts/web2/last-run', 'y', 10);
      file('hosts/web2/other', 'z', 1);
      const obs = await run({ path: path.join(dir, 'hosts/web?/last-run') });
      expect(obs.values.count).toBe(2);
      expect(obs.values.ageSeconds).toBe(10);
      expect(obs.message).toContain(p);
    });

    it('with no match are a failed target', async () => {
      const obs = await run({ path: path.join(dir, 'nothing/db-*.sql.gz') });
      expect(obs.up).toBe(false);
      expect(obs.values).toEqual({ exists: false, count: 0 });
      expect(obs.message).toContain('nothing matches');
    });

    it('match the content of the newest file', async () => {
      file('logs/backup-1.log', 'status: OK\n', 2 * HOUR);
      file('logs/backup-2.log', 'status: FAILED\n', HOUR);
      const obs = await run({ path: path.join(dir, 'logs/backup-*.log'), match: 'status: OK' });
      expect(obs.values.matched).toBe(false);
    });
  });

  describe('symbolic links', () => {
    it('are followed by default: the target\'s size and age', async () => {
      const target = file('db-2026-12-01.sql.gz', 'twelve bytes', 600);
      const link = path.join(dir, 'latest');
      symlinkSync(target, link);
      const obs = await run({ path: link, match: 'twelve' });
      expect(obs.values).toEqual({ exists: true, count: 1, ageSeconds: 600, sizeBytes: 12, matched: true });
    });

    it('pointing nowhere is a missing file, and the message says where it points', async () => {
      const link = path.join(dir, 'latest');
      symlinkSync(path.join(dir, 'gone.sql.gz'), link);
      const obs = await run({ path: link });
      expect(obs.up).toBe(false);
      expect(obs.values.exists).toBe(false);
      expect(obs.message).toContain('is a symbolic link to');
      expect(obs.message).toContain('which does not exist');
    });

    it('with followSymlinks: false are the link itself, dangling or not', async () => {
      const link = path.join(dir, 'lock');
      symlinkSync('host:4242', link);
      const obs = await run({ path: link, followSymlinks: false });
      expect(obs.values.exists).toBe(true);
      expect(obs.values.sizeBytes).toBe('host:4242'.length);
      expect(obs.message).toContain('symbolic link');
    });

    it('with followSymlinks: false cannot be combined with match', () => {
      expect(fileCheck.validate!(fileCheck.schema.parse({ path: '/x', match: 'a', followSymlinks: false }), { timeoutMs: 1000 })).toEqual([
        expect.objectContaining({ key: 'followSymlinks' }),
      ]);
      expect(fileCheck.validate!(fileCheck.schema.parse({ path: '/x', match: 'a' }), { timeoutMs: 1000 })).toEqual([]);
    });
  });

  describe('permissions (run as nobody)', () => {
    it('a directory the agent may not search is unknown, saying to grant search permission', async () => {
      const p = file('private/backup.gz', 'x');
      chmodSync(path.dirname(p), 0o700);
      const r = await runCheckAsNobody('file', { path: p });
      expect(r.observation).toBeUndefined();
      expect(r.error).toMatch(/permission denied.*search \(x\) permission/);
    });

    it('a directory a glob may not list is unknown, saying to grant read and search', async () => {
      const p = file('private/backup-1.gz', 'x');
      chmodSync(path.dirname(p), 0o711);
      const r = await runCheckAsNobody('file', { path: path.join(dir, 'private/backup-*.gz') });
      expect(r.error).toMatch(/cannot list .*private.*read \(r\) and search \(x\)/);
    });

    it('a file it may not read is unknown only when match needs the content', async () => {
      const p = file('secret-status', 'OK');
      chmodSync(p, 0o600);
      const stat = await runCheckAsNobody('file', { path: p });
      expect(stat.observation?.values.exists).toBe(true);
      const r = await runCheckAsNobody('file', { path: p, match: 'OK' });
      expect(r.error).toMatch(/cannot read .*secret-status.*read \(r\) permission/);
    });
  });

  it('stops when the run is aborted', async () => {
    file('a/x-1', 'x');
    const { run: pending, abort } = startRun(fileCheck, { path: path.join(dir, 'a/x-*') }, { now: () => NOW });
    abort();
    await expect(pending).rejects.toThrow();
  });

  it('refuses relative paths, ** and invalid regular expressions', () => {
    expect(fileCheck.schema.safeParse({ path: 'backups/db.gz' }).success).toBe(false);
    expect(fileCheck.schema.safeParse({ path: '/backups/**/db.gz' }).success).toBe(false);
    expect(fileCheck.schema.safeParse({ path: '/x', match: '(' }).success).toBe(false);
    expect(fileCheck.schema.safeParse({ path: '/x', matchBytes: '65MiB' }).success).toBe(false);
    expect(fileCheck.schema.parse({ path: '/x' })).toEqual({ path: '/x', matchBytes: 1024 * 1024, required: true, followSymlinks: true });
  });
});
