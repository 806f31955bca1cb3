import type { FailureReason, FieldSpec, Observation } from '../checks/types';
import { compileCondition } from './conditions/compile';
import type { History } from './conditions/history';
import { evaluateLevels } from './conditions/rules';
import type { Condition } from './conditions/types';

/** A check's status, with the Nagios numbering used for exit codes and `keepwatch_check_status`. */
export enum Status {
  Ok = 0,
  Warning = 1,
  Critical = 2,
  Unknown = 3,
}

export const STATUS_NAMES = ['ok', 'warning', 'critical', 'unknown'] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

export { ConditionError, MAX_SAMPLES, MAX_WINDOW_MS, type Condition, type Env, type ForSpec, type Operator } from './conditions/types';

/**
 * Parses a condition and checks it against the fields the check declares: `<field> <op> <value>`
 * comparisons (the field must exist, the operator must suit its type, a literal with a unit such
 * as `2s`, `10GB` or `80%` must suit the field's unit, into which it is converted), window
 * functions of the check's history (`avg(latencyMs, 5m) > 300`), `and`, `or`, `not` and
 * parentheses. Errors are ConditionErrors located at their character. See conditions/parser.ts.
 */
export function parseCondition(source: string, fields: Record<string, FieldSpec>): Condition {
  return compileCondition(source, fields);
}

/** The judged outcome of one run. */
export interface Verdict {
  status: Status;
  /** Set for every status but ok. */
  reason?: FailureReason;
  /** The condition that decided, when one did. */
  condition?: string;
}

/** The compiled thresholds of one check. */
export interface Rules {
  warn: Condition[];
  crit: Condition[];
}

/** What judging a run may use besides its values: the check's history (the run is added to it) and the run's time. */
export interface JudgeContext {
  history?: History;
  now?: number;
}

/**
 * Judges an observation: a target that did not answer is critical; otherwise the first
 * `crit` condition that holds makes it critical, else the first `warn` one a warning.
 * A condition on a value the run did not return does not fire. The run is recorded in the
 * check's history first (windows include it), also when its target did not answer; without a
 * history, windows see this run only.
 */
export function judge(obs: Observation, rules: Rules, ctx: JudgeContext = {}): Verdict {
  const hit = evaluateLevels(rules, obs.values, ctx.history, ctx.now ?? Date.now());
  if (obs.up === false) return { status: Status.Critical, reason: obs.failure ?? 'error' };
  if (hit.crit) return { status: Status.Critical, reason: hit.crit.reason, condition: hit.crit.source };
  if (hit.warn) return { status: Status.Warning, reason: hit.warn.reason, condition: hit.warn.source };
  return { status: Status.Ok };
}

/** How bad each status is in a summary: a failing target outranks a check that could not run, which outranks a warning. */
const BADNESS: Record<Status, number> = { [Status.Ok]: 0, [Status.Warning]: 1, [Status.Unknown]: 2, [Status.Critical]: 3 };

/** The worst of some statuses (ok for none): the exit code of `keepwatch check` and `keepwatch status`. */
export function worstOf(statuses: Iterable<Status>): Status {
  let worst = Status.Ok;
  for (const s of statuses) if (BADNESS[s] > BADNESS[worst]) worst = s;
  return worst;
}
