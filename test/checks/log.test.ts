import fs from 'node:fs';
import path from 'node:path';
import { memoryState } from '../../agent/check-state';
import { logCheck } from '../../checks/log';
import { MatchWindow, MAX_LINE } from '../../checks/log/window';
import type { Observation } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { silentLog } from '../helpers/check';
import { freshDirs } from '../helpers/daemon';
import { writeJournal } from '../helpers/journal';

const MIN = 60_000;
const NOW = Date.parse('2026-06-15T12:00:00Z');
const CRIT = '\\[(crit|alert|emerg)\\]';
const nginx = (level: string, n: number) => `2026/06/15 12:00:${String(n % 60).padStart(2, '0')} [${level}] 812#812: *${n} upstream timed out\n`;

const freshDir = freshDirs();
let seq = 0;
/** A fresh directory per test; `seq` names the test's check after it. */
function newDir(): string {
  seq++;
  return freshDir();
}

/** Runs the check once as the engine would, at `now`; the check keeps its place by name. */
async function run(raw: Record<string, unknown>, now: number, name = `log${seq}`): Promise<Observation> {
  const spec = logCheck.schema.parse(raw);
  return logCheck.run({ name, spec, signal: new AbortController().signal, timeoutMs: 5000, log: silentLog, now: () => now, holdsSecret: () => false, state: memoryState() });
}

