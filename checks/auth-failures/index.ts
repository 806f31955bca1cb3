import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineCheck, duration, findingFields, findingValues, formatDuration, size, type CheckContext, type FieldSpec, type Finding } from '../types';
import { readJournal } from '../journal';
import { readNewLines, type LogPosition } from '../log-follow';
import { FailureReader, lineTime, type AuthFailure } from './parse';

const WINDOW_MS = 15 * 60_000;
const MAX_READ = 64 * 1024 * 1024;
/** Where Debian/Ubuntu (auth.log) and RHEL/Fedora/SUSE (secure) keep sshd's and PAM's messages. */
export const DEFAULT_LOGS = ['/var/log/auth.log', '/var/log/secure'];
const DEFAULT_UNITS = ['ssh', 'sshd'];
const ACCESS_HINT = "the agent's user needs read access: on Debian and Ubuntu, membership of group adm; /var/log/secure on RHEL is root's only, so use source: journal with group systemd-journal";
/** Findings name this many sources at most, the busiest. */
export const TOP_SOURCES = 10;
const SOURCE_SEVERITY = { low: 5, medium: 20, high: 100 };
/** Failures kept in memory per check, newest; a flood beyond it is counted from these (and said). */
export const MAX_EVENTS = 200_000;

const absolute = (example: string) =>
  z.string().refine((p) => path.isAbsolute(p), { message: `expected an absolute path such as ${example}` });
const count = z.number().int().positive();

const schema = z
  .strictObject({
    source: z
      .enum(['auto', 'file', 'journal'])
      .optional()
      .describe('Where to read: file (auth.log, secure, or file), journal (journalctl), or auto (default): the file if one exists, else the journal.'),
    file: absolute('/var/log/auth.log')
      .optional()
      .describe('The log holding sshd, sudo and PAM messages (default: /var/log/auth.log, else /var/log/secure, whichever exists). Its rotated copies (.1, or -YYYYMMDD) are read too.'),
    root: absolute('/host')
      .optional()
      .describe("Prefix of the host's filesystem, for an agent in a container with the host's / mounted there: the default logs are looked for under it, and journalctl reads the journal under it (--root)."),
    window: duration({ min: 60_000, max: 7 * 86_400_000 })
      .optional()
      .describe(`Count failures whose lines are dated within this long before the run (default ${formatDuration(WINDOW_MS)}).`),
    units: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(`Journal source: the systemd units to read (default ${DEFAULT_UNITS.join(', ')}: Debian calls sshd's unit ssh, RHEL sshd).`),
    maxRead: size()
      .optional()
      .describe('Most bytes of a log read per run (default 64MiB); when more was written since the last run, the oldest part is skipped and the message says so.'),
    sourceSeverity: z
      .strictObject({
        low: count.optional().describe(`Failures from one source in the window that make its finding low (default ${SOURCE_SEVERITY.low}; fewer: info).`),
        medium: count.optional().describe(`Failures from one source that make its finding medium (default ${SOURCE_SEVERITY.medium}).`),
        high: count.optional().describe(`Failures from one source that make its finding high (default ${SOURCE_SEVERITY.high}).`),
      })
      .optional()
      .describe('How many failures from one source make its finding low, medium or high.'),
  })
  .superRefine((s, ctx) => {
    if (s.source === 'journal' && s.file !== undefined) ctx.addIssue({ code: 'custom', path: ['file'], message: 'file is read with source: file or auto, not journal; drop one' });
    if (s.source === 'file' && s.units !== undefined) ctx.addIssue({ code: 'custom', path: ['units'], message: 'units are read from the journal; with source: file drop them' });
    if (s.file !== undefined && s.units !== undefined) ctx.addIssue({ code: 'custom', path: ['units'], message: 'units are read from the journal, and file: reads a file; drop one' });
    const sev = { ...SOURCE_SEVERITY, ...s.sourceSeverity };
    if (!(sev.low < sev.medium && sev.medium < sev.high)) {
      ctx.addIssue({ code: 'custom', path: ['sourceSeverity'], message: `low < medium < high is needed (they are ${sev.low}, ${sev.medium}, ${sev.high})` });
    }
  });

type AuthSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  failures: { type: 'number', unit: 'count', help: 'Failed logins in the window: SSH attempts, wrong sudo passwords, other PAM services (login, su, ...)' },
  sources: { type: 'number', unit: 'count', help: 'Distinct remote addresses the failures came from' },
  users: { type: 'number', unit: 'count', help: 'Distinct accounts tried (for sudo: who ran it)' },
  topSourceFailures: { type: 'number', unit: 'count', help: 'Failures from the busiest source' },
  ...findingFields({
    findings: `Findings of this run: one per source (the ${TOP_SOURCES} busiest) and per account failing sudo`,
    critical: 'Findings of severity critical (none: failed logins are attempts, not a breach)',
    high: 'Findings of severity high (sources with at least sourceSeverity.high failures)',
    medium: 'Findings of severity medium (busy sources, accounts failing a whole sudo prompt)',
    info: 'Findings of severity info (sources with a few failures)',
  }),
};

/**
 * Where each check stopped reading its log, and the failures it read that are still inside
 * its window: kept between runs so a run reads only what was written since (auth.log under a
 * brute-force run grows by tens of MB an hour). By check name and file.
 */
const tracked = new Map<string, { position: LogPosition; reader: FailureReader; events: AuthFailure[] }>();
const MAX_TRACKED = 256;

/** Counts failed logins in a recent window from auth.log / secure or the journal; its busiest sources are findings. */
export const authFailuresCheck = defineCheck({
  type: 'auth-failures',
  category: 'security',
  summary: 'Counts failed logins (sshd, sudo, PAM) in a recent window from auth.log, secure or the journal; the busiest sources are findings.',
  schema,
  fields,
  // A person mistypes a password a few times; more than 20 in 15 minutes is a script or a
  // scan. More than 100 is a brute-force run in progress. Hosts with SSH open to the
  // internet see that much all day: raise the levels there, or page on `high` instead.
  defaults: { warn: ['failures > 20'], crit: ['failures > 100'] },
  async run(ctx) {
    const { spec } = ctx;
    const windowMs = spec.window ?? WINDOW_MS;
    const now = ctx.now();
    const since = now - windowMs;
    const where = await chooseSource(spec);
    let failures: AuthFailure[];
    const notes: string[] = [];
    if (where.kind === 'journal') {
      failures = [];
      const reader = new FailureReader();
      await readJournal({ units: spec.units ?? DEFAULT_UNITS, sinceMs: since, root: spec.root, signal: ctx.signal, needs: 'source: journal', noFilesHint: 'is systemd-journald keeping one? else use source: file' }, (line) => {
        const f = reader.read(line, now);
        if (f && f.at > since) failures.push(f);
      });
    } else {
      failures = await readFile(ctx, where.file, since, notes);
    }
    return summarize(failures, { spec, windowMs, from: where.kind === 'journal' ? 'the journal' : where.file, notes });
  },
});

/** The log to read: the configured file, else the first default that exists, else the journal. */
async function chooseSource(spec: AuthSpec): Promise<{ kind: 'file'; file: string } | { kind: 'journal' }> {
  if (spec.file) return { kind: 'file', file: spec.file };
  if (spec.source === 'journal') return { kind: 'journal' };
  const candidates = DEFAULT_LOGS.map((f) => (spec.root ? path.join(spec.root, f) : f));
  for (const f of candidates) {
    // Exists is enough: one that cannot be read is an unknown result saying so, not a reason to look elsewhere.
    if (await fs.promises.lstat(f).then(() => true, () => false)) return { kind: 'file', file: f };
  }
  if (spec.source === 'file') {
    throw new Error(`neither ${candidates.join(' nor ')} exists: set file: to the log that holds sshd's and PAM's messages, or use source: journal`);
  }
  return { kind: 'journal' };
}

