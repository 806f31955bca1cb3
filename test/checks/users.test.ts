import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Finding, Observation } from '../../checks/types';
import { isLoginShell, parsePasswd, parseSudoers, usersCheck } from '../../checks/users';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { runCheck, startRun } from '../helpers/check';

let root: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'kw-users-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function write(rel: string, text: string, mode = 0o644): string {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

const PASSWD = `root:x:0:0:root:/root:/bin/bash
toor:x:0:0::/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
postgres:x:108:114::/var/lib/postgresql:/bin/bash
legacy:$6$salt$hash:109:109::/:/usr/sbin/nologin
nopw::110:110::/:/bin/false
alice:x:1000:1000::/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:
# a comment
+@netgroup::::::
broken line
`;

const SHADOW = `root:$6$salt$hash:19000:0:99999:7:::
alice::19000:0:99999:7:::
bob:!:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
`;

/** A host's files: passwd, shadow, login.defs and a sudoers tree with every kind of include. */
function host(): void {
  write('etc/passwd', PASSWD);
  write('etc/shadow', SHADOW, 0o600);
  write('etc/login.defs', '# UID_MIN 10\nUID_MIN\t\t\t 1000\nUID_MAX 60000\n');
  write('etc/sudoers', [
    'Defaults env_reset',
    '# deploy ALL=(ALL) NOPASSWD: ALL',
    'root ALL=(ALL:ALL) ALL',
    '%sudo ALL=(ALL:ALL) ALL',
    'Cmnd_Alias SVC = /bin/systemctl restart app',
    '@includedir /etc/sudoers.d',
    '',
  ].join('\n'), 0o440);
  write('etc/sudoers.d/90-cloud-init-users', 'ubuntu ALL=(ALL) NOPASSWD:ALL\n', 0o440);
  write('etc/sudoers.d/deploy', [
    'deploy, ci ALL=(root) NOPASSWD: SVC, \\',
    '    /usr/bin/apt-get update',
    '#include more/ops',
    '',
  ].join('\n'), 0o440);
  write('etc/sudoers.d/more/ops', '%ops ALL = (ALL) PASSWD: /bin/ls, NOPASSWD: /usr/bin/journalctl\nDefaults !authenticate\n', 0o440);
  // sudo skips names with a dot or ending in ~: so do we.
  write('etc/sudoers.d/README.conf', 'evil ALL=(ALL) NOPASSWD: ALL\n', 0o440);
  write('etc/sudoers.d/deploy~', 'evil ALL=(ALL) NOPASSWD: ALL\n', 0o440);
}

const ids = (o: Observation) => o.findings!.map((f) => f.id).sort();
const byId = (o: Observation, id: string): Finding | undefined => o.findings!.find((f) => f.id === id);

