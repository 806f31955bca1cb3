import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { MixedCurrencyError, sourceFor, sourceSchema, type CostQuery, type DailyCost } from '../../checks/cost-sources';
import { clearFocusCache, expandGlob, focusCacheStats, focusSource, parseCsvRecord } from '../../checks/cost-sources/focus';
import {
  CLOUDWATCH, EC2, expectedDaily, focusExport, LAMBDA, NAMESPACE_TAG, RDS, S3, SAVINGS_PLANS, writeFocusExport,
  type FocusExpected,
} from '../helpers/focus';

let dir: string;
const signal = new AbortController().signal;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kw-focus-'));
  clearFocusCache();
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ALL: Pick<CostQuery, 'from' | 'to'> = { from: '2000-01-01', to: '2100-01-01' };

function q(over: Partial<CostQuery> = {}): CostQuery {
  return { ...ALL, groupBy: 'service', costColumn: 'effective', ...over };
}

/** The source's rows equal the generator's own sums, to the cent, and nothing more or less. */
function expectSameDaily(actual: DailyCost[], expected: DailyCost[]) {
  const key = (d: DailyCost) => `${d.day}|${d.group}|${d.currency}`;
  expect(actual.map(key)).toEqual(expected.map(key));
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i].amount - expected[i].amount) >= 0.005) {
      throw new Error(`${key(actual[i])}: ${actual[i].amount} != expected ${expected[i].amount}`);
    }
  }
}

function write(name: string, opts: Parameters<typeof focusExport>[0], gzip = false): { file: string; exp: FocusExpected } {
  const exp = focusExport(opts);
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, gzip ? zlib.gzipSync(exp.csv) : exp.csv);
  return { file, exp };
}

const day = (d: DailyCost[], dayStr: string, group: string) => d.find((x) => x.day === dayStr && x.group === group)?.amount;

