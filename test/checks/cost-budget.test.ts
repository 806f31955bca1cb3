import fs from 'node:fs';
import path from 'node:path';
import { loadConfigText } from '../../agent/config/load';
import { createLogger } from '../../agent/logger';
import { runCheckOnce } from '../../agent/runner';
import { assessBudget, budgetObservation } from '../../checks/cost-sources/budget';
import { currentMonth, formatAmount, monthFigures, RATE_DAYS } from '../../checks/cost-sources/month';
import { MixedCurrencyError, type CostQuery, type DailyCost } from '../../checks/cost-sources/types';
import { tempDir } from '../helpers/daemon';
import { EC2, expectedDaily, focusExport, S3, type FocusExpected, type FocusOptions } from '../helpers/focus';

const at = (iso: string) => Date.parse(iso);

/** Daily rows from a map of day → amount (one group), in USD unless told. */
function rows(amounts: Record<string, number>, currency = 'USD'): DailyCost[] {
  return Object.entries(amounts).map(([day, amount]) => ({ day, group: 'total', amount, currency }));
}

/** `n` days of `amount(day)` ending the day before `until` (excluded). */
function series(until: string, n: number, amount: (day: string, i: number) => number): Record<string, number> {
  const out: Record<string, number> = {};
  const end = Date.parse(`${until}T00:00:00Z`);
  for (let i = n; i >= 1; i--) {
    const day = new Date(end - i * 86_400_000).toISOString().slice(0, 10);
    out[day] = amount(day, n - i);
  }
  return out;
}

/**
 * The figures computed another way, day by day with Date objects: what the check must agree
 * with. Month to date sums the month's days; the run rate averages the calendar days of the
 * week ending on the last complete day with data (not before the first data day), and the
 * forecast adds it for every day of the month after that one.
 */
function reference(amounts: Record<string, number>, nowIso: string) {
  const now = new Date(nowIso);
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const todayMs = Date.UTC(y, m, now.getUTCDate());
  const monthStart = Date.UTC(y, m, 1);
  const monthEnd = Date.UTC(y, m + 1, 1);
  const ms = (day: string) => Date.parse(`${day}T00:00:00Z`);
  let spend = 0;
  for (const [d, a] of Object.entries(amounts)) if (ms(d) >= monthStart && ms(d) < monthEnd) spend += a;
  const completeDays = Object.keys(amounts).filter((d) => ms(d) < todayMs).map(ms);
  const last = Math.max(...completeDays);
  const first = Math.min(...completeDays);
  let rateSum = 0;
  let rateDays = 0;
  for (let t = last; t > last - RATE_DAYS * 86_400_000 && t >= first; t -= 86_400_000) {
    rateSum += amounts[new Date(t).toISOString().slice(0, 10)] ?? 0;
    rateDays++;
  }
  const rate = rateSum / rateDays;
  let done = 0;
  for (let t = monthStart; t <= last; t += 86_400_000) done += amounts[new Date(t).toISOString().slice(0, 10)] ?? 0;
  const remaining = (monthEnd - Math.max(monthStart, last + 86_400_000)) / 86_400_000;
  return { spend, rate, forecast: Math.max(spend, done + rate * remaining) };
}

describe('currentMonth', () => {
  test.each([
    ['2026-06-21T12:00:00Z', '2026-06-21', '2026-06-01', '2026-07-01', 30, 10],
    ['2026-06-30T23:59:59Z', '2026-06-30', '2026-06-01', '2026-07-01', 30, 1],
    ['2026-07-01T00:00:00Z', '2026-07-01', '2026-07-01', '2026-08-01', 31, 31],
    ['2028-02-10T08:00:00Z', '2028-02-10', '2028-02-01', '2028-03-01', 29, 20],
    ['2026-12-31T22:00:00-05:00', '2027-01-01', '2027-01-01', '2027-02-01', 31, 31],
  ])('%s: today %s, month [%s, %s), %i days, %i left', (now, today, from, to, daysInMonth, daysLeft) => {
    expect(currentMonth(at(now))).toEqual({ today, from, to, daysInMonth, daysLeft });
  });
});

