import type { Stats } from 'node:fs';
import type { Finding, FindingSeverity } from '../types';

const BIN_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];

/** Setuid/setgid programs a Debian or Ubuntu system ships (shadow, util-linux, sudo, openssh, dbus, polkit, fuse, …). */
const BUILTIN_SETUID_NAMES = [
  'passwd', 'su', 'sudo', 'sudoedit', 'mount', 'umount', 'ping', 'ping6', 'chsh', 'chfn', 'gpasswd', 'newgrp', 'expiry', 'chage',
  'unix_chkpwd', 'pam_extrausers_chkpwd', 'fusermount', 'fusermount3', 'pkexec', 'newuidmap', 'newgidmap', 'crontab', 'at',
  'wall', 'write', 'bsd-write', 'dotlockfile', 'ssh-agent', 'mount.nfs', 'mount.cifs', 'ntfs-3g', 'plocate', 'mlocate',
  'traceroute6.iputils', 'exim4', 'postdrop', 'postqueue', 'Xorg.wrap',
];

const BUILTIN_SETUID_PATHS = [
  '/usr/lib/openssh/ssh-keysign', '/usr/libexec/openssh/ssh-keysign',
  '/usr/lib/dbus-1.0/dbus-daemon-launch-helper', '/usr/libexec/dbus-daemon-launch-helper',
  '/usr/lib/policykit-1/polkit-agent-helper-1', '/usr/lib/polkit-1/polkit-agent-helper-1', '/usr/libexec/polkit-agent-helper-1',
  '/usr/lib/*/utempter/utempter', '/usr/libexec/utempter/utempter', '/usr/lib/eject/dmcrypt-get-device',
  '/usr/lib/snapd/snap-confine', '/usr/lib/xorg/Xorg.wrap',
];

/** The built-in allow-list: each program name in the usual binary directories, and the helpers where they live. */
export const BUILTIN_SETUID_ALLOW: readonly string[] = [
  ...BIN_DIRS.flatMap((d) => BUILTIN_SETUID_NAMES.map((n) => `${d}/${n}`)),
  ...BUILTIN_SETUID_PATHS,
];

/**
 * A matcher for allow-list entries: an absolute path or glob (`*` and `?` within one
 * segment, `**` across segments), or a bare name that matches that file name anywhere.
 */