describe('a host with every problem', () => {
  beforeEach(host);

  test('finds the extra uid 0, empty passwords, a hash in passwd, a system account with a shell and NOPASSWD rules through includes', async () => {
    const o = await runCheck(usersCheck, { root });
    expect(ids(o)).toEqual([
      'users.empty-password.alice',
      'users.empty-password.nopw',
      'users.nopasswd.%ops',
      'users.nopasswd.ci',
      'users.nopasswd.deploy',
      'users.nopasswd.ubuntu',
      'users.sudo-no-authenticate',
      'users.uid0.toor',
      'users.unexpected-login.postgres',
      'users.unshadowed.legacy',
    ]);
    expect(o.values).toEqual({
      accounts: 9, uid0Extra: 1, emptyPasswords: 2, nopasswd: 5, unexpectedLogins: 1, shadowReadable: true, sudoersReadable: true,
      findings: 10, critical: 3, high: 3, medium: 4, low: 0, info: 0,
    });
    expect(byId(o, 'users.uid0.toor')).toEqual({
      id: 'users.uid0.toor',
      severity: 'critical',
      title: 'Account toor has uid 0: it is root under another name',
      subject: `${root}/etc/passwd: toor`,
      fix: expect.stringContaining('usermod -u'),
      refs: ['CIS 6.2.10', 'Lynis AUTH-9204'],
    });
    expect(byId(o, 'users.empty-password.alice')).toMatchObject({ severity: 'critical', subject: `${root}/etc/shadow: alice`, refs: ['CIS 6.2.2', 'Lynis AUTH-9283'] });
    expect(byId(o, 'users.empty-password.nopw')?.subject).toBe(`${root}/etc/passwd: nopw`);
    expect(byId(o, 'users.unshadowed.legacy')).toMatchObject({ severity: 'high', fix: 'Move the hashes to the shadow file: run pwconv.' });
    expect(byId(o, 'users.unexpected-login.postgres')).toMatchObject({
      severity: 'medium', title: 'System account postgres (uid 108) has a login shell', subject: 'postgres: /bin/bash', refs: ['CIS 5.5.2'],
    });
    const d = `${root}/etc/sudoers.d`;
    expect(byId(o, 'users.nopasswd.ubuntu')).toMatchObject({
      severity: 'high', title: 'ubuntu may run any command as root without a password', subject: `${d}/90-cloud-init-users:1`, refs: ['CIS 5.3.4'],
    });
    expect(byId(o, 'users.nopasswd.deploy')).toMatchObject({ severity: 'medium', title: 'deploy may run some commands as root without a password', subject: `${d}/deploy:1` });
    expect(byId(o, 'users.nopasswd.%ops')).toMatchObject({ severity: 'medium', subject: `${d}/more/ops:1` });
    expect(byId(o, 'users.sudo-no-authenticate')).toMatchObject({
      severity: 'high', title: 'Everyone allowed to use sudo may run any command as root without a password (Defaults !authenticate)', subject: `${d}/more/ops:2`, refs: ['CIS 5.3.5'],
    });
    expect(o.message).toBe('9 accounts, 1 extra uid 0 (toor), 2 empty passwords (alice, nopw), 5 NOPASSWD (ubuntu, deploy, ci, %ops, *), 1 unexpected login shells (postgres)');
  });

  test('loginUsers: every other account with a login shell is unexpected, whatever its uid', async () => {
    const o = await runCheck(usersCheck, { root, loginUsers: ['root', 'alice'] });
    expect(o.values.unexpectedLogins).toBe(3);
    expect(byId(o, 'users.unexpected-login.bob')).toMatchObject({
      title: 'Account bob has a login shell and is not in loginUsers', subject: 'bob: /bin/sh (empty shell field)',
    });
    expect(byId(o, 'users.unexpected-login.bob')!.refs).toBeUndefined();
    expect(byId(o, 'users.unexpected-login.toor')).toBeDefined();
    expect(byId(o, 'users.unexpected-login.postgres')).toBeDefined();
  });

  test('uidMin comes from login.defs and can be set; nopasswdAllow accepts expected principals', async () => {
    write('etc/login.defs', 'UID_MIN 100\n');
    const fromDefs = await runCheck(usersCheck, { root, nopasswdAllow: ['ubuntu', '%ops'] });
    expect(fromDefs.values).toMatchObject({ unexpectedLogins: 0, nopasswd: 3 });
    const set = await runCheck(usersCheck, { root, uidMin: 200 });
    expect(set.values.unexpectedLogins).toBe(1);
    rmSync(path.join(root, 'etc/login.defs'));
    expect((await runCheck(usersCheck, { root })).values.unexpectedLogins).toBe(1); // 1000 without login.defs
  });

  test('explicit file keys win over root', async () => {
    const other = write('elsewhere/passwd', 'root:x:0:0::/root:/bin/bash\nadmin:x:0:0::/:/bin/bash\n');
    const o = await runCheck(usersCheck, { root, passwdFile: other, shadowFile: path.join(root, 'none'), sudoersFile: path.join(root, 'none') });
    expect(o.values).toMatchObject({ accounts: 2, uid0Extra: 1, shadowReadable: false, nopasswd: 0, sudoersReadable: true });
    expect(byId(o, 'users.shadow-unreadable')).toMatchObject({ severity: 'info', subject: `${root}/none (ENOENT)` });
    expect(o.values.emptyPasswords).toBeUndefined();
  });

  test('run as an unprivileged user: shadow and sudoers are reported unread, never as clean', async () => {
    chmodSync(root, 0o755);
    const { observation, error } = await runCheckAsNobody('users', { root });
    expect(error).toBeUndefined();
    const o = observation!;
    expect(o.values).toMatchObject({ accounts: 9, uid0Extra: 1, shadowReadable: false, sudoersReadable: false, unexpectedLogins: 1 });
    expect(o.values.emptyPasswords).toBeUndefined();
    expect(o.values.nopasswd).toBeUndefined();
    expect(byId(o, 'users.shadow-unreadable')).toMatchObject({
      severity: 'info', subject: `${root}/etc/shadow (EACCES)`, fix: expect.stringContaining('group shadow'),
    });
    expect(byId(o, 'users.sudoers-unreadable')).toMatchObject({ severity: 'info', subject: `${root}/etc/sudoers (EACCES)` });
    // What passwd itself shows is still reported.
    expect(byId(o, 'users.empty-password.nopw')).toBeDefined();
    expect(o.message).toContain(`empty passwords not checked (${root}/etc/shadow unreadable)`);
  });
});

