import type { FailureReason, FieldSpec, FieldUnit } from '../../checks/types';
import { formatDuration, parseDuration } from '../../checks/units';
import { didYouMean } from '../suggest';
import { parseLiteral, type Literal } from './literal';
import { ConditionError, MAX_HORIZON_MS, MAX_WINDOW_MS, type Fields, type Operator, type WindowUse } from './types';

/** A function of a window: what it reads, and the unit of what it returns. */
interface FnInfo {
  /** `field`: a number field; `cond`: a condition on the run's values. */
  arg: 'field' | 'cond';
  /** Reads a counter: a fall is a reset (refused on percentages). */
  counter?: boolean;
  /** Takes a third argument: how far ahead to predict. */
  horizon?: boolean;
  /** The unit of the result: the field's own, or a fixed one. */
  unit?: FieldUnit;
}

export const FUNCTIONS: Record<string, FnInfo> = {
  avg: { arg: 'field' },
  min: { arg: 'field' },
  max: { arg: 'field' },
  sum: { arg: 'field' },
  rate: { arg: 'field', counter: true },
  increase: { arg: 'field', counter: true },
  delta: { arg: 'field' },
  deriv: { arg: 'field' },
  predict: { arg: 'field', horizon: true },
  count_over: { arg: 'cond', unit: 'count' },
  ratio_over: { arg: 'cond', unit: 'percent' },
};

const FUNCTION_NAMES = [...Object.keys(FUNCTIONS), 'p50', 'p90', 'p95', 'p99'];

export type Node =
  | { kind: 'cmp'; left: Operand; op: Operator; value: Literal; reason: FailureReason }
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; arg: Node };

export type Operand =
  | { kind: 'field'; name: string }
  | {
      kind: 'fn';
      fn: string;
      /** The field a numeric function reads. */
      field?: string;
      /** The condition count_over and ratio_over test on each sample, and its text (its series key). */
      inner?: Node;
      innerSource?: string;
      window: WindowUse;
      horizonMs?: number;
      /** pNN: the quantile, 0 < q < 1. */
      q?: number;
    };

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const OPERATOR = /==|!=|<=|>=|=~|!~|<|>|=/y;
const KEYWORD = /(and|or|not)(?![A-Za-z0-9_])/y;

/**
 * Parses a condition: comparisons `<operand> <op> <literal>` joined by `and`, `or`, `not` and
 * parentheses, where an operand is a field of the check or a window function of one
 * (`avg(latencyMs, 5m)`). Every error is a ConditionError at the character it is about.
 */
export function parse(source: string, fields: Fields): Node {
  const p = new Parser(source, fields);
  const node = p.or();
  p.end();
  return node;
}

class Parser {
  pos = 0;
  /** Parentheses and function arguments open around the position. */
  private depth = 0;
  /** Inside count_over/ratio_over: windows do not nest. */
  private inWindow: string | undefined;

  constructor(readonly src: string, readonly fields: Fields) {}

