import type { z } from 'zod';
import { formatDuration } from './units';

export { duration, size, percent, parseDuration, parseSize, parsePercent, formatDuration, formatBytes } from './units';
export {
  round, globNameSource, isValidRegex, isHttpUrl, httpUrl, certDaysLeft, rootError, describeNetworkError, urlCredentials, requestParts,
  FileReadError, readTextFile, readTextFileSync, readConfiguredFile,
  readCpuTimes, parseProcStat, cpuShares, parseMemInfo, type CpuTimes,
} from './support';
export { PSEUDO_FS_TYPES, SKIPPED_PREFIXES, isSkippedMountPoint, parseMountInfo, type MountEntry } from './mounts';
export { MAX_PROCESSES, procTables, ProcTables, parseStat, systemConstants, type ProcEntry, type ProcSource, type ProcTable } from './proc-table';

/** What a check is about; shown as the `category` label of `keepwatch_check_status`. */
export type CheckCategory = 'health' | 'performance' | 'security' | 'cost';

/** A value a check measured. */
export type Value = number | string | boolean;

/**
 * Why a run was not ok. The set is closed because it is the `reason` label of
 * `keepwatch_check_runs_total`: free text would explode cardinality.
 */
export const FAILURE_REASONS = ['timeout', 'refused', 'dns', 'tls', 'status', 'body', 'threshold', 'error'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** The reasons a check may give itself when its target did not answer. */
export type TargetFailure = 'timeout' | 'refused' | 'dns' | 'tls' | 'error';

/** The unit of a numeric value; conditions convert literals such as `2s`, `10GB` or `80%` into it. */
export type FieldUnit = 'ms' | 'seconds' | 'days' | 'bytes' | 'percent' | 'count' | 'none';

/** Declares one value a check returns, so conditions can be checked when the config loads. */
export interface FieldSpec {
  /** `any` for values whose type only the target knows (JSON bodies). */
  type: 'number' | 'string' | 'boolean' | 'any';
  unit?: FieldUnit;
  help: string;
  /** The failure reason reported when a condition on this field fires (default `threshold`). */
  reason?: 'status' | 'body';
}

/**
 * What one run of a check saw: named values and a one-line message.
 * A target that did not answer is a result (`up: false` with a `failure`), not an exception;
 * a thrown error means the check could not do its job and yields status unknown.
 */
export interface Observation {
  values: Record<string, Value>;
  message: string;
  /** False when the target did not answer. Defaults to true. */
  up?: boolean;
  /** Why the target did not answer; required when `up` is false. */
  failure?: TargetFailure;
  /**
   * What a security (or any auditing) check found wrong, one entry per problem. Counts go in
   * `values` (for conditions and metrics); the findings themselves go here, never into labels.
   */
  findings?: Finding[];
  /**
   * What a cost check measured in money, exported as the keepwatch_cost_* gauges (see
   * checks/cost-sources/README.md, "Cost metrics"). The figures go in `values` too, for
   * conditions; this block only adds the labels that say what they are about.
   */
  cost?: CostFigures;
  /**
   * Lines that explain the result, newest last (a log check's last matching lines): kept with
   * the result and in an incident's evidence. The agent keeps at most MAX_EXCERPT_LINES, each
   * cut to MAX_EXCERPT_LINE characters, scrubbed of secrets.
   */
  excerpt?: string[];
}

/** The most lines of an {@link Observation.excerpt} the agent keeps (the newest). */
export const MAX_EXCERPT_LINES = 100;
/** The longest excerpt line the agent keeps (characters). */
export const MAX_EXCERPT_LINE = 1024;

/**
 * A cost check's figures, all in one currency (amounts are never summed across currencies).
 * The label fields must stay few-valued: they become metric labels.
 */
export interface CostFigures {
  /** Where the figures come from: the source type (`focus`, `opencost`, `aws`), or `host` for idle-capacity. */
  source: string;
  /** What the check is restricted to, short and stable: `all`, `service=AmazonEC2`, `namespace=shop`. */
  scope: string;
  /** ISO 4217 code of every amount in this block (`USD`). */
  currency: string;
  /** Spend of the period the check watches: month to date (cost-budget), the last complete day (cost-anomaly). */
  spend?: number;
  /** Forecast spend for the current month. */
  forecast?: number;
  /** The monthly budget. */
  budget?: number;
  /** Anomaly score of the worst offender (robust z-score). */
  anomalyScore?: number;
  /** Cost per month of capacity never needed (idle-capacity). */
  wastedMonthly?: number;
  /** Spend by group (service, account, tag value) over the same period as `spend`; the agent keeps the 10 largest. */
  groups?: Array<{ group: string; spend: number }>;
}

/** How bad a finding is, mildest first. */
export const FINDING_SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];

