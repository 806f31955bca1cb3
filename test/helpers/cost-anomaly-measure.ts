import { detect, type DetectOptions } from '../../checks/cost-anomaly/detect';
import { addDays } from '../../checks/cost-sources/days';
import type { DailyCost } from '../../checks/cost-sources/types';
import { DEFAULT_SERVICES, expectedDaily, focusExport } from './focus';
import { rng } from './rng';

/** One seed's export: known injected spikes (the truth), the daily rows per service. */
export interface MeasureCase {
  seed: number;
  rows: DailyCost[];
  /** `service|day` of every injected spike, with its factor. */
  spikes: Map<string, number>;
  /** The days judged (index 35 to the end: four weeks of baseline and more before each). */
  days: string[];
}

const START = '2026-01-01';
const DAYS = 90;
const FIRST_JUDGED = 35;

/**
 * The measurement corpus: for each seed, a 90-day FOCUS export of the generator's six services
 * in three accounts (weekend patterns of 0.45 to 1), with noise of ±3, ±8 or ±15 % a row
 * (drawn per seed), three spikes of 1.3× to 4× on random services and days from day 35 on,
 * and in every third seed a Savings Plan purchase and in every fourth a correction (neither
 * of which is an anomaly with effective cost).
 */
export function measureCases(seeds: number): MeasureCase[] {
  const out: MeasureCase[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = rng(seed * 7919);
    const noise = r.pick([0.03, 0.08, 0.15]);
    const spikes: Array<{ service: string; day: string; factor: number }> = [];
    const taken = new Set<string>();
    while (spikes.length < 3) {
      const service = r.pick(DEFAULT_SERVICES).name;
      const day = addDays(START, FIRST_JUDGED + r.int(DAYS - FIRST_JUDGED));
      if (taken.has(`${service}|${day}`)) continue;
      taken.add(`${service}|${day}`);
      spikes.push({ service, day, factor: Math.round((1.3 + 2.7 * r.next()) * 100) / 100 });
    }
    const exp = focusExport({
      seed,
      start: START,
      days: DAYS,
      noise,
      spikes,
      awkwardText: false,
      commitment: seed % 3 === 0 ? { day: FIRST_JUDGED + r.int(DAYS - FIRST_JUDGED) } : undefined,
      corrections: seed % 4 === 0 ? [{ day: FIRST_JUDGED + r.int(DAYS - FIRST_JUDGED), service: r.pick(DEFAULT_SERVICES).name, amount: -400 }] : undefined,
    });
    const rows = expectedDaily(exp, { groupBy: 'service', costColumn: 'effective' });
    const days: string[] = [];
    for (let d = FIRST_JUDGED; d < DAYS; d++) days.push(addDays(START, d));
    out.push({ seed, rows, spikes: new Map(spikes.map((s) => [`${s.service}|${s.day}`, s.factor])), days });
  }
  return out;
}

/**
 * Precision and recall of `detect` with `opts` over the cases, each (service, day) judged once:
 * a flag on a spiked (service, day) is a true positive, any other flag a false one, a spike
 * not flagged a miss. `minFactor` leaves the smaller spikes out of the misses (they still
 * count as true positives when flagged).
 */
export function measure(cases: readonly MeasureCase[], opts: DetectOptions, minFactor = 0) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const c of cases) {
    for (const day of c.days) {
      for (const j of detect(c.rows, day, opts).judged) {
        const factor = c.spikes.get(`${j.group}|${day}`);
        const injected = factor !== undefined && factor >= minFactor;
        if (j.anomaly && factor !== undefined) tp += injected ? 1 : 0;
        else if (j.anomaly) fp++;
        else if (injected) fn++;
      }
    }
  }
  return { tp, fp, fn, precision: tp + fp ? tp / (tp + fp) : 1, recall: tp + fn ? tp / (tp + fn) : 1 };
}

/** The variants the README's table reports: the defaults, then one knob moved at a time. */
export const SWEEP: ReadonlyArray<[string, Partial<DetectOptions>]> = [
  ['defaults', {}],
  ['minScore 3', { minScore: 3 }],
  ['minScore 3.5', { minScore: 3.5 }],
  ['minScore 5', { minScore: 5 }],
  ['minScore 6', { minScore: 6 }],
  ['minScore 8', { minScore: 8 }],
  ['minDeltaPct 10%', { minDeltaPct: 10 }],
  ['minDeltaPct 40%', { minDeltaPct: 40 }],
  ['minDelta 0', { minDelta: 0 }],
  ['minDelta 200', { minDelta: 200 }],
  ['no floors', { minDelta: 0, minDeltaPct: 0 }],
  ['no floors, minScore 3', { minDelta: 0, minDeltaPct: 0, minScore: 3 }],
  ['weeks 0 (class only)', { weeks: 0 }],
  ['baseline 28d', { baselineDays: 28 }],
  ['drops on', { drops: true }],
];

/** The sweep as a Markdown table (precision, recall, and recall on spikes of 1.5× and more). */
export function sweepTable(cases: readonly MeasureCase[], defaults: DetectOptions): string {
  const lines = ['| Variant | Flagged | False | Missed | Precision | Recall | Recall (≥ 1.5×) |', '|---|---|---|---|---|---|---|'];
  for (const [name, v] of SWEEP) {
    const m = measure(cases, { ...defaults, ...v });
    const big = measure(cases, { ...defaults, ...v }, 1.5);
    lines.push(`| ${name} | ${m.tp + m.fp} | ${m.fp} | ${m.fn} | ${m.precision.toFixed(3)} | ${m.recall.toFixed(3)} | ${big.recall.toFixed(3)} |`);
  }
  return lines.join('\n');
}
