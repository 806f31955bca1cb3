import { memoryState } from '../../agent/check-state';
import type { CheckDefinition, CheckLogger, CheckState, FieldSpec, Observation } from '../../checks/types';

/** A logger that drops everything, for checks under test. */
export const silentLog: CheckLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Parses `raw` with the check's own schema and runs it once, as the engine would, with a timeout. */
export async function runCheck(
  def: CheckDefinition<any>,
  raw: Record<string, unknown>,
  opts: { timeoutMs?: number; name?: string; holdsSecret?: (text: string) => boolean; state?: CheckState } = {},
): Promise<Observation> {
  const spec = def.schema.parse(raw);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
  try {
    return await def.run({ name: opts.name ?? def.type, spec, signal: ac.signal, timeoutMs, log: silentLog, now: Date.now, holdsSecret: opts.holdsSecret ?? (() => false), state: opts.state ?? memoryState() });
  } finally {
    clearTimeout(timer);
  }
}

/** The fields a check declares for a given raw config. */
export function fieldsOf(def: CheckDefinition<any>, raw: Record<string, unknown>): Record<string, FieldSpec> {
  const spec = def.schema.parse(raw);
  return typeof def.fields === 'function' ? def.fields(spec) : def.fields;
}

/**
 * Starts a run whose signal only the test aborts: no timer plays the timeout, so what ends
 * the run is the test's `abort()`, or the check itself. `timeoutMs` is only what the check is
 * told, and `now` the clock it is given (default Date.now).
 */
export function startRun(
  def: CheckDefinition<any>,
  raw: Record<string, unknown>,
  opts: { timeoutMs?: number; now?: () => number } = {},
): { run: Promise<Observation>; abort(reason?: unknown): void } {
  const ac = new AbortController();
  const ctx = { name: def.type, spec: def.schema.parse(raw), signal: ac.signal, timeoutMs: opts.timeoutMs ?? 5000, log: silentLog, now: opts.now ?? Date.now, holdsSecret: () => false, state: memoryState() };
  const run = Promise.resolve().then(() => def.run(ctx));
  run.catch(() => undefined); // the test awaits it; an early rejection is not unhandled
  return { run, abort: (reason = new Error('timeout')) => ac.abort(reason) };
}

/**
 * Whether `p` settles before the event loop's next turn: an answer that waits for no socket,
 * timer or file, however busy the machine is.
 */
export async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}
