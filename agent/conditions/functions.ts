/**
 * The window functions, pure: each takes a window's samples (times in ms, oldest first, and
 * their values, NaN-free) and returns a number, or undefined when the window cannot say (no
 * sample; fewer than two for those that need a slope or a growth).
 */
export type WindowFn = (t: ArrayLike<number>, v: ArrayLike<number>, arg?: number) => number | undefined;

export function avg(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  if (!v.length) return undefined;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

export function sum(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  if (!v.length) return undefined;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s;
}

export function min(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  if (!v.length) return undefined;
  let m = Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] < m) m = v[i];
  return m;
}

export function max(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  if (!v.length) return undefined;
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > m) m = v[i];
  return m;
}

/**
 * The q-quantile (0 < q < 1) with linear interpolation between closest ranks (numpy's default,
 * PromQL's quantile_over_time): p50 of [1, 2, 3, 4] is 2.5.
 */
export function quantile(_t: ArrayLike<number>, v: ArrayLike<number>, q = 0.5): number | undefined {
  if (!v.length) return undefined;
  const s = Float64Array.from(v).sort();
  const rank = q * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

/**
 * How much a counter grew over the window: the sum of its rises, a fall read as a reset to zero
 * (the value after a reset is all growth since it), as Prometheus does. Not extrapolated to the
 * window's edges: the growth between its first and last sample. Two samples at least.
 */
export function increase(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  if (v.length < 2) return undefined;
  let g = 0;
  for (let i = 1; i < v.length; i++) g += v[i] >= v[i - 1] ? v[i] - v[i - 1] : v[i];
  return g;
}

/** increase per second, over the time between the window's first and last sample. */
export function rate(t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  const g = increase(t, v);
  if (g === undefined) return undefined;
  const span = (t[t.length - 1] - t[0]) / 1000;
  return span > 0 ? g / span : undefined;
}

/** Last minus first value of the window (a gauge; no reset handling). Two samples at least. */
export function delta(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  return v.length < 2 ? undefined : v[v.length - 1] - v[0];
}

/**
 * The least-squares line through the samples: its slope per second and its value at time `at`
 * (ms). Undefined with fewer than two samples or all at one time.
 */
export function fit(t: ArrayLike<number>, v: ArrayLike<number>, at: number): { slope: number; valueAt: number } | undefined {
  const n = v.length;
  if (n < 2) return undefined;
  // Times relative to `at`, in seconds: small numbers keep the sums exact enough.
  let st = 0;
  let sv = 0;
  for (let i = 0; i < n; i++) {
    st += (t[i] - at) / 1000;
    sv += v[i];
  }
  const mt = st / n;
  const mv = sv / n;
  let cov = 0;
  let vart = 0;
  for (let i = 0; i < n; i++) {
    const dt = (t[i] - at) / 1000 - mt;
    cov += dt * (v[i] - mv);
    vart += dt * dt;
  }
  if (vart === 0) return undefined;
  const slope = cov / vart;
  return { slope, valueAt: mv - slope * mt };
}

/** The least-squares slope, per second (PromQL's deriv). */
export function deriv(t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  return t.length ? fit(t, v, t[t.length - 1])?.slope : undefined;
}

/**
 * The value the least-squares line predicts `horizonMs` after `now` (PromQL's predict_linear):
 * `predict(freeBytes, 6h, 24h) < 0` is "full within a day at the pace of the last 6 hours".
 */
export function predict(t: ArrayLike<number>, v: ArrayLike<number>, horizonMs: number, now: number): number | undefined {
  const f = fit(t, v, now);
  return f && f.valueAt + f.slope * (horizonMs / 1000);
}

/** How many samples are 1 (the nested condition held); samples where it could not say do not count. */
export function countTrue(_t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  if (!v.length) return undefined;
  let c = 0;
  for (let i = 0; i < v.length; i++) if (v[i] === 1) c++;
  return c;
}

/** The share of samples that are 1, in percent (0 to 100), of those where the condition could say. */
export function ratioTrue(t: ArrayLike<number>, v: ArrayLike<number>): number | undefined {
  const c = countTrue(t, v);
  return c === undefined ? undefined : (100 * c) / v.length;
}
