import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { currencyCode } from '../cost-sources';
import {
  cpuShares, defineCheck, duration, formatDuration, parseMemInfo, percent, readCpuTimes, round, sampleFitsTimeout, sampleWindow, type FieldSpec,
} from '../types';
import { addSample, fromStored, HOURS_PER_MONTH, judgeSize, MAX_SAMPLES, nearestRank, toStored } from './history';

/** The CPU sample window when none is set (and the timeout leaves room for it). */
const SAMPLE_MS = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The state key the samples live under. */
export const STATE_KEY = 'samples';

const schema = z.strictObject({
  hourlyPrice: z
    .number()
    .positive()
    .describe('What this host costs per hour, in `currency` (e.g. 0.192 for an on-demand m6i.xlarge in us-east-1); times 730 is its monthly price.'),
  currency: currencyCode().default('USD').describe('ISO 4217 code of hourlyPrice, shown with every amount (default USD).'),
  window: duration({ min: HOUR, max: 90 * DAY })
    .default(7 * DAY)
    .describe('How far back the p95 looks (1h to 90d; default 7d, which covers a weekly cycle). Samples older than this are dropped.'),
  minHistory: duration({ min: 0, max: 90 * DAY })
    .default(DAY)
    .describe('How much of the window samples must cover before the check names a p95 and a waste (default 24h, a daily cycle; at most the window). Until then it says how far it has got and reports no waste.'),
  headroomPercent: percent()
    .default(20)
    .describe('Free capacity the rightsizing hint keeps at p95 (default 20%): a smaller size is suggested only when its p95 load stays under 100 − this.'),
  sample: duration({ min: 100, max: 60_000 })
    .optional()
    .describe(`How long to watch the CPU counters each run (default ${formatDuration(SAMPLE_MS)}, or half the timeout when that is shorter). Must be shorter than the timeout.`),
  procRoot: z
    .string()
    .min(1)
    .default('/proc')
    .describe('Where proc is mounted (for tests and containers): CPU from <procRoot>/stat, memory from <procRoot>/meminfo.'),
});
type Spec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  cpuPercent: { type: 'number', unit: 'percent', help: 'CPU busy (user + system + steal) over this run\'s sample' },
  memPercent: { type: 'number', unit: 'percent', help: 'Memory in use now: (MemTotal − MemAvailable) / MemTotal' },
  samples: { type: 'number', unit: 'count', help: `Samples kept over the window (one per run, at most ${MAX_SAMPLES})` },
  windowCoveredHours: { type: 'number', unit: 'none', help: 'Hours from the oldest kept sample to now (a plain number of hours)' },
  cpuP95: { type: 'number', unit: 'percent', help: 'CPU busy at p95 over the window; absent until minHistory is covered' },
  memP95: { type: 'number', unit: 'percent', help: 'Memory used at p95 over the window; absent until minHistory is covered' },
  wastedPercent: { type: 'number', unit: 'percent', help: 'Share of capacity never needed at p95: 100 − max(cpuP95, memP95); absent until minHistory is covered' },
  wastedMonthly: { type: 'number', unit: 'none', help: 'hourlyPrice × 730 × wastedPercent / 100, in the currency; absent until minHistory is covered' },
  monthlyPrice: { type: 'number', unit: 'none', help: 'hourlyPrice × 730, in the currency' },
  suggestedSizePercent: { type: 'number', unit: 'percent', help: 'Smallest halving step (50, 25, 12.5) that leaves headroomPercent free at p95; 100 when none does' },
};