describe('focus source: daily totals', () => {
  test('90 days, six services, three accounts: every day and service equals the generator\'s figures to the cent', async () => {
    const { file, exp } = write('export.csv', {
      seed: 11, days: 90, spikes: [{ service: EC2, day: 60, factor: 4 }], creeps: [{ service: RDS, pctPerDay: 1.5 }],
      commitment: { day: 20 }, corrections: [{ day: 45, service: S3, amount: -800 }], credits: [{ day: 50, service: LAMBDA, amount: -25 }],
      taxRate: 0.08, shuffleColumns: true, bom: true,
    });
    const src = focusSource({ path: file });
    for (const groupBy of ['service', 'account', 'none', { tag: 'team' }, { tag: 'cost-center' }, 'namespace'] as const) {
      for (const costColumn of ['effective', 'billed'] as const) {
        expectSameDaily(await src.daily(q({ groupBy, costColumn }), signal), expectedDaily(exp, { groupBy, costColumn }));
      }
    }
    expect(src.lastRead).toMatchObject({ files: 1, rows: exp.rows, malformed: 0 });
    // The spike is there: EC2 on day 60 (a Monday) is over three times the Monday before.
    const ec2 = await src.daily(q({ filter: { service: [EC2] } }), signal);
    expect(ec2.every((d) => d.group === EC2)).toBe(true);
    expect(day(ec2, '2026-03-02', EC2)! / day(ec2, '2026-02-23', EC2)!).toBeGreaterThan(3);
  });

  test('a query\'s period, filters by service, account and tag, and the namespace tag', async () => {
    const { file, exp } = write('export.csv', { seed: 12, days: 40, resources: 3 });
    const src = focusSource({ path: file });
    const period = { from: '2026-01-10', to: '2026-01-20' };
    const cases: Array<Partial<CostQuery>> = [
      { ...period, groupBy: 'service' },
      { ...period, groupBy: 'account', filter: { service: [EC2, RDS] } },
      { groupBy: 'service', filter: { account: ['222222222222'] } },
      { groupBy: { tag: 'env' }, filter: { tags: { team: 'data' } } },
      { groupBy: 'namespace', filter: { account: ['111111111111'] } },
      { groupBy: 'none', filter: { namespace: ['search'] } },
    ];
    for (const c of cases) {
      const got = await src.daily(q(c), signal);
      expect(got.length).toBeGreaterThan(0);
      expectSameDaily(got, expectedDaily(exp, { costColumn: 'effective', ...c } as CostQuery));
    }
    const period10 = await src.daily(q(period), signal);
    expect(new Set(period10.map((d) => d.day)).size).toBe(10);
    const ns = await src.daily(q({ groupBy: 'namespace' }), signal);
    expect(new Set(ns.map((d) => d.group))).toEqual(new Set(['checkout', 'search', 'batch', '(none)']));
    expect(NAMESPACE_TAG).toBe('aws:eks:namespace');
  });

  test('the upfront Savings Plan: 121,333 billed on its day but 0 effective; its hourly usage is billed 0 and effective 51.14', async () => {
    const { file } = write('export.csv', { seed: 13, days: 30, commitment: { day: 10 }, noise: 0 });
    const src = focusSource({ path: file });
    const purchase = '2026-01-11';
    const effective = await src.daily(q(), signal);
    const billed = await src.daily(q({ costColumn: 'billed' }), signal);
    expect(day(billed, purchase, SAVINGS_PLANS)).toBe(121_333);
    expect(day(effective, purchase, SAVINGS_PLANS)).toBe(0);
    // Amortised, the day of the purchase is an ordinary day: total effective spend moves by
    // less than 1 % (the committed usage replaces as much on-demand usage), while the billed
    // total jumps about eighteen-fold.
    const total = (d: DailyCost[], dd: string) => d.filter((x) => x.day === dd).reduce((s, x) => s + x.amount, 0);
    const before = '2026-01-08'; // a Thursday, as is the 15th
    expect(Math.abs(total(effective, '2026-01-15') / total(effective, before) - 1)).toBeLessThan(0.01);
    expect(total(billed, purchase) / total(billed, before)).toBeGreaterThan(15);
    // Committed EC2 usage: 24 × 51.14 effective a day that the billed view does not have.
    const ec2Effective = day(effective, '2026-01-15', EC2)!;
    const ec2Billed = day(billed, '2026-01-15', EC2)!;
    expect(ec2Effective - ec2Billed).toBeCloseTo(24 * 51.14, 6);
  });

  test('negative corrections and credits are summed, not dropped', async () => {
    const { file, exp } = write('export.csv', { seed: 14, days: 20, corrections: [{ day: 5, service: S3, amount: -10_000 }], credits: [{ day: 6, service: LAMBDA, amount: -3 }] });
    const src = focusSource({ path: file });
    const got = await src.daily(q(), signal);
    expectSameDaily(got, expectedDaily(exp, { groupBy: 'service', costColumn: 'effective' }));
    // S3 is about 600 a day; the correction of 10,000 makes that day negative.
    expect(day(got, '2026-01-06', S3)).toBeLessThan(-9000);
    const withoutCorrection = focusExport({ seed: 14, days: 20 });
    const plain = expectedDaily(withoutCorrection, { groupBy: 'service', costColumn: 'effective' });
    expect(day(got, '2026-01-06', S3)! - day(plain, '2026-01-06', S3)!).toBeCloseTo(-10_000, 2);
    expect(day(got, '2026-01-07', LAMBDA)! - day(plain, '2026-01-07', LAMBDA)!).toBeCloseTo(-3, 2);
  });

  test('hourly rows are summed into UTC days', async () => {
    const { file, exp } = write('hourly.csv', { seed: 15, days: 5, granularity: 'hourly', commitment: { day: 2 } });
    const got = await focusSource({ path: file }).daily(q({ groupBy: 'none' }), signal);
    expect(got.map((d) => d.day)).toEqual(['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04', '2026-01-05']);
    expectSameDaily(got, expectedDaily(exp, { groupBy: 'none', costColumn: 'effective' }));
  });

  test('timestamps with an offset are moved to their UTC day; a date alone is a day', async () => {
    const header = 'ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost,ServiceName,SubAccountId';
    const file = path.join(dir, 'tz.csv');
    writeFileSync(file, [header, '2026-03-01T23:30:00-02:00,USD,1,1,A,x', '2026-03-02T00:30:00+02:00,USD,2,2,A,x', '2026-03-02,USD,4,4,A,x', '2026-03-02 10:00:00,USD,8,8,A,x', ''].join('\r\n'));
    const got = await focusSource({ path: file }).daily(q({ groupBy: 'none' }), signal);
    expect(got).toEqual([
      { day: '2026-03-01', group: 'total', amount: 2, currency: 'USD' },
      { day: '2026-03-02', group: 'total', amount: 13, currency: 'USD' },
    ]);
  });
});

