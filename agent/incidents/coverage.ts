import type { z } from 'zod';
import { PRESETS, timeframeSchema, type CoverageConfig, type MinuteRange } from './coverage-schema';
import { localDay, wallToInstant } from './zoned-time';

/*
 * Service timeframes ("coverage"): the hours in which a service is staffed, modelled on
 * Alertmanager's time_intervals (coverage-schema.ts parses them). Everything here is pure: time
 * comes in as epoch milliseconds, the host's zone comes in as an argument, and wall-clock times
 * are turned into instants through the time zone database (Intl, see zoned-time.ts), so DST is
 * whatever the zone says it is.
 */

const MINUTE = 60_000;
const DAY = 86_400_000;
const MINUTES_PER_DAY = 1440;

/**
 * How far ahead `nextChange` and `addActive` look before they answer Infinity. A week would do
 * for one zone; a year and a bit covers unions of zones whose DST rules drift apart and back.
 */
const HORIZON_MS = 400 * DAY;
/**
 * Interval arithmetic works on chunks, so a long span never builds a long list; searches for the
 * next change or a deadline use short ones, since the answer is usually days away at most.
 */
const CHUNK_MS = 31 * DAY;
const SEARCH_CHUNK_MS = 8 * DAY;

/** One compiled spec: weekdays (0 = Sunday), minute ranges, and a resolved zone. */
export interface TimeframeSpec {
  readonly days: readonly number[];
  readonly hours: readonly MinuteRange[];
  readonly timezone: string;
}

/** A compiled service timeframe: the union of its specs. */
export interface Timeframe {
  readonly name: string;
  readonly specs: readonly TimeframeSpec[];
  /** True when the specs cover every moment (24x7), so no arithmetic is needed. */
  readonly always: boolean;
}

/**
 * Options for compiling. The zone is passed in, never read here: the config loader reads the
 * host's once, and tests name one so none depends on the machine.
 */
export interface CompileOptions {
  /** Zone of specs that name none, presets included (the config loader passes the host's). */
  timezone: string;
}

/** Compiles one timeframe value (already parsed by `timeframeSchema`). */
export function compileTimeframe(name: string, specs: z.output<typeof timeframeSchema>, opts: CompileOptions): Timeframe {
  const compiled = specs.map((s) => ({ days: s.days, hours: s.hours, timezone: s.timezone ?? opts.timezone }));
  return { name, specs: compiled, always: coversEverything(compiled) };
}

/** Compiles the `coverage:` section: presets first, then the user's timeframes (which win on a name clash). */
export function compileCoverage(raw: CoverageConfig | undefined, opts: CompileOptions): Map<string, Timeframe> {
  const out = new Map<string, Timeframe>();
  for (const [name, value] of Object.entries(PRESETS)) out.set(name, compileTimeframe(name, timeframeSchema.parse(value), opts));
  for (const [name, value] of Object.entries(raw ?? {})) out.set(name, compileTimeframe(name, value, opts));
  return out;
}

/**
 * Whether the specs of one zone together cover every wall-clock minute of every weekday. Wall
 * coverage implies coverage of every instant, because the wall-to-instant mapping is monotonic
 * and consecutive days meet (the end of day N is the start of day N+1), DST or not.
 */
function coversEverything(specs: readonly TimeframeSpec[]): boolean {
  const zones = new Set(specs.map((s) => s.timezone));
  for (const tz of zones) {
    const own = specs.filter((s) => s.timezone === tz);
    let all = true;
    for (let wd = 0; wd < 7 && all; wd++) {
      const ranges: [number, number][] = [];
      for (const s of own) {
        if (s.days.includes(wd)) for (const r of s.hours) ranges.push([r.start, Math.min(r.end, MINUTES_PER_DAY)]);
        if (s.days.includes((wd + 6) % 7)) for (const r of s.hours) if (r.end > MINUTES_PER_DAY) ranges.push([0, r.end - MINUTES_PER_DAY]);
      }
      ranges.sort((a, b) => a[0] - b[0]);
      let reach = 0;
      for (const [a, b] of ranges) if (a <= reach) reach = Math.max(reach, b);
      all = reach >= MINUTES_PER_DAY;
    }
    if (all) return true;
  }
  return false;
}

type Interval = readonly [number, number];

/** Per spec: local day → its active intervals as instants. Days repeat across calls (SLA clocks, nextChange), and each costs a few Intl calls. */
const dayCache = new WeakMap<TimeframeSpec, Map<number, readonly Interval[]>>();
const DAY_CACHE_MAX = 4096;

