import { assessBudget, currentMonth, formatAmount, monthFigures, RATE_DAYS } from '../../checks/cost-budget';
import { MixedCurrencyError, type DailyCost } from '../../checks/cost-sources/types';

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

  test.each([
    [1234567.891, '1,234,568'], [100, '100'], [99.5, '99.50'], [51.14, '51.14'], [-3.2, '-3.20'], [0, '0.00'],
  ])('formatAmount(%d) = %s', (n, text) => {
    expect(formatAmount(n)).toBe(text);
  });
});