describe('focus source: files', () => {
  test('gzip is found by its magic bytes, whatever the name', async () => {
    const { exp } = write('a.csv.gz', { seed: 16, days: 10 }, true);
    write('b-no-suffix', { seed: 17, days: 10, start: '2026-01-11' }, true);
    const gz = await focusSource({ path: path.join(dir, 'a.csv.gz') }).daily(q(), signal);
    expectSameDaily(gz, expectedDaily(exp, { groupBy: 'service', costColumn: 'effective' }));
    const plain = await focusSource({ path: path.join(dir, 'b-no-suffix') }).daily(q(), signal);
    expect(plain[0].day).toBe('2026-01-11');
  });

  test('a glob reads every matching file (** for any depth), one month each, gzip or not', async () => {
    const jan = write('exports/2026-01/focus-00001.csv.gz', { seed: 21, start: '2026-01-01', days: 31 }, true);
    const feb = write('exports/2026-02/focus-00001.csv', { seed: 22, start: '2026-02-01', days: 28 });
    const mar = write('exports/2026-03/part/focus-00001.csv.gz', { seed: 23, start: '2026-03-01', days: 31 }, true);
    writeFileSync(path.join(dir, 'exports', 'manifest.json'), '{}');
    expect((await expandGlob(path.join(dir, 'exports/**/*.csv*'))).map((f) => path.relative(dir, f))).toEqual([
      'exports/2026-01/focus-00001.csv.gz', 'exports/2026-02/focus-00001.csv', 'exports/2026-03/part/focus-00001.csv.gz',
    ]);
    expect(await expandGlob(path.join(dir, 'exports/2026-0[12]/*.csv*'))).toHaveLength(2);
    const src = focusSource({ path: path.join(dir, 'exports/**/focus-*.csv*') });
    const got = await src.daily(q(), signal);
    const want = [jan, feb, mar].flatMap(({ exp }) => expectedDaily(exp, { groupBy: 'service', costColumn: 'effective' }));
    expectSameDaily(got, want);
    expect(src.lastRead?.files).toBe(3);
    await expect(focusSource({ path: path.join(dir, 'nothing/*.csv') }).daily(q(), signal)).rejects.toThrow(/no file matches/);
    await expect(focusSource({ path: path.join(dir, 'missing.csv') }).daily(q(), signal)).rejects.toThrow(/missing\.csv: no such file/);
  });

  test('unchanged files are not parsed again; a changed one is; a query with a new tag key parses once more', async () => {
    write('m/jan.csv', { seed: 31, start: '2026-01-01', days: 31 });
    const feb = write('m/feb.csv', { seed: 32, start: '2026-02-01', days: 28 });
    const src = focusSource({ path: path.join(dir, 'm/*.csv') });
    await src.daily(q(), signal);
    expect(focusCacheStats()).toMatchObject({ parses: 2, hits: 0, files: 2 });
    for (let i = 0; i < 5; i++) await src.daily(q({ groupBy: i % 2 ? 'account' : 'service' }), signal);
    // Another source (another check) on the same files shares the cache.
    await focusSource({ path: path.join(dir, 'm/jan.csv') }).daily(q({ costColumn: 'billed' }), signal);
    expect(focusCacheStats()).toMatchObject({ parses: 2, hits: 11 });
    expect(src.lastRead?.parsed).toBe(0);

    // February's export is rewritten (the provider adds a day): only it is read again.
    const feb2 = focusExport({ seed: 32, start: '2026-02-01', days: 28, spikes: [{ service: EC2, day: 27, factor: 3 }] });
    writeFileSync(feb.file, feb2.csv);
    const st = statSync(feb.file);
    utimesSync(feb.file, st.atime, new Date(st.mtimeMs + 2000));
    const got = await src.daily(q({ from: '2026-02-01', to: '2026-03-01' }), signal);
    expect(focusCacheStats().parses).toBe(3);
    expect(src.lastRead?.parsed).toBe(1);
    expectSameDaily(got, expectedDaily(feb2, { groupBy: 'service', costColumn: 'effective' }));

    // Grouping by a tag needs the Tags column: both files once more, then cached with it.
    await src.daily(q({ groupBy: { tag: 'team' } }), signal);
    expect(focusCacheStats().parses).toBe(5);
    await src.daily(q({ groupBy: { tag: 'team' } }), signal);
    await src.daily(q({ groupBy: 'service' }), signal);
    expect(focusCacheStats().parses).toBe(5);
  });

  test('a file that is not a FOCUS export says which columns it lacks (names are case-sensitive)', async () => {
    const file = path.join(dir, 'x.csv');
    writeFileSync(file, 'chargeperiodstart,BillingCurrency,billedcost,EffectiveCost,ServiceName\n2026-01-01,USD,1,1,A\n');
    await expect(focusSource({ path: file }).daily(q(), signal)).rejects.toThrow(
      /x\.csv: not a FOCUS export: no ChargePeriodStart, BilledCost columns \(found chargeperiodstart, billedcost: FOCUS column names are case-sensitive\)/,
    );
    writeFileSync(file, '');
    await expect(focusSource({ path: file }).daily(q(), signal)).rejects.toThrow(/empty file/);
  });

  test('a corrupt gzip file is an error naming the file', async () => {
    const file = path.join(dir, 'bad.csv.gz');
    writeFileSync(file, Buffer.concat([zlib.gzipSync(focusExport({ days: 3 }).csv).subarray(0, 400)]));
    await expect(focusSource({ path: file }).daily(q(), signal)).rejects.toThrow(/bad\.csv\.gz: /);
  });
});

