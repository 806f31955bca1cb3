import type { Value } from '../../checks/types';
import { conditionKey, recordSeries } from './compile';
import { History, type HistorySpec } from './history';
import { formatDuration, parseDuration } from '../../checks/units';
import { MAX_OF, MAX_SAMPLES, MAX_WINDOW_MS, type Condition, type ForSpec } from './types';

/** The conditions of one level, in order: any that holds sets it. */
export type LevelRules = Condition[];

/** The series key of a level's state under hysteresis: 1 while set, 0 when not. */
export function activeKey(level: string, c: Condition): string {
  return `#${level}:${c.source}`;
}

/** The series key of a condition's own result on each run (for `for:`). */
export function heldKey(c: Condition): string {
  return conditionKey(c.source);
}

const specs = new WeakMap<object, HistorySpec | null>();

/**
 * What a check's history must keep for its conditions: every series they read or write, the
 * longest window or `for:` duration, and the largest M of `for: N of M` (plus the run before
 * it). Undefined when no condition looks back: such a check keeps no history.
 */
export function historySpec(rules: { warn: LevelRules; crit: LevelRules }): HistorySpec | undefined {
  const known = specs.get(rules);
  if (known !== undefined) return known ?? undefined;
  const series = new Set<string>();
  let keepMs = 0;
  let keepSamples = 1;
  for (const [level, list] of [['warn', rules.warn], ['crit', rules.crit]] as const) {
    for (const c of list) {
      for (const part of c.clear ? [c, c.clear] : [c]) {
        for (const k of part.series) series.add(k);
        for (const w of part.windows) keepMs = Math.max(keepMs, w.ms);
      }
      if (c.for) {
        series.add(heldKey(c));
        if ('ms' in c.for) keepMs = Math.max(keepMs, c.for.ms);
        else keepSamples = Math.max(keepSamples, c.for.m + 1);
      }
      if (c.clear) {
        series.add(activeKey(level, c));
        keepSamples = Math.max(keepSamples, 2);
      }
    }
  }
  const spec = series.size ? { series: [...series].sort(), keepMs, keepSamples, maxSamples: MAX_SAMPLES } : undefined;
  specs.set(rules, spec ?? null);
  return spec;
}

/** Whether `for:` holds on the newest sample: N of the last M runs, or every run for the duration. */
export function forHeld(h: History, key: string, f: ForSpec, now: number): boolean {
  const last = h.length - 1;
  if (last < 0) return false;
  if ('n' in f) {
    let c = 0;
    for (let i = Math.max(0, h.length - f.m); i <= last; i++) if (h.value(key, i) === 1) c++;
    return c >= f.n;
  }
  if (h.value(key, last) !== 1) return false;
  let i = last;
  while (i > 0 && h.value(key, i - 1) === 1) i--;
  return now - h.time(i) >= f.ms;
}

/** The level's state on the run before the newest one (1, 0 or NaN when unknown). */
function previous(h: History, key: string): number {
  for (let i = h.length - 2; i >= 0; i--) {
    const x = h.value(key, i);
    if (x === x) return x;
  }
  return NaN;
}

/**
 * Records a run in the history and says which condition of each level holds. Every condition is
 * evaluated, so that each keeps its `for:` and hysteresis state, even when an earlier one decides.
 * A condition with `for:` holds when its own result held in N of the last M runs, or on every run
 * for the duration; one with `clear:` holds from then until its clear condition holds (or its own
 * values are gone: the condition cannot say any more).
 */
export function evaluateLevels(
  rules: { warn: LevelRules; crit: LevelRules },
  values: Record<string, Value>,
  history: History | undefined,
  now: number,
): { crit?: Condition; warn?: Condition } {
  let h = history;
  if (!h) {
    const spec = historySpec(rules);
    if (spec) h = new History(spec);
  }
  if (h) {
    h.append(now);
    for (const list of [rules.crit, rules.warn]) {
      for (const c of list) {
        recordSeries(h, c, values);
        if (c.clear) recordSeries(h, c.clear, values);
      }
    }
  }
  const env = { history: h, now };
  const out: { crit?: Condition; warn?: Condition } = {};
  for (const level of ['crit', 'warn'] as const) {
    for (const c of rules[level]) {
      const raw = c.test(values, env);
      let holds = raw === true;
      if (h && c.for) {
        const key = heldKey(c);
        h.set(key, raw === undefined ? NaN : raw ? 1 : 0);
        holds = forHeld(h, key, c.for, now);
      }
      if (h && c.clear) {
        const key = activeKey(level, c);
        const was = previous(h, key) === 1;
        const cleared = c.clear.test(values, env) === true;
        holds = holds || (was && !cleared && raw !== undefined);
        h.set(key, holds ? 1 : 0);
      }
      if (holds && !out[level]) out[level] = c;
    }
  }
  return out;
}

/**
 * A level's condition with its options: `for:` and `clear:`. Its source names them, so that a
 * result says why it fired (`usedPercent > 90 for 3 of 5 clear usedPercent < 85`).
 */
export function withOptions(c: Condition, opts: { for?: ForSpec; clear?: Condition }): Condition {
  if (!opts.for && !opts.clear) return c;
  const source = [c.source, opts.for && `for ${opts.for.text}`, opts.clear && `clear ${opts.clear.source}`].filter(Boolean).join(' ');
  return { ...c, source, for: opts.for, clear: opts.clear };
}

/** Reads `for:`: `N of M` (1 ≤ N ≤ M ≤ MAX_OF) or a duration (at most MAX_WINDOW_MS); a message when it is neither. */
export function parseFor(text: string): ForSpec | string {
  const t = text.trim();
  const m = /^(\d+)\s+of\s+(\d+)$/.exec(t);
  if (m) {
    const n = Number(m[1]);
    const of = Number(m[2]);
    if (of < 1 || of > MAX_OF) return `M of "N of M" is 1 to ${MAX_OF}`;
    if (n < 1 || n > of) return `N of "N of M" is 1 to M (${of})`;
    return { n, m: of, text: `${n} of ${of}` };
  }
  const ms = parseDuration(t);
  if (ms === undefined) return 'expected "N of M" (e.g. 3 of 5: in 3 of the last 5 runs) or a duration (e.g. 2m: on every run for 2 minutes)';
  if (ms < 1000) return 'a for: duration is at least 1s';
  if (ms > MAX_WINDOW_MS) return `a for: duration is at most ${formatDuration(MAX_WINDOW_MS)} (the history kept)`;
  return { ms, text: formatDuration(ms) };
}
