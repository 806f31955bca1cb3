import path from 'node:path';
import { z } from 'zod';
import { defineCheck, duration, FileReadError, findingFields, findingValues, formatDuration, readTextFile, round, type FieldSpec, type Finding } from '../types';
import {
  findProgram, INDEX_DIRS, MANAGERS, newestIndexFile, parseApkVersion, parseAptSimulation, parseCheckUpdate, parseUpdateinfo, PROGRAMS,
  runCommand, type Manager, type Pending, type PendingPackage,
} from './managers';

const HOUR = 3_600_000;
const MINUTE = 60_000;

export { parseApkVersion, parseAptSimulation, parseCheckUpdate, parseUpdateinfo, runCommand } from './managers';

/** An index older than this makes the counts untrustworthy. */
const STALE_AFTER_MS = 7 * 86_400_000;

const absolute = (example: string) =>
  z.string().refine((p) => path.isAbsolute(p), { message: `expected an absolute path such as ${example}` });

const schema = z.strictObject({
  manager: z
    .enum(['auto', ...MANAGERS])
    .default('auto')
    .describe('Package manager to ask: apt, dnf, yum or apk; auto takes the first of those found (apt-get, dnf, yum, apk in PATH or the sbin/bin directories).'),
  staleAfter: duration({ min: 3_600_000 })
    .default(STALE_AFTER_MS)
    .describe(`Package index age beyond which the counts cannot be trusted (default ${formatDuration(STALE_AFTER_MS)}): a finding, and indexStale is true.`),
  indexDir: absolute('/var/lib/apt/lists')
    .optional()
    .describe('Where the package index lives, for its age (default /var/lib/apt/lists, /var/cache/dnf, /var/cache/yum or /var/cache/apk).'),
  rebootFile: absolute('/var/run/reboot-required')
    .default('/var/run/reboot-required')
    .describe('The flag file Debian and Ubuntu packages create when a reboot is needed (its .pkgs file names them).'),
});

type UpdatesSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  pending: { type: 'number', unit: 'count', help: 'Packages an upgrade would install or update' },
  security: { type: 'number', unit: 'count', help: 'Of those, updates from a security archive or advisory; absent with apk, which has no such data' },
  indexAgeHours: { type: 'number', unit: 'none', help: 'Hours since the package index was last fetched (a number of hours: write indexAgeHours > 48); absent when there is none' },
  indexStale: { type: 'boolean', help: 'The index is missing or older than staleAfter: pending and security may miss updates' },
  rebootRequired: { type: 'boolean', help: 'Updated packages wait for a reboot to take effect; absent where that cannot be told' },
  ...findingFields({
    critical: 'Findings of severity critical (dnf/yum Critical advisories)',
    high: 'Findings of severity high (security updates)',
    medium: 'Findings of severity medium (stale index, reboot required)',
    low: 'Findings of severity low (other pending updates)',
  }),
};

/** Reports pending (and security) updates from the system's package manager, without changing anything. */
export const updatesCheck = defineCheck({
  type: 'updates',
  category: 'security',
  schedule: { every: HOUR, timeout: 2 * MINUTE }, // the package manager's simulation takes seconds
  summary: 'Counts pending and security updates from apt, dnf, yum or apk (a simulation from the local index, never an update), the index age and whether a reboot is required.',
  schema,
  fields,
  // A pending security update is a patch to schedule, not a page at night; a stale index or a
  // reboot not taken means the machine may be exposed while the counts say otherwise.
  defaults: { warn: ['security > 0', 'indexStale == true', 'rebootRequired == true'] },
  async run({ spec, signal, now }) {
    const { manager, program } = await chooseManager(spec.manager);
    const newest = await newestIndexFile(spec.indexDir ?? INDEX_DIRS[manager]);
    signal.throwIfAborted();
    const found = await query(manager, program, signal);
    const reboot = await rebootState(manager, spec.rebootFile, signal);
    return assess({ manager, ...found, indexAgeMs: newest === undefined ? undefined : Math.max(0, now() - newest), staleAfterMs: spec.staleAfter, reboot });
  },
});

