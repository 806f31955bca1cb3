import type { Stats } from 'node:fs';
import { z } from 'zod';
import type { Finding } from '../types';
import type { MatchBlock } from './config-file';
import { wildcard, type SshdSettings } from './effective';

const ROOT_LOGIN_VALUES = ['yes', 'no', 'prohibit-password', 'forced-commands-only'] as const;

/** Weak algorithms by default: CBC and RC4 ciphers, MD5/SHA-1/RIPEMD MACs, SHA-1 key exchange (CIS 5.2.13-15). */
export const DEFAULT_WEAK = {
  ciphers: ['*-cbc', 'rijndael-cbc@lysator.liu.se', '3des-*', 'arcfour*'],
  macs: ['hmac-md5*', 'hmac-ripemd160*', 'hmac-sha1', 'hmac-sha1-96', 'hmac-sha1-96-etm@openssh.com'],
  kexAlgorithms: ['diffie-hellman-group1-sha1', 'diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1'],
};

const patterns = z.array(z.string().min(1));

/** What the site accepts; every key has the hardened default. */
export const policySchema = z
  .strictObject({
    permitRootLogin: z
      .array(z.preprocess((v) => (v === false ? 'no' : v === true ? 'yes' : v === 'without-password' ? 'prohibit-password' : v), z.enum(ROOT_LOGIN_VALUES)))
      .default(['no', 'prohibit-password', 'forced-commands-only'])
      .describe('PermitRootLogin values accepted (yes, no, prohibit-password, forced-commands-only); default all but yes. CIS 5.2.7 accepts only no.'),
    allowPasswordAuthentication: z.boolean().default(false).describe('Accept PasswordAuthentication yes (e.g. behind a VPN with strong passwords).'),
    allowX11Forwarding: z.boolean().default(false).describe('Accept X11Forwarding yes.'),
    maxAuthTries: z.number().int().min(1).default(4).describe('Most MaxAuthTries accepted (CIS 5.2.18: 4).'),
    weakCiphers: patterns.default(DEFAULT_WEAK.ciphers).describe('Cipher patterns (* and ?) that count as weak; [] accepts every cipher.'),
    weakMacs: patterns.default(DEFAULT_WEAK.macs).describe('MAC patterns (* and ?) that count as weak; [] accepts every MAC.'),
    weakKexAlgorithms: patterns.default(DEFAULT_WEAK.kexAlgorithms).describe('Key exchange patterns (* and ?) that count as weak; [] accepts every one.'),
    ignore: z.array(z.string().min(1)).default([]).describe('Finding ids to drop, e.g. [sshd.weak-macs] for a known exception.'),
  })
  .prefault({});

export type SshdPolicy = z.output<typeof policySchema>;

const SSH = 'Lynis SSH-7408';

/** The findings the effective settings give under the policy. */
export function judgeSettings(s: SshdSettings, policy: SshdPolicy, where: string): Finding[] {
  const out: Finding[] = [];
  const add = (f: Omit<Finding, 'subject'>) => out.push({ subject: where, ...f });
  if (!policy.permitRootLogin.includes(s.permitRootLogin as (typeof ROOT_LOGIN_VALUES)[number])) {
    add({
      id: 'sshd.permit-root-login',
      severity: s.permitRootLogin === 'yes' ? 'high' : 'low',
      title: `PermitRootLogin is ${s.permitRootLogin}`,
      fix: `Set PermitRootLogin ${policy.permitRootLogin.includes('no') ? 'no' : policy.permitRootLogin[0]} and log in as a user who escalates with sudo.`,
      refs: ['CIS 5.2.7', SSH],
    });
  }
  if (s.permitEmptyPasswords) {
    add({ id: 'sshd.permit-empty-passwords', severity: 'critical', title: 'PermitEmptyPasswords is yes: accounts without a password can log in', fix: 'Set PermitEmptyPasswords no.', refs: ['CIS 5.2.9'] });
  }
  if (s.passwordAuthentication && !policy.allowPasswordAuthentication) {
    add({ id: 'sshd.password-authentication', severity: 'medium', title: 'PasswordAuthentication is yes: passwords can be guessed over the network', fix: 'Set PasswordAuthentication no and use keys (or allow it in the policy).' });
  }
  if (s.x11Forwarding && !policy.allowX11Forwarding) {
    add({ id: 'sshd.x11-forwarding', severity: 'low', title: 'X11Forwarding is yes', fix: 'Set X11Forwarding no unless users need remote X11 applications.', refs: ['CIS 5.2.12', SSH] });
  }
  if (s.maxAuthTries > policy.maxAuthTries) {
    add({ id: 'sshd.max-auth-tries', severity: 'low', title: `MaxAuthTries is ${s.maxAuthTries} (at most ${policy.maxAuthTries} expected)`, fix: `Set MaxAuthTries ${policy.maxAuthTries}.`, refs: ['CIS 5.2.18', SSH] });
  }
  if (s.hostbasedAuthentication) {
    add({ id: 'sshd.hostbased-authentication', severity: 'medium', title: 'HostbasedAuthentication is yes: trust rests on the client host', fix: 'Set HostbasedAuthentication no.', refs: ['CIS 5.2.8'] });
  }
  if (s.ignoreRhosts === 'no') {
    add({ id: 'sshd.ignore-rhosts', severity: 'medium', title: 'IgnoreRhosts is no: .rhosts and .shosts files are honoured', fix: 'Set IgnoreRhosts yes.', refs: ['CIS 5.2.11', SSH] });
  }
  if (s.permitUserEnvironment !== 'no') {
    add({ id: 'sshd.permit-user-environment', severity: 'low', title: `PermitUserEnvironment is ${s.permitUserEnvironment}: users can set LD_PRELOAD and the like for sshd`, fix: 'Set PermitUserEnvironment no.', refs: ['CIS 5.2.10', SSH] });
  }
  for (const { id, keyword, bad, severity, ref } of weakByKind(s, policy)) {
    if (bad.length === 0) continue;
    add({
      id: `sshd.weak-${id}`,
      severity,
      title: `${keyword} offers weak algorithms: ${bad.join(', ')}`,
      fix: `Remove them: e.g. \`${keyword} -${bad.join(',')}\` keeps the other defaults.`,
      refs: [ref],
    });
  }
  return out;
}