describe('monthFigures', () => {
  test('flat 100 a day, data through yesterday: 2,000 spent on the 21st, forecast 3,000 for June', () => {
    const f = monthFigures(rows(series('2026-06-21', 30, () => 100)), at('2026-06-21T12:00:00Z'));
    expect(f).toMatchObject({ currency: 'USD', spend: 2000, runRate: 100, rateFrom: '2026-06-14', rateTo: '2026-06-20', through: '2026-06-20', lagDays: 0, forecastDays: 10 });
    expect(f.forecast).toBeCloseTo(3000, 9);
  });

  test('an export two days behind: the missing days are forecast at the run rate, and the lag is counted', () => {
    const f = monthFigures(rows(series('2026-06-19', 30, () => 100)), at('2026-06-21T12:00:00Z'));
    expect(f).toMatchObject({ spend: 1800, through: '2026-06-18', lagDays: 2, forecastDays: 12 });
    expect(f.forecast).toBeCloseTo(3000, 9);
  });

  test('the 1st of the month: no complete day yet, the forecast is last week of the month before at its rate', () => {
    const data = series('2026-07-01', 40, (d) => (d >= '2026-06-24' ? 200 : 50));
    const f = monthFigures(rows(data), at('2026-07-01T03:00:00Z'));
    expect(f).toMatchObject({ spend: 0, runRate: 200, rateFrom: '2026-06-24', rateTo: '2026-06-30', through: '2026-06-30', lagDays: 0, forecastDays: 31 });
    expect(f.forecast).toBeCloseTo(6200, 9);
    // Today's partial amount is spend, and never makes the forecast smaller than it.
    const partial = monthFigures(rows({ ...data, '2026-07-01': 9000 }), at('2026-07-01T03:00:00Z'));
    expect(partial.spend).toBe(9000);
    expect(partial.forecast).toBe(9000);
  });

  test('data that starts four days ago averages those four days', () => {
    const f = monthFigures(rows({ '2026-06-17': 10, '2026-06-18': 20, '2026-06-19': 30, '2026-06-20': 40 }), at('2026-06-21T12:00:00Z'));
    expect(f.runRate).toBe(25);
    expect(f.rateFrom).toBe('2026-06-17');
    expect(f.forecast).toBeCloseTo(100 + 25 * 10, 9);
  });

  test('a day without rows inside the window is a day without charges, not left out of the average', () => {
    const data = series('2026-06-21', 20, () => 70);
    delete data['2026-06-18'];
    const f = monthFigures(rows(data), at('2026-06-21T12:00:00Z'));
    expect(f.runRate).toBeCloseTo(60, 9);
  });

  test('negative rows (a refund, a correction) are summed, not dropped', () => {
    const data = rows(series('2026-06-11', 10, () => 100));
    data.push({ day: '2026-06-05', group: 'total', amount: -250, currency: 'USD' });
    const f = monthFigures(data, at('2026-06-11T12:00:00Z'));
    expect(f.spend).toBe(750);
    expect(f.runRate).toBeCloseTo((700 - 250) / 7, 9);
  });

  test('rows of several groups add up per day', () => {
    const data: DailyCost[] = [];
    for (const [day, a] of Object.entries(series('2026-06-11', 20, () => 10))) {
      data.push({ day, group: 'AmazonEC2', amount: a * 3, currency: 'EUR' }, { day, group: 'AmazonS3', amount: a, currency: 'EUR' });
    }
    const f = monthFigures(data, at('2026-06-11T12:00:00Z'));
    expect(f).toMatchObject({ currency: 'EUR', spend: 400, runRate: 40 });
  });

  test('two currencies are refused, never summed', () => {
    const data = [...rows({ '2026-06-01': 5 }), ...rows({ '2026-06-02': 5 }, 'EUR')];
    expect(() => monthFigures(data, at('2026-06-11T12:00:00Z'))).toThrow(MixedCurrencyError);
    expect(() => monthFigures(data, at('2026-06-11T12:00:00Z'))).toThrow(/USD and EUR/);
  });

  test('a weekday pattern with noise, a spike and lag agrees with a day-by-day computation, any day of the month', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const data = series('2026-09-01', 120, (d) => {
      const wd = new Date(`${d}T00:00:00Z`).getUTCDay();
      return (wd === 0 || wd === 6 ? 40 : 120) + rnd() * 30 - 10 + (d === '2026-08-12' ? 900 : 0);
    });
    for (let day = 1; day <= 31; day++) {
      for (const lag of [0, 1, 2]) {
        const now = `2026-08-${String(day).padStart(2, '0')}T15:00:00Z`;
        const cut = Object.fromEntries(Object.entries(data).filter(([d]) => Date.parse(`${d}T00:00:00Z`) < Date.parse(now.slice(0, 10)) - lag * 86_400_000));
        const f = monthFigures(rows(cut), at(now));
        const ref = reference(cut, now);
        expect(f.spend).toBeCloseTo(ref.spend, 6);
        expect(f.runRate).toBeCloseTo(ref.rate, 6);
        expect(f.forecast).toBeCloseTo(ref.forecast, 6);
        expect(f.lagDays).toBe(lag);
      }
    }
  });
});