export function allowMatcher(entries: readonly string[]): (hostPath: string) => boolean {
  const exact = new Set<string>();
  const res: RegExp[] = [];
  for (const e of entries) {
    if (!/[*?[]/.test(e)) {
      exact.add(e);
      continue;
    }
    res.push(globToRegExp(e));
  }
  return (p) => {
    const base = p.slice(p.lastIndexOf('/') + 1);
    return exact.has(p) || exact.has(base) || res.some((re) => re.test(p) || re.test(base));
  };
}

/** A path glob as a regular expression: `**` crosses `/`, `*` and `?` do not; `[...]` classes. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') { re += '.*'; i++; }
    else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[' && glob.indexOf(']', i + 2) !== -1) {
      const end = glob.indexOf(']', i + 2);
      const body = glob.slice(i + 1, end);
      re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A sensitive file and what its owner, group and mode may be. */
export interface SensitiveRule {
  path: string;
  maxMode: number;
  /** Owners accepted; any when absent. */
  owner?: readonly string[];
  /** Groups accepted; any when absent. */
  group?: readonly string[];
  /** Holds secrets: others reading it is an exposure, not only untidy. */
  secret: boolean;
  refs?: readonly string[];
}

const root = ['root'];
/** Files CIS 6.1 and 5.2.2 name, with their most permissive acceptable state (CIS Ubuntu 22.04 v1.0.0 numbering). */
export const BUILTIN_SENSITIVE: readonly SensitiveRule[] = [
  { path: '/etc/passwd', maxMode: 0o644, owner: root, group: root, secret: false, refs: ['CIS 6.1.1'] },
  { path: '/etc/passwd-', maxMode: 0o644, owner: root, group: root, secret: false, refs: ['CIS 6.1.2'] },
  { path: '/etc/group', maxMode: 0o644, owner: root, group: root, secret: false, refs: ['CIS 6.1.3'] },
  { path: '/etc/group-', maxMode: 0o644, owner: root, group: root, secret: false, refs: ['CIS 6.1.4'] },
  { path: '/etc/shadow', maxMode: 0o640, owner: root, group: ['root', 'shadow'], secret: true, refs: ['CIS 6.1.5'] },
  { path: '/etc/shadow-', maxMode: 0o640, owner: root, group: ['root', 'shadow'], secret: true, refs: ['CIS 6.1.6'] },
  { path: '/etc/gshadow', maxMode: 0o640, owner: root, group: ['root', 'shadow'], secret: true, refs: ['CIS 6.1.7'] },
  { path: '/etc/gshadow-', maxMode: 0o640, owner: root, group: ['root', 'shadow'], secret: true, refs: ['CIS 6.1.8'] },
  { path: '/etc/ssh/ssh_host_*_key', maxMode: 0o640, owner: root, group: ['root', 'ssh_keys'], secret: true, refs: ['CIS 5.2.2'] },
  { path: '/etc/sudoers', maxMode: 0o440, owner: root, group: root, secret: false },
  { path: '/etc/sudoers.d/*', maxMode: 0o440, owner: root, group: root, secret: false },
];

/** Names of users and groups by id, from the host's /etc/passwd and /etc/group. */
export interface Names {
  user(uid: number): string;
  group(gid: number): string;
}

/** Parses passwd/group text (`name:x:id:…`) into a lookup; id 0 is root even when the file lacks it. */
export function namesFrom(passwd: string, group: string): Names {
  const table = (text: string) => {
    const m = new Map<number, string>();
    for (const line of text.split('\n')) {
      const [name, , id] = line.split(':');
      const n = Number(id);
      if (name && id !== '' && Number.isInteger(n) && !m.has(n)) m.set(n, name);
    }
    if (!m.has(0)) m.set(0, 'root');
    return m;
  };
  const users = table(passwd);
  const groups = table(group);
  return { user: (uid) => users.get(uid) ?? String(uid), group: (gid) => groups.get(gid) ?? String(gid) };
}

const RANK: Record<FindingSeverity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const worse = (a: FindingSeverity, b: FindingSeverity) => (RANK[b] > RANK[a] ? b : a);
const octal = (m: number) => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;

/**
 * Judges one sensitive file: writable by others is critical (whoever writes /etc/passwd or
 * /etc/shadow is root), writable by the group or a secret readable by others is high, a
 * wrong owner is high, a wrong group or other excess bits medium. Undefined when all is well.
 */
export function judgeSensitive(hostPath: string, st: Pick<Stats, 'mode' | 'uid' | 'gid'>, rule: SensitiveRule, names: Names): Finding | undefined {
  const problems: string[] = [];
  let severity: FindingSeverity = 'info';
  const excess = st.mode & 0o7777 & ~rule.maxMode;
  if (excess) {
    const who: string[] = [];
    if (excess & 0o002) { who.push('others can write it'); severity = worse(severity, 'critical'); }
    if (excess & 0o020) { who.push('its group can write it'); severity = worse(severity, 'high'); }
    if (excess & 0o004) { who.push('others can read it'); severity = worse(severity, rule.secret ? 'high' : 'medium'); }
    if (excess & ~0o026) severity = worse(severity, 'medium');
    problems.push(`mode ${octal(st.mode)} (at most ${octal(rule.maxMode)})${who.length ? `: ${who.join(', ')}` : ''}`);
  }
  const owner = names.user(st.uid);
  if (rule.owner && !rule.owner.includes(owner)) { problems.push(`owned by ${owner}, not ${rule.owner.join(' or ')}`); severity = worse(severity, 'high'); }
  const group = names.group(st.gid);
  if (rule.group && !rule.group.includes(group)) { problems.push(`group ${group}, not ${rule.group.join(' or ')}`); severity = worse(severity, 'medium'); }
  if (problems.length === 0) return undefined;
  return {
    id: `permissions.sensitive.${hostPath}`,
    severity,
    title: `${hostPath}: ${problems.join('; ')}`,
    subject: hostPath,
    fix: [
      rule.owner || rule.group ? `chown ${rule.owner?.[0] ?? owner}:${rule.group?.[rule.group.length - 1] ?? group} ${hostPath}` : '',
      `chmod ${octal(st.mode & rule.maxMode)} ${hostPath}`,
    ].filter(Boolean).join(' && '),
    refs: rule.refs ? [...rule.refs, 'Lynis FILE-7524'] : ['Lynis FILE-7524'],
  };
}

/** A world-writable file, or directory without the sticky bit, found by the walk. */
export function worldWritableFinding(hostPath: string, st: Pick<Stats, 'mode' | 'isDirectory'>): Finding {
  const dir = st.isDirectory();
  return {
    id: `permissions.world-writable.${hostPath}`,
    severity: 'high',
    title: dir
      ? `${hostPath} is a world-writable directory without the sticky bit (mode ${octal(st.mode)}): anyone can replace its files`
      : `${hostPath} is world-writable (mode ${octal(st.mode)})`,
    subject: hostPath,
    fix: dir ? `chmod o-w ${hostPath} (or chmod +t if it is meant to be shared like /tmp)` : `chmod o-w ${hostPath}`,
    refs: ['CIS 6.1.9'],
  };
}

/** A setuid or setgid program the allow-list does not name. */
export function setuidFinding(hostPath: string, st: Pick<Stats, 'mode' | 'uid' | 'gid'>, names: Names): Finding {
  const suid = (st.mode & 0o4000) !== 0;
  const sgid = (st.mode & 0o2000) !== 0;
  const as = [suid ? `setuid ${names.user(st.uid)}` : '', sgid ? `setgid ${names.group(st.gid)}` : ''].filter(Boolean).join(' and ');
  return {
    id: `permissions.${suid ? 'setuid' : 'setgid'}.${hostPath}`,
    severity: suid && st.uid === 0 ? 'high' : 'medium',
    title: `${hostPath} is ${as} (mode ${octal(st.mode)}) and not in the allow-list`,
    subject: hostPath,
    fix: `If it is expected, add it to setuidAllow; else chmod ug-s ${hostPath} and find out who set it.`,
    refs: [suid ? 'CIS 6.1.12' : 'CIS 6.1.13'],
  };
}

/** A /tmp-like directory that everyone can write but that lacks the sticky bit. */
export function stickyFinding(hostPath: string, mode: number): Finding {
  return {
    id: `permissions.sticky.${hostPath}`,
    severity: 'high',
    title: `${hostPath} is world-writable without the sticky bit (mode ${octal(mode)}): users can delete each other's files`,
    subject: hostPath,
    fix: `chmod +t ${hostPath}`,
    refs: ['Lynis FILE-6362'],
  };
}
