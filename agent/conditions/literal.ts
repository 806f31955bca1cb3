import type { FieldSpec, FieldUnit, Value } from '../../checks/types';
import { parseDuration, parsePercent, parseSize } from '../../checks/units';
import { ConditionError, type Operator } from './types';

export type Literal = number | string | boolean | RegExp;

export const UNIT_WORDS: Record<FieldUnit, string> = {
  ms: 'milliseconds',
  seconds: 'seconds',
  days: 'days',
  bytes: 'bytes',
  percent: 'percent',
  count: 'a count',
  none: 'a plain number',
};

/**
 * Converts the literal of a comparison to what `spec` holds: a RegExp for =~ and !~, a number in
 * the field's unit (`2s`, `10GB`, `80%`), a boolean, or text. `name` names the field (or the
 * function) in errors; `at` is the literal's column.
 */
export function parseLiteral(text: string, op: Operator, name: string, spec: FieldSpec, at: number, opAt: number): Literal {
  if (op === '=~' || op === '!~') {
    if (spec.type === 'number' || spec.type === 'boolean') {
      throw new ConditionError(`"${op}" matches text, but "${name}" is a ${spec.type}`, opAt);
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
      throw new ConditionError(`"${name}" is a ${spec.type}; compare it with a ${spec.type}, not text`, at);
    }
    return orderedCheck(quoted, op, name, at);
  }
  if (text === 'true' || text === 'false') {
    if (spec.type === 'number') throw new ConditionError(`"${name}" is a number, not a boolean`, at);
    if (op !== '==' && op !== '!=') throw new ConditionError(`booleans compare only with == or !=`, at);
    return spec.type === 'string' ? text : text === 'true';
  }
  const num = parseNumberLiteral(text, name, spec, at);
  if (num !== undefined) {
    if (spec.type === 'boolean') throw new ConditionError(`"${name}" is a boolean; compare it with true or false`, at);
    return spec.type === 'string' ? text : num;
  }
  if (spec.type === 'string' || spec.type === 'any') return orderedCheck(text, op, name, at);
  throw new ConditionError(
    `"${text}" is not a ${spec.type === 'boolean' ? 'boolean' : 'number, duration (2s), size (10GB) or percentage (80%)'}`,
    at,
  );
}

function orderedCheck(text: string, op: Operator, name: string, at: number): string {
  if (op !== '==' && op !== '!=') {
    throw new ConditionError(`"${op}" compares numbers; text "${text}" for "${name}" takes == != =~ or !~`, at);
  }
  return text;
}

function parseNumberLiteral(text: string, name: string, spec: FieldSpec, at: number): number | undefined {
  if (/^[-+]?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(text)) return Number(text);
  const unit = spec.unit ?? 'none';
  const ms = parseDuration(text);
  if (ms !== undefined) {
    if (unit === 'ms') return ms;
    if (unit === 'seconds') return ms / 1000;
    if (unit === 'days') return ms / 86_400_000;
    throw new ConditionError(`"${name}" is in ${UNIT_WORDS[unit]}, not a duration; write a plain number`, at);
  }
  const bytes = parseSize(text);
  if (bytes !== undefined) {
    if (unit === 'bytes') return bytes;
    throw new ConditionError(`"${name}" is in ${UNIT_WORDS[unit]}, not a size; write a plain number`, at);
  }
  const pct = parsePercent(text);
  if (pct !== undefined) {
    if (unit === 'percent') return pct;
    throw new ConditionError(`"${name}" is in ${UNIT_WORDS[unit]}, not a percentage; write a plain number`, at);
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

/**
 * Compares a run's value with a converted literal. Values whose type is only known at run time
 * (JSON bodies) are compared loosely: a number against a numeric literal, everything else as text.
 */
export function compareValue(actual: Value | undefined, op: Operator, value: Literal): boolean | undefined {
  if (actual === undefined) return undefined;
  if (value instanceof RegExp) {
    const hit = value.test(String(actual));
    return op === '=~' ? hit : !hit;
  }
  if (typeof value === 'number' && typeof actual !== 'number') {
    const n = typeof actual === 'string' && actual.trim() !== '' ? Number(actual) : NaN;
    if (Number.isNaN(n)) return op === '!=';
    return compare(n, op, value);
  }
  if (typeof value === 'string' && typeof actual !== 'string') return compare(String(actual), op, value);
  if (typeof value === 'boolean' && typeof actual !== 'boolean') return compare(String(actual), op, String(value));
  return compare(actual as number | string | boolean, op, value);
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

/** A run's value as a number for history (NaN when absent or not numeric). */
export function numeric(v: Value | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}