function weakByKind(s: SshdSettings, policy: SshdPolicy) {
  return [
    { id: 'ciphers', keyword: 'Ciphers', bad: weakAlgorithms(s.ciphers, policy.weakCiphers), severity: 'medium', ref: 'CIS 5.2.13' },
    { id: 'macs', keyword: 'MACs', bad: weakAlgorithms(s.macs, policy.weakMacs), severity: 'low', ref: 'CIS 5.2.14' },
    { id: 'kex', keyword: 'KexAlgorithms', bad: weakAlgorithms(s.kexAlgorithms, policy.weakKexAlgorithms), severity: 'medium', ref: 'CIS 5.2.15' },
  ] as const;
}

/** How many offered algorithms are weak, leaving out the kinds whose finding is ignored. */
export function countWeak(s: SshdSettings, policy: SshdPolicy, ignored: (id: string) => boolean): number {
  return weakByKind(s, policy).filter((k) => !ignored(`sshd.weak-${k.id}`)).reduce((n, k) => n + k.bad.length, 0);
}

/** The offered algorithms a weak pattern matches. */
export function weakAlgorithms(offered: readonly string[], weakPatterns: readonly string[]): string[] {
  const res = weakPatterns.map(wildcard);
  return offered.filter((a) => res.some((re) => re.test(a)));
}

/**
 * Match blocks, named in one finding: info when they set nothing the policy judges, low when
 * they may change a judged keyword for the connections they select (which the agent cannot tell).
 */
export function judgeMatchBlocks(blocks: readonly MatchBlock[]): Finding[] {
  if (blocks.length === 0) return [];
  const judged = new Set(['permitrootlogin', 'passwordauthentication', 'permitemptypasswords', 'x11forwarding', 'maxauthtries',
    'hostbasedauthentication', 'ignorerhosts', 'permituserenvironment', 'ciphers', 'macs', 'kexalgorithms']);
  const risky = blocks.filter((b) => b.keywords.some((k) => judged.has(k)));
  const names = blocks.map((b) => `Match ${b.criteria} (${b.file}:${b.line})`).join('; ');
  return [{
    id: 'sshd.match-blocks',
    severity: risky.length ? 'low' : 'info',
    title: risky.length
      ? `${blocks.length} Match block(s), ${risky.length} changing judged settings for some connections (not evaluated): ${names}`
      : `${blocks.length} Match block(s), not evaluated: ${names}`,
    subject: blocks[0].file,
    fix: 'Review what each Match block allows; `sshd -T -C user=NAME,host=HOST,addr=ADDR` shows the settings for one connection.',
    refs: [SSH],
  }];
}

/**
 * The config files' ownership and mode (CIS 5.2.1): root-owned and writable by no one else
 * (high otherwise: whoever can write it decides who logs in as root); readable by others is
 * reported at info, since CIS asks for og-rwx.
 */
export function judgeFileMode(file: string, st: Pick<Stats, 'uid' | 'mode'>): Finding[] {
  const out: Finding[] = [];
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (st.uid !== 0) {
    out.push({ id: `sshd.config-owner.${file}`, severity: 'high', title: `${file} is owned by uid ${st.uid}, not root`, subject: file, fix: `chown root:root ${file}`, refs: ['CIS 5.2.1'] });
  }
  if (st.mode & 0o022) {
    out.push({ id: `sshd.config-writable.${file}`, severity: 'high', title: `${file} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${mode})`, subject: file, fix: `chmod og-rwx ${file}`, refs: ['CIS 5.2.1'] });
  } else if (st.mode & 0o044) {
    out.push({ id: `sshd.config-readable.${file}`, severity: 'info', title: `${file} is readable by group or others (mode ${mode}); CIS asks for 0600`, subject: file, fix: `chmod og-rwx ${file}`, refs: ['CIS 5.2.1'] });
  }
  return out;
}

/**
 * sshd refused the config (`sshd -T` names a line it cannot parse): the running daemon keeps
 * its old config, but the next restart or reboot fails and nobody can log in.
 */
export function invalidConfigFinding(file: string, problem: string): Finding {
  return {
    id: 'sshd.config-invalid',
    severity: 'high',
    title: `sshd rejects its config, so it would not start: ${problem}`,
    subject: file,
    fix: 'Fix the line sshd names and check with `sshd -t` before restarting sshd; the settings shown are read from the files meanwhile.',
  };
}
