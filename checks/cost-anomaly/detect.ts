import type { DailyCost } from '../cost-sources/types';

const DAY_MS = 86_400_000;

/** The constant that makes a MAD estimate the standard deviation of normally distributed data. */
export const MAD_TO_SIGMA = 1.4826;

/** How a day's spend is judged; see the check's README for why each default is what it is. */
export interface DetectOptions {
  /** The trailing window, in days, of the weekday/weekend-class and the plain baselines (the day itself excluded). */
  baselineDays: number;
  /** How many past same weekdays (7, 14, 21 ... days back) the same-weekday baseline looks at; 0 turns it off. */
  weeks: number;
  /** The least points a baseline needs; with fewer a group is only `learning`. */
  minPoints: number;
  /** The least |actual − median| that can be an anomaly, in the currency. */
  minDelta: number;
  /** The least |actual − median| / median, in percent, that can be an anomaly. */
  minDeltaPct: number;
  /** The least |score| that makes an anomaly. */
  minScore: number;
  /** Whether drops below the baseline are anomalies too (increases always are). */
  drops: boolean;
}

/** Which past days a group's baseline was made of. */
export type BaselineKind = 'weekday' | 'class' | 'all';

/** One group's spend on the judged day against its baseline. */
export interface Judgement {
  group: string;
  day: string;
  actual: number;
  /** The median of the baseline days. */
  median: number;
  /** The MAD the score used, before the floor: the larger of the baseline days' and the window's. */
  mad: number;
  kind: BaselineKind;
  /** How many days the baseline held. */
  points: number;
  /** (actual − median) / (1.4826 × max(MAD, floor)): a robust z-score, signed. */
  score: number;
  deltaAbs: number;
  /** Percent of the median; undefined when the median is not above zero (new spend has no percentage). */
  deltaPct?: number;
  /** The change passes both floors (minDelta and minDeltaPct) in a direction that counts (up; down with drops). */
  overFloors: boolean;
  /** Over the floors and |score| ≥ minScore. */
  anomaly: boolean;
}

/** What `detect` saw on the judged day. */
export interface Detection {
  day: string;
  /** Every group with spend on the day and enough history, worst first: anomalies, then those over the floors, each by |score|. */
  judged: Judgement[];
  /** Groups with spend on the day but too little history for a baseline. */
  learning: string[];
  /** Whether the source had any row for the day at all. */
  hasData: boolean;
  /** Every row of the day summed: judged groups, learning ones and those too small to matter. */
  spend: number;
}