  private skip(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  private peek(): string {
    this.skip();
    return this.src[this.pos] ?? '';
  }

  private keyword(word: 'and' | 'or' | 'not'): boolean {
    this.skip();
    KEYWORD.lastIndex = this.pos;
    const m = KEYWORD.exec(this.src);
    if (m?.[1] !== word) return false;
    this.pos += word.length;
    return true;
  }

  end(): void {
    this.skip();
    if (this.pos >= this.src.length) return;
    if (this.src[this.pos] === ')') throw new ConditionError('unbalanced ")": no "(" to close', this.pos);
    throw new ConditionError('expected "and", "or" or the end of the condition', this.pos);
  }

  or(): Node {
    let left = this.and();
    while (this.keyword('or')) left = { kind: 'or', left, right: this.and() };
    return left;
  }

  private and(): Node {
    let left = this.not();
    while (this.keyword('and')) left = { kind: 'and', left, right: this.not() };
    return left;
  }

  private not(): Node {
    if (this.keyword('not')) return { kind: 'not', arg: this.not() };
    return this.primary();
  }

  private primary(): Node {
    if (this.peek() === '(') {
      const open = this.pos++;
      this.depth++;
      const inner = this.or();
      this.depth--;
      if (this.peek() !== ')') {
        if (this.pos >= this.src.length) throw new ConditionError('unbalanced "(": no ")" closes it', open);
        throw new ConditionError('expected ")", "and" or "or"', this.pos);
      }
      this.pos++;
      return inner;
    }
    return this.comparison();
  }

  private comparison(): Node {
    const startAt = this.pos;
    IDENT.lastIndex = this.pos;
    const id = IDENT.exec(this.src);
    if (!id) throw new ConditionError('expected "<field> <op> <value>", e.g. "latencyMs > 300"', startAt);
    this.pos += id[0].length;
    let left: Operand;
    let name: string;
    let spec: FieldSpec | undefined;
    let reason: FailureReason = 'threshold';
    if (this.src[this.pos] === '(') {
      ({ operand: left, spec, reason } = this.call(id[0], startAt));
      name = this.src.slice(startAt, this.pos);
    } else {
      name = id[0];
      left = { kind: 'field', name };
    }
    this.skip();
    const opAt = this.pos;
    OPERATOR.lastIndex = this.pos;
    const opm = OPERATOR.exec(this.src);
    if (!opm) throw new ConditionError('expected an operator: one of == != < <= > >= =~ !~', opAt);
    if (opm[0] === '=') throw new ConditionError('"=" is not an operator; use "=="', opAt);
    const op = opm[0] as Operator;
    this.pos += op.length;
    if (!spec) {
      // The field is looked up after the operator, as it always was: "x !! 3" is about the operator.
      spec = this.field(name, startAt);
      reason = spec.reason ?? 'threshold';
    }
    const textual = op === '=~' || op === '!~' || spec.type === 'string' || spec.type === 'any';
    const { text, at } = this.literal(op, textual);
    return { kind: 'cmp', left, op, value: parseLiteral(text, op, name, spec, at, opAt), reason };
  }

  private field(name: string, at: number): FieldSpec {
    const spec = this.fields[name];
    if (spec) return spec;
    if (FUNCTIONS[name] || /^p\d+$/.test(name)) {
      throw new ConditionError(`"${name}" is a function: write ${name}(<field>, <window>), e.g. ${name}(${this.anyNumberField()}, 5m)`, at);
    }
    const names = Object.keys(this.fields);
    throw new ConditionError(`unknown field "${name}"${didYouMean(name, names)} (this check returns: ${names.join(', ') || 'nothing'})`, at);
  }

  private anyNumberField(): string {
    return Object.entries(this.fields).find(([, s]) => s.type === 'number')?.[0] ?? 'field';
  }

  /** `name(` at `at`: a window function call. */
  private call(name: string, at: number): { operand: Operand; spec: FieldSpec; reason: FailureReason } {
    const q = /^p(\d{1,2})$/.exec(name);
    const info = q ? { arg: 'field' as const } : FUNCTIONS[name];
    if (!info || (q && (Number(q[1]) < 1 || Number(q[1]) > 99))) {
      const hint = /^p\d+$/.test(name) ? ' (percentiles are p1 to p99, e.g. p95)' : didYouMean(name, FUNCTION_NAMES);
      throw new ConditionError(`unknown function "${name}"${hint} (functions: ${FUNCTION_NAMES.slice(0, -4).join(', ')}, p1 … p99)`, at);
    }
    if (this.inWindow) throw new ConditionError(`windows do not nest: the condition of ${this.inWindow} tests one run's values`, at);
    const usage = info.arg === 'cond' ? `${name}(<condition>, <window>)` : info.horizon ? `${name}(<field>, <window>, <horizon>)` : `${name}(<field>, <window>)`;
    this.pos++; // (
    this.depth++;
    let operand: Operand;
    let spec: FieldSpec;
    let reason: FailureReason = 'threshold';
    if (info.arg === 'cond') {
      const innerAt = this.pos;
      this.inWindow = name;
      const inner = this.or();
      this.inWindow = undefined;
      const innerSource = this.src.slice(innerAt, this.pos).trim();
      reason = firstReason(inner);
      this.comma(name, usage);
      operand = { kind: 'fn', fn: name, inner, innerSource, window: this.duration('window') };
      spec = { type: 'number', unit: info.unit, help: '' };
    } else {
      this.skip();
      const fieldAt = this.pos;
      IDENT.lastIndex = this.pos;
      const f = IDENT.exec(this.src);
      if (!f) throw new ConditionError(`expected a field: ${usage}`, fieldAt);
      this.pos += f[0].length;
      const fspec = this.field(f[0], fieldAt);
      if (fspec.type === 'string' || fspec.type === 'boolean') {
        throw new ConditionError(`${name} needs a number; "${f[0]}" is a ${fspec.type} (count_over(<condition>, <window>) counts the runs where a condition held)`, fieldAt);
      }
      if (info.counter && fspec.unit === 'percent') {
        throw new ConditionError(`${name} reads a counter; "${f[0]}" is a percentage (use delta or deriv)`, fieldAt);
      }
      reason = fspec.reason ?? 'threshold';
      this.comma(name, usage);
      const window = this.duration('window');
      let horizonMs: number | undefined;
      if (info.horizon) {
        this.comma(name, usage);
        horizonMs = this.duration('horizon').ms;
      }
      operand = { kind: 'fn', fn: q ? 'quantile' : name, field: f[0], window, horizonMs, q: q ? Number(q[1]) / 100 : undefined };
      spec = { type: 'number', unit: fspec.unit, help: '' };
    }
    if (this.peek() !== ')') {
      if (this.src[this.pos] === ',') throw new ConditionError(`too many arguments: ${usage}`, this.pos);
      if (this.pos >= this.src.length) throw new ConditionError(`unbalanced "(": no ")" closes ${name}(`, at + name.length);
      throw new ConditionError(`expected ")": ${usage}`, this.pos);
    }
    this.pos++;
    this.depth--;
    return { operand, spec, reason };
  }

  private comma(name: string, usage: string): void {
    if (this.peek() === ',') {
      this.pos++;
      return;
    }
    if (this.src[this.pos] === ')' || this.pos >= this.src.length) throw new ConditionError(`${name} takes more arguments: ${usage}`, this.pos);
    throw new ConditionError(`expected ",": ${usage}`, this.pos);
  }

  private duration(what: 'window' | 'horizon'): WindowUse {
    this.skip();
    const at = this.pos;
    const text = /^[^\s,()]*/.exec(this.src.slice(at))![0];
    this.pos += text.length;
    const ms = parseDuration(text);
    if (ms === undefined) throw new ConditionError(`expected a ${what} such as 5m or 1h${text ? `, not "${text}"` : ''}`, at);
    if (ms <= 0) throw new ConditionError(`the ${what} must be longer than 0`, at);
    const max = what === 'window' ? MAX_WINDOW_MS : MAX_HORIZON_MS;
    if (ms > max) {
      throw new ConditionError(what === 'window' ? `window ${text} is longer than the history kept (at most ${formatDuration(max)})` : `horizon ${text} is too far (at most ${formatDuration(max)})`, at);
    }
    return { ms, at };
  }

  /**
   * The literal after an operator: quoted text, `/regex/flags`, or bare words up to `and`, `or`,
   * the end, and (inside parentheses or arguments, or for a number) `)` and `,`. A bad number is
   * reported whole: `latencyMs >> 2` says "> 2" is not a number.
   */
  private literal(op: Operator, textual: boolean): { text: string; at: number } {
    this.skip();
    const at = this.pos;
    const src = this.src;
    const c = src[at];
    if (c === '"' || c === "'") {
      let i = at + 1;
      while (i < src.length && src[i] !== c) i += c === '"' && src[i] === '\\' ? 2 : 1;
      if (i >= src.length) throw new ConditionError('unterminated quoted text', at);
      this.pos = i + 1;
      return { text: src.slice(at, this.pos), at };
    }
    if (c === '/' && (op === '=~' || op === '!~')) {
      let i = at + 1;
      while (i < src.length && src[i] !== '/') i += src[i] === '\\' ? 2 : 1;
      if (i < src.length) {
        i++;
        while (/[imsu]/.test(src[i] ?? '')) i++;
        this.pos = i;
        return { text: src.slice(at, i), at };
      }
    }
    const stops = this.depth > 0 ? ',)' : textual ? '' : ')';
    let end = at;
    let i = at;
    for (;;) {
      while (i < src.length && !/\s/.test(src[i]) && !stops.includes(src[i])) i++;
      end = i;
      let j = i;
      while (j < src.length && /\s/.test(src[j])) j++;
      if (j >= src.length || stops.includes(src[j]) || j === i) break;
      KEYWORD.lastIndex = j;
      const kw = KEYWORD.exec(src);
      if (kw && kw[1] !== 'not') break;
      i = j;
    }
    if (end === at) throw new ConditionError(`expected a value after "${op}"`, at);
    this.pos = end;
    return { text: src.slice(at, end), at };
  }
}

/** The failure reason of a condition: that of its first comparison. */
export function firstReason(n: Node): FailureReason {
  return n.kind === 'cmp' ? n.reason : n.kind === 'not' ? firstReason(n.arg) : firstReason(n.left);
}
