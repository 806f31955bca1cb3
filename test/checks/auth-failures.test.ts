import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { memoryState } from '../../agent/check-state';
import { packageRoot } from '../../agent/paths';
import { authFailuresCheck, summarize, TOP_SOURCES } from '../../checks/auth-failures';
import { FailureReader, parseLine, syslogTime, type AuthFailure } from '../../checks/auth-failures/parse';
import type { Observation } from '../../checks/types';
import { freshDirs } from '../helpers/daemon';
import { silentLog } from '../helpers/check';
import { writeJournal } from '../helpers/journal';

const MIN = 60_000;
// A fixed local time: syslog stamps are local and carry no year.
const NOW = new Date(2026, 5, 15, 12, 0, 0).getTime();
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A fresh directory per test: the check keeps its place in a log by check name and path. */
const newDir = freshDirs();

const two = (n: number) => String(n).padStart(2, '0');
/** A BSD syslog line (Debian before 12, RHEL's secure): local time, no year. */
function syslog(at: number, tag: string, message: string): string {
  const d = new Date(at);
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} web-01 ${tag}: ${message}\n`;
}
const failed = (at: number, ip: string, user = 'root', pid = 100) => syslog(at, `sshd[${pid}]`, `Failed password for ${user} from ${ip} port 50022 ssh2`);

async function run(raw: Record<string, unknown>, now: number, name = 'auth'): Promise<Observation> {
  const spec = authFailuresCheck.schema.parse(raw);
  return authFailuresCheck.run({ name, spec, signal: new AbortController().signal, timeoutMs: 5000, log: silentLog, now: () => now, holdsSecret: () => false, state: memoryState() });
}

describe('log line formats', () => {
  const at = (y: number, mo: number, d: number, h: number, mi: number, s: number) => new Date(y, mo, d, h, mi, s).getTime();
  test.each([
    ['BSD syslog (Debian < 12, RHEL secure)', 'Jun 15 11:58:07 web-01 sshd[812]: Failed password for root from 203.0.113.7 port 4242 ssh2',
      { at: at(2026, 5, 15, 11, 58, 7), program: 'sshd', pid: '812', message: 'Failed password for root from 203.0.113.7 port 4242 ssh2' }],
    ['BSD syslog, one-digit day', 'Jun  5 09:01:02 web-01 sudo: pam_unix(sudo:auth): conversation failed',
      { at: at(2026, 5, 5, 9, 1, 2), program: 'sudo', pid: undefined, message: 'pam_unix(sudo:auth): conversation failed' }],
    ['rsyslog RFC 3339 (Debian 12)', '2026-06-15T11:58:07.123456+02:00 web-01 sshd-session[812]: Invalid user x from 198.51.100.1 port 1',
      { at: Date.parse('2026-06-15T09:58:07.123Z'), program: 'sshd-session', pid: '812', message: 'Invalid user x from 198.51.100.1 port 1' }],
    ['journalctl -o short-iso', '2026-06-15T11:58:07+0000 web-01 sshd[812]: Failed password for bob from 2001:db8::5 port 22 ssh2',
      { at: Date.parse('2026-06-15T11:58:07Z'), program: 'sshd', pid: '812', message: 'Failed password for bob from 2001:db8::5 port 22 ssh2' }],
    ['ISO in UTC', '2026-06-15T11:58:07Z web-01 login[77]: FAILED LOGIN (1) on \'/dev/tty1\' FOR \'root\', Authentication failure',
      { at: Date.parse('2026-06-15T11:58:07Z'), program: 'login', pid: '77', message: 'FAILED LOGIN (1) on \'/dev/tty1\' FOR \'root\', Authentication failure' }],
  ])('%s', (_, line, expected) => {
    expect(parseLine(line, NOW)).toEqual(expected);
  });

  test.each([
    ['journalctl banner', '-- No entries --'],
    ['no time stamp', 'Failed password for root from 203.0.113.7 port 4242 ssh2'],
    ['not a month', 'Jux 15 11:58:07 web-01 sshd[1]: x'],
    ['no program tag', 'Jun 15 11:58:07 web-01'],
  ])('not a log line: %s', (_, line) => {
    expect(parseLine(line, NOW)).toBeUndefined();
  });

  test.each([
    ['a line of earlier today', 5, 15, 11, NOW, 2026],
    ['Dec 31 read on Jan 1: last year', 11, 31, 23, new Date(2027, 0, 1, 0, 5).getTime(), 2026],
    ['Jan 1 read on Jan 1', 0, 1, 0, new Date(2027, 0, 1, 0, 5).getTime(), 2027],
    ['a few hours ahead (clock skew): this year', 5, 15, 20, NOW, 2026],
    ['more than a day ahead: last year', 5, 17, 12, NOW, 2025],
  ])('syslog stamps without a year: %s', (_, month, day, hour, now, year) => {
    expect(new Date(syslogTime(month, day, hour, 0, 0, now)).getFullYear()).toBe(year);
  });
});

describe('which lines are failed logins', () => {
  const t = '2026-06-15T11:58:07+0000 web-01';
  test.each<[string, string, Partial<AuthFailure> | undefined]>([
    ['sshd wrong password', `${t} sshd[1]: Failed password for root from 203.0.113.7 port 4242 ssh2`, { kind: 'ssh', count: 1, source: '203.0.113.7', user: 'root' }],
    ['sshd invalid user', `${t} sshd[2]: Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2`, { kind: 'ssh', count: 1, user: 'admin', invalidUser: true }],
    ['sshd keyboard-interactive', `${t} sshd[3]: Failed keyboard-interactive/pam for alice from 2001:db8::1 port 22 ssh2`, { kind: 'ssh', source: '2001:db8::1', user: 'alice' }],
    ['sshd-session (OpenSSH 9.8+)', `${t} sshd-session[4]: Failed publickey for git from 198.51.100.9 port 22 ssh2: RSA SHA256:abc`, { kind: 'ssh', source: '198.51.100.9', user: 'git' }],
    ['sshd Invalid user', `${t} sshd[5]: Invalid user oracle from 198.51.100.2 port 6000`, { kind: 'ssh', count: 1, source: '198.51.100.2', user: 'oracle', invalidUser: true }],
    ['rsyslog repeat', `${t} sshd[6]: message repeated 4 times: [ Failed password for root from 203.0.113.8 port 4242 ssh2]`, { kind: 'ssh', count: 4, source: '203.0.113.8' }],
    ['sshd PAM line (repeats Failed)', `${t} sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root`, undefined],
    ['sshd PAM more (repeats Failed)', `${t} sshd[1]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root`, undefined],
    ['sshd success', `${t} sshd[1]: Accepted publickey for deploy from 192.0.2.1 port 5 ssh2: ED25519 SHA256:x`, undefined],
    ['sshd preauth close', `${t} sshd[1]: Connection closed by authenticating user root 203.0.113.7 port 4242 [preauth]`, undefined],
    ['sudo gives up', `${t} sudo[9]:      bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id`, { kind: 'sudo', count: 3, user: 'bob' }],
    ['sudo one attempt', `${t} sudo: carol : 1 incorrect password attempt ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/ls`, { kind: 'sudo', count: 1, user: 'carol' }],
    ['sudo PAM line (repeats sudo)', `${t} sudo[9]: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob`, undefined],
    ['su PAM failure', `${t} su[10]: pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=root`, { kind: 'pam', count: 1, user: 'root' }],
    ['su FAILED SU (repeats PAM)', `${t} su[10]: FAILED SU (to root) bob on pts/0`, undefined],
    ['login PAM failure', `${t} login[11]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=root`, { kind: 'pam', user: 'root' }],
    ['dovecot over the network (pam_sss)', `${t} auth[12]: pam_sss(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=mail rhost=192.0.2.44 user=mail`, { kind: 'pam', source: '192.0.2.44', user: 'mail' }],
    ['vsftpd PAM more', `${t} vsftpd[13]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ftp ruser=ftp rhost=192.0.2.45`, { kind: 'pam', count: 2, source: '192.0.2.45', user: 'ftp' }],
    ['cron session', `${t} CRON[14]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`, undefined],
  ])('%s', (_, line, expected) => {
    const f = new FailureReader().read(line, NOW);
    if (expected === undefined) expect(f).toBeUndefined();
    else expect(f).toEqual(expect.objectContaining(expected));
  });

  test('each SSH attempt counts once: Invalid user and its first Failed line are one attempt', () => {
    const r = new FailureReader();
    const lines = [
      'Invalid user admin from 203.0.113.7 port 1',
      'Failed password for invalid user admin from 203.0.113.7 port 1 ssh2',
      'Failed password for invalid user admin from 203.0.113.7 port 1 ssh2',
      'Failed password for invalid user admin from 203.0.113.7 port 1 ssh2',
    ].map((m, i) => `2026-06-15T11:58:0${i}Z web-01 sshd[300]: ${m}`);
    // A key-only server: the connection names a user that does not exist and goes away.
    lines.push('2026-06-15T11:58:05Z web-01 sshd[301]: Invalid user test from 203.0.113.7 port 2');
    // Another sshd process: its Failed line is its own attempt.
    lines.push('2026-06-15T11:58:06Z web-01 sshd[302]: Failed password for invalid user admin from 203.0.113.7 port 3 ssh2');
    const counts = lines.map((l) => r.read(l, NOW)?.count ?? 0);
    expect(counts).toEqual([1, 0, 1, 1, 1, 1]); // 3 passwords + 1 connection + 1 elsewhere
  });

  test('the pairing outlives a run (the reader is kept) and is forgotten after the window', () => {
    const r = new FailureReader();
    r.read('2026-06-15T11:58:00Z web-01 sshd[7]: Invalid user a from 192.0.2.1 port 1', NOW);
    const next = r.clone();
    expect(next.read('2026-06-15T11:58:01Z web-01 sshd[7]: Failed password for invalid user a from 192.0.2.1 port 1 ssh2', NOW)).toBeUndefined();
    r.prune(Date.parse('2026-06-15T11:59:00Z'));
    expect(r.read('2026-06-15T11:58:01Z web-01 sshd[7]: Failed password for invalid user a from 192.0.2.1 port 1 ssh2', NOW)).toMatchObject({ count: 1 });
  });
});

describe('findings', () => {
  const spec = authFailuresCheck.schema.parse({});
  const from = (source: string, count: number): AuthFailure => ({ at: NOW, kind: 'ssh', count, source, user: 'root' });

  test(`the ${TOP_SOURCES} busiest sources, worst first, their severity by count (5 low, 20 medium, 100 high)`, () => {
    const failures = [from('192.0.2.1', 1), from('192.0.2.2', 4), from('192.0.2.3', 5), from('192.0.2.4', 20), from('192.0.2.5', 99), from('192.0.2.6', 100)];
    for (let i = 10; i < 18; i++) failures.push(from(`198.51.100.${i}`, 1));
    const r = summarize(failures, { spec, windowMs: 15 * MIN, from: '/var/log/auth.log' });
    expect(r.findings).toHaveLength(TOP_SOURCES);
    expect(r.findings.slice(0, 6).map((f) => [f.id, f.severity])).toEqual([
      ['auth-failures.source.192.0.2.6', 'high'],
      ['auth-failures.source.192.0.2.5', 'medium'],
      ['auth-failures.source.192.0.2.4', 'medium'],
      ['auth-failures.source.192.0.2.3', 'low'],
      ['auth-failures.source.192.0.2.2', 'info'],
      ['auth-failures.source.192.0.2.1', 'info'],
    ]);
    expect(r.findings[0]).toEqual({
      id: 'auth-failures.source.192.0.2.6',
      severity: 'high',
      title: '100 failed logins from 192.0.2.6 in the last 15m',
      subject: '192.0.2.6',
      fix: expect.stringMatching(/PasswordAuthentication no/),
      refs: ['ATT&CK T1110'],
    });
    expect(r.values).toEqual({
      failures: 237, sources: 14, users: 1, topSourceFailures: 100, findings: 10, critical: 0, high: 1, medium: 2, low: 1, info: 6,
    });
    expect(r.message).toBe('237 failed logins in the last 15m from 14 sources, 1 account; busiest 192.0.2.6 (100) (/var/log/auth.log)');
  });

  test('sourceSeverity moves the levels; sudo failures are findings of their own', () => {
    const s = authFailuresCheck.schema.parse({ sourceSeverity: { low: 2, medium: 3, high: 4 } });
    const r = summarize([from('192.0.2.1', 4), from('192.0.2.2', 3), { at: NOW, kind: 'sudo', count: 3, user: 'bob' }, { at: NOW, kind: 'sudo', count: 1, user: 'eve' }], { spec: s, windowMs: 5 * MIN, from: 'the journal' });
    expect(r.findings.map((f) => [f.id, f.severity])).toEqual([
      ['auth-failures.source.192.0.2.1', 'high'],
      ['auth-failures.source.192.0.2.2', 'medium'],
      ['auth-failures.sudo.bob', 'medium'],
      ['auth-failures.sudo.eve', 'low'],
    ]);
    expect(r.findings[2].title).toBe('3 wrong sudo passwords by bob in the last 5m');
    expect(r.values).toMatchObject({ failures: 11, sources: 2, users: 3 });
  });

  test('none: a quiet message and no findings', () => {
    const r = summarize([], { spec, windowMs: 15 * MIN, from: '/var/log/secure' });
    expect(r).toEqual({ values: expect.objectContaining({ failures: 0, sources: 0, findings: 0, topSourceFailures: 0 }), message: 'no failed logins in the last 15m (/var/log/secure)', findings: [] });
  });

  test('the config refuses levels out of order and keys of the other source', () => {
    expect(authFailuresCheck.schema.safeParse({ sourceSeverity: { low: 50 } }).success).toBe(false);
    expect(authFailuresCheck.schema.safeParse({ source: 'journal', file: '/var/log/auth.log' }).success).toBe(false);
    expect(authFailuresCheck.schema.safeParse({ source: 'file', units: ['ssh'] }).success).toBe(false);
    expect(authFailuresCheck.schema.safeParse({ file: 'auth.log' }).success).toBe(false);
    expect(authFailuresCheck.schema.safeParse({ window: '10s' }).success).toBe(false);
  });
});

describe('reading auth.log', () => {
  test('counts only the lines dated inside the window', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, [
      failed(NOW - 40 * MIN, '192.0.2.1'),
      failed(NOW - 16 * MIN, '192.0.2.1'),
      failed(NOW - 14 * MIN, '192.0.2.2', 'alice'),
      syslog(NOW - 13 * MIN, 'sshd[5]', 'Accepted publickey for deploy from 192.0.2.9 port 5 ssh2'),
      failed(NOW - 1 * MIN, '192.0.2.2', 'bob'),
      syslog(NOW - 30 * 1000, 'sudo', '   carol : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh'),
    ].join(''));
    const o = await run({ file }, NOW);
    expect(o.values).toMatchObject({ failures: 5, sources: 1, users: 3, topSourceFailures: 2 });
    expect(o.findings!.map((f) => [f.id, f.severity])).toEqual([['auth-failures.source.192.0.2.2', 'info'], ['auth-failures.sudo.carol', 'medium']]);
    expect(o.message).toBe(`5 failed logins in the last 15m from 1 source, 3 accounts; busiest 192.0.2.2 (2) (${file})`);
    // A 1h window reaches the older lines.
    expect((await run({ file, window: '1h' }, NOW, 'auth-1h')).values.failures).toBe(7);
  });

  test('later runs read only what was added, and drop what left the window', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, failed(NOW - 10 * MIN, '192.0.2.1') + failed(NOW - 5 * MIN, '192.0.2.1'));
    expect((await run({ file }, NOW)).values.failures).toBe(2);
    fs.appendFileSync(file, failed(NOW + MIN, '192.0.2.3'));
    expect((await run({ file }, NOW + 2 * MIN)).values).toMatchObject({ failures: 3, sources: 2 });
    // Nothing new: the -10m line has left the window.
    expect((await run({ file }, NOW + 6 * MIN)).values.failures).toBe(2);
    // Had the old lines been read again, the -5m line would count twice.
    fs.appendFileSync(file, failed(NOW + 7 * MIN, '192.0.2.3'));
    expect((await run({ file }, NOW + 8 * MIN)).values).toMatchObject({ failures: 3, topSourceFailures: 2 });
  });

  test('a line still being written counts once it is whole', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    const line = failed(NOW - MIN, '192.0.2.1');
    fs.writeFileSync(file, failed(NOW - 2 * MIN, '192.0.2.1') + line.slice(0, 30));
    expect((await run({ file }, NOW)).values.failures).toBe(1);
    fs.appendFileSync(file, line.slice(30));
    expect((await run({ file }, NOW)).values.failures).toBe(2);
  });

  test('rotation by rename (logrotate create): the rest of auth.log.1, then the new file', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, failed(NOW - 10 * MIN, '192.0.2.1'));
    expect((await run({ file }, NOW)).values.failures).toBe(1);
    // Written after the run, before the rotation: only the rotated copy has it.
    fs.appendFileSync(file, failed(NOW + MIN, '192.0.2.2'));
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, failed(NOW + 2 * MIN, '192.0.2.3'));
    const o = await run({ file }, NOW + 3 * MIN);
    expect(o.values).toMatchObject({ failures: 3, sources: 3 });
    expect(o.message).not.toMatch(/not counted/);
    fs.appendFileSync(file, failed(NOW + 4 * MIN, '192.0.2.3'));
    expect((await run({ file }, NOW + 4.5 * MIN)).values.failures).toBe(4);
  });

  test('rotation while the new file is not there yet, and dateext names (secure-YYYYMMDD)', async () => {
    const dir = newDir();
    const file = path.join(dir, 'secure');
    fs.writeFileSync(file, failed(NOW - 10 * MIN, '192.0.2.1'));
    expect((await run({ file }, NOW)).values.failures).toBe(1);
    fs.appendFileSync(file, failed(NOW + MIN, '192.0.2.2'));
    fs.renameSync(file, `${file}-20260615`);
    expect((await run({ file }, NOW + 2 * MIN)).values.failures).toBe(2);
    fs.writeFileSync(file, failed(NOW + 3 * MIN, '192.0.2.3'));
    expect((await run({ file }, NOW + 4 * MIN)).values).toMatchObject({ failures: 3, sources: 3 });
  });

  test.each([
    ['the new content is shorter than what was read', 1],
    ['the new content has grown past what was read', 40],
  ])('copytruncate (same inode, content replaced): %s', async (_, newLines) => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, failed(NOW - 10 * MIN, '192.0.2.1') + failed(NOW - 9 * MIN, '192.0.2.1'));
    expect((await run({ file }, NOW)).values.failures).toBe(2);
    const ino = fs.statSync(file).ino;
    fs.appendFileSync(file, failed(NOW + MIN, '192.0.2.2'));
    fs.copyFileSync(file, `${file}.1`);
    fs.truncateSync(file, 0);
    for (let i = 0; i < newLines; i++) fs.appendFileSync(file, failed(NOW + 2 * MIN, '192.0.2.3', 'root', 200 + i));
    expect(fs.statSync(file).ino).toBe(ino);
    const o = await run({ file }, NOW + 3 * MIN);
    expect(o.values).toMatchObject({ failures: 3 + newLines, sources: 3 });
  });

  test('a first run just after rotation also reads the end of the rotated copy', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(`${file}.1`, failed(NOW - 60 * MIN, '192.0.2.9') + failed(NOW - 10 * MIN, '192.0.2.1') + failed(NOW - 8 * MIN, '192.0.2.1'));
    fs.writeFileSync(`${file}.2.gz`, 'not read');
    fs.writeFileSync(file, failed(NOW - 3 * MIN, '192.0.2.2'));
    expect((await run({ file }, NOW)).values).toMatchObject({ failures: 3, sources: 2 });
  });

  test('lines lost to a rotation that left no copy are said, not hidden', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, failed(NOW - 10 * MIN, '192.0.2.1'));
    await run({ file }, NOW);
    fs.appendFileSync(file, failed(NOW + MIN, '192.0.2.2'));
    fs.renameSync(file, `${file}.1`);
    fs.rmSync(`${file}.1`); // compressed away before this run
    fs.writeFileSync(file, failed(NOW + 2 * MIN, '192.0.2.3'));
    const o = await run({ file }, NOW + 3 * MIN);
    expect(o.values.failures).toBe(2);
    expect(o.message).toMatch(/was rotated and no rotated copy holds the lines after the last read; they are not counted/);
  });

  test('reads at most maxRead, and says so', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, Array.from({ length: 400 }, (_, i) => failed(NOW - MIN + i * 10, `192.0.2.${i % 200}`)).join(''));
    const o = await run({ file, maxRead: '8KiB' }, NOW + 5 * MIN);
    expect(o.values.failures).toBeGreaterThan(50);
    expect(o.values.failures).toBeLessThan(120);
    expect(o.message).toMatch(/read only the last 8192 bytes of/);
  });

  test('root: the default logs under it, auth.log first, then secure', async () => {
    const root = newDir();
    fs.mkdirSync(path.join(root, 'var/log'), { recursive: true });
    await expect(run({ root, source: 'file' }, NOW)).rejects.toThrow(
      `neither ${root}/var/log/auth.log nor ${root}/var/log/secure exists: set file: to the log that holds sshd's and PAM's messages, or use source: journal`,
    );
    fs.writeFileSync(path.join(root, 'var/log/secure'), failed(NOW - MIN, '192.0.2.1'));
    expect((await run({ root }, NOW)).message).toContain(`(${root}/var/log/secure)`);
    fs.writeFileSync(path.join(root, 'var/log/auth.log'), '');
    expect((await run({ root }, NOW, 'auth-2')).message).toBe(`no failed logins in the last 15m (${root}/var/log/auth.log)`);
  });

  test('a missing log, or a directory, is unknown with its path', async () => {
    const dir = newDir();
    await expect(run({ file: path.join(dir, 'nope.log') }, NOW)).rejects.toThrow(`${dir}/nope.log does not exist`);
    await expect(run({ file: dir }, NOW)).rejects.toThrow(`${dir} is not a regular file`);
  });

  test('a log the agent may not read is unknown, naming the file and the group it needs (run as nobody)', async () => {
    const dir = newDir();
    const file = path.join(dir, 'auth.log');
    fs.writeFileSync(file, failed(NOW - MIN, '192.0.2.1'), { mode: 0o640 });
    const r = await runAsNobody({ file });
    expect(r).toEqual({ error: `${file} cannot be read: permission denied (the agent's user needs read access: on Debian and Ubuntu, membership of group adm; /var/log/secure on RHEL is root's only, so use source: journal with group systemd-journal)` });
  });
});

describe('reading the journal (real journal files written by systemd-journal-remote)', () => {
  test('counts the failures of the ssh/sshd units inside the window', async () => {
    const root = newDir();
    writeJournal(root, [
      { agoMs: 40 * MIN, unit: 'ssh.service', ident: 'sshd', pid: 1, message: 'Failed password for root from 192.0.2.1 port 1 ssh2' },
      { agoMs: 5 * MIN, unit: 'ssh.service', ident: 'sshd', pid: 2, message: 'Invalid user admin from 192.0.2.2 port 2' },
      { agoMs: 5 * MIN - 1000, unit: 'ssh.service', ident: 'sshd', pid: 2, message: 'Failed password for invalid user admin from 192.0.2.2 port 2 ssh2' },
      { agoMs: 4 * MIN, unit: 'sshd.service', ident: 'sshd-session', pid: 3, message: 'Failed password for root from 192.0.2.3 port 3 ssh2' },
      { agoMs: 3 * MIN, unit: 'cron.service', ident: 'CRON', pid: 4, message: 'pam_unix(cron:session): session opened for user root' },
      { agoMs: 2 * MIN, unit: 'dovecot.service', ident: 'auth', pid: 5, message: 'pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=192.0.2.4 user=x' },
    ]);
    const o = await run({ source: 'journal', root }, Date.now());
    expect(o.values).toMatchObject({ failures: 2, sources: 2, users: 2 });
    expect(o.message).toMatch(/^2 failed logins in the last 15m from 2 sources, 2 accounts; busiest 192\.0\.2\.2 \(1\) \(the journal\)$/);
    // units: the services to read.
    expect((await run({ source: 'journal', root, units: ['dovecot'] }, Date.now())).values).toMatchObject({ failures: 1, sources: 1 });
  });

  test('auto reads the journal when neither auth.log nor secure exists', async () => {
    const root = newDir();
    writeJournal(root, [{ agoMs: MIN, unit: 'ssh.service', ident: 'sshd', pid: 1, message: 'Failed password for root from 192.0.2.1 port 1 ssh2' }]);
    expect((await run({ root }, Date.now())).values.failures).toBe(1);
  });

  test('no journal at all is unknown, not zero failures', async () => {
    const root = newDir();
    await expect(run({ source: 'journal', root }, Date.now())).rejects.toThrow(`journalctl found no journal files under ${root} (is systemd-journald keeping one? else use source: file)`);
  });

  test('a journal the agent may not read is unknown, naming the group it needs (run as nobody)', async () => {
    const root = newDir();
    writeJournal(root, [{ agoMs: MIN, unit: 'ssh.service', ident: 'sshd', pid: 1, message: 'Failed password for root from 192.0.2.1 port 1 ssh2' }]);
    const r = await runAsNobody({ source: 'journal', root });
    expect(r.error).toMatch(new RegExp(`^journalctl cannot read the journal under ${root}: .*(insufficient permissions|not seeing messages from other users).* \\(the agent's user needs group systemd-journal or adm\\)$`));
  });
});

/** Runs the built check (dist/) once in a child process as uid/gid 65534: what an unprivileged agent sees. */
async function runAsNobody(raw: Record<string, unknown>): Promise<{ error?: string; values?: unknown }> {
  const dist = path.join(packageRoot(), 'dist/checks/auth-failures/index.js');
  const script = `
    const { authFailuresCheck: c } = require(${JSON.stringify(dist)});
    const state = { persistent: false, get: async () => undefined, set: async () => undefined };
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    c.run({ name: 'nobody', spec: c.schema.parse(JSON.parse(process.argv[1])), signal: new AbortController().signal, timeoutMs: 5000, log, now: Date.now, holdsSecret: () => false, state })
      .then((o) => process.stdout.write(JSON.stringify({ values: o.values })), (e) => process.stdout.write(JSON.stringify({ error: e.message })));
  `;
  const child = spawn(process.execPath, ['-e', script, JSON.stringify(raw)], { uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.on('close', resolve));
  expect({ code, err }).toEqual({ code: 0, err: '' });
  return JSON.parse(out);
}