test('a passwd file that cannot be read makes the run unknown, naming it', async () => {
  mkdirSync(path.join(root, 'etc/passwd'), { recursive: true });
  await expect(runCheck(usersCheck, { root })).rejects.toThrow(`cannot read ${root}/etc/passwd (not a regular file (a directory)): the users check needs to read the account list`);
});

test('no sudoers file (sudo not installed) is no NOPASSWD rule', async () => {
  write('etc/passwd', 'root:x:0:0::/root:/bin/bash\n');
  write('etc/shadow', 'root:*:1::::::\n');
  const o = await runCheck(usersCheck, { root });
  expect(o.values).toEqual({
    accounts: 1, uid0Extra: 0, emptyPasswords: 0, nopasswd: 0, unexpectedLogins: 0, shadowReadable: true, sudoersReadable: true,
    findings: 0, critical: 0, high: 0, medium: 0, low: 0, info: 0,
  });
  expect(o.findings).toEqual([]);
});

test('this machine: root is not an extra uid 0 and, as root, everything is read', async () => {
  const o = await runCheck(usersCheck, {});
  expect(o.values.accounts).toBeGreaterThan(0);
  expect(o.values).toMatchObject({ shadowReadable: true, sudoersReadable: true });
  expect(o.findings!.map((f) => f.id)).not.toContain('users.uid0.root');
});

test('a run whose signal is aborted rejects with its reason', async () => {
  host();
  const { run, abort } = startRun(usersCheck, { root });
  abort(new Error('timeout'));
  await expect(run).rejects.toThrow('timeout');
});

describe('parsers', () => {
  test('parsePasswd skips comments, NIS lines and malformed lines', () => {
    expect(parsePasswd(PASSWD).map((a) => a.name)).toEqual(['root', 'toor', 'daemon', 'sync', 'postgres', 'legacy', 'nopw', 'alice', 'bob']);
  });

  test.each([
    ['/bin/bash', true], ['', true], ['/usr/sbin/nologin', false], ['/sbin/nologin', false], ['/bin/false', false], ['/bin/sync', false], ['/usr/bin/zsh', true],
  ])('shell %j logs in: %s', (shell, yes) => {
    expect(isLoginShell(shell)).toBe(yes);
  });

  test.each([
    ['alice ALL=(ALL) NOPASSWD: ALL', [['alice', true, false]]],
    ['alice ALL=(ALL) NOPASSWD:ALL # comment', [['alice', true, false]]],
    ['alice ALL = (root) NOPASSWD: SETENV: /usr/bin/make, ALL', [['alice', true, false]]],
    ['alice ALL=(ALL) NOPASSWD: /bin/ls, PASSWD: ALL', [['alice', false, false]]],
    ['#1000 ALL=(ALL) NOPASSWD: ALL', [['#1000', true, false]]],
    ['alice,bob , %wheel ALL=NOPASSWD: /bin/true', [['alice', false, false], ['bob', false, false], ['%wheel', false, false]]],
    ['alice ALL=(ALL) ALL', []],
    ['# alice ALL=(ALL) NOPASSWD: ALL', []],
    ['Cmnd_Alias NOPASSWDTHINGS = /bin/ls', []],
    ['Defaults:alice,bob !authenticate', [['alice', true, true], ['bob', true, true]]],
    ['Defaults env_reset, !authenticate', [['*', true, true]]],
    ['Defaults!/usr/bin/uptime !authenticate', [['*', false, true]]],
    ['Defaults authenticate', []],
  ])('%s', (line, expected) => {
    const rules = parseSudoers(line, 'f').map((i) => ('rule' in i ? [i.rule.principal, i.rule.allCommands, i.rule.viaDefaults] : i));
    expect(rules).toEqual(expected);
  });

  test('include directives, quoted and with %h', () => {
    expect(parseSudoers('@include /etc/sudoers.local\n#includedir /etc/sudoers.d\n@include "/etc/my sudoers"\n#include /etc/sudoers.%h\n', 'f')).toEqual([
      { path: '/etc/sudoers.local', dir: false },
      { path: '/etc/sudoers.d', dir: true },
      { path: '/etc/my sudoers', dir: false },
      { path: '/etc/sudoers.%h', dir: false },
    ]);
  });

  test('rules that span lines are reported at their first line', () => {
    expect(parseSudoers('\n\nalice ALL=(ALL) \\\n  NOPASSWD: \\\n  ALL\nbob ALL=NOPASSWD: /bin/ls\n', 'f').map((i) => 'rule' in i && i.rule.where)).toEqual(['f:3', 'f:6']);
  });
});
