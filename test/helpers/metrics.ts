/** Readers of the Prometheus text format (/metrics) for tests, and the percentile of a sample. */

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The value of one sample: `name` with exactly `labels` as exposed (`{check="a",status="ok"}`,
 * or none), or NaN when the text has no such sample.
 */
export function sample(text: string, name: string, labels = ''): number {
  const m = new RegExp(`^${literal(name + labels)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** The sum of every series of `name`, whatever its labels. */
export function sumSeries(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${literal(name)}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** One unlabelled histogram: its cumulative buckets (le → count) and its count. */
export interface Histogram {
  buckets: Array<[number, number]>;
  count: number;
}

/** Reads the unlabelled histogram `name` (its `_bucket` and `_count` samples). */
export function histogram(text: string, name: string): Histogram {
  const buckets: Array<[number, number]> = [];
  for (const m of text.matchAll(new RegExp(`^${literal(name)}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm'))) {
    buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return { buckets, count: sample(text, `${name}_count`) || 0 };
}

/** The q-quantile (0 ≤ q ≤ 1) of an ascending list, nearest rank; NaN for an empty one. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}