describe('focus source: currencies and malformed rows', () => {
  test('two currencies are refused, naming both; currency: or an account filter keeps one', async () => {
    const { file, exp } = write('two.csv', { seed: 41, days: 20, secondCurrency: { currency: 'EUR', account: '333333333333' } });
    const src = focusSource({ path: file });
    const err = await src.daily(q(), signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MixedCurrencyError);
    expect((err as MixedCurrencyError).currencies).toEqual(['EUR', 'USD']);
    expect((err as Error).message).toMatch(/two\.csv: amounts in EUR and USD; a check adds up one currency only/);

    const usd = await focusSource({ path: file, currency: 'USD' }).daily(q(), signal);
    expect(new Set(usd.map((d) => d.currency))).toEqual(new Set(['USD']));
    expectSameDaily(usd, expectedDaily(exp, { groupBy: 'service', costColumn: 'effective', currency: 'USD' }));
    const eur = await src.daily(q({ groupBy: 'none', filter: { account: ['333333333333'] } }), signal);
    expectSameDaily(eur, expectedDaily(exp, { groupBy: 'none', costColumn: 'effective', filter: { account: ['333333333333'] } }));
    expect(eur[0].currency).toBe('EUR');
  });

  test('malformed rows are skipped, counted and located (file:line); the rest add up', async () => {
    const { file, exp } = write('broken.csv', { seed: 42, days: 30, malformed: 6 });
    expect(exp.malformedLines).toHaveLength(6);
    const src = focusSource({ path: file });
    const got = await src.daily(q(), signal);
    expectSameDaily(got, expectedDaily(exp, { groupBy: 'service', costColumn: 'effective' }));
    expect(src.lastRead).toMatchObject({ rows: exp.rows, malformed: 6 });
    const lines = src.lastRead!.examples.map((e) => Number(/^broken\.csv:(\d+): /.exec(e)?.[1]));
    expect(lines).toEqual(exp.malformedLines.slice(0, 5));
    expect(src.lastRead!.examples.join('\n')).toMatch(/fields, the header has 35|is not a number|is not a date/);
  });

  test('an unterminated quote is one malformed row, not the rest of the file', async () => {
    const header = 'ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost,ServiceName,Tags';
    const file = path.join(dir, 'q.csv');
    writeFileSync(file, `${header}\n2026-01-01,USD,1,1,A,"{""team"":""x""}"\n2026-01-01,USD,2,2,"B,2,{}\n`);
    const src = focusSource({ path: file });
    expect(await src.daily(q({ groupBy: { tag: 'team' } }), signal)).toEqual([{ day: '2026-01-01', group: 'x', amount: 1, currency: 'USD' }]);
    expect(src.lastRead?.examples).toEqual(['q.csv:3: unterminated quoted field']);
  });

  test('an aborted query stops reading', async () => {
    const { file } = write('big.csv', { seed: 43, days: 90, granularity: 'hourly' });
    const ac = new AbortController();
    const p = focusSource({ path: file }).daily(q(), ac.signal);
    setImmediate(() => ac.abort(new Error('check timed out')));
    await expect(p).rejects.toThrow(/check timed out/);
  });
});