describe('assessBudget', () => {
  const june21 = (amounts: Record<string, number>) => monthFigures(rows(amounts), at('2026-06-21T12:00:00Z'));

  test('the message: currency, spent of budget, forecast, days left', () => {
    const f = june21(series('2026-06-21', 30, (d) => (d >= '2026-06-01' ? 420.6 : 0)));
    const o = assessBudget(f, { budget: 10_000, costColumn: 'effective' });
    expect(o.message).toBe('USD 8,412 spent of 10,000 (84%), forecast 12,618 (126%) with 10 days left');
    expect(o.values).toEqual({
      spend: 8412, forecast: 12618, budget: 10000, spendRatio: 0.8412, forecastRatio: 1.2618, runRate: 420.6, daysLeft: 10, dataLagDays: 0, currency: 'USD',
    });
  });

  test('the provider forecast adds to what is spent; a provider that cannot forecast is said, not fatal', () => {
    const f = june21(series('2026-06-21', 30, () => 100));
    const o = assessBudget(f, { budget: 4000, costColumn: 'effective' }, { from: '2026-06-21', to: '2026-07-01', amount: 1250, currency: 'USD' });
    expect(o.values).toMatchObject({ providerForecast: 3250, providerForecastRatio: 0.8125 });
    expect(o.message).toContain('; provider forecast 3,250 (81%)');
    const none = assessBudget(f, { budget: 4000, costColumn: 'effective' }, { error: 'DataUnavailableException: not enough history' });
    expect(none.values.providerForecast).toBeUndefined();
    expect(none.message).toContain('; no provider forecast (DataUnavailableException: not enough history)');
  });

  test('a lag, the 1st of the month and billed cost are said', () => {
    const lagging = assessBudget(monthFigures(rows(series('2026-06-19', 30, () => 100)), at('2026-06-21T12:00:00Z')), { budget: 5000, costColumn: 'billed' });
    expect(lagging.message).toBe('USD 1,800 spent of 5,000 (36%), forecast 3,000 (60%) with 10 days left; billed cost; data through 2026-06-18, 2 days behind (exports lag): forecast at the run rate');
    const first = assessBudget(monthFigures(rows(series('2026-07-01', 30, () => 12.5)), at('2026-07-01T01:00:00Z')), { budget: 300, costColumn: 'effective' });
    expect(first.message).toBe('USD 0.00 spent of 300 (0%), forecast 388 (129%) with 31 days left; no complete day this month yet: forecast at the run rate of 2026-06-24..2026-06-30 (USD 12.50/day)');
  });

  test('budgetObservation says the age of a cached answer an hour old or more, and fills the cost block', () => {
    const data = rows(series('2026-06-21', 30, () => 100));
    const spec = { source: { type: 'aws' } as never, budget: 4000, costColumn: 'effective' as const, staleAfter: 3 * 86_400_000, service: ['AWS Lambda'] };
    const now = at('2026-06-21T12:00:00Z');
    const fresh = budgetObservation(data, now, spec, undefined, now - 59 * 60_000);
    expect(fresh.message).toBe('USD 2,000 spent of 4,000 (50%), forecast 3,000 (75%) with 10 days left');
    expect(fresh.cost).toEqual({ source: 'aws', scope: 'service=AWS Lambda', currency: 'USD', spend: 2000, forecast: 3000, budget: 4000 });
    const cached = budgetObservation(data, now, spec, undefined, now - (5 * 60 + 12) * 60_000 - 30_000);
    expect(cached.message).toBe('USD 2,000 spent of 4,000 (50%), forecast 3,000 (75%) with 10 days left; aws answer from 5h12m ago (cached)');
  });

  test.each([
    [1234567.891, '1,234,568'], [100, '100'], [99.5, '99.50'], [51.14, '51.14'], [-3.2, '-3.20'], [0, '0.00'],
  ])('formatAmount(%d) = %s', (n, text) => {
    expect(formatAmount(n)).toBe(text);
  });
});