/** The intervals [start, end) of instants that spec `s` contributes on local day `day` (those that start on it). */
function dayIntervals(s: TimeframeSpec, day: number): readonly Interval[] {
  let cache = dayCache.get(s);
  if (!cache) dayCache.set(s, (cache = new Map()));
  const hit = cache.get(day);
  if (hit) return hit;
  const out: Interval[] = [];
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  if (s.days.includes(weekday)) {
    for (const r of s.hours) {
      const a = wallToInstant(day * DAY + r.start * MINUTE, s.timezone);
      const b = wallToInstant(day * DAY + r.end * MINUTE, s.timezone);
      // A range inside a spring-forward gap maps to nothing that day.
      if (a < b) out.push([a, b]);
    }
  }
  if (cache.size >= DAY_CACHE_MAX) cache.clear();
  cache.set(day, out);
  return out;
}

/**
 * The timeframe's active intervals that touch [lo, hi] (start <= hi, end > lo), merged and
 * sorted. Every interval of the union that reaches into [lo, hi] is here whole, so a boundary
 * found inside [lo, hi] is a real one.
 */
function intervals(tf: Timeframe, lo: number, hi: number): Interval[] {
  const all: Interval[] = [];
  for (const s of tf.specs) {
    // Ranges end before the end of the day after their start day, so the day before lo is the
    // earliest that can reach into [lo, hi].
    const last = localDay(hi, s.timezone);
    for (let day = localDay(lo, s.timezone) - 1; day <= last; day++) {
      for (const iv of dayIntervals(s, day)) if (iv[0] <= hi && iv[1] > lo) all.push(iv);
    }
  }
  all.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of all) {
    const top = merged[merged.length - 1];
    if (top && a <= top[1]) top[1] = Math.max(top[1], b);
    else merged.push([a, b]);
  }
  return merged;
}

/** Whether timeframe `tf` is active at instant `t`. */
export function isActive(tf: Timeframe, t: number): boolean {
  if (tf.always) return true;
  for (const s of tf.specs) {
    const day = localDay(t, s.timezone);
    for (const d of [day, day - 1]) {
      for (const [a, b] of dayIntervals(s, d)) if (a <= t && t < b) return true;
    }
  }
  return false;
}

/** The next instant after `t` at which `isActive` flips; Infinity when it never does (24x7). */
export function nextChange(tf: Timeframe, t: number): number {
  if (tf.always) return Infinity;
  // Once t is known to be active, later chunks start inside the same stretch of the union, and
  // the first interval they see may be a piece of it that starts after t: only its end counts.
  let running = false;
  for (let lo = t; lo < t + HORIZON_MS; lo += SEARCH_CHUNK_MS) {
    const hi = lo + SEARCH_CHUNK_MS;
    const first = intervals(tf, lo, hi)[0];
    if (!first) continue;
    if (!running && first[0] > t) return first[0];
    if (first[1] <= hi) return first[1];
    running = true;
  }
  return Infinity;
}

/** Milliseconds of [from, to) inside the timeframe: "business elapsed" for SLA clocks that pause outside it. */
export function activeMs(tf: Timeframe, from: number, to: number): number {
  if (!(to > from)) return 0;
  if (tf.always) return to - from;
  let total = 0;
  for (let lo = from; lo < to; lo += CHUNK_MS) {
    const hi = Math.min(lo + CHUNK_MS, to);
    for (const [a, b] of intervals(tf, lo, hi)) total += Math.max(0, Math.min(b, hi) - Math.max(a, lo));
  }
  return total;
}

/**
 * The earliest instant at which `activeMs(tf, from, instant) === ms`: the deadline of an SLA
 * clock started at `from` with target `ms`. Infinity when the timeframe is never active again.
 */
export function addActive(tf: Timeframe, from: number, ms: number): number {
  if (!(ms > 0)) return from;
  if (tf.always || ms === Infinity) return from + ms;
  let left = ms;
  let idleSince = from;
  for (let lo = from; lo - idleSince < HORIZON_MS; lo += SEARCH_CHUNK_MS) {
    const hi = lo + SEARCH_CHUNK_MS;
    for (const [a, b] of intervals(tf, lo, hi)) {
      const start = Math.max(a, lo);
      const len = Math.min(b, hi) - start;
      if (len <= 0) continue;
      if (len >= left) return start + left;
      left -= len;
      idleSince = hi;
    }
  }
  return Infinity;
}