describe('CSV records and the source: block', () => {
  test.each([
    ['a,b,c', ['a', 'b', 'c']],
    ['a,,', ['a', '', '']],
    ['"a,b",c', ['a,b', 'c']],
    ['"say ""hi""",x', ['say "hi"', 'x']],
    ['x,"",y', ['x', '', 'y']],
    ['x,"{""k"":""v,w""}"', ['x', '{"k":"v,w"}']],
    ['x,"line one\nline two",y', ['x', 'line one\nline two', 'y']],
    ['x,"open', undefined],
    ['"a"b,c', ['ab', 'c']],
    ['"a",', ['a', '']],
  ])('%j', (text, fields) => {
    expect(parseCsvRecord(text)).toEqual(fields);
  });

  test('sourceFor builds a focus source from a parsed source: block; unknown keys and types are refused', async () => {
    const { file, exp } = write('s.csv', { seed: 51, days: 7 });
    const spec = sourceSchema.parse({ type: 'focus', path: file });
    expect(spec).toEqual({ type: 'focus', path: file, namespaceTag: 'aws:eks:namespace' });
    const got = await sourceFor(spec).daily(q({ groupBy: 'none', costColumn: 'billed' }), signal);
    expectSameDaily(got, expectedDaily(exp, { groupBy: 'none', costColumn: 'billed' }));
    expect(sourceSchema.safeParse({ type: 'focus', path: file, bogus: 1 }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'focus', path: file, currency: 'usd' }).success).toBe(false);
    expect(sourceSchema.safeParse({ type: 'nope' }).success).toBe(false);
  });

  test('the generator is deterministic from its seed and streams the same text to a file', async () => {
    const a = focusExport({ seed: 99, days: 10, commitment: { day: 3 } });
    expect(focusExport({ seed: 99, days: 10, commitment: { day: 3 } }).csv).toBe(a.csv);
    expect(focusExport({ seed: 98, days: 10, commitment: { day: 3 } }).csv).not.toBe(a.csv);
    const file = path.join(dir, 'streamed.csv.gz');
    const exp = await writeFocusExport(file, { seed: 99, days: 10, commitment: { day: 3 } }, { gzip: true });
    expect(zlib.gunzipSync(require('node:fs').readFileSync(file)).toString()).toBe(a.csv);
    expect(exp.rows).toBe(a.rows);
    expect(a.csv).toContain('"{""team"":""platform"",""env"":""prod"",""aws:eks:namespace"":""checkout""}"');
    expect(expectedDaily(a, { groupBy: 'service', costColumn: 'billed' }).some((d) => d.group === CLOUDWATCH)).toBe(true);
  });
});
