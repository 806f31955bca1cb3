import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import type { ParsedConfig } from './config-file';

/** The sshd settings the policy judges, as sshd would use them for a connection no Match block selects. */
export interface SshdSettings {
  permitRootLogin: string;
  passwordAuthentication: boolean;
  permitEmptyPasswords: boolean;
  x11Forwarding: boolean;
  maxAuthTries: number;
  hostbasedAuthentication: boolean;
  ignoreRhosts: string;
  permitUserEnvironment: string;
  ciphers: string[];
  macs: string[];
  kexAlgorithms: string[];
}

/**
 * OpenSSH's compiled-in defaults for the keywords judged (as `sshd -T` of OpenSSH 9.x prints
 * them for an empty config), applied by the file reader to keywords the files leave unset.
 */
export const SSHD_DEFAULTS: Readonly<Record<string, string>> = {
  permitrootlogin: 'prohibit-password',
  passwordauthentication: 'yes',
  permitemptypasswords: 'no',
  x11forwarding: 'no',
  maxauthtries: '6',
  hostbasedauthentication: 'no',
  ignorerhosts: 'yes',
  permituserenvironment: 'no',
  ciphers: 'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com',
  macs: 'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,' +
    'hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1',
  kexalgorithms: 'sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,' +
    'ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,' +
    'diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256',
};

/** Builds the settings from a lookup of lower-cased keyword → value text. */
function settingsFrom(get: (keyword: string) => string): SshdSettings {
  const yes = (k: string) => get(k).toLowerCase() === 'yes';
  const maxAuthTries = Number.parseInt(get('maxauthtries'), 10);
  let permitRootLogin = get('permitrootlogin').toLowerCase();
  // Older sshd -T prints the deprecated alias; both mean the same.
  if (permitRootLogin === 'without-password') permitRootLogin = 'prohibit-password';
  return {
    permitRootLogin,
    passwordAuthentication: yes('passwordauthentication'),
    permitEmptyPasswords: yes('permitemptypasswords'),
    x11Forwarding: yes('x11forwarding'),
    maxAuthTries: Number.isFinite(maxAuthTries) ? maxAuthTries : 6,
    hostbasedAuthentication: yes('hostbasedauthentication'),
    ignoreRhosts: get('ignorerhosts').toLowerCase(),
    permitUserEnvironment: get('permituserenvironment').toLowerCase(),
    ciphers: list(get('ciphers')),
    macs: list(get('macs')),
    kexAlgorithms: list(get('kexalgorithms')),
  };
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The settings `sshd -T` printed (one `keyword value` per line, keywords lower-case). */
export function settingsFromDump(dump: string): SshdSettings {
  const seen = new Map<string, string>();
  for (const line of dump.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m && !seen.has(m[1].toLowerCase())) seen.set(m[1].toLowerCase(), m[2]);
  }
  return settingsFrom((k) => seen.get(k) ?? SSHD_DEFAULTS[k] ?? '');
}

/** The settings the files give, with compiled-in defaults for what they leave unset. */
export function settingsFromFiles(parsed: ParsedConfig): SshdSettings {
  return settingsFrom((k) => {
    const args = parsed.settings.get(k)?.args;
    const def = SSHD_DEFAULTS[k] ?? '';
    if (!args || args.length === 0) return def;
    if (k === 'ciphers' || k === 'macs' || k === 'kexalgorithms') return algorithmList(args[0], def).join(',');
    return args[0];
  });
}

/**
 * An algorithm list as sshd assembles it (kex_assemble_names): `+list` appends to the
 * default, `-list` removes what its patterns match from it, `^list` puts the list first;
 * a plain list replaces the default.
 */
export function algorithmList(value: string, defaults: string): string[] {
  const def = list(defaults);
  const given = list(value.slice(/^[+\-^]/.test(value) ? 1 : 0));
  switch (value[0]) {
    case '+': return [...def, ...given.filter((a) => !def.includes(a))];
    case '^': return [...given, ...def.filter((a) => !given.includes(a))];
    case '-': return def.filter((a) => !given.some((p) => wildcard(p).test(a)));
    default: return given;
  }
}

/** An ssh pattern (`*`, `?`) as a regular expression matching the whole name. */
export function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** Where sshd usually lives; the agent's PATH often lacks the sbin directories. */
const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd', '/usr/bin/sshd', '/usr/local/bin/sshd'];

/** The sshd binary to run: the configured one, else the first candidate that is executable. */
export async function findSshd(configured?: string): Promise<string | undefined> {
  for (const p of configured ? [configured] : SSHD_CANDIDATES) {
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return undefined;
}

/** `sshd -T` failed; `configProblem` is set when sshd refused the config itself (it would not start with it). */
export class SshdTError extends Error {
  constructor(message: string, readonly configProblem: string | undefined, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'SshdTError';
  }
}

/** Output of `sshd -T` on stdout, with the connection that Lynis uses: one no Match block names. */
export async function runSshdT(sshd: string, configFile: string, signal: AbortSignal): Promise<string> {
  const args = ['-T', '-f', configFile, '-C', 'user=doesnotexist,host=none,addr=none'];
  return new Promise((resolve, reject) => {
    execFile(sshd, args, { signal, maxBuffer: 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if (signal.aborted) return reject(signal.reason);
      const lines = String(stderr).trim().split('\n').filter(Boolean);
      // sshd names the file and line of what it cannot parse ("line 2: Bad configuration
      // option: X"); failures to run at all (host keys, privilege separation) name none.
      const configProblem = lines.find((l) => /\bline \d+:/.test(l));
      const why = configProblem ?? lines.pop() ?? (err as Error).message;
      reject(new SshdTError(`${sshd} -T: ${why}`, configProblem, { cause: err }));
    });
  });
}
