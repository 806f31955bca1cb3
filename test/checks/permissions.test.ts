import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { permissionsCheck } from '../../checks/permissions';
import { allowMatcher, BUILTIN_SETUID_ALLOW } from '../../checks/permissions/rules';
import type { Finding } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { runCheck, startRun } from '../helpers/check';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-perms-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh host root with /etc/passwd and /etc/group (keepwatch is uid 990, shadow gid 42) and the given tree. */
function host(build: (at: (p: string) => string) => void): string {
  const root = path.join(dir, `h${++n}`);
  const at = (p: string) => path.join(root, p);
  mkdirSync(at('etc'), { recursive: true, mode: 0o755 });
  chmodSync(root, 0o755);
  writeFileSync(at('etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nkeepwatch:x:990:990::/var/lib/keepwatch:/usr/sbin/nologin\n');
  writeFileSync(at('etc/group'), 'root:x:0:\nshadow:x:42:\nkeepwatch:x:990:\n');
  build(at);
  return root;
}

function file(p: string, mode: number, text = ''): void {
  mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
  writeFileSync(p, text);
  chmodSync(p, mode);
}

function directory(p: string, mode: number): void {
  mkdirSync(p, { recursive: true });
  chmodSync(p, mode);
}

const ids = (findings: Finding[] | undefined) => (findings ?? []).map((f) => `${f.id}:${f.severity}`).sort();
/** Only the walk: no built-in sensitive files, no /tmp-like dirs, one tree. */
const walkOnly = (root: string, extra: Record<string, unknown> = {}) => ({ root, paths: ['/tree'], stickyDirs: [], sensitiveBuiltin: false, ...extra });

describe('the walk', () => {
  test('world-writable files and directories without the sticky bit; sticky ones and symlinks are fine', async () => {
    const root = host((at) => {
      directory(at('tree/open'), 0o777);
      directory(at('tree/shared'), 0o1777);
      file(at('tree/shared/anyone.txt'), 0o666);
      file(at('tree/etc/app.conf'), 0o644);
      file(at('tree/etc/loose.conf'), 0o646);
      symlinkSync('/etc/shadow', at('tree/etc/shadow-link'));
      symlinkSync('..', at('tree/etc/loop'));
      symlinkSync('loop2', at('tree/etc/loop1'));
      symlinkSync('loop1', at('tree/etc/loop2'));
    });
    const obs = await runCheck(permissionsCheck, walkOnly(root));
    expect(ids(obs.findings)).toEqual([
      'permissions.world-writable./tree/etc/loose.conf:high',
      'permissions.world-writable./tree/open:high',
      'permissions.world-writable./tree/shared/anyone.txt:high',
    ]);
    // tree, open, shared, anyone.txt, etc, app.conf, loose.conf and the four links: each once.
    expect(obs.values).toMatchObject({ worldWritable: 3, filesScanned: 11, dirsSkipped: 0, complete: true, high: 3, findings: 3 });
    const dirFinding = obs.findings!.find((f) => f.subject === '/tree/open')!;
    expect(dirFinding.title).toContain('without the sticky bit (mode 0777)');
    expect(dirFinding.refs).toEqual(['CIS 6.1.9']);
  });

  test('a symlinked start path is not followed, and excluded trees are not entered', async () => {
    const root = host((at) => {
      file(at('real/loose'), 0o666);
      symlinkSync(at('real'), at('tree'));
      file(at('other/skip/loose'), 0o666);
      file(at('other/seen'), 0o666);
    });
    const linked = await runCheck(permissionsCheck, walkOnly(root));
    expect(linked.values).toMatchObject({ worldWritable: 0, filesScanned: 0, complete: true });
    const excluded = await runCheck(permissionsCheck, walkOnly(root, { paths: ['/other'], exclude: ['/other/skip'] }));
    expect(ids(excluded.findings)).toEqual(['permissions.world-writable./other/seen:high']);
  });

  test('setuid and setgid programs outside the allow-list', async () => {
    const root = host((at) => {
      for (const [p, mode] of [['usr/bin/passwd', 0o4755], ['usr/bin/chage', 0o2755], ['tree/bin/sneaky', 0o4755], ['tree/bin/grouped', 0o2755], ['tree/bin/plain', 0o755]] as const) {
        mkdirSync(path.dirname(at(p)), { recursive: true });
        copyFileSync('/bin/true', at(p));
        chmodSync(at(p), mode);
      }
      chownSync(at('tree/bin/grouped'), 0, 42);
      chmodSync(at('tree/bin/grouped'), 0o2755); // chown cleared the setgid bit
    });
    const obs = await runCheck(permissionsCheck, walkOnly(root, { paths: ['/usr', '/tree'] }));
    expect(ids(obs.findings)).toEqual(['permissions.setgid./tree/bin/grouped:medium', 'permissions.setuid./tree/bin/sneaky:high']);
    expect(obs.values).toMatchObject({ setuidUnexpected: 2 });
    expect(obs.findings!.find((f) => f.id.includes('grouped'))!.title).toContain('setgid shadow (mode 02755)');

    const allowed = await runCheck(permissionsCheck, walkOnly(root, { paths: ['/usr', '/tree'], setuidAllow: ['sneaky', '/tree/**/grouped'] }));
    expect(allowed.values).toMatchObject({ setuidUnexpected: 0 });
    const strict = await runCheck(permissionsCheck, walkOnly(root, { paths: ['/usr', '/tree'], setuidBuiltin: false, setuidAllow: ['/tree/bin/*'] }));
    expect(ids(strict.findings)).toEqual(['permissions.setgid./usr/bin/chage:medium', 'permissions.setuid./usr/bin/passwd:high']);
  });

  test('the built-in allow-list knows the Debian set, by path', () => {
    const allowed = allowMatcher(BUILTIN_SETUID_ALLOW);
    for (const p of ['/usr/bin/passwd', '/bin/su', '/usr/bin/sudo', '/usr/sbin/unix_chkpwd', '/usr/lib/openssh/ssh-keysign',
      '/usr/lib/dbus-1.0/dbus-daemon-launch-helper', '/usr/lib/x86_64-linux-gnu/utempter/utempter']) {
      expect([p, allowed(p)]).toEqual([p, true]);
    }
    for (const p of ['/tmp/passwd', '/usr/local/sbin/su-backdoor', '/etc/cron.daily/sudo']) expect([p, allowed(p)]).toEqual([p, false]);
  });

  test('/tmp-like directories must have the sticky bit (Lynis FILE-6362)', async () => {
    const root = host((at) => {
      directory(at('tmp'), 0o777);
      directory(at('var/tmp'), 0o1777);
      directory(at('dev/shm'), 0o755);
    });
    const obs = await runCheck(permissionsCheck, { root, paths: ['/tmp'], sensitiveBuiltin: false });
    expect(ids(obs.findings)).toEqual(['permissions.sticky./tmp:high']);
    expect(obs.findings![0].refs).toEqual(['Lynis FILE-6362']);
    expect(obs.values).toMatchObject({ worldWritable: 1 });
  });

  test('the file budget stops the walk, says so, and counts what it saw', async () => {
    const root = host((at) => {
      for (let i = 0; i < 100; i++) file(at(`tree/d${i % 5}/f${i}`), 0o644);
    });
    const obs = await runCheck(permissionsCheck, walkOnly(root, { maxFiles: 10 }));
    expect(obs.values).toMatchObject({ filesScanned: 10, complete: false });
    expect(ids(obs.findings)).toEqual(['permissions.coverage:info']);
    expect(obs.message).toContain('stopped at the 10-file budget: partial');
    const all = await runCheck(permissionsCheck, walkOnly(root));
    expect(all.values).toMatchObject({ filesScanned: 106, complete: true });
  });

  test('the time budget stops the walk on the injected clock', async () => {
    const root = host((at) => {
      for (let i = 0; i < 200; i++) file(at(`tree/d${i % 20}/f${i}`), 0o644);
    });
    let t = 0;
    const spec = permissionsCheck.schema.parse(walkOnly(root, { maxDuration: '1s' }));
    // Every look at the clock costs 100 ms.
    const obs = await startRun(permissionsCheck, walkOnly(root, { maxDuration: '1s' }), { timeoutMs: 60_000, now: () => (t += 100) }).run;
    expect(obs.values.complete).toBe(false);
    expect(obs.values.filesScanned).toBeLessThan(221);
    expect(obs.findings!.map((f) => f.title)).toEqual([expect.stringContaining('stopped at its time budget')]);
    expect(() => permissionsCheck.validate!(spec, { timeoutMs: 500 })).not.toThrow();
    expect(permissionsCheck.validate!(spec, { timeoutMs: 500 })).toEqual([{ key: 'maxDuration', message: 'maxDuration (1s) must be shorter than the timeout (500ms)' }]);
  });

  test('another filesystem under a walked tree is not entered unless oneFilesystem is false', async () => {
    const root = host((at) => {
      directory(at('tree/mnt'), 0o755);
    });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'kw-perms', path.join(root, 'tree/mnt')]);
    try {
      file(path.join(root, 'tree/mnt/loose'), 0o666);
      const same = await runCheck(permissionsCheck, walkOnly(root));
      expect(same.values).toMatchObject({ worldWritable: 0, filesScanned: 2 });
      const across = await runCheck(permissionsCheck, walkOnly(root, { oneFilesystem: false }));
      expect(ids(across.findings)).toEqual(['permissions.world-writable./tree/mnt/loose:high']);
    } finally {
      execFileSync('umount', [path.join(root, 'tree/mnt')]);
    }
  });
});