describe('following a file', () => {
  test('the first run starts at the end; later runs count what was appended, with the lines as excerpt', async () => {
    const file = path.join(newDir(), 'error.log');
    fs.writeFileSync(file, nginx('crit', 1) + nginx('error', 2));
    const first = await run({ path: file, match: CRIT }, NOW);
    expect(first.values).toEqual({ matches: 0, ratePerMin: 0, newMatches: 0, lastMatch: '', bytesRead: 0, skippedBytes: 0 });
    expect(first.message).toBe(`following ${file} from its end; 0 matches in the last 5m; lines written before the agent started are not counted`);
    expect(first.excerpt).toBeUndefined();
    const appended = nginx('crit', 3) + nginx('warn', 4) + nginx('emerg', 5);
    fs.appendFileSync(file, appended);
    const o = await run({ path: file, match: CRIT }, NOW + MIN);
    expect(o.values).toMatchObject({ matches: 2, newMatches: 2, ratePerMin: 2, lastMatch: nginx('emerg', 5).trim(), bytesRead: appended.length });
    expect(o.excerpt).toEqual([nginx('crit', 3).trim(), nginx('emerg', 5).trim()]);
    expect(o.message).toBe(`2 matches in the last 5m (2 new, 2/min); last: ${nginx('emerg', 5).trim()} (${file})`);
    // Nothing new: the window still holds them; the rate is over the 2 minutes since the start.
    expect((await run({ path: file, match: CRIT }, NOW + 2 * MIN)).values).toMatchObject({ matches: 2, newMatches: 0, ratePerMin: 1 });
  });

  test('the window: runs older than it stop counting, and their lines leave the excerpt', async () => {
    const file = path.join(newDir(), 'app.log');
    fs.writeFileSync(file, '');
    const spec = { path: file, match: 'ERROR', window: '5m' };
    await run(spec, NOW);
    fs.appendFileSync(file, 'ERROR a\nERROR b\n');
    expect((await run(spec, NOW + MIN)).values.matches).toBe(2);
    fs.appendFileSync(file, 'ERROR c\n');
    expect((await run(spec, NOW + 3 * MIN)).values).toMatchObject({ matches: 3, ratePerMin: 1 });
    // Past NOW+1m+5m the first run's two have left; the window is full, so the rate is over 5m.
    const o = await run(spec, NOW + 6 * MIN + 1000);
    expect(o.values).toMatchObject({ matches: 1, newMatches: 0, ratePerMin: 0.2, lastMatch: 'ERROR c' });
    expect(o.excerpt).toEqual(['ERROR c']);
    const gone = await run(spec, NOW + 9 * MIN);
    expect(gone.values).toMatchObject({ matches: 0, lastMatch: '' });
    expect(gone.excerpt).toBeUndefined();
  });

  test('rotation by rename and create: the rest of the old file, then the new one from its start', async () => {
    const file = path.join(newDir(), 'error.log');
    fs.writeFileSync(file, nginx('crit', 1));
    await run({ path: file, match: CRIT }, NOW);
    fs.appendFileSync(file, nginx('crit', 2)); // after the run, before the rotation: only error.log.1 has it
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, nginx('alert', 3));
    const o = await run({ path: file, match: CRIT }, NOW + MIN);
    expect(o.values).toMatchObject({ matches: 2, newMatches: 2 });
    expect(o.excerpt).toEqual([nginx('crit', 2).trim(), nginx('alert', 3).trim()]);
    fs.appendFileSync(file, nginx('emerg', 4));
    expect((await run({ path: file, match: CRIT }, NOW + 2 * MIN)).values).toMatchObject({ matches: 3, newMatches: 1 });
  });

  test('renamed away and not created again yet: waits for it without an error', async () => {
    const file = path.join(newDir(), 'error.log');
    fs.writeFileSync(file, '');
    await run({ path: file, match: CRIT }, NOW);
    fs.appendFileSync(file, nginx('crit', 1));
    fs.renameSync(file, `${file}-20260615`);
    expect((await run({ path: file, match: CRIT }, NOW + MIN)).values.newMatches).toBe(1);
    const waiting = await run({ path: file, match: CRIT }, NOW + 7 * MIN);
    expect(waiting.values.matches).toBe(0);
    expect(waiting.message).toBe(`waiting for ${file} (it does not exist); 0 matches in the last 5m`);
    fs.writeFileSync(file, nginx('crit', 2));
    expect((await run({ path: file, match: CRIT }, NOW + 8 * MIN)).values).toMatchObject({ matches: 1, newMatches: 1 });
  });

  test('copytruncate (same inode, content replaced): the copy\'s rest, then the file from its start', async () => {
    const file = path.join(newDir(), 'error.log');
    fs.writeFileSync(file, nginx('crit', 1) + nginx('crit', 2));
    await run({ path: file, match: CRIT }, NOW);
    const ino = fs.statSync(file).ino;
    fs.appendFileSync(file, nginx('crit', 3));
    fs.copyFileSync(file, `${file}.1`);
    fs.truncateSync(file, 0);
    fs.appendFileSync(file, nginx('emerg', 4));
    expect(fs.statSync(file).ino).toBe(ino);
    const o = await run({ path: file, match: CRIT }, NOW + MIN);
    expect(o.excerpt).toEqual([nginx('crit', 3).trim(), nginx('emerg', 4).trim()]);
  });

  test('truncated with no copy: read from its start, and the lost lines are said', async () => {
    const file = path.join(newDir(), 'app.log');
    fs.writeFileSync(file, 'ERROR old one that is long enough\n'.repeat(3));
    await run({ path: file, match: 'ERROR' }, NOW);
    fs.writeFileSync(file, 'ERROR new\n'); // `> app.log`, then a line
    const o = await run({ path: file, match: 'ERROR' }, NOW + MIN);
    expect(o.values).toMatchObject({ matches: 1, lastMatch: 'ERROR new' });
    expect(o.message).toContain('no rotated copy holds the lines after the last read; they are not counted');
  });

  test('a file that does not exist yet, in a directory that does not either: waiting, then read from its start', async () => {
    const dir = path.join(newDir(), 'later');
    const file = path.join(dir, 'app.log');
    const first = await run({ path: file, match: 'ERROR' }, NOW);
    expect(first.values.matches).toBe(0);
    expect(first.message).toBe(`waiting for ${file} (it does not exist yet); 0 matches in the last 5m`);
    expect((await run({ path: file, match: 'ERROR' }, NOW + MIN)).message).toBe(`waiting for ${file} (it does not exist); 0 matches in the last 5m`);
    fs.mkdirSync(dir);
    fs.writeFileSync(file, 'ERROR first\nINFO fine\nERROR second\n');
    expect((await run({ path: file, match: 'ERROR' }, NOW + 2 * MIN)).values).toMatchObject({ matches: 2, newMatches: 2, lastMatch: 'ERROR second' });
  });

  test('a line still being written counts once it is whole, as one line', async () => {
    const file = path.join(newDir(), 'app.log');
    fs.writeFileSync(file, 'INFO start\nERROR half-writ');
    await run({ path: file, match: 'ERROR' }, NOW);
    fs.appendFileSync(file, 'ten line\nERROR next, par');
    const o = await run({ path: file, match: 'ERROR' }, NOW + MIN);
    expect(o.values).toMatchObject({ newMatches: 1, lastMatch: 'ERROR half-written line' });
    fs.appendFileSync(file, 'tial\r\n');
    expect((await run({ path: file, match: 'ERROR' }, NOW + 2 * MIN)).values).toMatchObject({ newMatches: 1, matches: 2, lastMatch: 'ERROR next, partial' });
  });

  test('exclude and ignoreCase', async () => {
    const file = path.join(newDir(), 'app.log');
    fs.writeFileSync(file, '');
    const spec = { path: file, match: 'error', exclude: 'healthcheck', ignoreCase: true };
    await run(spec, NOW);
    fs.appendFileSync(file, 'ERROR db down\nerror healthcheck failed\nError HEALTHCHECK x\nError disk\ninfo ok\n');
    expect((await run(spec, NOW + MIN)).excerpt).toEqual(['ERROR db down', 'Error disk']);
    // Case-sensitive by default.
    const file2 = path.join(newDir(), 'app.log');
    fs.writeFileSync(file2, '');
    await run({ path: file2, match: 'error' }, NOW, 'case');
    fs.appendFileSync(file2, 'ERROR db down\nerror x\n');
    expect((await run({ path: file2, match: 'error' }, NOW + MIN, 'case')).values.matches).toBe(1);
  });

  test('lines bounds the excerpt (newest kept), long lines are cut; the count covers all', async () => {
    const file = path.join(newDir(), 'app.log');
    fs.writeFileSync(file, '');
    await run({ path: file, match: 'ERROR', lines: 3 }, NOW);
    const long = `ERROR ${'x'.repeat(2000)}`;
    fs.appendFileSync(file, `${Array.from({ length: 30 }, (_, i) => `ERROR ${i}`).join('\n')}\n${long}\n`);
    const o = await run({ path: file, match: 'ERROR', lines: 3 }, NOW + MIN);
    expect(o.values.matches).toBe(31);
    expect(o.excerpt).toEqual(['ERROR 28', 'ERROR 29', `${long.slice(0, MAX_LINE - 1)}…`]);
    expect(o.values.lastMatch).toBe(`${long.slice(0, MAX_LINE - 1)}…`);
    expect(o.message.length).toBeLessThan(400);
    expect(logCheck.schema.safeParse({ path: file, match: 'x', lines: 101 }).success).toBe(false);
    // lines: 0 keeps none.
    await run({ path: file, match: 'ERROR', lines: 0 }, NOW, 'none');
    fs.appendFileSync(file, 'ERROR z\n');
    const none = await run({ path: file, match: 'ERROR', lines: 0 }, NOW + MIN, 'none');
    expect(none.values).toMatchObject({ matches: 1, lastMatch: '' });
    expect(none.excerpt).toBeUndefined();
  });

  test('more than maxRead appended since the last run: the oldest part is skipped, and said', async () => {
    const file = path.join(newDir(), 'app.log');
    fs.writeFileSync(file, '');
    await run({ path: file, match: 'ERROR', maxRead: '8KiB' }, NOW);
    const lines = Array.from({ length: 2000 }, (_, i) => `ERROR ${String(i).padStart(5, '0')}\n`).join('');
    fs.appendFileSync(file, lines);
    const o = await run({ path: file, match: 'ERROR', maxRead: '8KiB' }, NOW + MIN);
    expect(o.values.skippedBytes).toBe(lines.length - 8192);
    expect(o.values.bytesRead).toBe(8192);
    // The line cut by the skip is not counted; the whole ones after it are.
    expect(o.values.matches).toBe(Math.floor(8192 / 12));
    expect(o.values.lastMatch).toBe('ERROR 01999');
    expect(o.message).toContain(`${lines.length - 8192} bytes of ${file} skipped (more than maxRead since the last run)`);
  });

  test('a directory, a file the agent may not read (as nobody): unknown, naming the file and what to grant', async () => {
    const dir = newDir();
    await expect(run({ path: dir, match: 'x' }, NOW)).rejects.toThrow(`${dir} is not a regular file`);
    const file = path.join(dir, 'secret.log');
    fs.writeFileSync(file, 'ERROR x\n', { mode: 0o640 });
    const r = await runCheckAsNobody('log', { path: file, match: 'ERROR' });
    expect(r).toEqual({ error: `${file} cannot be read: permission denied (the agent's user needs read access to it: on Debian and Ubuntu most of /var/log is group adm's)` });
  });

  test('the config: exactly one of path and unit, valid regexes, root only with unit', () => {
    const ok = (raw: Record<string, unknown>) => logCheck.schema.safeParse(raw).success;
    expect(ok({ path: '/var/log/syslog', match: 'x' })).toBe(true);
    expect(ok({ unit: 'nginx', match: 'x', root: '/host' })).toBe(true);
    expect(ok({ match: 'x' })).toBe(false);
    expect(ok({ path: '/var/log/syslog', unit: 'nginx', match: 'x' })).toBe(false);
    expect(ok({ path: 'relative.log', match: 'x' })).toBe(false);
    expect(ok({ path: '/var/log/syslog', match: '(' })).toBe(false);
    expect(ok({ path: '/var/log/syslog', match: 'x', exclude: '[' })).toBe(false);
    expect(ok({ path: '/var/log/syslog', match: 'x', root: '/host' })).toBe(false);
    expect(ok({ path: '/var/log/syslog' })).toBe(false);
  });
});

