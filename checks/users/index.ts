import path from 'node:path';
import { z } from 'zod';
import { defineCheck, FileReadError, findingFields, findingValues, readTextFile, type FieldSpec, type Finding } from '../types';
import { scanSudoers, type NopasswdRule, type SudoersScan } from './sudoers';

const HOUR = 3_600_000;

export { parseSudoers, scanSudoers } from './sudoers';

/** Largest passwd, shadow or login.defs read (an /etc/passwd of 100,000 accounts is about 8 MiB). */
export const ACCOUNTS_MAX_BYTES = 16 * 1024 * 1024;

/** login.defs' UID_MIN when it sets none: where Debian, Ubuntu and RHEL start regular accounts. */
const DEFAULT_UID_MIN = 1000;

/** Shells that refuse a login; an empty shell field means /bin/sh, which does not. */
const NO_LOGIN = new Set(['nologin', 'false', 'sync', 'shutdown', 'halt']);

const absolute = (example: string) =>
  z.string().refine((p) => path.isAbsolute(p), { message: `expected an absolute path such as ${example}` });

const schema = z.strictObject({
  root: absolute('/host')
    .default('/')
    .describe('Prefix of every file read, as node_exporter\'s --path.rootfs (a host filesystem mounted in a container; tests); also applies to absolute sudoers includes.'),
  passwdFile: absolute('/etc/passwd').optional().describe('The account list (default <root>/etc/passwd).'),
  shadowFile: absolute('/etc/shadow').optional().describe('The password hashes (default <root>/etc/shadow); readable by root and group shadow only.'),
  sudoersFile: absolute('/etc/sudoers').optional().describe('The sudo policy (default <root>/etc/sudoers); its @include and @includedir are followed.'),
  loginUsers: z
    .array(z.string().min(1))
    .optional()
    .describe('Accounts allowed a login shell (list root too). Set: any other account with one is unexpected. Unset: only system accounts (uid below uidMin) other than root are.'),
  uidMin: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('First uid of regular accounts (default UID_MIN from <root>/etc/login.defs, else 1000).'),
  nopasswdAllow: z
    .array(z.string().min(1))
    .optional()
    .describe('sudoers principals whose NOPASSWD rules are expected, as written there: a user, %group or User_Alias (e.g. the cloud image\'s default user).'),
});

type UsersSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  accounts: { type: 'number', unit: 'count', help: 'Accounts in the passwd file' },
  uid0Extra: { type: 'number', unit: 'count', help: 'Accounts with uid 0 other than root' },
  emptyPasswords: { type: 'number', unit: 'count', help: 'Accounts with an empty password field (login without a password); absent when the shadow file cannot be read' },
  nopasswd: { type: 'number', unit: 'count', help: 'sudoers principals that may run commands without a password (NOPASSWD, !authenticate), allowed ones left out; absent when a sudoers file cannot be read' },
  unexpectedLogins: { type: 'number', unit: 'count', help: 'Accounts with a login shell that the config does not expect' },
  shadowReadable: { type: 'boolean', help: 'Whether the shadow file could be read (else emptyPasswords is not checked)' },
  sudoersReadable: { type: 'boolean', help: 'Whether every sudoers file could be read (else nopasswd is not checked)' },
  ...findingFields({
    critical: 'Findings of severity critical (extra uid 0, empty passwords)',
    high: 'Findings of severity high (NOPASSWD for all commands, hashes in passwd)',
    medium: 'Findings of severity medium (NOPASSWD for some commands, unexpected login shells)',
    info: 'Findings of severity info (files that could not be read)',
  }),
};

/** Audits the local accounts: extra root accounts, empty passwords, passwordless sudo, login shells. */
export const usersCheck = defineCheck({
  type: 'users',
  category: 'security',
  schedule: { every: HOUR },
  summary: 'Audits local accounts: uid 0 besides root, empty passwords, NOPASSWD sudo rules, login shells the config does not expect.',
  schema,
  fields,
  // Another uid 0 or an empty password is a way in with no effort: page. Passwordless sudo and
  // stray login shells are policy to review: a ticket.
  defaults: { crit: ['uid0Extra > 0', 'emptyPasswords > 0'], warn: ['nopasswd > 0', 'unexpectedLogins > 0'] },
  async run({ spec, signal }) {
    const file = (own: string | undefined, rel: string) => own ?? path.join(spec.root, rel);
    const passwdFile = file(spec.passwdFile, 'etc/passwd');
    const shadowFile = file(spec.shadowFile, 'etc/shadow');
    const passwd = await readRequired(passwdFile);
    const shadow = await readOptional(shadowFile);
    const uidMin = spec.uidMin ?? (await loginDefsUidMin(path.join(spec.root, 'etc/login.defs')));
    signal.throwIfAborted();
    const sudoers = await scanSudoers(file(spec.sudoersFile, 'etc/sudoers'), spec.root);
    return assess(spec, { passwd, passwdFile, shadow, shadowFile, sudoers, uidMin });
  },
});