describe('sensitive files', () => {
  test('shadow readable by others, passwd writable by others, a host key, the agent config', async () => {
    const root = host((at) => {
      file(at('etc/shadow'), 0o644, 'root:*:19000:0:99999:7:::\n');
      file(at('etc/gshadow'), 0o640);
      chownSync(at('etc/gshadow'), 0, 42);
      file(at('etc/group-'), 0o644);
      chownSync(at('etc/group-'), 990, 0);
      file(at('etc/ssh/ssh_host_ed25519_key'), 0o644);
      file(at('etc/ssh/ssh_host_rsa_key'), 0o600);
      file(at('etc/ssh/ssh_host_ed25519_key.pub'), 0o644);
      file(at('etc/keepwatch/keepwatch.yaml'), 0o644);
      file(at('run/secrets/pd-key'), 0o440);
      chownSync(at('run/secrets/pd-key'), 990, 990);
    });
    chmodSync(path.join(root, 'etc/passwd'), 0o666);
    const obs = await runCheck(permissionsCheck, {
      root, paths: ['/nothing'], stickyDirs: [],
      sensitive: [
        { path: '/etc/keepwatch/keepwatch.yaml', mode: '0640', owner: 'keepwatch' },
        { path: '/run/secrets/*', mode: 400, owner: ['keepwatch'], group: 'keepwatch' },
      ],
    });
    expect(ids(obs.findings)).toEqual([
      'permissions.sensitive./etc/group-:high',
      'permissions.sensitive./etc/keepwatch/keepwatch.yaml:high',
      'permissions.sensitive./etc/passwd:critical',
      'permissions.sensitive./etc/shadow:high',
      'permissions.sensitive./etc/ssh/ssh_host_ed25519_key:high',
      'permissions.sensitive./run/secrets/pd-key:medium',
    ]);
    expect(obs.values).toMatchObject({ sensitiveExposed: 6, critical: 1, high: 4, medium: 1 });
    const byId = new Map(obs.findings!.map((f) => [f.id, f]));
    expect(byId.get('permissions.sensitive./etc/shadow')).toMatchObject({
      title: '/etc/shadow: mode 0644 (at most 0640): others can read it',
      fix: 'chown root:shadow /etc/shadow && chmod 0640 /etc/shadow',
      refs: ['CIS 6.1.5', 'Lynis FILE-7524'],
    });
    expect(byId.get('permissions.sensitive./etc/passwd')!.title).toBe('/etc/passwd: mode 0666 (at most 0644): others can write it, its group can write it');
    expect(byId.get('permissions.sensitive./etc/group-')!.title).toBe('/etc/group-: owned by keepwatch, not root');
    expect(byId.get('permissions.sensitive./etc/keepwatch/keepwatch.yaml')!.title).toBe(
      '/etc/keepwatch/keepwatch.yaml: mode 0644 (at most 0640): others can read it; owned by root, not keepwatch');
  });

  test('none: the built-in files as Debian ships them', async () => {
    const root = host((at) => {
      file(at('etc/shadow'), 0o640);
      chownSync(at('etc/shadow'), 0, 42);
      file(at('etc/ssh/ssh_host_ed25519_key'), 0o600);
    });
    const obs = await runCheck(permissionsCheck, { root, paths: ['/etc'], stickyDirs: [] });
    expect(obs.findings).toEqual([]);
    expect(obs.values).toMatchObject({ findings: 0, sensitiveExposed: 0, complete: true });
  });
});

