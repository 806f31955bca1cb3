import type { CheckDefinition, CheckLogger, FieldSpec, Observation } from '../../checks/types';

/** A logger that drops everything, for checks under test. */
export const silentLog: CheckLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Parses `raw` with the check's own schema and runs it once, as the engine would, with a timeout. */
export async function runCheck(
  def: CheckDefinition<any>,
  raw: Record<string, unknown>,
  opts: { timeoutMs?: number; name?: string; holdsSecret?: (text: string) => boolean } = {},
): Promise<Observation> {
  const spec = def.schema.parse(raw);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
  try {
    return await def.run({ name: opts.name ?? def.type, spec, signal: ac.signal, timeoutMs, log: silentLog, now: Date.now, holdsSecret: opts.holdsSecret ?? (() => false) });
  } finally {
    clearTimeout(timer);
  }
}

/** The fields a check declares for a given raw config. */
export function fieldsOf(def: CheckDefinition<any>, raw: Record<string, unknown>): Record<string, FieldSpec> {
  const spec = def.schema.parse(raw);
  return typeof def.fields === 'function' ? def.fields(spec) : def.fields;
}