async function chooseManager(wanted: UpdatesSpec['manager']): Promise<{ manager: Manager; program: string }> {
  for (const manager of wanted === 'auto' ? MANAGERS : [wanted]) {
    const program = await findProgram(PROGRAMS[manager]);
    if (program) return { manager, program };
  }
  const names = wanted === 'auto' ? MANAGERS.map((m) => PROGRAMS[m]).join(', ') : PROGRAMS[wanted];
  throw new Error(`no package manager found: looked for ${names} in PATH and the sbin/bin directories`);
}

/** Asks the manager what an upgrade would do, from its local index only. */
async function query(manager: Manager, program: string, signal: AbortSignal): Promise<Pending> {
  if (manager === 'apt') {
    // -s simulates; NoLocking keeps a run as root from taking (or waiting for) dpkg's lock.
    const r = await runCommand(program, ['-s', '-o', 'Debug::NoLocking=true', '-o', 'APT::Get::Show-User-Simulation-Note=false', 'dist-upgrade'], signal);
    if (r.code !== 0) throw failed('apt-get -s dist-upgrade', r);
    return parseAptSimulation(r.stdout);
  }
  if (manager === 'apk') {
    const r = await runCommand(program, ['version', '-l', '<'], signal);
    if (r.code !== 0) throw failed("apk version -l '<'", r);
    return { pending: parseApkVersion(r.stdout) };
  }
  // dnf and yum: -C reads the cache only (no download); check-update exits 100 with updates.
  const all = await runCommand(program, ['-C', '-q', 'check-update'], signal);
  if (all.code !== 0 && all.code !== 100) throw failed(`${manager} -C check-update`, all, `; refresh the cache with ${manager} makecache (as root, or its makecache timer)`);
  const sec = await runCommand(program, manager === 'yum' ? ['-C', '-q', 'updateinfo', 'list', 'security'] : ['-C', '-q', 'updateinfo', 'list', '--security'], signal);
  if (sec.code !== 0) throw failed(`${manager} -C updateinfo list --security`, sec);
  return { pending: parseCheckUpdate(all.stdout), security: parseUpdateinfo(sec.stdout) };
}

function failed(what: string, r: { code: number | null; stderr: string }, hint = ''): Error {
  const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3).join(' / ');
  return new Error(`${what} failed (exit ${r.code ?? 'by signal'})${why ? `: ${why}` : ''}${hint}`);
}

/**
 * Whether a reboot is pending. Debian and Ubuntu packages create the flag file (and list
 * themselves in its .pkgs); on dnf and yum systems `needs-restarting -r` says (exit 1), where
 * installed. Undefined when it cannot be told.
 */
