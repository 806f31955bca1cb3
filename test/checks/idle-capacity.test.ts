import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { CheckStates, memoryState } from '../../agent/check-state';
import { loadConfigText } from '../../agent/config/load';
import { parseCondition } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { Store } from '../../agent/store/store';
import { idleCapacityCheck, STATE_KEY } from '../../checks/idle-capacity';
import { addSample, fromStored, judgeSize, MAX_SAMPLES, nearestRank, toStored, type Sample } from '../../checks/idle-capacity/history';
import type { CheckState, FieldSpec, Observation } from '../../checks/types';
import { tempDir } from '../helpers/daemon';
import { sample as metricSample } from '../helpers/metrics';
import { silentLog } from '../helpers/check';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 2, 3, 0, 0, 0);

let dir: ReturnType<typeof tempDir>;
let proc: string;
beforeEach(() => {
  dir = tempDir();
  proc = path.join(dir.dir, 'proc');
  fs.mkdirSync(proc);
  writeStat(0, 0);
  writeMem(50);
});
afterEach(() => dir.cleanup());

/** <proc>/stat with `busy` and `idle` ticks in the aggregate line (user and idle), two cores. */
function writeStat(busy: number, idle: number): void {
  const line = (u: number, i: number) => `${u} 0 0 ${i} 0 0 0 0 0 0`;
  replace('stat', `cpu  ${line(busy, idle)}\ncpu0 ${line(busy / 2, idle / 2)}\ncpu1 ${line(busy / 2, idle / 2)}\nintr 1\nctxt 2\n`);
}

/** <proc>/meminfo of a 16 GiB host with `usedPercent` of it not available. */
function writeMem(usedPercent: number): void {
  const total = 16 * 1024 * 1024;
  const available = Math.round(total * (1 - usedPercent / 100));
  replace('meminfo', `MemTotal:       ${total} kB\nMemFree:         1024 kB\nMemAvailable:   ${available} kB\nBuffers:          100 kB\n`);
}

/** Atomically, as the kernel's files never read half-written. */
function replace(name: string, text: string): void {
  fs.writeFileSync(path.join(proc, `.${name}`), text);
  fs.renameSync(path.join(proc, `.${name}`), path.join(proc, name));
}

/** Runs the check once as the engine would, at `now`, with `state`. */
async function run(raw: Record<string, unknown>, now: number, state: CheckState = memoryState()): Promise<Observation> {
  const spec = idleCapacityCheck.schema.parse({ hourlyPrice: 0.278, procRoot: proc, sample: '100ms', ...raw });
  return idleCapacityCheck.run({ name: 'idle', spec, signal: new AbortController().signal, timeoutMs: 5000, log: silentLog, now: () => now, holdsSecret: () => false, state });
}