describe('without root', () => {
  test('an unreadable directory is counted as skipped, not fatal', async () => {
    const root = host((at) => {
      file(at('tree/public/loose'), 0o666);
      file(at('tree/private/loose'), 0o666);
      chmodSync(at('tree/private'), 0o700);
    });
    const { observation, error } = await runCheckAsNobody('permissions', walkOnly(root));
    expect(error).toBeUndefined();
    expect(observation!.values).toMatchObject({ worldWritable: 1, dirsSkipped: 1, complete: true });
    expect(ids(observation!.findings)).toEqual(['permissions.coverage:info', 'permissions.world-writable./tree/public/loose:high']);
    expect(observation!.message).toContain('(1 directories unreadable)');
    expect(observation!.findings!.find((f) => f.id === 'permissions.coverage')!.title).toBe('Partial coverage: 1 directories could not be read (/tree/private)');
  });

  test('a sensitive file it may not look at is unknown, naming it', async () => {
    const root = host((at) => {
      file(at('etc/keepwatch/secret.yaml'), 0o600);
      chmodSync(at('etc/keepwatch'), 0o700);
    });
    const { error } = await runCheckAsNobody('permissions', { root, paths: ['/nothing'], stickyDirs: [], sensitive: [{ path: '/etc/keepwatch/secret.yaml' }] });
    expect(error).toBe('permissions check: cannot stat /etc/keepwatch/secret.yaml: EACCES (search access to /etc/keepwatch is needed)');
  });

  test('no tree readable at all is unknown', async () => {
    const root = host((at) => directory(at('tree'), 0o700));
    chmodSync(root, 0o711);
    const { error } = await runCheckAsNobody('permissions', walkOnly(root, { paths: ['/tree/inner'] }));
    expect(error).toContain('none of /tree/inner could be read');
  });
});