/** One problem a check found: the same problem on the next run has the same id. */
export interface Finding {
  /** Stable id: `<check type>.<what>[.<subject>]`, e.g. `sshd.permit-root-login`, `ports.unexpected.tcp.8080`. */
  id: string;
  severity: FindingSeverity;
  /** One line for humans: what is wrong. */
  title: string;
  /** Where: a file, a port, an account, a certificate. */
  subject?: string;
  /** How to fix it, one or two sentences. */
  fix?: string;
  /** The controls it corresponds to, where one exists: `CIS 5.2.7`, `Lynis SSH-7408`. */
  refs?: string[];
}

/** Findings counted by severity (every severity present, zero when none): the values a check returns for them. */
export function countFindings(findings: readonly Finding[]): Record<FindingSeverity, number> {
  const counts = Object.fromEntries(FINDING_SEVERITIES.map((s) => [s, 0])) as Record<FindingSeverity, number>;
  for (const f of findings) counts[f.severity]++;
  return counts;
}

/** The names of the values an auditing check returns for its findings: `findings` (all of them) and each severity. */
export type FindingCount = 'findings' | FindingSeverity;

/** The values an auditing check returns for its findings: how many in all, and how many of each severity. */
export type FindingValues = Record<FindingCount, number>;

/** {@link FindingValues} of a run's findings. */
export function findingValues(findings: readonly Finding[]): FindingValues {
  const { critical, high, medium, low, info } = countFindings(findings);
  return { findings: findings.length, critical, high, medium, low, info };
}

/**
 * The fields of {@link findingValues}, every auditing check declaring the same six so that a
 * condition such as `high > 0` means the same on each. `help` replaces the generic text of a
 * field with the type's own: which of its findings have that severity.
 */
export function findingFields(help: Partial<Record<FindingCount, string>> = {}): Record<FindingCount, FieldSpec> {
  const field = (key: FindingCount, generic: string): FieldSpec => ({ type: 'number', unit: 'count', help: help[key] ?? generic });
  return {
    findings: field('findings', 'Findings of this run, all severities'),
    critical: field('critical', 'Findings of severity critical'),
    high: field('high', 'Findings of severity high'),
    medium: field('medium', 'Findings of severity medium'),
    low: field('low', 'Findings of severity low'),
    info: field('info', 'Findings of severity info'),
  };
}

/** The little a check needs from a logger (pino's Logger satisfies it). */
export interface CheckLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Everything `run` gets: the check's parsed config and the means to do its job, nothing shared. */
export interface CheckContext<Spec> {
  /** The check's name as configured (expanded checks carry their suffix: `disk:/boot`). */
  name: string;
  /** The type-specific part of the check's config, parsed and frozen. */
  spec: Spec;
  /** Aborted when the run's timeout passes or the agent stops; pass it to every I/O call. */
  signal: AbortSignal;
  /** The run's timeout in milliseconds (the signal fires then). */
  timeoutMs: number;
  log: CheckLogger;
  /** Wall clock in milliseconds; injected so tests can control time. */
  now(): number;
  /**
   * Whether `text` holds one of the config's secret values (a `${ENV}` or `${file:}` secret,
   * a token, a password): what must not be sent to another host. The agent fills it in;
   * checks cannot see the config's secrets otherwise.
   */
  holdsSecret(text: string): boolean;
  /**
   * The check's own small memory between runs (JSON values by key, scoped to its name), kept in
   * the agent's store so that it outlives a restart: what a run must compare with a past one,
   * such as a baseline. Not for results: the agent keeps those.
   */
  state: CheckState;
}

/** The largest value a check may keep in its state, serialised as JSON (bytes). */
export const MAX_STATE_BYTES = 32 * 1024 * 1024;

/** A check's memory between runs; see {@link CheckContext.state}. */
export interface CheckState {
  /**
   * False when the values will not outlive this process: `keepwatch check` and `keepwatch
   * audit` (one run, no store) and an agent without a store. A check says so in its message.
   */
  readonly persistent: boolean;
  /** The value last set under `key` (a copy), or undefined. */
  get(key: string): Promise<unknown | undefined>;
  /**
   * Keeps a JSON value under `key` (one row per key: keep few keys, each written rarely);
   * undefined deletes it. Rejects a value over MAX_STATE_BYTES.
   */
  set(key: string, value: unknown): Promise<void>;
}

/** Default `warn` / `crit` conditions, used for a level the user did not set. */
export interface Thresholds {
  warn?: string[];
  crit?: string[];
}

/** One check that `expand` makes out of a config entry, e.g. a disk check per mount. */
export interface Expansion<Spec> {
  /** Appended to the entry's name after a colon: `disk` + `/boot` → `disk:/boot`. */
  suffix: string;
  spec: Spec;
  /** Labels added to the expanded check's labels. */
  labels?: Record<string, string>;
}

