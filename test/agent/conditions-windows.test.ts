import type { FieldSpec, Observation } from '../../checks/types';
import { judge, parseCondition, Status, type Rules } from '../../agent/evaluate';
import * as fn from '../../agent/conditions/functions';
import { History } from '../../agent/conditions/history';
import { historySpec, parseFor, withOptions } from '../../agent/conditions/rules';

const fields: Record<string, FieldSpec> = {
  status: { type: 'number', unit: 'none', help: '', reason: 'status' },
  latencyMs: { type: 'number', unit: 'ms', help: '' },
  freeBytes: { type: 'number', unit: 'bytes', help: '' },
  usedPercent: { type: 'number', unit: 'percent', help: '' },
  requests: { type: 'number', unit: 'count', help: '' },
  state: { type: 'string', help: '' },
};

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const T0 = Date.UTC(2026, 0, 1);

describe('window functions (pure)', () => {
  const t = [0, 10, 20, 30].map((s) => s * S);
  test.each<[string, fn.WindowFn, number[], number, number | undefined]>([
    ['avg', fn.avg, [1, 2, 3, 6], 3, undefined],
    ['sum', fn.sum, [1, 2, 3, 6], 12, undefined],
    ['min', fn.min, [4, 2, 3, 6], 2, undefined],
    ['max', fn.max, [4, 2, 3, 6], 6, undefined],
    ['p50 interpolates', fn.quantile, [4, 1, 3, 2], 2.5, 0.5],
    ['p95', fn.quantile, [10, 20, 30, 40], 38.5, 0.95],
    ['increase without reset', fn.increase, [10, 20, 25, 40], 30, undefined],
    ['increase across a reset: the value after it is growth', fn.increase, [10, 20, 5, 15], 25, undefined],
    ['rate: increase per second between first and last sample', fn.rate, [10, 20, 5, 15], 25 / 30, undefined],
    ['delta ignores resets (a gauge)', fn.delta, [10, 20, 5, 15], 5, undefined],
    ['deriv: least-squares slope per second', fn.deriv, [0, 20, 40, 60], 2, undefined],
    ['count_over counts 1s', fn.countTrue, [1, 0, 1, 1], 3, undefined],
    ['ratio_over in percent', fn.ratioTrue, [1, 0, 1, 1], 75, undefined],
  ])('%s', (_name, f, v, expected, arg) => {
    expect(f(t, v, arg)).toBeCloseTo(expected, 9);
  });

  test.each<[string, fn.WindowFn, number[]]>([
    ['avg of nothing', fn.avg, []],
    ['max of nothing', fn.max, []],
    ['count_over of nothing', fn.countTrue, []],
    ['increase of one sample', fn.increase, [5]],
    ['rate of one sample', fn.rate, [5]],
    ['delta of one sample', fn.delta, [5]],
    ['deriv of one sample', fn.deriv, [5]],
  ])('%s is absent', (_name, f, v) => {
    expect(f(t.slice(0, v.length), v)).toBeUndefined();
  });

  test('predict: the least-squares line at now + horizon', () => {
    // 10 GB free, losing 1 GB an hour: empty in 10 h.
    const ts = [0, 1, 2, 3].map((h) => T0 + h * H);
    const free = [10, 9, 8, 7].map((g) => g * 1e9);
    expect(fn.predict(ts, free, 24 * H, T0 + 3 * H)).toBeCloseTo(-17e9, 0);
    expect(fn.predict(ts, free, 6 * H, T0 + 3 * H)).toBeCloseTo(1e9, 0);
    expect(fn.predict([T0, T0], [1, 2], H, T0)).toBeUndefined();
  });
});