describe('against generated FOCUS exports', () => {
  const JUNE_21 = at('2026-06-21T12:00:00Z');
  let dir: ReturnType<typeof tempDir>;
  const log = createLogger({ level: 'silent' });

  beforeAll(() => (dir = tempDir()));
  afterAll(() => dir.cleanup());

  /** Writes an export and returns its file and what the generator wrote. */
  function exportFile(name: string, opts: FocusOptions): { file: string; exp: FocusExpected } {
    const e = focusExport(opts);
    const file = path.join(dir.dir, name);
    fs.writeFileSync(file, e.csv);
    return { file, exp: e };
  }

  /** Runs a cost-budget check of this config at `now`, as the agent would (thresholds judged). */
  async function runBudget(keys: Record<string, unknown>, now = JUNE_21) {
    const config = loadConfigText(JSON.stringify({ checks: [{ name: 'budget', type: 'cost-budget', ...keys }] }), 'kw.yaml', { env: {} });
    return runCheckOnce(config.checks[0], { log, now: () => now });
  }

  /** The expected figures: the generator's own sums through the day-by-day computation. */
  function expected(exp: FocusExpected, q: { costColumn: 'effective' | 'billed'; filter?: CostQuery['filter']; currency?: string }, now = '2026-06-21T12:00:00Z') {
    const amounts: Record<string, number> = {};
    for (const r of expectedDaily(exp, { groupBy: 'none', ...q })) amounts[r.day] = (amounts[r.day] ?? 0) + r.amount;
    return reference(amounts, now);
  }

  const april = { start: '2026-04-01', days: 81, seed: 13 }; // through 2026-06-20

  test('month to date and forecast agree with the generator\'s own sums; under, near and over budget judged by the defaults', async () => {
    const { file, exp } = exportFile('plain.csv', april);
    const ref = expected(exp, { costColumn: 'effective' });
    const source = { type: 'focus', path: file };
    const ok = await runBudget({ source, budget: Math.ceil(ref.forecast * 1.2) });
    expect(ok.statusText).toBe('ok');
    expect(ok.values.spend as number).toBeCloseTo(ref.spend, 1);
    expect(ok.values.forecast as number).toBeCloseTo(ref.forecast, 1);
    expect(ok.values).toMatchObject({ currency: 'USD', daysLeft: 10, dataLagDays: 0 });
    expect(ok.message).toMatch(/^USD [\d,]+ spent of [\d,]+ \(\d+%\), forecast [\d,]+ \(\d+%\) with 10 days left$/);
    expect(ok.cost).toEqual({ source: 'focus', scope: 'all', currency: 'USD', spend: ok.values.spend, forecast: ok.values.forecast, budget: Math.ceil(ref.forecast * 1.2) });

    const warn = await runBudget({ source, budget: Math.round((ref.spend + ref.forecast) / 2) });
    expect([warn.statusText, warn.condition]).toEqual(['warning', 'forecastRatio > 1']);
    const crit = await runBudget({ source, budget: Math.floor(ref.spend * 0.9) });
    expect([crit.statusText, crit.condition]).toEqual(['critical', 'spendRatio > 1']);
  });

  test('filters by service, account and tag keep only those rows', async () => {
    const { file, exp } = exportFile('filters.csv', april);
    const source = { type: 'focus', path: file };
    for (const [keys, filter] of [
      [{ service: EC2 }, { service: [EC2] }],
      [{ account: ['222222222222', '333333333333'] }, { account: ['222222222222', '333333333333'] }],
      [{ tags: { env: 'prod' } }, { tags: { env: 'prod' } }],
      [{ service: [S3], account: '111111111111' }, { service: [S3], account: ['111111111111'] }],
    ] as const) {
      const ref = expected(exp, { costColumn: 'effective', filter });
      const r = await runBudget({ source, budget: 1000, ...keys });
      expect([keys, r.values.spend]).toEqual([keys, expect.closeTo(ref.spend, 1)]);
      expect(r.values.forecast as number).toBeCloseTo(ref.forecast, 1);
    }
    const all = await runBudget({ source, budget: 1000 });
    const ec2 = await runBudget({ source, budget: 1000, service: EC2 });
    expect(ec2.values.spend as number).toBeLessThan(all.values.spend as number);
    expect(ec2.cost?.scope).toBe(`service=${EC2}`);
    const none = await runBudget({ source, budget: 1000, service: 'Amazon EC2 (misspelt)' });
    expect(none.statusText).toBe('unknown');
    expect(none.message).toMatch(/no cost data from 2026-06-0\d to 2026-06-21 \(service=Amazon EC2 \(misspelt\), focus source\)/);
  });

  test('effective cost spreads the 121,333 upfront Savings Plan; billed counts it on the day it was bought', async () => {
    const { file, exp } = exportFile('commitment.csv', { ...april, commitment: { day: '2026-06-10' } });
    const source = { type: 'focus', path: file };
    const eff = expected(exp, { costColumn: 'effective' });
    const billed = expected(exp, { costColumn: 'billed' });
    const budget = Math.round(eff.forecast * 1.1);
    const e = await runBudget({ source, budget });
    const b = await runBudget({ source, budget, costColumn: 'billed' });
    expect(e.values.spend as number).toBeCloseTo(eff.spend, 1);
    expect(b.values.spend as number).toBeCloseTo(billed.spend, 1);
    expect(b.values.forecast as number).toBeCloseTo(billed.forecast, 1);
    expect((b.values.spend as number) - (e.values.spend as number)).toBeGreaterThan(100_000);
    expect(e.statusText).toBe('ok');
    expect(b.statusText).toBe('critical');
    expect(b.message).toContain('; billed cost');
  });

  test('the 1st of the month: nothing complete yet, forecast at the run rate of the last week of June', async () => {
    const { file, exp } = exportFile('june.csv', { start: '2026-04-01', days: 91, seed: 5 }); // through 2026-06-30
    const ref = expected(exp, { costColumn: 'effective' }, '2026-07-01T06:00:00Z');
    const r = await runBudget({ source: { type: 'focus', path: file }, budget: 1_000_000 }, at('2026-07-01T06:00:00Z'));
    expect(r.values).toMatchObject({ spend: 0, daysLeft: 31, dataLagDays: 0 });
    expect(r.values.forecast as number).toBeCloseTo(ref.forecast, 1);
    expect(r.values.runRate as number).toBeCloseTo(ref.rate, 1);
    expect(r.message).toContain('; no complete day this month yet: forecast at the run rate of 2026-06-24..2026-06-30');
  });

  test('an export two days behind is forecast over and said; one a week behind is unknown', async () => {
    const { file, exp } = exportFile('lagging.csv', { ...april, days: 79 }); // through 2026-06-18
    const ref = expected(exp, { costColumn: 'effective' });
    const r = await runBudget({ source: { type: 'focus', path: file }, budget: 1_000_000 });
    expect(r.values.dataLagDays).toBe(2);
    expect(r.values.forecast as number).toBeCloseTo(ref.forecast, 1);
    expect(r.message).toContain('; data through 2026-06-18, 2 days behind (exports lag): forecast at the run rate');
    const stale = exportFile('stale.csv', { ...april, days: 74 }); // through 2026-06-13
    const s = await runBudget({ source: { type: 'focus', path: stale.file }, budget: 1_000_000 });
    expect(s.statusText).toBe('unknown');
    expect(s.message).toContain('cost data ends on 2026-06-13, 7 complete days missing (staleAfter 3d)');
    const patient = await runBudget({ source: { type: 'focus', path: stale.file }, budget: 1_000_000, staleAfter: '8d' });
    expect(patient.statusText).toBe('ok');
  });

  test('a budget in another currency than the data is refused; so is an export in two currencies', async () => {
    const { file } = exportFile('usd.csv', april);
    const r = await runBudget({ source: { type: 'focus', path: file }, budget: 9000, currency: 'EUR' });
    expect(r.statusText).toBe('unknown');
    expect(r.message).toContain('the cost data is in USD and the budget in EUR');
    const two = exportFile('two.csv', { ...april, secondCurrency: { currency: 'EUR', account: '333333333333', rate: 0.92 } });
    const mixed = await runBudget({ source: { type: 'focus', path: two.file }, budget: 9000 });
    expect(mixed.statusText).toBe('unknown');
    expect(mixed.message).toMatch(/USD and EUR|EUR and USD/);
    // Selecting one currency in the source makes it a budget in that currency again.
    const eur = await runBudget({ source: { type: 'focus', path: two.file, currency: 'EUR' }, budget: 9000, currency: 'EUR' });
    const ref = expected(two.exp, { costColumn: 'effective', currency: 'EUR' });
    expect(eur.values.spend as number).toBeCloseTo(ref.spend, 1);
    expect(eur.message).toMatch(/^EUR /);
  });
});
