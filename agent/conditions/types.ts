import type { FailureReason, FieldSpec, Value } from '../../checks/types';
import type { History } from './history';

export type Operator = '==' | '!=' | '<' | '<=' | '>' | '>=' | '=~' | '!~';

/** A condition that failed to parse; `offset` is the 0-based column inside the condition text. */
export class ConditionError extends Error {
  readonly code = 'CONDITION_INVALID';
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'ConditionError';
  }
}

/** The longest window (and `for:` duration) a condition may use: 7 days. */
export const MAX_WINDOW_MS = 7 * 86_400_000;
/** The most samples a check's history keeps, whatever its windows and interval. */
export const MAX_SAMPLES = 10_000;
/** The longest horizon `predict` may look ahead: 365 days. */
export const MAX_HORIZON_MS = 365 * 86_400_000;
/** The largest M of `for: N of M`. */
export const MAX_OF = 100;

/** What a condition sees when it is tested: the run's values, and the check's history (the run included). */
export interface Env {
  history?: History;
  /** The run's time (ms since epoch): windows end here. */
  now?: number;
}

/** A window a condition uses, with where it is written (for errors found once the schedule is known). */
export interface WindowUse {
  ms: number;
  /** 0-based column of the window in the condition text. */
  at: number;
}

/** `for:` on a level's condition: N of the last M runs, or held for a duration. */
export type ForSpec = { n: number; m: number; text: string } | { ms: number; text: string };

/** A parsed condition, ready to test against a run's values (and its history). */
export interface Condition {
  /** What the user wrote (with ` for …` and ` clear …` when set): the name of the condition in results and the API. */
  source: string;
  /** The first field the condition reads (the value a status is about). */
  field: string;
  /** Set when the condition is a single `<field> <op> <literal>`. */
  op?: Operator;
  /** The literal converted to the field's unit (a RegExp for =~ and !~); set with `op`. */
  value?: number | string | boolean | RegExp;
  /** The failure reason this condition reports when it fires. */
  reason: FailureReason;
  /**
   * True, false, or undefined when it cannot say: a field absent from the run's values, a window
   * with too few samples. Without `env.history`, windows are absent.
   */
  test(values: Record<string, Value>, env?: Env): boolean | undefined;
  /** The windows it uses (not those of `clear`). */
  windows: WindowUse[];
  /** History series it reads (fields and nested conditions of windows), by key. */
  series: string[];
  /** `for:`: the condition must hold in N of M runs, or for a duration, before its level is set. */
  for?: ForSpec;
  /** Hysteresis: once set, the level holds until this condition holds. */
  clear?: Condition;
  /** How each nested condition of a window (count_over, ratio_over) is recorded on a run, by series key. */
  record: ReadonlyMap<string, (values: Record<string, Value>, env: Env | undefined) => boolean | undefined>;
}

export type Fields = Record<string, FieldSpec>;