async function readFile(ctx: CheckContext<AuthSpec>, file: string, since: number, notes: string[]): Promise<AuthFailure[]> {
  const now = ctx.now();
  const key = `${ctx.name}\0${file}`;
  const prev = tracked.get(key);
  // A copy: a run that fails or is aborted half-way leaves the state as the last good run left it.
  const reader = prev ? prev.reader.clone() : new FailureReader();
  const fresh: AuthFailure[] = [];
  const report = await readNewLines(
    file,
    prev?.position,
    { sinceMs: since, maxBytes: ctx.spec.maxRead ?? MAX_READ, signal: ctx.signal, timeOf: (line) => lineTime(line, now), accessHint: ACCESS_HINT },
    (text) => {
      for (const line of text.split('\n')) {
        if (!line) continue;
        const f = reader.read(line, now);
        if (f) fresh.push(f);
      }
    },
  );
  notes.push(...report.notes);
  let events = [...(prev?.events ?? []), ...fresh].filter((e) => e.at > since);
  if (events.length > MAX_EVENTS) {
    notes.push(`more than ${MAX_EVENTS} failure lines in the window: counted the newest ${MAX_EVENTS}`);
    events = events.slice(-MAX_EVENTS);
  }
  reader.prune(since);
  tracked.delete(key);
  if (tracked.size >= MAX_TRACKED) tracked.delete(tracked.keys().next().value as string);
  tracked.set(key, { position: report.position, reader, events });
  if (report.notes.length) ctx.log.warn({ file, notes: report.notes }, 'auth log read incompletely');
  return events;
}

/** Values, message and findings of the failures in the window. */
export function summarize(
  failures: readonly AuthFailure[],
  opts: { spec: AuthSpec; windowMs: number; from: string; notes?: string[] },
): { values: Record<string, number>; message: string; findings: Finding[] } {
  const window = formatDuration(opts.windowMs);
  const bySource = new Map<string, number>();
  const sudoByUser = new Map<string, number>();
  const users = new Set<string>();
  let total = 0;
  for (const f of failures) {
    total += f.count;
    if (f.source) bySource.set(f.source, (bySource.get(f.source) ?? 0) + f.count);
    if (f.user) users.add(f.user);
    if (f.kind === 'sudo' && f.user) sudoByUser.set(f.user, (sudoByUser.get(f.user) ?? 0) + f.count);
  }
  const sev = { ...SOURCE_SEVERITY, ...opts.spec.sourceSeverity };
  const top = [...bySource].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const findings: Finding[] = top.slice(0, TOP_SOURCES).map(([source, n]) => ({
    id: `auth-failures.source.${source}`,
    severity: n >= sev.high ? 'high' : n >= sev.medium ? 'medium' : n >= sev.low ? 'low' : 'info',
    title: `${n} failed login${n === 1 ? '' : 's'} from ${source} in the last ${window}`,
    subject: source,
    fix: 'If this source has no business logging in, block it (fail2ban, the firewall) and allow SSH only from known networks; turn password logins off (PasswordAuthentication no) so guessing cannot succeed.',
    refs: ['ATT&CK T1110'],
  }));
  for (const [user, n] of [...sudoByUser].sort((a, b) => b[1] - a[1])) {
    findings.push({
      id: `auth-failures.sudo.${user}`,
      // sudo gives up after 3 wrong passwords by default: a whole prompt failed.
      severity: n >= 3 ? 'medium' : 'low',
      title: `${n} wrong sudo password${n === 1 ? '' : 's'} by ${user} in the last ${window}`,
      subject: user,
      fix: `Ask ${user} whether it was them; a script or someone else at their session guessing the password needs a look (the log line names the command).`,
      refs: ['ATT&CK T1548.003'],
    });
  }
  const values = {
    failures: total,
    sources: bySource.size,
    users: users.size,
    topSourceFailures: top[0]?.[1] ?? 0,
    ...findingValues(findings),
  };
  let message = total === 0
    ? `no failed logins in the last ${window} (${opts.from})`
    : `${total} failed login${total === 1 ? '' : 's'} in the last ${window} from ${bySource.size} source${bySource.size === 1 ? '' : 's'}, ${users.size} account${users.size === 1 ? '' : 's'}` +
      (top[0] ? `; busiest ${top[0][0]} (${top[0][1]})` : '') + ` (${opts.from})`;
  if (opts.notes?.length) message += `; ${opts.notes.join('; ')}`;
  return { values, message, findings };
}