describe('p95 and the history (pure)', () => {
  test('nearest rank: the smallest reading at least q of them do not exceed', () => {
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20
    expect(nearestRank(twenty, 0.95)).toBe(19); // one burst in twenty is left out
    expect(nearestRank([...twenty].reverse(), 0.95)).toBe(19);
    expect(nearestRank(Array.from({ length: 100 }, (_, i) => i + 1), 0.95)).toBe(95);
    expect(nearestRank(Array.from({ length: 101 }, (_, i) => i), 0.95)).toBe(95); // ceil(95.95) = 96th smallest
    expect(nearestRank([42], 0.95)).toBe(42);
    expect(nearestRank([3, 1, 2], 1)).toBe(3);
    expect(nearestRank([], 0.95)).toBeNaN();
    // 2,016 five-minute samples of a week: 100 at 90% (8h20m of bursts) are inside the top 5%, 101 are not.
    const week = (bursts: number) => [...Array(2016 - bursts).fill(10), ...Array(bursts).fill(90)];
    expect(nearestRank(week(100), 0.95)).toBe(10);
    expect(nearestRank(week(101), 0.95)).toBe(90);
  });

  test('the waste model: 100 − the higher p95, priced at 730 hours a month; the hint is the smallest halving step that keeps the headroom', () => {
    expect(judgeSize(12, 31, 0.278, 20)).toEqual({ wastedPercent: 69, wastedMonthly: 140.03, suggestedSizePercent: 50, hint: 'half the size would still leave 38% headroom' });
    expect(judgeSize(15, 4, 1, 20)).toMatchObject({ wastedPercent: 85, wastedMonthly: 620.5, suggestedSizePercent: 25, hint: 'a quarter of the size would still leave 40% headroom' });
    expect(judgeSize(2, 3, 1, 20)).toMatchObject({ suggestedSizePercent: 12.5, hint: 'an eighth of the size would still leave 76% headroom' });
    expect(judgeSize(45, 20, 1, 20)).toMatchObject({ wastedPercent: 55, suggestedSizePercent: 100, hint: 'sized about right (half the size would leave only 10% headroom, under 20%)' });
    expect(judgeSize(70, 20, 1, 20)).toMatchObject({ wastedPercent: 30, suggestedSizePercent: 100, hint: 'sized about right (half the size would not hold the p95 load)' });
    expect(judgeSize(45, 20, 1, 5)).toMatchObject({ suggestedSizePercent: 50 }); // 90% at half the size leaves 10% ≥ 5%
    expect(judgeSize(100, 100, 1, 20)).toMatchObject({ wastedPercent: 0, wastedMonthly: 0 });
  });

  test('the ring drops what left the window, shares a slot (keeping the peak) for runs closer than window / MAX_SAMPLES, and never exceeds MAX_SAMPLES', () => {
    let s: Sample[] = [];
    for (let h = 0; h < 10; h++) s = addSample(s, { t: T0 + h * HOUR, cpu: h, mem: 50 }, 7 * DAY);
    expect(s).toHaveLength(10);
    s = addSample(s, { t: T0 + 7 * DAY + 2 * HOUR, cpu: 1, mem: 1 }, 7 * DAY); // hours 0, 1 and 2 are now 7d old or more
    expect(s.map((x) => x.cpu)).toEqual([3, 4, 5, 6, 7, 8, 9, 1]);
    // 7d / 10,000 = 60.48 s: a run 30 s later shares the last slot, keeping the higher of each.
    s = addSample(s, { t: T0 + 7 * DAY + 2 * HOUR + 30_000, cpu: 80, mem: 0 }, 7 * DAY);
    expect(s.at(-1)).toEqual({ t: T0 + 7 * DAY + 2 * HOUR, cpu: 80, mem: 1 });
    expect(s).toHaveLength(8);
    // A week of runs every 10 s (60,480 of them) is held in at most 10,000 slots (one per 70 s: the first run
    // at least 60.48 s after a slot opens the next), and still covers the week.
    let fast: Sample[] = [];
    for (let t = 0; t < 7 * DAY; t += 10_000) fast = addSample(fast, { t: T0 + t, cpu: t === 3 * DAY ? 99 : 5, mem: 5 }, 7 * DAY);
    expect(fast.length).toBeLessThanOrEqual(MAX_SAMPLES);
    expect(fast.length).toBe(8_640);
    expect(fast.at(-1)!.t - fast[0].t).toBeGreaterThan(7 * DAY - 2 * 70_000);
    expect(Math.max(...fast.map((x) => x.cpu))).toBe(99); // the one-off peak survived the thinning
  });

  test('stored as columns in seconds; a state this version did not write reads as no samples', () => {
    const s: Sample[] = [{ t: T0, cpu: 1.5, mem: 20 }, { t: T0 + HOUR, cpu: 2, mem: 21.25 }];
    const stored = toStored(s);
    expect(stored).toEqual({ v: 1, t: [T0 / 1000, T0 / 1000 + 3600], cpu: [1.5, 2], mem: [20, 21.25] });
    expect(fromStored(JSON.parse(JSON.stringify(stored)))).toEqual(s);
    expect(fromStored(undefined)).toEqual([]);
    expect(fromStored({ v: 2, t: [1], cpu: [1], mem: [1] })).toEqual([]);
    expect(fromStored([1, 2, 3])).toEqual([]);
    expect(fromStored({ v: 1, t: [1, 2], cpu: [1, null], mem: [1, 1] })).toEqual([{ t: 1000, cpu: 1, mem: 1 }]);
    // 10,000 samples as the check writes them stay far below the state limit.
    const full = Array.from({ length: MAX_SAMPLES }, (_, i) => ({ t: T0 + i * 60_000, cpu: 12.3, mem: 45.6 }));
    expect(JSON.stringify(toStored(full)).length).toBeLessThan(250_000);
  });
});

