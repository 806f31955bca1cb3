/**
 * Rates from ever-growing kernel counters (bytes sent, sectors written), shared by the checks
 * that report per-second figures (network, diskio). A run compares the counters with the ones
 * the previous run of the same check read, kept here in memory; a run with none to compare with
 * (the first, or one after a restart) reads them twice, a short sample apart, so that it has
 * figures at once.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Counters by name, as one reading saw them. */
export type Counters<K extends string> = Record<K, number>;

/**
 * How much each counter grew between two readings. A counter that went down was reset (the
 * interface was re-created, the driver reloaded, a 32-bit counter wrapped): as Prometheus'
 * `rate()` does, it is taken to have counted from 0 since, so its growth is its new value,
 * never a negative or a huge number. The names of such counters are in `resets`.
 */
export function deltas<K extends string>(prev: Counters<K>, cur: Counters<K>): { deltas: Counters<K>; resets: K[] } {
  const out = {} as Counters<K>;
  const resets: K[] = [];
  for (const key of Object.keys(cur) as K[]) {
    const before = prev[key];
    const now = cur[key];
    if (!Number.isFinite(now) || now < 0) out[key] = 0;
    else if (before === undefined || !Number.isFinite(before) || now >= before) out[key] = now - (before ?? now);
    else {
      out[key] = now;
      resets.push(key);
    }
  }
  return { deltas: out, resets };
}

/** Per-second rates of each counter between two readings `elapsedS` seconds apart (see {@link deltas}). */
export function rates<K extends string>(prev: Counters<K>, cur: Counters<K>, elapsedS: number): Counters<K> {
  if (!(elapsedS > 0)) throw new RangeError(`rates need a positive interval, not ${elapsedS}s`);
  const { deltas: d } = deltas(prev, cur);
  const out = {} as Counters<K>;
  for (const key of Object.keys(d) as K[]) out[key] = d[key] / elapsedS;
  return out;
}

/** One reading of a target's counters. */
export interface Reading<K extends string> {
  /**
   * What the counters belong to (an interface's ifindex, a disk's major:minor): a reading of
   * another identity under the same check name (the interface was re-created, the config now
   * names another device) is not compared with, its counters having started anew.
   */
  identity: string;
  counters: Counters<K>;
}

interface Kept<K extends string> extends Reading<K> {
  /** Monotonic milliseconds (performance.now) when it was read. */
  at: number;
}

/** The last reading of each check, by check name; bounded, the least recently used dropped first. */
export class CounterMemory<K extends string> {
  private readonly kept = new Map<string, Kept<K>>();
  constructor(private readonly max = 4096) {}

  get(name: string): Kept<K> | undefined {
    return this.kept.get(name);
  }

  set(name: string, reading: Kept<K>): void {
    this.kept.delete(name); // re-inserted last: the Map's order is the use order
    this.kept.set(name, reading);
    while (this.kept.size > this.max) this.kept.delete(this.kept.keys().next().value as string);
  }

  get size(): number {
    return this.kept.size;
  }
}

/** What {@link measureRates} found. */
export interface Measured<K extends string> {
  /** Per-second rates over the interval. */
  rates: Counters<K>;
  /** Growth of each counter over the interval (resets counted from 0). */
  deltas: Counters<K>;
  /** The interval in seconds. */
  elapsedS: number;
  /** True when the run read twice over a sample window; false when it compared with the previous run. */
  sampled: boolean;
  /** Counters that went down since the previous reading (counted from 0). */
  resets: K[];
  /** The newer reading. */
  reading: Reading<K>;
}

/** A previous reading younger than this is not compared with (the rate would be noise): the run samples instead. */
export const MIN_INTERVAL_MS = 100;

/**
 * The rates of a check's counters: since its previous run when the memory has a reading of the
 * same identity at least {@link MIN_INTERVAL_MS} old, else over `sampleMs` within this run.
 * `read` throws (or rejects) when the counters cannot be read; `clock` is monotonic
 * milliseconds (performance.now, injected by tests).
 */
export async function measureRates<K extends string>(opts: {
  memory: CounterMemory<K>;
  name: string;
  read: () => Promise<Reading<K>>;
  sampleMs: number;
  signal: AbortSignal;
  clock?: () => number;
}): Promise<Measured<K>> {
  const clock = opts.clock ?? (() => performance.now());
  let prev = opts.memory.get(opts.name);
  let cur = { ...(await opts.read()), at: clock() };
  let sampled = false;
  if (!prev || prev.identity !== cur.identity || cur.at - prev.at < MIN_INTERVAL_MS) {
    prev = cur;
    await sleep(opts.sampleMs, undefined, { signal: opts.signal });
    cur = { ...(await opts.read()), at: clock() };
    sampled = true;
    if (cur.identity !== prev.identity) {
      // Re-created during the sample: its counters started anew within the window.
      prev = { ...cur, counters: zeroes(cur.counters) };
    }
  }
  opts.memory.set(opts.name, cur);
  const elapsedS = Math.max(cur.at - prev.at, 1) / 1000;
  const { deltas: d, resets } = deltas(prev.counters, cur.counters);
  const r = {} as Counters<K>;
  for (const key of Object.keys(d) as K[]) r[key] = d[key] / elapsedS;
  return { rates: r, deltas: d, elapsedS, sampled, resets, reading: { identity: cur.identity, counters: cur.counters } };
}

function zeroes<K extends string>(c: Counters<K>): Counters<K> {
  const out = {} as Counters<K>;
  for (const key of Object.keys(c) as K[]) out[key] = 0;
  return out;
}

/**
 * A matcher for names (`veth*`, `br-[0-9a-f]*`): `*`, `?` and `[...]` as in a shell glob,
 * the whole name matched.
 */
export function nameGlob(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