describe('the history ring', () => {
  test('keeps the longest window and one sample before it, never more than its cap', () => {
    const h = new History({ series: ['x'], keepMs: M, keepSamples: 1, maxSamples: 50 });
    for (let i = 0; i < 200; i++) {
      h.append(T0 + i * 10 * S);
      h.set('x', i);
    }
    expect(h.length).toBe(7); // 60 s of 10 s samples, and the one at the cutoff
    expect(h.time(0)).toBe(T0 + 193 * 10 * S);
    const capped = new History({ series: ['x'], keepMs: 24 * H, keepSamples: 1, maxSamples: 50 });
    for (let i = 0; i < 200; i++) capped.append(T0 + i * S);
    expect(capped.length).toBe(50);
    expect(capped.bytes).toBeLessThanOrEqual(50 * 16);
  });

  test('keeps the last M samples for for: N of M, however old', () => {
    const h = new History({ series: ['x'], keepMs: 0, keepSamples: 6 });
    for (let i = 0; i < 20; i++) h.append(T0 + i * H);
    expect(h.length).toBe(6);
  });

  test('a clock set back drops the samples from the future', () => {
    const h = new History({ series: ['x'], keepMs: H, keepSamples: 1 });
    for (const at of [0, 10, 20, 30]) {
      h.append(T0 + at * S);
      h.set('x', at);
    }
    h.append(T0 + 15 * S);
    h.set('x', 15);
    expect(h.samples().map((s) => s.at - T0)).toEqual([0, 10, 15].map((s) => s * S));
  });

  test('restored from its stored samples (a restart) it answers the same; unknown series are dropped', () => {
    const spec = { series: ['latencyMs'], keepMs: 5 * M, keepSamples: 1 };
    const h = new History(spec);
    [100, 200, 300, 400].forEach((v, i) => {
      h.append(T0 + i * M);
      h.set('latencyMs', v);
    });
    const again = new History(spec);
    again.restore([...h.samples().map((s) => ({ ...s, vals: { ...s.vals, gone: 1 } }))]);
    const c = parseCondition('avg(latencyMs, 5m) > 240', fields);
    expect(c.test({}, { history: again, now: T0 + 3 * M })).toBe(true);
    expect(again.samples()).toEqual(h.samples());
  });
});

/** Runs `values` through judge every `stepMs` from T0 with one history; the statuses. */
function play(rules: Rules, runs: Array<Observation['values'] | null>, stepMs = 30 * S, h = new History(historySpec(rules)!)): Status[] {
  return runs.map((values, i) => (values === null ? Status.Unknown : judge({ values, message: '' }, rules, { history: h, now: T0 + i * stepMs }).status));
}

describe('windowed conditions judged run after run', () => {
  test('avg over 5 minutes: one slow run does not warn, a slow stretch does', () => {
    const rules = { warn: [parseCondition('avg(latencyMs, 5m) > 300', fields)], crit: [] };
    const lat = [100, 100, 3000, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 500, 500, 500, 500, 500, 500, 500];
    // Every 30 s: the 3 s run at 1 min weighs on the 5-minute average (3200/3 … 3900/10 = 390)
    // until it leaves the window at 6 min; then 500 ms runs lift it past 300 at their sixth.
    expect(play(rules, lat.map((latencyMs) => ({ latencyMs })))).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1]);
  });

  test('a gap in history: a window with no samples is absent and fires nothing, nor does its negation', () => {
    const rules = { warn: [parseCondition('max(latencyMs, 1m) < 10', fields)], crit: [parseCondition('not max(latencyMs, 1m) < 10', fields)] };
    const h = new History(historySpec(rules)!);
    expect(judge({ values: { latencyMs: 5 }, message: '' }, rules, { history: h, now: T0 }).status).toBe(Status.Warning);
    // a run without the value, 5 minutes later: nothing in the last minute
    expect(judge({ values: {}, message: '' }, rules, { history: h, now: T0 + 5 * M }).status).toBe(Status.Ok);
  });

  test('rate over a counter reset', () => {
    const rules = { warn: [parseCondition('rate(requests, 2m) > 2', fields)], crit: [parseCondition('increase(requests, 2m) < 0', fields)] };
    // 60 requests a minute (1/s), then the target restarts and does 300 a minute (5/s)
    // At 2m30s the window holds 60, 90, 5, 155: 30 + 5 (after the reset) + 150 = 185 in 90 s.
    // The reset never reads as a negative increase.
    const st = play(rules, [0, 30, 60, 90, 5, 155, 305, 455].map((requests) => ({ requests })));
    expect(st).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
  });

  test('count_over, ratio_over with runs where the value is absent', () => {
    const rules = { warn: [parseCondition('ratio_over(status != 200, 10m) > 50%', fields)], crit: [parseCondition('count_over(status != 200, 10m) >= 3', fields)] };
    const st = play(rules, [{ status: 200 }, { status: 500 }, {}, {}, { status: 500 }, { status: 200 }, { status: 503 }]);
    expect(st).toEqual([Status.Ok, Status.Ok, Status.Ok, Status.Ok, Status.Warning, Status.Ok, Status.Critical]);
  });

  test('predict: disk full within a day pages before the disk is full', () => {
    const rules = { warn: [], crit: [parseCondition('predict(freeBytes, 6h, 24h) < 0', fields)] };
    const steady = play(rules, Array.from({ length: 12 }, () => ({ freeBytes: 50e9 })), H);
    expect(steady.every((s) => s === Status.Ok)).toBe(true);
    const filling = play(rules, Array.from({ length: 12 }, (_, i) => ({ freeBytes: 50e9 - i * 3e9 })), H);
    expect(filling[0]).toBe(Status.Ok); // one sample: no slope
    expect(filling[11]).toBe(Status.Critical); // 17 GB left, 3 GB an hour
  });
});