describe('following a unit\'s journal (real journal files written by systemd-journal-remote)', () => {
  test('the first run counts the window back; later runs only entries after the last one read', async () => {
    const root = newDir();
    writeJournal(root, [
      { agoMs: 40 * MIN, unit: 'nginx.service', pid: 7, message: '[crit] too old' },
      { agoMs: 4 * MIN, unit: 'nginx.service', pid: 7, message: '[crit] one' },
      { agoMs: 3 * MIN, unit: 'nginx.service', pid: 7, message: '[info] fine' },
      { agoMs: 2 * MIN, unit: 'cron.service', pid: 8, message: '[crit] not nginx' },
      { agoMs: 1 * MIN, unit: 'nginx.service', pid: 7, message: '[emerg] two' },
    ]);
    const spec = { unit: 'nginx', root, match: CRIT };
    const o = await run(spec, Date.now(), 'journal');
    expect(o.values).toMatchObject({ matches: 2, newMatches: 2, ratePerMin: 0.4 });
    expect(o.excerpt).toHaveLength(2);
    expect(o.excerpt![0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z nginx\[7\]: \[crit\] one$/);
    expect(o.values.lastMatch).toMatch(/ nginx\[7\]: \[emerg\] two$/);
    expect(o.message).toMatch(/^2 matches in the last 5m \(2 new, 0\.4\/min\); last: .*\[emerg\] two \(the journal of nginx\)$/);
    // Nothing new: still two, none counted twice.
    expect((await run(spec, Date.now(), 'journal')).values).toMatchObject({ matches: 2, newMatches: 0 });
    writeJournal(root, [{ agoMs: 1000, unit: 'nginx.service', pid: 9, message: '[alert] three' }], { file: 'system@2.journal', mono: 100 });
    const third = await run(spec, Date.now(), 'journal');
    expect(third.values).toMatchObject({ matches: 3, newMatches: 1 });
    expect(third.values.lastMatch).toMatch(/ nginx\[9\]: \[alert\] three$/);
  });

  test('more than maxRead of entries: the read stops between entries, the next runs go on, nothing counted twice', async () => {
    const root = newDir();
    writeJournal(root, Array.from({ length: 40 }, (_, i) => ({ agoMs: 60_000 - i * 1000, unit: 'nginx.service', pid: 7, message: `[crit] n${i}` })));
    const spec = { unit: 'nginx', root, match: CRIT, maxRead: '2KiB', lines: 100 };
    const first = await run(spec, Date.now(), 'bounded');
    expect(first.values.newMatches).toBeGreaterThan(0);
    expect(first.values.newMatches).toBeLessThan(40);
    expect(first.message).toMatch(/; read \d+ bytes of the journal \(maxRead 2048\); the rest is read by the next run$/);
    let last = first;
    for (let i = 0; i < 40 && last.values.newMatches !== 0; i++) last = await run(spec, Date.now(), 'bounded');
    expect(last.values.matches).toBe(40);
    expect(last.excerpt!.map((l) => l.replace(/^.*: /, ''))).toEqual(Array.from({ length: 40 }, (_, i) => `[crit] n${i}`));
  });

  test('a unit with no entries yet: zero, and says so', async () => {
    const root = newDir();
    writeJournal(root, [{ agoMs: MIN, unit: 'cron.service', pid: 8, message: 'x' }]);
    const o = await run({ unit: 'nginx', root, match: 'x' }, Date.now(), 'quiet');
    expect(o.values).toMatchObject({ matches: 0, newMatches: 0 });
    expect(o.message).toBe('no entries of nginx in the last 5m yet; 0 matches in the last 5m');
  });

  test('no journal, no journalctl, or a journal the agent may not read: unknown, saying what to do', async () => {
    const root = newDir();
    await expect(run({ unit: 'nginx', root, match: 'x' }, Date.now(), 'nojournal')).rejects.toThrow(
      `journalctl found no journal files under ${root} (is systemd-journald keeping one? else follow the log file with path:)`,
    );
    const saved = process.env.PATH;
    process.env.PATH = root;
    try {
      await expect(run({ unit: 'nginx', root, match: 'x' }, Date.now(), 'nojournalctl')).rejects.toThrow(
        "journalctl not found: the log check with unit: needs systemd's journalctl on the PATH",
      );
    } finally {
      process.env.PATH = saved;
    }
    writeJournal(root, [{ agoMs: MIN, unit: 'nginx.service', pid: 7, message: '[crit] x' }]);
    const r = await runCheckAsNobody('log', { unit: 'nginx', root, match: CRIT });
    expect(r.error).toMatch(new RegExp(`^journalctl cannot read the journal under ${root}: .*(insufficient permissions|not seeing messages from other users).* \\(the agent's user needs group systemd-journal or adm\\)$`));
  });
});