/** One account as passwd shows it. */
export interface Account {
  name: string;
  password: string;
  uid: number;
  shell: string;
}

/** The accounts of a passwd file; comments, NIS `+`/`-` lines and malformed lines are skipped. */
export function parsePasswd(text: string): Account[] {
  const out: Account[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2])) continue;
    out.push({ name: f[0], password: f[1], uid: Number(f[2]), shell: f[6].trim() });
  }
  return out;
}

/** Whether a shell lets its account log in (nologin, false, sync, shutdown and halt do not; empty means /bin/sh). */
export function isLoginShell(shell: string): boolean {
  return !NO_LOGIN.has(path.basename(shell));
}

interface Inputs {
  passwd: string;
  passwdFile: string;
  /** The shadow file's text, or why it could not be read. */
  shadow: string | { error: string };
  shadowFile: string;
  sudoers: SudoersScan;
  uidMin: number;
}

/** Judges what was read: values, findings and a message (pure). */
export function assess(spec: Pick<UsersSpec, 'loginUsers' | 'nopasswdAllow'>, input: Inputs) {
  const accounts = parsePasswd(input.passwd);
  const findings: Finding[] = [];

  const uid0 = accounts.filter((a) => a.uid === 0 && a.name !== 'root');
  for (const a of uid0) {
    findings.push({
      id: `users.uid0.${a.name}`,
      severity: 'critical',
      title: `Account ${a.name} has uid 0: it is root under another name`,
      subject: `${input.passwdFile}: ${a.name}`,
      fix: `Give ${a.name} its own uid (usermod -u), or remove it (userdel) if nobody knows why it exists; use sudo for administrators.`,
      refs: ['CIS 6.2.10', 'Lynis AUTH-9204'],
    });
  }

  // An empty field in passwd itself means no password at all, shadow or not. Name → file.
  const empty = new Map(accounts.filter((a) => a.password === '').map((a) => [a.name, input.passwdFile]));
  const shadowReadable = typeof input.shadow === 'string';
  if (typeof input.shadow === 'string') {
    for (const line of input.shadow.split('\n')) {
      const f = line.split(':');
      if (f.length >= 2 && f[0] && f[1] === '' && !empty.has(f[0])) empty.set(f[0], input.shadowFile);
    }
  } else {
    findings.push({
      id: 'users.shadow-unreadable',
      severity: 'info',
      title: 'Empty passwords not checked: the shadow file cannot be read',
      subject: `${input.shadowFile} (${input.shadow.error})`,
      fix: 'To have empty passwords checked, let the agent read it: add its user to group shadow (Debian, Ubuntu) or run it as root. Each has its own risk: the hashes can then be read by the agent.',
    });
  }
  for (const [name, where] of [...empty].sort(([a], [b]) => a.localeCompare(b))) {
    findings.push({
      id: `users.empty-password.${name}`,
      severity: 'critical',
      title: `Account ${name} has an empty password: it can log in without one`,
      subject: `${where}: ${name}`,
      fix: `Lock it (passwd -l ${name}) or set a password.`,
      refs: ['CIS 6.2.2', 'Lynis AUTH-9283'],
    });
  }
  for (const a of accounts.filter((x) => !['', 'x', '*', '!', '!!'].includes(x.password) && !x.password.startsWith('!') && !x.password.startsWith('*'))) {
    findings.push({
      id: `users.unshadowed.${a.name}`,
      severity: 'high',
      title: `Account ${a.name} keeps its password hash in the world-readable passwd file`,
      subject: `${input.passwdFile}: ${a.name}`,
      fix: 'Move the hashes to the shadow file: run pwconv.',
      refs: ['CIS 6.2.1'],
    });
  }

  const uidMin = input.uidMin;
  const loginUsers = spec.loginUsers ? new Set(spec.loginUsers) : undefined;
  const unexpected = accounts.filter((a) =>
    isLoginShell(a.shell) && (loginUsers ? !loginUsers.has(a.name) : a.uid < uidMin && a.uid !== 0));
  for (const a of unexpected) {
    const system = a.uid < uidMin;
    findings.push({
      id: `users.unexpected-login.${a.name}`,
      severity: 'medium',
      title: loginUsers
        ? `Account ${a.name} has a login shell and is not in loginUsers`
        : `System account ${a.name} (uid ${a.uid}) has a login shell`,
      subject: `${a.name}: ${a.shell || '/bin/sh (empty shell field)'}`,
      fix: `If nobody logs in as ${a.name}, set its shell to nologin (usermod -s /usr/sbin/nologin ${a.name}); otherwise add it to loginUsers.`,
      ...(system ? { refs: ['CIS 5.5.2'] } : {}),
    });
  }

  const sudoersReadable = input.sudoers.unreadable.length === 0;
  if (!sudoersReadable) {
    findings.push({
      id: 'users.sudoers-unreadable',
      severity: 'info',
      title: 'NOPASSWD rules not fully checked: sudoers files cannot be read',
      subject: input.sudoers.unreadable.join(', '),
      fix: 'Run the agent as root to have the sudo policy checked (sudoers files are mode 0440 root:root; do not loosen them).',
    });
  }
  const allowed = new Set(spec.nopasswdAllow ?? []);
  const byPrincipal = new Map<string, NopasswdRule[]>();
  for (const r of input.sudoers.rules) {
    if (!allowed.has(r.principal)) byPrincipal.set(r.principal, [...(byPrincipal.get(r.principal) ?? []), r]);
  }
  for (const [principal, rules] of byPrincipal) {
    const all = rules.some((r) => r.allCommands);
    const viaDefaults = rules.every((r) => r.viaDefaults);
    const who = principal === '*' ? 'Everyone allowed to use sudo' : principal;
    findings.push({
      id: principal === '*' ? 'users.sudo-no-authenticate' : `users.nopasswd.${principal}`,
      severity: all ? 'high' : 'medium',
      title: `${who} may run ${all ? 'any command' : 'some commands'} as root without a password${viaDefaults ? ' (Defaults !authenticate)' : ''}`,
      subject: rules.map((r) => r.where).join(', '),
      fix: viaDefaults
        ? 'Remove !authenticate from the Defaults line (visudo).'
        : 'Remove NOPASSWD from the rule (visudo), or narrow it to the commands automation needs; if it is expected, add the principal to nopasswdAllow.',
      refs: viaDefaults ? ['CIS 5.3.5'] : ['CIS 5.3.4'],
    });
  }

  const values: Record<string, number | boolean> = {
    accounts: accounts.length,
    uid0Extra: uid0.length,
    ...(shadowReadable ? { emptyPasswords: empty.size } : {}),
    ...(sudoersReadable ? { nopasswd: byPrincipal.size } : {}),
    unexpectedLogins: unexpected.length,
    shadowReadable,
    sudoersReadable,
    ...findingValues(findings),
  };
  const names = (xs: readonly string[]) => (xs.length ? ` (${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''})` : '');
  const parts = [`${accounts.length} accounts`, `${uid0.length} extra uid 0${names(uid0.map((a) => a.name))}`];
  parts.push(shadowReadable ? `${empty.size} empty passwords${names([...empty.keys()].sort())}` : `empty passwords not checked (${input.shadowFile} unreadable)`);
  parts.push(`${byPrincipal.size} NOPASSWD${names([...byPrincipal.keys()])}${sudoersReadable ? '' : ' in the sudoers files readable'}`);
  parts.push(`${unexpected.length} unexpected login shells${names(unexpected.map((a) => a.name))}`);
  return { values, message: parts.join(', '), findings };
}

async function readRequired(file: string): Promise<string> {
  try {
    return await readTextFile(file, ACCOUNTS_MAX_BYTES);
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    throw new Error(`cannot read ${file} (${err.message}): the users check needs to read the account list`, { cause: err });
  }
}

/** The file's text, or why it is missing or not ours to read; other failures are thrown. */
async function readOptional(file: string): Promise<string | { error: string }> {
  try {
    return await readTextFile(file, ACCOUNTS_MAX_BYTES);
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    if (['EACCES', 'EPERM', 'ENOENT'].includes(err.code)) return { error: err.code };
    throw new Error(`cannot read ${file}: ${err.message}`, { cause: err });
  }
}

/** UID_MIN from login.defs, or 1000 when the file or the key is missing or unreadable. */
async function loginDefsUidMin(file: string): Promise<number> {
  let text: string;
  try {
    text = await readTextFile(file, ACCOUNTS_MAX_BYTES);
  } catch (err) {
    if (err instanceof FileReadError) return DEFAULT_UID_MIN;
    throw err;
  }
  const m = /^\s*UID_MIN\s+(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : DEFAULT_UID_MIN;
}
