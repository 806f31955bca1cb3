import type { FailureReason, FieldSpec, FieldUnit, Observation, Value } from '../checks/types';
import { parseDuration, parsePercent, parseSize } from '../checks/units';
import { didYouMean } from './suggest';

/** A check's status, with the Nagios numbering used for exit codes and `keepwatch_check_status`. */
export enum Status {
  Ok = 0,
  Warning = 1,
  Critical = 2,
  Unknown = 3,
}

export const STATUS_NAMES = ['ok', 'warning', 'critical', 'unknown'] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

export type Operator = '==' | '!=' | '<' | '<=' | '>' | '>=' | '=~' | '!~';

/** A parsed condition, ready to test against a run's values. */
export interface Condition {
  source: string;
  field: string;
  op: Operator;
  /** The literal converted to the field's unit (a RegExp for =~ and !~). */
  value: number | string | boolean | RegExp;
  /** The failure reason this condition reports when it fires. */
  reason: FailureReason;
  /** True, false, or undefined when the field is absent from the run's values. */
  test(values: Record<string, Value>): boolean | undefined;
}

/** A condition that failed to parse; `offset` is the 0-based column inside the condition text. */
export class ConditionError extends Error {
  readonly code = 'CONDITION_INVALID';
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'ConditionError';
  }
}

const CONDITION_RE = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*)(==|!=|<=|>=|=~|!~|<|>|=)(\s*)(.*?)\s*$/;

const UNIT_WORDS: Record<FieldUnit, string> = {
  ms: 'milliseconds',
  seconds: 'seconds',
  days: 'days',
  bytes: 'bytes',
  percent: 'percent',
  count: 'a count',
  none: 'a plain number',
};

/**
 * Parses `<field> <op> <literal>` and checks it against the fields the check declares:
 * the field must exist, the operator must suit its type, and a literal with a unit
 * (`2s`, `10GB`, `80%`) must suit the field's unit, into which it is converted.
 */
export function parseCondition(source: string, fields: Record<string, FieldSpec>): Condition {
  const m = CONDITION_RE.exec(source);
  if (!m) {
    const ident = /^\s*[A-Za-z_][A-Za-z0-9_]*\s*/.exec(source);
    if (!ident) throw new ConditionError('expected "<field> <op> <value>", e.g. "latencyMs > 300"', source.search(/\S|$/));
    throw new ConditionError('expected an operator: one of == != < <= > >= =~ !~', ident[0].length);
  }
  const [, lead, field, gap1, opText, gap2, literal] = m;
  const fieldAt = lead.length;
  const opAt = fieldAt + field.length + gap1.length;
  const litAt = opAt + opText.length + gap2.length;
  if (opText === '=') throw new ConditionError('"=" is not an operator; use "=="', opAt);
  const op = opText as Operator;
  const spec = fields[field];
  if (!spec) {
    const names = Object.keys(fields);
    throw new ConditionError(
      `unknown field "${field}"${didYouMean(field, names)} (this check returns: ${names.join(', ') || 'nothing'})`,
      fieldAt,
    );
  }
  if (literal === '') throw new ConditionError(`expected a value after "${op}"`, litAt);
  const value = parseLiteral(literal, op, field, spec, litAt);
  return makeCondition(source.trim(), field, op, value, spec.reason ?? 'threshold');
}

function parseLiteral(text: string, op: Operator, field: string, spec: FieldSpec, at: number): Condition['value'] {
  if (op === '=~' || op === '!~') {
    if (spec.type === 'number' || spec.type === 'boolean') {
      throw new ConditionError(`"${op}" matches text, but "${field}" is a ${spec.type}`, at - op.length - 1);
    }
    const slashed = unslash(text);
    const pattern = unquote(text) ?? slashed?.pattern ?? text;
    try {
      return new RegExp(pattern, slashed?.flags);
    } catch (err) {
      throw new ConditionError(`invalid regular expression: ${(err as Error).message}`, at);
    }
  }
  const quoted = unquote(text);
  if (quoted !== undefined) {
    if (spec.type === 'number' || spec.type === 'boolean') {
      throw new ConditionError(`"${field}" is a ${spec.type}; compare it with a ${spec.type}, not text`, at);
    }
    return orderedCheck(quoted, op, field, at);
  }
  if (text === 'true' || text === 'false') {
    if (spec.type === 'number') throw new ConditionError(`"${field}" is a number, not a boolean`, at);
    if (op !== '==' && op !== '!=') throw new ConditionError(`booleans compare only with == or !=`, at);
    return spec.type === 'string' ? text : text === 'true';
  }
  const num = parseNumberLiteral(text, field, spec, at);
  if (num !== undefined) {
    if (spec.type === 'boolean') throw new ConditionError(`"${field}" is a boolean; compare it with true or false`, at);
    return spec.type === 'string' ? text : num;
  }
  if (spec.type === 'string' || spec.type === 'any') return orderedCheck(text, op, field, at);
  throw new ConditionError(
    `"${text}" is not a ${spec.type === 'boolean' ? 'boolean' : 'number, duration (2s), size (10GB) or percentage (80%)'}`,
    at,
  );
}

