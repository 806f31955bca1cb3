import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sshdCheck } from '../../checks/sshd';
import { expandGlob, parseLine, parseSshdConfig } from '../../checks/sshd/config-file';
import { algorithmList, findSshd, runSshdT, settingsFromDump, settingsFromFiles, SSHD_DEFAULTS } from '../../checks/sshd/effective';
import type { Finding } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { runCheck } from '../helpers/check';

let dir: string;
let hostKey: string;
let sshd: string;
/** Made here when missing: sshd -T as root refuses to run without its privilege separation directory. */
let madePrivsepDir = false;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-sshd-'));
  chmodSync(dir, 0o755);
  hostKey = path.join(dir, 'host_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-f', hostKey, '-N', '']);
  const found = await findSshd();
  if (!found) throw new Error("sshd is missing: install Debian's openssh-server (.ci/run does)");
  sshd = found;
  if (!existsSync('/run/sshd')) {
    mkdirSync('/run/sshd', { mode: 0o755 });
    madePrivsepDir = true;
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (madePrivsepDir) rmSync('/run/sshd', { recursive: true, force: true });
});

let n = 0;
/** Writes a config tree under a fresh directory: `files` maps relative names to contents; `{dir}` is replaced by it. */
function writeTree(files: Record<string, string>, modes: Record<string, number> = {}): string {
  const base = path.join(dir, `t${++n}`);
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(base, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text.replaceAll('{dir}', base));
    chmodSync(file, modes[name] ?? 0o600);
  }
  return base;
}

const ids = (findings: Finding[] | undefined) => (findings ?? []).map((f) => `${f.id}:${f.severity}`).sort();

/** Configs on which sshd -T (the truth) and the file reader must agree: order, first-wins, defaults, syntax. */
const AGREEMENT: Record<string, Record<string, string>> = {
  'Debian layout: the drop-ins included at the top win over the main file': {
    sshd_config: 'Include {dir}/sshd_config.d/*.conf\nHostKey {hostKey}\nPermitRootLogin yes\npermitrootlogin no\nMaxAuthTries 8\nX11Forwarding no\nPasswordAuthentication yes\n',
    'sshd_config.d/10-a.conf': 'PasswordAuthentication no\nX11Forwarding yes\n',
    'sshd_config.d/20-b.conf': 'X11Forwarding no\nMaxAuthTries 3\n',
    'sshd_config.d/README': 'PermitRootLogin yes\n',
  },
  'nothing set: the compiled-in defaults': {
    sshd_config: 'HostKey {hostKey}\n',
  },
  'glob order is lexical (10 before 9), a nested Include is read where it stands': {
    sshd_config: 'HostKey {hostKey}\nInclude {dir}/d/*.conf {dir}/missing/*.conf\nPermitEmptyPasswords no\n',
    'd/9-late.conf': 'MaxAuthTries 9\nPermitRootLogin no\n',
    'd/10-early.conf': 'Include {dir}/nested.conf\nMaxAuthTries 2\n',
    'nested.conf': 'PermitRootLogin forced-commands-only\n',
    'd/.hidden.conf': 'PermitRootLogin yes\n',
  },
  'key=value, quotes, comments and odd case': {
    sshd_config: 'HostKey {hostKey}\n  PERMITROOTLOGIN=YES   # trailing comment\nPasswordAuthentication = "no"\n#X11Forwarding yes\nX11FORWARDING Yes\nPermitEmptyPasswords\tno\nHostbasedAuthentication no\nIgnoreRhosts no\nPermitUserEnvironment yes\n',
  },
  'algorithm lists: +append, -remove by pattern, ^prepend, a plain list': {
    sshd_config: 'HostKey {hostKey}\nCiphers +aes128-cbc,3des-cbc\nMACs -hmac-sha1*,umac-64*\nKexAlgorithms ^diffie-hellman-group14-sha1\nCiphers aes256-ctr\n',
  },
  'Match blocks (and Includes inside them, and one in an included file) set nothing global': {
    sshd_config: 'HostKey {hostKey}\nInclude {dir}/first.conf\nX11Forwarding yes\nMatch User bob\n  PasswordAuthentication no\n  Include {dir}/in-match.conf\nMatch Address 10.0.0.0/8\n  PermitRootLogin yes\n',
    'first.conf': 'MaxAuthTries 5\nMatch Group admins\n  MaxAuthTries 2\n',
    'in-match.conf': 'PermitEmptyPasswords yes\nX11Forwarding no\n',
  },
};

