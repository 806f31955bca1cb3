/**
 * The utilisation samples idle-capacity keeps in its state, and what it makes of them: a
 * bounded ring over the window (one sample per run, at most MAX_SAMPLES), p95 by nearest rank,
 * and the waste model. Pure: the check reads /proc and the store around it.
 */

/** The most samples kept, whatever the window and the interval (some 200 KB of JSON). */
export const MAX_SAMPLES = 10_000;

/** Hours in an average month (8,760 / 12): how cloud providers turn an hourly price into a monthly one. */
export const HOURS_PER_MONTH = 730;

/** One reading: when (ms since epoch), CPU busy and memory used, in percent. */
export interface Sample {
  t: number;
  cpu: number;
  mem: number;
}

/** The state as stored: columns rather than objects, times in seconds (a third the JSON). */
export interface StoredHistory {
  v: 1;
  t: number[];
  cpu: number[];
  mem: number[];
}

/** The samples of a stored history; none when it is missing or not one this version wrote. */
export function fromStored(stored: unknown): Sample[] {
  const s = stored as Partial<StoredHistory> | undefined;
  if (!s || s.v !== 1 || !Array.isArray(s.t) || !Array.isArray(s.cpu) || !Array.isArray(s.mem)) return [];
  const n = Math.min(s.t.length, s.cpu.length, s.mem.length);
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const [t, cpu, mem] = [s.t[i], s.cpu[i], s.mem[i]];
    if (Number.isFinite(t) && Number.isFinite(cpu) && Number.isFinite(mem)) out.push({ t: t * 1000, cpu, mem });
  }
  return out;
}

export function toStored(samples: readonly Sample[]): StoredHistory {
  return { v: 1, t: samples.map((s) => Math.round(s.t / 1000)), cpu: samples.map((s) => s.cpu), mem: samples.map((s) => s.mem) };
}

/**
 * Adds a reading and drops what fell out of the window. Readings closer together than
 * window / MAX_SAMPLES (a check run more often than the ring can hold over its window) share
 * one slot that keeps the higher of each: a peak is never lost, so the waste is never
 * overstated by thinning. The ring never holds more than MAX_SAMPLES.
 */
export function addSample(samples: readonly Sample[], sample: Sample, windowMs: number): Sample[] {
  const kept = samples.filter((s) => s.t > sample.t - windowMs);
  const last = kept[kept.length - 1];
  const gap = windowMs / MAX_SAMPLES;
  if (last && sample.t >= last.t && sample.t - last.t < gap) {
    kept[kept.length - 1] = { t: last.t, cpu: Math.max(last.cpu, sample.cpu), mem: Math.max(last.mem, sample.mem) };
  } else {
    kept.push(sample);
  }
  return kept.length > MAX_SAMPLES ? kept.slice(kept.length - MAX_SAMPLES) : kept;
}

/**
 * The q-quantile (0 < q ≤ 1) by nearest rank: the smallest reading that at least q of all
 * readings do not exceed (sorted[ceil(q·n) − 1]); NaN for none. p95 of 20 readings is the
 * 19th smallest, so one burst in twenty is left out, two are not.
 */
export function nearestRank(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** The host sizes a hint considers, as a share of the current one: instance families halve. */
const SIZES: Array<[number, string]> = [
  [1 / 8, 'an eighth of the size'],
  [1 / 4, 'a quarter of the size'],
  [1 / 2, 'half the size'],
];

/** What the p95 readings say about the host's size. */
export interface Verdict {
  /** The share of capacity never needed at p95: 100 − the higher of the two p95s. */
  wastedPercent: number;
  /** hourlyPrice × 730 × wastedPercent / 100. */
  wastedMonthly: number;
  /** The smallest size (percent of this one) at which the p95 load leaves `headroomPercent` free; 100 when no smaller one does. */
  suggestedSizePercent: number;
  /** One clause for the message: what a smaller host would leave. */
  hint: string;
}

/**
 * The waste model. A host is bought as one bundle of CPU and memory, so it can shrink only until
 * the resource used more, at p95, is full: the rest of the capacity, 100 − max(cpuP95, memP95)
 * percent, is never needed (95% of the time), and that share of its price is wasted. This is an
 * upper bound on the saving (a real size step keeps headroom, and prices are not quite linear
 * in size); the hint names the smallest halving step that still leaves `headroomPercent` free.
 */
export function judgeSize(cpuP95: number, memP95: number, hourlyPrice: number, headroomPercent: number): Verdict {
  const binding = Math.max(cpuP95, memP95);
  const wastedPercent = round1(Math.max(0, 100 - binding));
  const wastedMonthly = Math.round(hourlyPrice * HOURS_PER_MONTH * wastedPercent) / 100;
  const fit = SIZES.find(([share]) => binding / share <= 100 - headroomPercent);
  if (fit) {
    const [share, words] = fit;
    return { wastedPercent, wastedMonthly, suggestedSizePercent: share * 100, hint: `${words} would still leave ${round1(100 - binding / share)}% headroom` };
  }
  const half = binding * 2;
  const hint = half > 100
    ? 'sized about right (half the size would not hold the p95 load)'
    : `sized about right (half the size would leave only ${round1(100 - half)}% headroom, under ${headroomPercent}%)`;
  return { wastedPercent, wastedMonthly, suggestedSizePercent: 100, hint };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