function orderedCheck(text: string, op: Operator, field: string, at: number): string {
  if (op !== '==' && op !== '!=') {
    throw new ConditionError(`"${op}" compares numbers; text "${text}" for "${field}" takes == != =~ or !~`, at);
  }
  return text;
}

function parseNumberLiteral(text: string, field: string, spec: FieldSpec, at: number): number | undefined {
  if (/^[-+]?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(text)) return Number(text);
  const unit = spec.unit ?? 'none';
  const ms = parseDuration(text);
  if (ms !== undefined) {
    if (unit === 'ms') return ms;
    if (unit === 'seconds') return ms / 1000;
    if (unit === 'days') return ms / 86_400_000;
    throw new ConditionError(`"${field}" is in ${UNIT_WORDS[unit]}, not a duration; write a plain number`, at);
  }
  const bytes = parseSize(text);
  if (bytes !== undefined) {
    if (unit === 'bytes') return bytes;
    throw new ConditionError(`"${field}" is in ${UNIT_WORDS[unit]}, not a size; write a plain number`, at);
  }
  const pct = parsePercent(text);
  if (pct !== undefined) {
    if (unit === 'percent') return pct;
    throw new ConditionError(`"${field}" is in ${UNIT_WORDS[unit]}, not a percentage; write a plain number`, at);
  }
  return undefined;
}

function unquote(text: string): string | undefined {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(text) ?? /^'([^']*)'$/.exec(text);
  return m ? m[1].replace(/\\(.)/g, '$1') : undefined;
}

/** `/pattern/flags`, with the flags a test can use (i, m, s, u). */
function unslash(text: string): { pattern: string; flags: string } | undefined {
  const m = /^\/(.*)\/([imsu]*)$/.exec(text);
  return m ? { pattern: m[1], flags: m[2] } : undefined;
}

function makeCondition(source: string, field: string, op: Operator, value: Condition['value'], reason: FailureReason): Condition {
  const test = (values: Record<string, Value>): boolean | undefined => {
    const actual = values[field];
    if (actual === undefined) return undefined;
    if (value instanceof RegExp) {
      const hit = value.test(String(actual));
      return op === '=~' ? hit : !hit;
    }
    // Values whose type is only known at run time (JSON bodies) are compared loosely:
    // a number against a numeric literal, everything else as text.
    if (typeof value === 'number' && typeof actual !== 'number') {
      const n = typeof actual === 'string' && actual.trim() !== '' ? Number(actual) : NaN;
      if (Number.isNaN(n)) return op === '!=';
      return compare(n, op, value);
    }
    if (typeof value === 'string' && typeof actual !== 'string') return compare(String(actual), op, value);
    if (typeof value === 'boolean' && typeof actual !== 'boolean') return compare(String(actual), op, String(value));
    return compare(actual, op, value);
  };
  return { source, field, op, value, reason, test };
}

function compare<T extends number | string | boolean>(a: T, op: Operator, b: T): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    default:
      return false;
  }
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

/**
 * Judges an observation: a target that did not answer is critical; otherwise the first
 * `crit` condition that holds makes it critical, else the first `warn` one a warning.
 * A condition on a value the run did not return does not fire.
 */
export function judge(obs: Observation, rules: Rules): Verdict {
  if (obs.up === false) return { status: Status.Critical, reason: obs.failure ?? 'error' };
  for (const c of rules.crit) {
    if (c.test(obs.values)) return { status: Status.Critical, reason: c.reason, condition: c.source };
  }
  for (const c of rules.warn) {
    if (c.test(obs.values)) return { status: Status.Warning, reason: c.reason, condition: c.source };
  }
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