async function rebootState(manager: Manager, file: string, signal: AbortSignal): Promise<{ required: boolean; packages: string[] } | undefined> {
  const pkgs = await readOptional(`${file}.pkgs`);
  if ((await readOptional(file)) !== undefined) {
    return { required: true, packages: [...new Set((pkgs ?? '').split('\n').map((s) => s.trim()).filter(Boolean))] };
  }
  if (manager === 'apt') return { required: false, packages: [] };
  if (manager === 'dnf' || manager === 'yum') {
    const program = await findProgram('needs-restarting');
    if (!program) return undefined;
    const r = await runCommand(program, ['-r'], signal);
    if (r.code === 0 || r.code === 1) return { required: r.code === 1, packages: [] };
    return undefined;
  }
  return undefined;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readTextFile(file, 1024 * 1024);
  } catch (err) {
    if (err instanceof FileReadError && err.code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file} (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/** What `assess` judges. */
export interface UpdatesInput extends Pending {
  manager: Manager;
  /** Age of the newest index file; undefined when there is no index. */
  indexAgeMs?: number;
  staleAfterMs: number;
  reboot?: { required: boolean; packages: string[] };
}

const REFS: Record<Manager, string[]> = { apt: ['CIS 1.9', 'Lynis PKGS-7392'], dnf: ['CIS 1.9'], yum: ['CIS 1.9'], apk: ['CIS 1.9', 'Lynis PKGS-7395'] };
const UPGRADE: Record<Manager, string> = {
  apt: 'apt-get update && apt-get upgrade (or let unattended-upgrades do it)',
  dnf: 'dnf upgrade --security (or let dnf-automatic do it)',
  yum: 'yum update --security (or let yum-cron do it)',
  apk: 'apk upgrade',
};

const REFRESH: Record<Manager, string> = {
  apt: 'apt-daily.timer, or apt-get update from cron',
  dnf: 'dnf-makecache.timer',
  yum: 'yum makecache from cron',
  apk: 'apk update from cron',
};

/** Judges what the manager said: values, findings and a message (pure). */
export function assess(input: UpdatesInput) {
  const { manager } = input;
  const findings: Finding[] = [];
  const security = input.security;
  const securityNames = new Set((security ?? []).map((p) => p.name));
  // One per package, however many: the runner keeps the worst 100 and counts them all.
  for (const p of security ?? []) {
    findings.push({
      id: `updates.security.${p.name}`,
      severity: p.severity ?? 'high',
      title: `Security update pending for ${p.name}${p.to ? ` (${p.from ? `${p.from} → ` : ''}${p.to})` : ''}`,
      subject: p.name,
      fix: `Upgrade it: ${UPGRADE[manager]}.`,
      refs: REFS[manager],
    });
  }
  const others = input.pending.filter((p) => !securityNames.has(p.name));
  if (others.length) {
    findings.push({
      id: 'updates.pending',
      // Without security data (apk) any update may be one: it cannot be ranked as routine.
      severity: security === undefined ? 'medium' : 'low',
      title: `${others.length} ${security === undefined ? '' : 'other '}update${others.length === 1 ? '' : 's'} pending`,
      subject: list(others.map((p) => p.name)),
      fix: `Upgrade in the next maintenance window: ${UPGRADE[manager]}.`,
      refs: REFS[manager],
    });
  }
  const stale = input.indexAgeMs === undefined || input.indexAgeMs > input.staleAfterMs;
  if (input.indexAgeMs === undefined) {
    findings.push({
      id: 'updates.index-missing',
      severity: 'medium',
      title: 'No package index: pending and security updates cannot be known',
      subject: manager,
      fix: `Fetch the index regularly (${REFRESH[manager]}); the agent never does it itself.`,
    });
  } else if (stale) {
    findings.push({
      id: 'updates.index-stale',
      severity: 'medium',
      title: `The package index is ${formatDuration(Math.round(input.indexAgeMs / 3_600_000) * 3_600_000)} old: the counts may miss updates published since`,
      subject: manager,
      fix: `Check that the index is refreshed (${REFRESH[manager]}); the agent never does it itself.`,
    });
  }
  if (input.reboot?.required) {
    findings.push({
      id: 'updates.reboot-required',
      severity: 'medium',
      title: 'A reboot is required: updated packages (a kernel, libc) are not in use until then',
      ...(input.reboot.packages.length ? { subject: list(input.reboot.packages) } : {}),
      fix: 'Reboot in the next maintenance window.',
      refs: ['Lynis KRNL-5830'],
    });
  }

  const values: Record<string, number | boolean> = {
    pending: input.pending.length,
    ...(security ? { security: security.length } : {}),
    ...(input.indexAgeMs === undefined ? {} : { indexAgeHours: round(input.indexAgeMs / 3_600_000, 1) }),
    indexStale: stale,
    ...(input.reboot ? { rebootRequired: input.reboot.required } : {}),
    ...findingValues(findings),
  };
  const parts = [`${manager}: ${input.pending.length} pending`];
  parts.push(security ? `${security.length} security${security.length ? ` (${list([...securityNames])})` : ''}` : 'security unknown (apk has no security data)');
  parts.push(input.indexAgeMs === undefined ? 'no package index: counts cannot be trusted' : `index ${round(input.indexAgeMs / 3_600_000, 1)}h old${stale ? ', stale: counts cannot be trusted' : ''}`);
  if (input.reboot?.required) parts.push('reboot required');
  return { values, message: parts.join(', '), findings };
}

function list(names: readonly string[], max = 10): string {
  return names.slice(0, max).join(', ') + (names.length > max ? `, … (${names.length} in all)` : '');
}

export type { PendingPackage };
