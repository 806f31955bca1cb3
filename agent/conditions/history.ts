import { MAX_SAMPLES } from './types';

/** What a check's history keeps: which series, and for how long. */
export interface HistorySpec {
  /** Series keys: a field (`latencyMs`), a nested condition (`?status != 200`), a level's state (`#warn:…`). */
  series: string[];
  /** Keep the samples of this last span (the longest window or `for:` duration), and one before it. */
  keepMs: number;
  /** Keep at least this many samples whatever their age (`for: N of M` needs M). */
  keepSamples: number;
  /** Never more than this many samples (MAX_SAMPLES unless a test says otherwise). */
  maxSamples?: number;
}

/** One sample as it is stored: its time and its series' values (absent ones left out). */
export interface StoredSample {
  at: number;
  vals: Record<string, number>;
}

/** Bytes a sample takes in memory: its time and one 8-byte number per series. */
export function sampleBytes(series: number): number {
  return 8 * (1 + series);
}

const FIRST_CAPACITY = 16;

/**
 * A check's recent samples, in a ring: times and one Float64Array per series (NaN where the run
 * had no value), oldest first. It grows by doubling up to the samples it must keep and never past
 * `maxSamples`; appending drops what is older than `keepMs` (keeping one sample at or before the
 * cutoff, for `for:` durations) beyond the last `keepSamples`. A sample at or before the newest
 * one (the clock was set back) first drops the newer ones: they are from a time that did not come.
 */
export class History {
  readonly series: readonly string[];
  private readonly index = new Map<string, number>();
  private times: Float64Array;
  private cols: Float64Array[];
  private head = 0;
  private size = 0;
  readonly keepMs: number;
  readonly keepSamples: number;
  readonly maxSamples: number;

  constructor(spec: HistorySpec) {
    this.series = [...spec.series];
    this.series.forEach((k, i) => this.index.set(k, i));
    this.keepMs = spec.keepMs;
    this.maxSamples = Math.max(2, Math.min(spec.maxSamples ?? MAX_SAMPLES, MAX_SAMPLES));
    this.keepSamples = Math.min(Math.max(1, spec.keepSamples), this.maxSamples);
    const cap = Math.min(FIRST_CAPACITY, this.maxSamples);
    this.times = new Float64Array(cap);
    this.cols = this.series.map(() => new Float64Array(cap).fill(NaN));
  }

  /** Samples held. */
  get length(): number {
    return this.size;
  }

  /** Bytes the ring's arrays take (their capacity, not just the samples held). */
  get bytes(): number {
    return this.times.length * sampleBytes(this.series.length);
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** The time of the i-th sample, oldest first. */
  time(i: number): number {
    return this.times[(this.head + i) % this.times.length];
  }

  /** The value of a series at the i-th sample (NaN when absent). */
  value(key: string, i: number): number {
    const c = this.index.get(key);
    return c === undefined ? NaN : this.cols[c][(this.head + i) % this.times.length];
  }

  /** Adds a sample at `at` with every series absent; `set` fills it. */
  append(at: number): void {
    while (this.size > 0 && this.time(this.size - 1) >= at) this.size--;
    const cutoff = at - this.keepMs;
    while (this.size >= this.keepSamples && this.size >= 2 && this.time(1) <= cutoff) this.dropOldest();
    if (this.size === this.maxSamples) this.dropOldest();
    if (this.size === this.times.length) this.grow();
    const p = (this.head + this.size) % this.times.length;
    this.times[p] = at;
    for (const col of this.cols) col[p] = NaN;
    this.size++;
  }

  /** Sets a series of the newest sample. */
  set(key: string, value: number): void {
    const c = this.index.get(key);
    if (c === undefined || !this.size) return;
    this.cols[c][(this.head + this.size - 1) % this.times.length] = value;
  }

  /**
   * Copies the samples of `key` in the window (from, to] that have a value into `t` and `v`
   * (scratch arrays, at least `length` long); returns how many.
   */
  window(key: string, from: number, to: number, t: Float64Array, v: Float64Array): number {
    const c = this.index.get(key);
    if (c === undefined) return 0;
    const col = this.cols[c];
    const cap = this.times.length;
    // The first sample after `from`: binary search, the times being in order.
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[(this.head + mid) % cap] > from) hi = mid;
      else lo = mid + 1;
    }
    let n = 0;
    for (let i = lo; i < this.size; i++) {
      const p = (this.head + i) % cap;
      const at = this.times[p];
      if (at > to) break;
      const x = col[p];
      if (x === x) {
        t[n] = at;
        v[n++] = x;
      }
    }
    return n;
  }

  /** The samples, oldest first, as the store keeps them. */
  samples(from = 0): StoredSample[] {
    const out: StoredSample[] = [];
    for (let i = from; i < this.size; i++) out.push(this.sample(i));
    return out;
  }

  /** The i-th sample as the store keeps it. */
  sample(i: number): StoredSample {
    const p = (this.head + i) % this.times.length;
    const vals: Record<string, number> = {};
    this.series.forEach((k, c) => {
      const x = this.cols[c][p];
      if (x === x) vals[k] = x;
    });
    return { at: this.times[p], vals };
  }

  /** Appends stored samples (oldest first), keeping the series this history has; others are dropped. */
  restore(samples: Iterable<StoredSample>): void {
    for (const s of samples) {
      this.append(s.at);
      for (const [k, x] of Object.entries(s.vals)) if (typeof x === 'number') this.set(k, x);
    }
  }

  /** The time before which samples are no longer needed (the oldest one kept), or undefined when empty. */
  oldest(): number | undefined {
    return this.size ? this.time(0) : undefined;
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % this.times.length;
    this.size--;
  }

  private grow(): void {
    const cap = Math.min(this.times.length * 2, this.maxSamples);
    const move = (from: Float64Array): Float64Array => {
      const to = new Float64Array(cap).fill(NaN);
      for (let i = 0; i < this.size; i++) to[i] = from[(this.head + i) % from.length];
      return to;
    };
    this.times = move(this.times);
    this.cols = this.cols.map(move);
    this.head = 0;
  }
}