describe('the file reader agrees with sshd -T', () => {
  test.each(Object.entries(AGREEMENT))('%s', async (_, files) => {
    const base = writeTree(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.replaceAll('{hostKey}', hostKey)])));
    const configFile = path.join(base, 'sshd_config');
    const truth = settingsFromDump(await runSshdT(sshd, configFile, new AbortController().signal));
    expect(settingsFromFiles(await parseSshdConfig(configFile))).toEqual(truth);

    const viaSshd = await runCheck(sshdCheck, { method: 'sshd', configFile });
    const viaFile = await runCheck(sshdCheck, { method: 'file', configFile });
    expect(viaSshd.values.source).toBe('sshd -T');
    expect(viaFile.values.source).toBe('file');
    expect({ ...viaFile.values, source: 'same' }).toEqual({ ...viaSshd.values, source: 'same' });
    expect(ids(viaFile.findings)).toEqual(ids(viaSshd.findings));
  });

  test('the effective values are the first ones obtained, Include order first', async () => {
    const [, files] = Object.entries(AGREEMENT)[0];
    const base = writeTree(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.replaceAll('{hostKey}', hostKey)])));
    const obs = await runCheck(sshdCheck, { configFile: path.join(base, 'sshd_config') });
    expect(obs.values).toMatchObject({ source: 'sshd -T', permitRootLogin: 'yes', passwordAuthentication: false, x11Forwarding: true, maxAuthTries: 3 });
  });
});

describe('findings', () => {
  test('a weak config gives each finding with its severity and reference', async () => {
    const base = writeTree({
      sshd_config: `HostKey ${hostKey}\nPermitRootLogin yes\nPermitEmptyPasswords yes\nX11Forwarding yes\nMaxAuthTries 10\nCiphers +aes128-cbc\nMACs +hmac-md5\nKexAlgorithms +diffie-hellman-group1-sha1\nHostbasedAuthentication yes\nIgnoreRhosts no\nPermitUserEnvironment yes\nMatch User deploy\n  PasswordAuthentication yes\n`,
    });
    const obs = await runCheck(sshdCheck, { configFile: path.join(base, 'sshd_config') });
    expect(ids(obs.findings)).toEqual([
      'sshd.hostbased-authentication:medium', 'sshd.ignore-rhosts:medium', 'sshd.match-blocks:low', 'sshd.max-auth-tries:low',
      'sshd.password-authentication:medium', 'sshd.permit-empty-passwords:critical', 'sshd.permit-root-login:high',
      'sshd.permit-user-environment:low', 'sshd.weak-ciphers:medium', 'sshd.weak-kex:medium', 'sshd.weak-macs:low', 'sshd.x11-forwarding:low',
    ]);
    expect(obs.values).toMatchObject({ findings: 12, critical: 1, high: 1, medium: 5, low: 5, weakAlgorithms: 4, matchBlocks: 1, permitEmptyPasswords: true });
    const byId = new Map(obs.findings!.map((f) => [f.id, f]));
    expect(byId.get('sshd.permit-root-login')!.refs).toEqual(['CIS 5.2.7', 'Lynis SSH-7408']);
    expect(byId.get('sshd.weak-macs')!.title).toBe('MACs offers weak algorithms: hmac-sha1, hmac-md5');
    expect(byId.get('sshd.match-blocks')!.title).toContain(`Match User deploy (${path.join(base, 'sshd_config')}:12)`);
  });

  test('a hardened config has none; the policy accepts what the site allows and ignores ids', async () => {
    const hardened = writeTree({
      sshd_config: `HostKey ${hostKey}\nPermitRootLogin no\nPasswordAuthentication no\nMaxAuthTries 3\nMACs -hmac-sha1\n`,
    });
    const clean = await runCheck(sshdCheck, { configFile: path.join(hardened, 'sshd_config') });
    expect(clean.findings).toEqual([]);
    expect(clean.values).toMatchObject({ findings: 0, weakAlgorithms: 0, permitRootLogin: 'no' });
    expect(clean.message).toContain('no findings above info');

    const lax = writeTree({ sshd_config: `HostKey ${hostKey}\nX11Forwarding yes\nMaxAuthTries 6\n` });
    const judged = await runCheck(sshdCheck, {
      configFile: path.join(lax, 'sshd_config'),
      policy: { allowPasswordAuthentication: true, allowX11Forwarding: true, maxAuthTries: 6, permitRootLogin: ['no'], ignore: ['sshd.weak-macs'] },
    });
    expect(ids(judged.findings)).toEqual(['sshd.permit-root-login:low']);
    expect(judged.values).toMatchObject({ weakAlgorithms: 0, permitRootLogin: 'prohibit-password' });
  });

  test("the config files' owner and mode: others writing is high, others reading is info (CIS 5.2.1)", async () => {
    const base = writeTree(
      { sshd_config: `HostKey ${hostKey}\nPermitRootLogin no\nPasswordAuthentication no\nMaxAuthTries 3\nMACs -hmac-sha1\nInclude {dir}/d/*.conf\n`, 'd/a.conf': '' },
      { sshd_config: 0o644, 'd/a.conf': 0o666 },
    );
    const obs = await runCheck(sshdCheck, { configFile: path.join(base, 'sshd_config'), method: 'file' });
    expect(ids(obs.findings)).toEqual([`sshd.config-readable.${base}/sshd_config:info`, `sshd.config-writable.${base}/d/a.conf:high`]);
    expect(obs.findings!.find((f) => f.severity === 'high')!.refs).toEqual(['CIS 5.2.1']);
  });
});