/** `YYYY-MM-DD` of a UTC day number (days since the epoch). */
export function dayString(n: number): string {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

/** The UTC day number of `YYYY-MM-DD`. */
export function dayNumber(day: string): number {
  return Math.round(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
}

/** Saturday and Sunday (UTC) are the weekend class; the other five days the weekday class. */
export function isWeekend(dayNo: number): boolean {
  const wd = new Date(dayNo * DAY_MS).getUTCDay();
  return wd === 0 || wd === 6;
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The median absolute deviation of a non-empty list from `m`. */
export function mad(xs: readonly number[], m: number): number {
  return median(xs.map((x) => Math.abs(x - m)));
}

/**
 * The least MAD a score divides by: 1 % of the median, or a tenth of `minDelta`, or a cent,
 * whichever is largest. A flat series (MAD 0) would otherwise make every cent a huge score;
 * with this floor, a flat series is judged by the delta floors alone, which is what they are
 * for. The tenth of `minDelta` keeps a new group's score (median 0) finite and comparable:
 * spending `minDelta` from nothing scores about 6.7.
 */
export function madFloor(med: number, minDelta: number): number {
  return Math.max(0.01 * Math.abs(med), 0.1 * minDelta, 0.01);
}

/** The past amounts a day is compared with. */
export interface Baseline {
  kind: BaselineKind;
  /** The days the median is taken of. */
  values: number[];
  /** The days the spread (MAD) is taken of, besides `values`: the larger of the two MADs is used. */
  spread: number[];
}

/**
 * The baseline for `dayNo` out of `history` (day number → amount, only days the source had data
 * for):
 * - `weekday`: the same weekday 7, 14 … `weeks`×7 days back, when at least `minPoints` of them
 *   have data: a Saturday against past Saturdays;
 * - else `class`: the days of the same class (Monday–Friday, or Saturday–Sunday, UTC) in the last
 *   `baselineDays`, when at least `minPoints`;
 * - else `all`: every day of the last `baselineDays`, when at least `minPoints`;
 * - else undefined (too little history).
 * The spread comes from the class days (or all days) of the window even when the median comes
 * from the same weekdays: a MAD of four points is as often too small as right, and too small a
 * MAD is a false alarm (measured: the pooled spread cut false positives by three quarters).
 */
export function baselineFor(dayNo: number, history: ReadonlyMap<number, number>, opts: Pick<DetectOptions, 'baselineDays' | 'weeks' | 'minPoints'>): Baseline | undefined {
  const same: number[] = [];
  for (let k = 1; k <= opts.weeks; k++) {
    const v = history.get(dayNo - 7 * k);
    if (v !== undefined) same.push(v);
  }
  const cls: number[] = [];
  const all: number[] = [];
  for (let d = dayNo - opts.baselineDays; d < dayNo; d++) {
    const v = history.get(d);
    if (v === undefined) continue;
    all.push(v);
    if (isWeekend(d) === isWeekend(dayNo)) cls.push(v);
  }
  const window = cls.length >= opts.minPoints ? cls : all;
  if (opts.weeks > 0 && same.length >= opts.minPoints) return { kind: 'weekday', values: same, spread: window };
  if (cls.length >= opts.minPoints) return { kind: 'class', values: cls, spread: cls };
  if (all.length >= opts.minPoints) return { kind: 'all', values: all, spread: all };
  return undefined;
}

/** Judges one amount against its baseline (pure; the tables in the tests drive it). */
export function judge(actual: number, base: Pick<Baseline, 'values' | 'spread'>, opts: Pick<DetectOptions, 'minDelta' | 'minDeltaPct' | 'minScore' | 'drops'>) {
  const med = median(base.values);
  const dev = Math.max(mad(base.values, med), base.spread.length ? mad(base.spread, median(base.spread)) : 0);
  const deltaAbs = actual - med;
  const score = deltaAbs / (MAD_TO_SIGMA * Math.max(dev, madFloor(med, opts.minDelta)));
  const deltaPct = med > 0 ? (deltaAbs / med) * 100 : undefined;
  const up = deltaAbs >= opts.minDelta && (deltaPct === undefined || deltaPct >= opts.minDeltaPct);
  // A drop needs a positive baseline: below nothing is a credit, not missing spend.
  const down = opts.drops && deltaPct !== undefined && -deltaAbs >= opts.minDelta && -deltaPct >= opts.minDeltaPct;
  const overFloors = up || down;
  return { median: med, mad: dev, score, deltaAbs, deltaPct, overFloors, anomaly: overFloors && Math.abs(score) >= opts.minScore };
}

/**
 * Judges each group's spend on `day` against its own trailing baseline. Rows are summed per
 * group and day (negative corrections included). A day the source has no row for at all is
 * no data, and is left out of baselines; a day with rows for other groups but none for this
 * one counts as 0 for it (the group spent nothing that day). A group with no row on `day` itself is
 * not judged: a day with no data is not an anomaly.
 */
export function detect(rows: readonly DailyCost[], day: string, opts: DetectOptions): Detection {
  const dayNo = dayNumber(day);
  const dataDays = new Set<number>();
  const byGroup = new Map<string, Map<number, number>>();
  let spend = 0;
  for (const r of rows) {
    const d = dayNumber(r.day);
    if (d > dayNo) continue;
    if (d === dayNo) spend += r.amount;
    dataDays.add(d);
    let g = byGroup.get(r.group);
    if (!g) byGroup.set(r.group, (g = new Map()));
    g.set(d, (g.get(d) ?? 0) + r.amount);
  }
  const judged: Judgement[] = [];
  const learning: string[] = [];
  for (const [group, amounts] of byGroup) {
    const actual = amounts.get(dayNo);
    if (actual === undefined) continue;
    // A group's history starts at its first row: the days before it are not a baseline of
    // zeros, or a new service would be flagged every day for weeks, until its median caught
    // up. Its very first day is the exception: then the zeros say that it is new spend
    // (AWS's first-time service), flagged once, after which it learns like any new series.
    const first = Math.min(...amounts.keys());
    const history = new Map<number, number>();
    for (const d of dataDays) if (d < dayNo && (d >= first || first === dayNo)) history.set(d, amounts.get(d) ?? 0);
    const base = baselineFor(dayNo, history, opts);
    if (!base) {
      learning.push(group);
      continue;
    }
    judged.push({ group, day, actual, kind: base.kind, points: base.values.length, ...judge(actual, base, opts) });
  }
  judged.sort((a, b) => Number(b.anomaly) - Number(a.anomaly) || Number(b.overFloors) - Number(a.overFloors) || Math.abs(b.score) - Math.abs(a.score) || a.group.localeCompare(b.group));
  return { day, judged, learning: learning.sort(), hasData: dataDays.has(dayNo), spend };
}