describe('idle-capacity check', () => {
  test('CPU busy from two readings of <procRoot>/stat a sample apart, memory from <procRoot>/meminfo', async () => {
    writeStat(1000, 9000);
    writeMem(31);
    // The check reads stat, waits its 1.2 s sample, reads it again: the counters move half-way through.
    const running = run({ sample: '1200ms', minHistory: '0s' }, T0);
    await new Promise((r) => setTimeout(r, 600));
    writeStat(1000 + 120, 9000 + 880); // 12% busy over the sample
    const obs = await running;
    expect(obs.values).toMatchObject({ cpuPercent: 12, memPercent: 31, samples: 1, windowCoveredHours: 0, cpuP95: 12, memP95: 31, wastedPercent: 69, wastedMonthly: 140.03, monthlyPrice: 202.94, suggestedSizePercent: 50 });
    expect(obs.message).toBe('p95 CPU 12%, memory 31% over 0s: half the size would still leave 38% headroom; USD 140/month unused of USD 203');
    expect(obs.cost).toEqual({ source: 'host', scope: 'host', currency: 'USD', wastedMonthly: 140.03 });
  });

  test('until the samples cover minHistory it says how far it has got and names no p95 and no waste', async () => {
    const store = Store.open(path.join(dir.dir, 'data'));
    const state = new CheckStates(store).for('idle');
    const first = await run({ currency: 'EUR' }, T0, state);
    expect(first.values).toEqual({ cpuPercent: 0, memPercent: 50, samples: 1, windowCoveredHours: 0, monthlyPrice: 202.94 });
    expect(first.cost).toBeUndefined();
    expect(first.message).toBe('collecting: p95 needs 1d of samples, 1 sample over 0s; now CPU 0%, memory 50%');
    let last = first;
    for (let h = 1; h <= 23; h++) last = await run({ currency: 'EUR' }, T0 + h * HOUR, state);
    expect(last.values).not.toHaveProperty('wastedMonthly');
    expect(last.message).toMatch(/^collecting: p95 needs 1d of samples, 24 samples over 23h; now/);
    const ready = await run({ currency: 'EUR' }, T0 + DAY, state);
    expect(ready.values).toMatchObject({ samples: 25, windowCoveredHours: 24, cpuP95: 0, memP95: 50, wastedPercent: 50, wastedMonthly: 101.47 });
    expect(ready.message).toBe('p95 CPU 0%, memory 50% over 1d: sized about right (half the size would leave only 0% headroom, under 20%); EUR 101/month unused of EUR 203');
    expect(ready.cost).toEqual({ source: 'host', scope: 'host', currency: 'EUR', wastedMonthly: 101.47 });
    store.close();
  });

  test('a one-shot run (keepwatch check: a fresh state each time) never claims a figure and says why', async () => {
    for (let h = 0; h < 30; h++) {
      const obs = await run({}, T0 + h * HOUR, memoryState());
      expect(obs.values).not.toHaveProperty('wastedMonthly');
      expect(obs.message).toBe('collecting: p95 needs 1d of samples, 1 sample over 0s kept in memory only (no store: a restart or a one-shot keepwatch check starts over); now CPU 0%, memory 50%');
    }
  });

  test('p95 over the window: the top 5% of memory readings do not size the host, and readings older than the window leave it', async () => {
    const state = new CheckStates(undefined).for('idle'); // an agent without a store keeps them in memory
    // 40 hourly runs: memory at 20%, but 2 of them (5%) at 90%, and an early 99% that will age out of a 30h window.
    const mem = (h: number) => (h === 0 ? 99 : h === 20 || h === 30 ? 90 : 20);
    let obs: Observation | undefined;
    for (let h = 0; h < 40; h++) {
      writeMem(mem(h));
      obs = await run({ window: '30h', minHistory: '12h' }, T0 + h * HOUR, state);
    }
    // Hours 10..39 are within 30h of hour 39: 30 samples, two at 90 (6.7% > 5%): p95 is 90.
    expect(obs!.values).toMatchObject({ samples: 30, windowCoveredHours: 29, memP95: 90 });
    writeMem(20);
    obs = await run({ window: '30h', minHistory: '12h' }, T0 + 50 * HOUR, state); // hour 20 has left: 20 samples, one at 90 (5%)
    expect(obs.values).toMatchObject({ samples: 20, memP95: 20, wastedPercent: 80, suggestedSizePercent: 25 });
    expect(obs.message).toMatch(/^p95 CPU 0%, memory 20% over 1d5h: a quarter of the size would still leave 20% headroom; USD 162\/month unused of USD 203$/);
  });

  test('samples outlive a restart in the store; a fresh process without one starts over', async () => {
    let store = Store.open(path.join(dir.dir, 'data'));
    for (let h = 0; h < 12; h++) await run({}, T0 + h * HOUR, new CheckStates(store).for('idle'));
    store.close();
    store = Store.open(path.join(dir.dir, 'data'));
    const state = new CheckStates(store).for('idle');
    expect(fromStored(await state.get(STATE_KEY))).toHaveLength(12);
    let obs: Observation | undefined;
    for (let h = 12; h <= 24; h++) obs = await run({}, T0 + h * HOUR, state);
    expect(obs!.values).toMatchObject({ samples: 25, windowCoveredHours: 24, wastedMonthly: 101.47 });
    store.close();
    expect((await run({}, T0 + 25 * HOUR, memoryState())).values).toMatchObject({ samples: 1 });
  });

  test('no MemAvailable or no cpu line is an error (the run is unknown), not a guess', async () => {
    replace('meminfo', 'MemTotal: 1000 kB\nMemFree: 10 kB\n');
    await expect(run({}, T0)).rejects.toThrow(/meminfo has no MemTotal or MemAvailable line/);
    writeMem(10);
    replace('stat', 'intr 1\n');
    await expect(run({}, T0)).rejects.toThrow(/stat has no aggregate cpu line/);
    fs.rmSync(path.join(proc, 'stat'));
    await expect(run({}, T0)).rejects.toThrow(/ENOENT/);
  });

  test('config: hourlyPrice required and positive, currency an ISO code, minHistory within the window, sample within the timeout; the default warn parses', () => {
    const parse = (raw: Record<string, unknown>) => idleCapacityCheck.schema.safeParse(raw);
    expect(parse({}).success).toBe(false);
    expect(parse({ hourlyPrice: 0 }).success).toBe(false);
    expect(parse({ hourlyPrice: 1, currency: 'usd' }).success).toBe(false);
    expect(parse({ hourlyPrice: 1, window: '30m' }).success).toBe(false);
    const spec = idleCapacityCheck.schema.parse({ hourlyPrice: 1 });
    expect(spec).toMatchObject({ currency: 'USD', window: 7 * DAY, minHistory: DAY, headroomPercent: 20, procRoot: '/proc' });
    const validate = idleCapacityCheck.validate!;
    expect(validate(idleCapacityCheck.schema.parse({ hourlyPrice: 1, window: '12h' }), { timeoutMs: 10_000 })).toEqual([
      { key: 'minHistory', message: 'minHistory (1d) must not be longer than the window (12h)' },
    ]);
    expect(validate(idleCapacityCheck.schema.parse({ hourlyPrice: 1, sample: '10s' }), { timeoutMs: 10_000 })).toEqual([
      { key: 'sample', message: 'sample (10s) must be shorter than the timeout (10s)' },
    ]);
    const fields = idleCapacityCheck.fields as Record<string, FieldSpec>;
    expect(idleCapacityCheck.defaults).toEqual({ warn: ['wastedPercent > 50'] });
    expect(() => parseCondition('wastedPercent > 50', fields)).not.toThrow();
    expect(idleCapacityCheck.schedule).toEqual({ every: 300_000 });
  });
});