describe('where the effective config comes from', () => {
  test('auto falls back to the files when sshd -T cannot run, and says why', async () => {
    const base = writeTree({ sshd_config: 'PermitRootLogin yes\n' });
    const obs = await runCheck(sshdCheck, { configFile: path.join(base, 'sshd_config'), sshdPath: '/nonexistent/sshd' });
    expect(obs.values).toMatchObject({ source: 'file', permitRootLogin: 'yes' });
    expect(obs.message).toContain('sshd -T unavailable: /nonexistent/sshd is not executable');
    // Without a host key sshd -T refuses; the files still say what sshd would do.
    const keyless = writeTree({ sshd_config: 'HostKey {dir}/absent_key\nPermitRootLogin yes\n' });
    const noKey = await runCheck(sshdCheck, { configFile: path.join(keyless, 'sshd_config') });
    expect(noKey.values).toMatchObject({ source: 'file', permitRootLogin: 'yes' });
    expect(noKey.message).toMatch(/sshd -T unavailable: .*sshd -T: .*host ?key/i);
  });

  test('a config sshd rejects is a high finding (the next restart would fail); the files still give the settings', async () => {
    const base = writeTree({ sshd_config: `HostKey ${hostKey}\nPermitRootLogin yes\nNoSuchOption yes\n` });
    const obs = await runCheck(sshdCheck, { configFile: path.join(base, 'sshd_config') });
    expect(obs.values).toMatchObject({ source: 'file', permitRootLogin: 'yes', high: 2 });
    const invalid = obs.findings!.find((f) => f.id === 'sshd.config-invalid')!;
    expect(invalid).toMatchObject({ severity: 'high', subject: path.join(base, 'sshd_config') });
    expect(invalid.title).toMatch(/would not start: .*line 3: Bad configuration option: NoSuchOption/);
  });

  test('method sshd is unknown when sshd -T fails, naming what it needs', async () => {
    const base = writeTree({ sshd_config: 'HostKey {dir}/absent_key\nPermitRootLogin yes\n' });
    await expect(runCheck(sshdCheck, { method: 'sshd', configFile: path.join(base, 'sshd_config') })).rejects.toThrow(/sshd -T.*needs root to read the host keys/);
  });

  test('root reads a host filesystem mounted elsewhere, relative Includes under its /etc/ssh', async () => {
    const host = writeTree({
      'etc/ssh/sshd_config': 'Include sshd_config.d/*.conf\nPermitRootLogin no\n',
      'etc/ssh/sshd_config.d/50-cloud.conf': 'PasswordAuthentication yes\nPermitRootLogin yes\n',
    });
    const obs = await runCheck(sshdCheck, { root: host });
    expect(obs.values).toMatchObject({ source: 'file', permitRootLogin: 'yes', passwordAuthentication: true });
    expect(obs.findings!.map((f) => f.subject)).toContain('/etc/ssh/sshd_config');
    expect(() => sshdCheck.schema.parse({ root: host, method: 'sshd' })).toThrow(/sshd -T reads the Includes from this machine/);
  });

  test('without root: sshd -T cannot read the host key, the readable files are used', async () => {
    const base = writeTree(
      { sshd_config: `HostKey ${hostKey}\nInclude {dir}/d/*.conf\nPermitRootLogin yes\n`, 'd/a.conf': 'X11Forwarding yes\n' },
      { sshd_config: 0o644, 'd/a.conf': 0o644 },
    );
    chmodSync(base, 0o755);
    chmodSync(path.join(base, 'd'), 0o755);
    const { observation, error } = await runCheckAsNobody('sshd', { configFile: path.join(base, 'sshd_config') });
    expect(error).toBeUndefined();
    expect(observation!.values).toMatchObject({ source: 'file', permitRootLogin: 'yes', x11Forwarding: true });
    expect(observation!.message).toContain('sshd -T unavailable');
  });

  test('without root: an unreadable sshd_config or drop-in is unknown, naming the file', async () => {
    const base = writeTree(
      { sshd_config: `HostKey ${hostKey}\nInclude {dir}/d/*.conf\n`, 'd/secret.conf': 'PermitRootLogin yes\n' },
      { sshd_config: 0o644, 'd/secret.conf': 0o600 },
    );
    chmodSync(base, 0o755);
    chmodSync(path.join(base, 'd'), 0o755);
    const dropIn = await runCheckAsNobody('sshd', { configFile: path.join(base, 'sshd_config') });
    expect(dropIn.error).toContain(`cannot read ${base}/d/secret.conf: permission denied`);

    chmodSync(path.join(base, 'sshd_config'), 0o600);
    const main = await runCheckAsNobody('sshd', { configFile: path.join(base, 'sshd_config'), method: 'file' });
    expect(main.error).toContain(`cannot read ${base}/sshd_config: permission denied`);
  });
});