/** A check type: what `defineCheck` takes and the registry lists. */
export interface CheckDefinition<S extends z.ZodObject = z.ZodObject> {
  /** The YAML `type:` value; also the folder name under checks/. */
  type: string;
  category: CheckCategory;
  /** One line for `--help`, the README table and the JSON Schema. */
  summary: string;
  /** The type-specific config keys (a strict object; common keys such as `every` are added by the engine). */
  schema: S;
  /** The values `run` returns; a function when they depend on the config (e.g. http `json:`). */
  fields: Record<string, FieldSpec> | ((spec: z.output<S>) => Record<string, FieldSpec>);
  /** Thresholds used when the config sets none for a level. */
  defaults?: Thresholds | ((spec: z.output<S>) => Thresholds);
  /**
   * How often a check of this type runs and how long a run may take when the check sets
   * neither (ms). For heavy or slow-changing types (a filesystem walk, a package index, a
   * certificate): they win over the config's `defaults:`, which are tuned for probes.
   */
  schedule?: { every?: number; timeout?: number };
  /**
   * Turns one config entry into several checks when the config loads (or reloads);
   * resolves undefined to keep the entry as it is (e.g. a disk check that names its mount).
   */
  expand?: (spec: z.output<S>) => Promise<Array<Expansion<z.output<S>>> | undefined>;
  /**
   * Checks the config against the limits a run will have, when the config loads (e.g. a
   * sample window must fit in the timeout); each problem names the key it is about.
   */
  validate?: (spec: z.output<S>, limits: { timeoutMs: number }) => Array<{ key: string; message: string }>;
  /**
   * True for a check that compares each run with a baseline it keeps in `ctx.state`:
   * `keepwatch baseline accept` may then clear its state (recording who and why), so that its
   * next run records a new baseline.
   */
  baseline?: boolean;
  run(ctx: CheckContext<z.output<S>>): Promise<Observation>;
}

/**
 * The `validate` of checks that sample over a `sample` window: one the user wrote must end
 * before the timeout. An unset one cannot conflict: {@link sampleWindow} fits it in.
 */
export function sampleFitsTimeout(spec: { sample?: number }, limits: { timeoutMs: number }): Array<{ key: string; message: string }> {
  return spec.sample !== undefined && spec.sample >= limits.timeoutMs
    ? [{ key: 'sample', message: `sample (${formatDuration(spec.sample)}) must be shorter than the timeout (${formatDuration(limits.timeoutMs)})` }]
    : [];
}

/**
 * The sample window of a run: the configured one, else `preferredMs` capped at half the run's
 * timeout. A default must never conflict with what the user did write: a cpu check that runs
 * every second (so its timeout is a second) samples for 500ms instead of failing validation
 * over a key it never set, and the other half is left for reading the counters.
 */
export function sampleWindow(spec: { sample?: number }, timeoutMs: number, preferredMs: number): number {
  return spec.sample ?? Math.min(preferredMs, timeoutMs / 2);
}

/** Declares a check type; the identity function that gives `run` its typed config. */
export function defineCheck<S extends z.ZodObject>(def: CheckDefinition<S>): CheckDefinition<S> {
  return def;
}

/** Builds the observation for a target that did not answer. */
export function targetDown(failure: TargetFailure, message: string, values: Record<string, Value> = {}): Observation {
  return { up: false, failure, message, values };
}

/**
 * Maps a Node.js network error to a failure reason. Connection-level failures other than
 * DNS and TLS (refused, reset, unreachable) all read as `refused`: the target would not talk.
 */
export function classifyNetworkError(err: unknown): TargetFailure {
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  if (e?.name === 'AbortError' || e?.name === 'CanceledError' || code === 'ERR_CANCELED' || code === 'ABORT_ERR' ||
      code === 'ETIMEDOUT' || code === 'ECONNABORTED') {
    return 'timeout';
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
    return 'dns';
  }
  // EPROTO with "SSL routines" is TLS spoken to a port that does not (https to an http port).
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH|ERR_TLS|EPROTO/i.test(code) ||
      /certificate|TLS|SSL routines|wrong version number/i.test(e?.message ?? '')) {
    return 'tls';
  }
  if (['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL'].includes(code) ||
      /socket hang up/i.test(e?.message ?? '')) {
    return 'refused';
  }
  return 'error';
}

/**
 * Whether a config key, header or query parameter name denotes a secret (`token`,
 * `X-Auth-Token`, `Authorization`, `api_key`, `password`, …). Values under such names are
 * scrubbed from logs and not forwarded by redirects to another host.
 */
export function isSecretName(name: string): boolean {
  // A key naming where something is (`passwdFile`, `tokenPath`, `keyDir`) holds a path, not the secret.
  if (/(file|files|path|paths|dir)$/i.test(name)) return false;
  return /token|secret|passw|api[-_]?key|access[-_]?key|private[-_]?key|authorization|cookie|session|credential|signature|routing[-_]?key|integration[-_]?key|webhook[-_]?url/i.test(name);
}
