import type { Value } from '../../checks/types';
import { avg, countTrue, delta, deriv, increase, max, min, predict, quantile, rate, ratioTrue, sum, type WindowFn } from './functions';
import type { History } from './history';
import { compareValue, numeric } from './literal';
import { firstReason, parse, type Node, type Operand } from './parser';
import { MAX_SAMPLES, type Condition, type Env, type Fields, type WindowUse } from './types';

type Eval = (values: Record<string, Value>, env: Env | undefined) => boolean | undefined;

const NUMERIC: Record<string, WindowFn> = { avg, min, max, sum, rate, increase, delta, deriv, quantile, count_over: countTrue, ratio_over: ratioTrue };

// Scratch arrays for the samples of a window: evaluation is synchronous, one window at a time.
const scratchT = new Float64Array(MAX_SAMPLES);
const scratchV = new Float64Array(MAX_SAMPLES);

/** The history series key of a nested condition (count_over, ratio_over, `for:`). */
export function conditionKey(source: string): string {
  return `?${source}`;
}

/** What a condition needs from the history, gathered while compiling. */
interface Needs {
  windows: WindowUse[];
  series: Set<string>;
  /** Nested conditions to record on each sample, by series key. */
  recorders: Map<string, Eval>;
  fields: string[];
}

/**
 * Parses and compiles a condition (see parse for the grammar). Comparisons on absent values are
 * undefined, and `and`/`or`/`not` follow three-valued logic: `undefined and false` is false,
 * `undefined or true` is true, `not undefined` is undefined.
 */
export function compileCondition(source: string, fields: Fields): Condition {
  const node = parse(source, fields);
  const needs: Needs = { windows: [], series: new Set(), recorders: new Map(), fields: [] };
  const run = compileNode(node, needs);
  const simple = node.kind === 'cmp' && node.left.kind === 'field' ? node : undefined;
  return {
    source: source.trim(),
    field: needs.fields[0] ?? '',
    ...(simple ? { op: simple.op, value: simple.value } : {}),
    reason: firstReason(node),
    test: (values, env) => run(values, env),
    windows: needs.windows,
    series: [...needs.series],
    record: needs.recorders,
  };
}

function compileNode(n: Node, needs: Needs): Eval {
  switch (n.kind) {
    case 'and': {
      const a = compileNode(n.left, needs);
      const b = compileNode(n.right, needs);
      return (v, e) => {
        const x = a(v, e);
        if (x === false) return false;
        const y = b(v, e);
        return y === false ? false : x === true && y === true ? true : undefined;
      };
    }
    case 'or': {
      const a = compileNode(n.left, needs);
      const b = compileNode(n.right, needs);
      return (v, e) => {
        const x = a(v, e);
        if (x === true) return true;
        const y = b(v, e);
        return y === true ? true : x === false && y === false ? false : undefined;
      };
    }
    case 'not': {
      const a = compileNode(n.arg, needs);
      return (v, e) => {
        const x = a(v, e);
        return x === undefined ? undefined : !x;
      };
    }
    case 'cmp': {
      const { op, value } = n;
      const left = compileOperand(n.left, needs);
      return (v, e) => compareValue(left(v, e), op, value);
    }
  }
}

function compileOperand(o: Operand, needs: Needs): (values: Record<string, Value>, env: Env | undefined) => Value | undefined {
  if (o.kind === 'field') {
    needs.fields.push(o.name);
    const name = o.name;
    return (v) => v[name];
  }
  needs.windows.push(o.window);
  let key: string;
  if (o.inner) {
    key = conditionKey(o.innerSource!);
    const inner = compileNode(o.inner, needs);
    needs.recorders.set(key, inner);
  } else {
    key = o.field!;
    needs.fields.push(key);
  }
  needs.series.add(key);
  const w = o.window.ms;
  if (o.fn === 'predict') {
    const horizon = o.horizonMs!;
    return (_v, env) => windowed(env, key, w, (t, x, now) => predict(t, x, horizon, now));
  }
  const fn = NUMERIC[o.fn];
  const q = o.q;
  return (_v, env) => windowed(env, key, w, (t, x) => fn(t, x, q));
}

function windowed(env: Env | undefined, key: string, windowMs: number, fn: (t: Float64Array, v: Float64Array, now: number) => number | undefined): number | undefined {
  const h: History | undefined = env?.history;
  if (!h || !h.length) return undefined;
  const now = env?.now ?? h.time(h.length - 1);
  const n = h.window(key, now - windowMs, now, scratchT, scratchV);
  if (!n) return undefined;
  const r = fn(scratchT.subarray(0, n), scratchV.subarray(0, n), now);
  return r === undefined || Number.isNaN(r) ? undefined : r;
}

/** Writes a run's sample of one condition's series: its fields as numbers, its nested conditions as 1, 0 or absent. */
export function recordSeries(h: History, c: Pick<Condition, 'series' | 'record'>, values: Record<string, Value>): void {
  for (const key of c.series) {
    const rec = c.record.get(key);
    if (rec) {
      const r = rec(values, undefined);
      h.set(key, r === undefined ? NaN : r ? 1 : 0);
    } else {
      h.set(key, numeric(values[key]));
    }
  }
}
