import { countFindings, FINDING_SEVERITIES, MAX_EXCERPT_LINE, MAX_EXCERPT_LINES, type CheckState, type Finding, type Observation, type Value } from '../checks/types';
import { memoryState } from './check-state';
import type { History } from './conditions/history';
import { keepCost } from './cost-series';
import { judge, Status, STATUS_NAMES } from './evaluate';
import type { Logger } from './logger';
import type { CheckConfig, CheckResult } from './model';
import { holdsSecret, scrub } from './secrets';

export type { CheckResult } from './model';

export interface RunOptions {
  log: Logger;
  now?: () => number;
  /** Aborts the run early, e.g. when the agent stops. */
  signal?: AbortSignal;
  /** The check's state between runs (default: one in memory, for this run only). */
  state?: CheckState;
  /** The check's history, for conditions that look back (default: none; windows see this run only). */
  history?: History;
}

/** How long a check has, after its signal aborts at the timeout, to return its own answer. */
export const ABORT_GRACE_MS = 250;

/** What the deadline answers with: the run gave no result in time, even after its abort. */
const ABANDONED = Symbol('abandoned');

/**
 * Runs a check once under its timeout and judges the result. It always settles by the
 * timeout plus ABORT_GRACE_MS: a check that ignores its AbortSignal is abandoned (and logged), so a hung check
 * never holds a concurrency slot or delays another check. A throw means the check could
 * not do its job: status unknown, reason `error`, whether it throws synchronously, rejects,
 * or answers with something that is not an observation. What escapes even that (an error
 * event nobody listens for) is caught by the process guard (process-guard.ts).
 */
export async function runCheckOnce(check: CheckConfig, opts: RunOptions): Promise<CheckResult> {
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const t0 = performance.now();
  const ac = new AbortController();
  const onStop = () => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onStop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  // At the timeout the run is aborted; a check that honours its signal then answers within
  // the grace (often with a more precise message than ours). One that doesn't is abandoned.
  const deadline = new Promise<typeof ABANDONED>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new DOMException(`check timed out after ${check.timeoutMs} ms`, 'TimeoutError'));
      timer = setTimeout(() => resolve(ABANDONED), ABORT_GRACE_MS);
    }, check.timeoutMs);
  });
  let obs: Observation | undefined;
  let error: unknown;
  const log = opts.log;
  const ctx = { name: check.name, spec: check.spec, signal: ac.signal, timeoutMs: check.timeoutMs, log, now, holdsSecret, state: opts.state ?? memoryState() };
  let running: Promise<Observation>;
  try {
    running = Promise.resolve(check.def.run(ctx));
  } catch (err) {
    running = Promise.reject(err);
  }
  try {
    const first = await Promise.race([running, deadline]);
    if (first !== ABANDONED) obs = asObservation(first);
  } catch (err) {
    error = err ?? new Error('the check failed without saying why');
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onStop);
  }
  const durationMs = Math.round((performance.now() - t0) * 1000) / 1000;
  const base = { check: check.name, type: check.type, startedAt, durationMs };
  const timeout = (): CheckResult => ({
    ...base, status: Status.Critical, statusText: 'critical', up: false, reason: 'timeout', message: `no result within ${check.timeoutMs} ms`, values: {},
  });

  if (obs === undefined && error === undefined) {
    running.then(
      () => log.warn({ check: check.name }, 'check finished after its timeout; it ignores its abort signal'),
      () => undefined,
    );
    return timeout();
  }
  if (error !== undefined) {
    if (timedOut) return timeout();
    const message = scrub(error instanceof Error ? error.message : String(error));
    return { ...base, status: Status.Unknown, statusText: 'unknown', up: false, reason: 'error', message: `check failed: ${message}`, values: {} };
  }
  const o = obs as Observation;
  let verdict: ReturnType<typeof judge>;
  let cost: CheckResult['cost'];
  try {
    if (o.cost !== undefined) cost = keepCost(o.cost, scrub);
    verdict = judge(o, check.rules, { history: opts.history, now: startedAt });
  } catch (err) {
    return { ...base, status: Status.Unknown, statusText: 'unknown', up: false, reason: 'error', message: `cannot judge the result: ${(err as Error).message}`, values: {} };
  }
  // Checks cut their own texts (a reply, a pidfile) before the agent sees them: scrubbed here,
  // where the check's text still ends where the check cut it, so a secret cut short is caught.
  const said = scrub(o.message);
  const message = verdict.condition ? `${said} (${verdict.condition})` : said;
  return {
    ...base,
    status: verdict.status,
    statusText: STATUS_NAMES[verdict.status],
    up: o.up !== false,
    reason: verdict.reason,
    condition: verdict.condition,
    message,
    values: scrubValues(o.values),
    ...(o.findings ? { findings: keepFindings(o.findings), findingCounts: countFindings(o.findings) } : {}),
    ...(cost ? { cost } : {}),
    ...(o.excerpt?.length ? { excerpt: keepExcerpt(o.excerpt) } : {}),
  };
}

/** The newest MAX_EXCERPT_LINES lines, each cut to MAX_EXCERPT_LINE characters and scrubbed. */
function keepExcerpt(lines: readonly string[]): string[] {
  return lines.slice(-MAX_EXCERPT_LINES).map((l) => scrub(String(l).slice(0, MAX_EXCERPT_LINE)));
}

/** The most findings a result keeps (worst first); the counts in its values cover them all. */
export const MAX_FINDINGS = 100;

/** Findings worst first, at most MAX_FINDINGS, their texts scrubbed of secrets. */
function keepFindings(findings: readonly Finding[]): Finding[] {
  const rank = (f: Finding) => -FINDING_SEVERITIES.indexOf(f.severity);
  return [...findings]
    .sort((a, b) => rank(a) - rank(b))
    .slice(0, MAX_FINDINGS)
    .map((f) => ({ ...f, title: scrub(f.title), ...(f.subject ? { subject: scrub(f.subject) } : {}), ...(f.fix ? { fix: scrub(f.fix) } : {}) }));
}

/** The values with string ones scrubbed (a JSON field of a body may hold a token); the same object when none changes. */
function scrubValues(values: Record<string, Value>): Record<string, Value> {
  let out: Record<string, Value> | undefined;
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') continue;
    const clean = scrub(v);
    if (clean !== v) (out ??= { ...values })[k] = clean;
  }
  return out ?? values;
}

/** The check's answer if it is an observation; throws (making the run unknown) if not. */
function asObservation(value: unknown): Observation {
  const o = value as Observation | null;
  if (typeof o !== 'object' || o === null || typeof o.values !== 'object' || o.values === null || typeof o.message !== 'string') {
    throw new Error('the check returned no observation (values and message)');
  }
  return o;
}