describe('for: and clear:', () => {
  const cond = (text: string) => parseCondition(text, fields);
  const forOf = (text: string) => parseFor(text) as Exclude<ReturnType<typeof parseFor>, string>;

  test.each<[string, string | object]>([
    ['3 of 5', { n: 3, m: 5, text: '3 of 5' }],
    ['2m', { ms: 120_000, text: '2m' }],
    ['90s', { ms: 90_000, text: '1m30s' }],
    ['6 of 5', /N of "N of M" is 1 to M/.source],
    ['1 of 101', /M of "N of M" is 1 to 100/.source],
    ['often', /expected "N of M"/.source],
    ['500ms', /at least 1s/.source],
    ['8d', /at most 7d/.source],
  ])('for: %s', (text, expected) => {
    const got = parseFor(text);
    if (typeof expected === 'string') expect(got).toMatch(new RegExp(expected));
    else expect(got).toEqual(expected);
  });

  test('3 of 5: a flaky probe pages when 3 of its last 5 runs failed, not on one', () => {
    const rules = { warn: [], crit: [withOptions(cond('status != 200'), { for: forOf('3 of 5') })] };
    const s = [200, 500, 200, 200, 500, 200, 500, 500, 200, 200, 200, 200].map((status) => ({ status }));
    expect(play(rules, s)).toEqual([0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0]);
    expect(rules.crit[0].source).toBe('status != 200 for 3 of 5');
  });

  test('2m: held on every run for 2 minutes; an absent value restarts the clock', () => {
    const rules = { warn: [withOptions(cond('latencyMs > 1s'), { for: forOf('2m') })], crit: [] };
    const slow = { latencyMs: 2000 };
    expect(play(rules, [slow, slow, slow, slow, slow, { latencyMs: 5 }, slow])).toEqual([0, 0, 0, 0, 1, 0, 0]);
    expect(play(rules, [slow, slow, slow, {}, slow, slow, slow, slow, slow])).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  test('hysteresis: entered above 90%, left only below 85%, so hovering at the edge neither flaps nor pages twice', () => {
    const rules = { warn: [withOptions(cond('usedPercent > 90'), { clear: cond('usedPercent < 85') })], crit: [] };
    const used = [80, 91, 89, 90, 92, 86, 85, 84, 89, 91];
    expect(play(rules, used.map((usedPercent) => ({ usedPercent })))).toEqual([0, 1, 1, 1, 1, 1, 1, 0, 0, 1]);
    // A run without the value cannot say: the level goes.
    expect(play(rules, [{ usedPercent: 95 }, {}, { usedPercent: 88 }])).toEqual([1, 0, 0]);
  });

  test('hysteresis and for: survive a restart through the stored samples', () => {
    const rules = { warn: [withOptions(cond('usedPercent > 90'), { clear: cond('usedPercent < 85'), for: forOf('2 of 3') })], crit: [] };
    const spec = historySpec(rules)!;
    const before = new History(spec);
    expect(play(rules, [{ usedPercent: 95 }, { usedPercent: 95 }], 30 * S, before)).toEqual([0, 1]);
    const after = new History(spec);
    after.restore(before.samples());
    // 88: not above 90, not below 85: still warning after the restart
    const st = judge({ values: { usedPercent: 88 }, message: '' }, rules, { history: after, now: T0 + 2 * 30 * S }).status;
    expect(st).toBe(Status.Warning);
    const fresh = judge({ values: { usedPercent: 88 }, message: '' }, rules, { history: new History(spec), now: T0 + 2 * 30 * S }).status;
    expect(fresh).toBe(Status.Ok);
  });
});