/** What this host's p95 CPU and memory use leave unused, in money, and the size that would do. */
export const idleCapacityCheck = defineCheck({
  type: 'idle-capacity',
  category: 'cost',
  summary: 'Samples CPU and memory use each run and prices the capacity this host never needs at p95 over a window (default 7d), with a rightsizing hint.',
  schema,
  fields,
  // Informational: more than half of what the host costs buys capacity unused even at p95, so a
  // host half the size would hold the load. Worth a ticket, never a page: no crit.
  defaults: { warn: ['wastedPercent > 50'] },
  schedule: { every: 5 * 60_000 },
  validate(spec, limits) {
    const problems = sampleFitsTimeout(spec, limits);
    if (spec.minHistory > spec.window) {
      problems.push({ key: 'minHistory', message: `minHistory (${formatDuration(spec.minHistory)}) must not be longer than the window (${formatDuration(spec.window)})` });
    }
    return problems;
  },
  async run({ spec, signal, timeoutMs, now, state }) {
    const sample = sampleWindow(spec, timeoutMs, SAMPLE_MS);
    const before = await readCpuTimes(spec.procRoot);
    await sleep(sample, undefined, { signal });
    const after = await readCpuTimes(spec.procRoot);
    const cpuPercent = cpuShares(before, after).busy;
    const memPercent = await memoryUsed(spec.procRoot);
    const at = now();

    const samples = addSample(fromStored(await state.get(STATE_KEY)), { t: at, cpu: cpuPercent, mem: memPercent }, spec.window);
    await state.set(STATE_KEY, toStored(samples));
    const coveredMs = Math.max(0, at - samples[0].t);
    const monthlyPrice = Math.round(spec.hourlyPrice * HOURS_PER_MONTH * 100) / 100;
    const values: Record<string, number> = {
      cpuPercent, memPercent, samples: samples.length, windowCoveredHours: round(coveredMs / HOUR), monthlyPrice,
    };
    if (coveredMs < spec.minHistory) {
      let kept = `${samples.length} sample${samples.length === 1 ? '' : 's'} over ${span(coveredMs)}`;
      if (!state.persistent) kept += ' kept in memory only (no store: a restart or a one-shot keepwatch check starts over)';
      return { values, message: `collecting: p95 needs ${formatDuration(spec.minHistory)} of samples, ${kept}; now CPU ${cpuPercent}%, memory ${memPercent}%` };
    }
    const cpuP95 = nearestRank(samples.map((s) => s.cpu), 0.95);
    const memP95 = nearestRank(samples.map((s) => s.mem), 0.95);
    const v = judgeSize(cpuP95, memP95, spec.hourlyPrice, spec.headroomPercent);
    Object.assign(values, { cpuP95, memP95, wastedPercent: v.wastedPercent, wastedMonthly: v.wastedMonthly, suggestedSizePercent: v.suggestedSizePercent });
    return {
      values,
      message: `p95 CPU ${cpuP95}%, memory ${memP95}% over ${span(coveredMs)}: ${v.hint}; ${spec.currency} ${money(v.wastedMonthly)}/month unused of ${spec.currency} ${money(monthlyPrice)}`,
      cost: { source: 'host', scope: 'host', currency: spec.currency, wastedMonthly: v.wastedMonthly },
    };
  },
});

/** Memory in use, in percent: from <procRoot>/meminfo, or off Linux from os (which knows no MemAvailable). */
async function memoryUsed(procRoot: string): Promise<number> {
  if (process.platform !== 'linux' && procRoot === '/proc') {
    const total = os.totalmem();
    return total > 0 ? round(((total - os.freemem()) / total) * 100) : 0;
  }
  const file = path.join(procRoot, 'meminfo');
  const parsed = parseMemInfo(await readFile(file, 'utf8'));
  if (!parsed) throw new Error(`${file} has no MemTotal or MemAvailable line (MemAvailable needs Linux 3.14 or later)`);
  return parsed.usedPercent;
}

/** A covered span for a message: whole hours from an hour on (6d23h55m reads 7d), else whole minutes. */
function span(ms: number): string {
  return formatDuration(ms >= HOUR ? Math.round(ms / HOUR) * HOUR : Math.round(ms / 60_000) * 60_000);
}

/** An amount with two decimals below 100, whole above: `0.42`, `140`. */
function money(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(2);
}

export type { Spec as IdleCapacitySpec };