describe('reading sshd_config', () => {
  test.each([
    ['PermitRootLogin no', { keyword: 'permitrootlogin', args: ['no'] }],
    ['  Ciphers=aes256-ctr # comment', { keyword: 'ciphers', args: ['aes256-ctr'] }],
    ['Banner "/etc/issue net"', { keyword: 'banner', args: ['/etc/issue net'] }],
    ['AcceptEnv LANG LC_*', { keyword: 'acceptenv', args: ['LANG', 'LC_*'] }],
    ['# PermitRootLogin yes', undefined],
    ['', undefined],
  ])('%j', (line, expected) => {
    expect(parseLine(line)).toEqual(expected);
  });

  test('Include globs match like glob(3): sorted, no leading dot, [] classes, nothing when missing', async () => {
    const base = writeTree({ 'd/b.conf': '', 'd/a.conf': '', 'd/.x.conf': '', 'd/c.txt': '', 'd/1.conf': '' });
    expect(await expandGlob(`${base}/d/*.conf`)).toEqual([`${base}/d/1.conf`, `${base}/d/a.conf`, `${base}/d/b.conf`]);
    expect(await expandGlob(`${base}/d/[ab].conf`)).toEqual([`${base}/d/a.conf`, `${base}/d/b.conf`]);
    expect(await expandGlob(`${base}/d/c.txt`)).toEqual([`${base}/d/c.txt`]);
    expect(await expandGlob(`${base}/none/*.conf`)).toEqual([]);
    expect(await expandGlob(`${base}/d/missing.conf`)).toEqual([]);
  });

  test('an Include loop stops at sshd\'s depth limit', async () => {
    const base = writeTree({ sshd_config: 'Include {dir}/sshd_config\n' });
    await expect(parseSshdConfig(path.join(base, 'sshd_config'))).rejects.toThrow(/more than 16 nested Include levels/);
  });

  test.each([
    ['+x,y', 'a,b', ['a', 'b', 'x', 'y']],
    ['+a', 'a,b', ['a', 'b']],
    ['-a*', 'ab,b,ac', ['b']],
    ['^b,x', 'a,b', ['b', 'x', 'a']],
    ['x', 'a,b', ['x']],
  ])('algorithm list %s over %s', (value, defaults, expected) => {
    expect(algorithmList(value, defaults)).toEqual(expected);
  });

  test('the defaults match what this sshd prints for an empty config', async () => {
    const base = writeTree({ sshd_config: `HostKey ${hostKey}\n` });
    const dump = await runSshdT(sshd, path.join(base, 'sshd_config'), new AbortController().signal);
    for (const [keyword, value] of Object.entries(SSHD_DEFAULTS)) {
      const printed = new RegExp(`^${keyword} (.*)$`, 'm').exec(dump)?.[1];
      expect([keyword, printed === 'without-password' ? 'prohibit-password' : printed]).toEqual([keyword, value]);
    }
  });
});