test('through the agent: samples kept in its store across a restart, wastedMonthly as keepwatch_cost_wasted_monthly', async () => {
  const configFile = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(configFile, [
    `agent: { name: t, dataDir: "${path.join(dir.dir, 'data')}" }`,
    'checks:',
    `  - { name: idle, type: idle-capacity, hourlyPrice: 0.5, currency: EUR, window: 2d, minHistory: 3h, procRoot: "${proc}", sample: 100ms }`,
  ].join('\n'));
  let now = T0;
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  const start = async () => {
    const config = loadConfigText(fs.readFileSync(configFile, 'utf8'), configFile, { env: {} });
    const store = Store.open(config.agent.dataDir);
    const metrics = new Metrics({ version: 't', defaultMetrics: false });
    const agent = await Agent.create(config, { log, metrics, store, now: () => now, initialSpreadMs: 3_600_000 });
    agent.start();
    return { agent, metrics, stop: async () => { await agent.stop(); store.close(); } };
  };
  let a = await start();
  writeMem(60);
  for (let h = 0; h < 2; h++) {
    now = T0 + h * HOUR;
    expect((await a.agent.runNow('idle')).result).toMatchObject({ statusText: 'ok', values: { samples: h + 1 } });
  }
  await a.stop();

  a = await start();
  now = T0 + 3 * HOUR;
  const r = (await a.agent.runNow('idle')).result!;
  expect(r).toMatchObject({ statusText: 'ok', values: { samples: 3, windowCoveredHours: 3, memP95: 60, wastedPercent: 40, wastedMonthly: 146 } });
  expect(r.cost).toEqual({ source: 'host', scope: 'host', currency: 'EUR', wastedMonthly: 146 });
  const text = (await a.metrics.expose()).body.toString();
  expect(metricSample(text, 'keepwatch_cost_wasted_monthly', '{check="idle",source="host",scope="host",currency="EUR"}')).toBe(146);
  await a.stop();
});
