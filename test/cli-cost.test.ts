import fs from 'node:fs';
import path from 'node:path';
import { costScopes, describeSource, formatCost, topMovers, type CostReport } from '../agent/cli-cost';
import { loadConfigText } from '../agent/config/load';
import { Status } from '../agent/evaluate';
import { currentMonth, monthFigures } from '../checks/cost-sources/month';
import { addDays, utcDay, type DailyCost } from '../checks/cost-sources';
import { runCli, tempDir } from './helpers/daemon';
import { EC2, expectedDaily, LAMBDA, S3, writeFocusExport, type FocusExpected } from './helpers/focus';

// `keepwatch cost` on the built CLI (budget and anomaly checks), over FOCUS exports this test generates for the days up to
// yesterday (the CLI reads the real clock): Lambda spends thirty times its usual yesterday.
let dir: ReturnType<typeof tempDir>;
let exp: FocusExpected;
let exportPath: string;
let config: string;
const today = utcDay(Date.now());
const yesterday = addDays(today, -1);
// On the 1st nothing of the month is spent yet: the tight budget only warns on its forecast.
const tight = today.endsWith('-01') ? { status: 'warning', condition: 'forecastRatio > 0.5' } : { status: 'critical', condition: 'spendRatio > 1' };

function write(name: string, text: string): string {
  const f = path.join(dir.dir, name);
  fs.writeFileSync(f, text);
  return f;
}

beforeAll(async () => {
  dir = tempDir();
  exportPath = path.join(dir.dir, 'focus-export.csv.gz');
  exp = await writeFocusExport(exportPath, { start: addDays(today, -80), days: 80, seed: 21, spikes: [{ service: LAMBDA, day: yesterday, factor: 30 }] }, { gzip: true });
  config = write('keepwatch.yaml', [
    'checks:',
    `  - { name: monthly, type: cost-budget, source: { type: focus, path: "${exportPath}" }, budget: 50000 }`,
    `  - { name: monthly-tight, type: cost-budget, source: { type: focus, path: "${exportPath}" }, budget: 100, warn: "forecastRatio > 0.5" }`,
    `  - { name: spikes, type: cost-anomaly, source: { type: focus, path: "${exportPath}" }, groupBy: account }`,
    `  - { name: ec2, type: cost-budget, source: { type: focus, path: "${exportPath}" }, service: "${EC2}", budget: 1000000, currency: USD }`,
    '  - { name: disk, type: disk, mount: / }',
  ].join('\n'));
});

afterAll(() => dir.cleanup());

/** The generator's own sums for a query, one row per day and service. */
function sums(filter?: { service: string[] }): DailyCost[] {
  return expectedDaily(exp, { groupBy: 'service', costColumn: 'effective', filter });
}

describe('keepwatch cost', () => {
  test('--json: one scope per source and filter, month to date and forecast from the export, budgets judged by their own thresholds, Lambda the top mover; exit 0', async () => {
    const r = await runCli(['cost', '--config', config, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CostReport;
    const month = currentMonth(Date.now());
    expect(report).toMatchObject({ month: month.from.slice(0, 7), today, daysLeft: month.daysLeft, exitCode: 0 });
    expect(report.scopes.map((s) => [s.scope, s.checks.map((c) => c.name)])).toEqual([['all', ['monthly', 'monthly-tight', 'spikes']], [`service=${EC2}`, ['ec2']]]);

    const [all, ec2] = report.scopes;
    const rows = sums();
    const mtd = rows.filter((x) => x.day >= month.from).reduce((n, x) => n + x.amount, 0);
    expect(all).toMatchObject({ source: `focus ${exportPath}`, type: 'focus', costColumn: 'effective', currency: 'USD', through: yesterday, lagDays: 0 });
    expect(all.monthToDate).toBeCloseTo(mtd, 1);
    expect(all.forecast).toBeCloseTo(monthFigures(rows, Date.now()).forecast, 1);
    expect(ec2.monthToDate).toBeCloseTo(sums({ service: [EC2] }).filter((x) => x.day >= month.from).reduce((n, x) => n + x.amount, 0), 1);

    expect(all.budgets.map((b) => [b.check, b.status])).toEqual([['monthly', expect.stringMatching(/^(ok|warning|critical)$/)], ['monthly-tight', tight.status]]);
    expect(all.budgets[1].message).toMatch(/^USD [\d,.]+ spent of 100 \(\d+%\), forecast [\d,]+ \(\d+%\) with \d+ days? left/);
    expect(all.budgets[1].message.endsWith(`(${tight.condition})`)).toBe(true);
    expect(ec2.budgets).toEqual([expect.objectContaining({ check: 'ec2', status: 'ok', budget: 1_000_000 })]);

    // Movers: yesterday against the 7 days before, by the generator's sums.
    const lambdaDay = rows.filter((x) => x.group === LAMBDA && x.day === yesterday).reduce((n, x) => n + x.amount, 0);
    const lambdaWeek = rows.filter((x) => x.group === LAMBDA && x.day >= addDays(yesterday, -7) && x.day < yesterday).reduce((n, x) => n + x.amount, 0) / 7;
    expect(all.movers.length).toBeLessThanOrEqual(5);
    expect(all.movers[0]).toEqual({ service: LAMBDA, day: yesterday, amount: expect.closeTo(lambdaDay, 1), average: expect.closeTo(lambdaWeek, 1), delta: expect.closeTo(lambdaDay - lambdaWeek, 1), deltaRatio: expect.closeTo((lambdaDay - lambdaWeek) / lambdaWeek, 2) });
    expect(ec2.movers.map((m) => m.service)).toEqual([EC2]);
  });

  test('the table: figures with their currency, a budget line per check, top movers', async () => {
    const r = await runCli(['cost', '--config', config]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^Cost, month to date: \d{4}-\d\d \(UTC\), today \d{4}-\d\d-\d\d, \d+ days? left\n/);
    expect(out).toContain(`\nfocus ${exportPath}: all, effective cost (monthly, monthly-tight, spikes)\n`);
    expect(out).toMatch(/^ {2}month to date +USD [\d,.]+$/m);
    expect(out).toMatch(/^ {2}forecast +USD [\d,]+ \(run rate [\d,.]+\/day\)$/m);
    expect(out).toMatch(/^ {2}BUDGET +CHECK +STATUS +SPENT +FORECAST +MESSAGE$/m);
    expect(out).toMatch(new RegExp(`^ {2}USD 100 +monthly-tight +${tight.status.toUpperCase()} +\\d+% +\\d+% +USD `, 'm'));
    expect(out).toContain(`  Top movers: ${yesterday} against the average of the 7 days before (USD)`);
    expect(out).toMatch(new RegExp(`^ {4}${LAMBDA} +[\\d,.]+ +[\\d,.]+ +\\+[\\d,.]+ \\(\\+\\d+%\\)$`, 'm'));
  });

  test('a source that fails: its reason, the other scopes still shown, exit 3', async () => {
    const missing = path.join(dir.dir, 'nowhere', '*.csv');
    const file = write('failing.yaml', [
      'checks:',
      `  - { name: gone, type: cost-budget, source: { type: focus, path: "${missing}" }, budget: 10 }`,
      `  - { name: monthly, type: cost-budget, source: { type: focus, path: "${exportPath}" }, budget: 50000 }`,
    ].join('\n'));
    const r = await runCli(['cost', '--config', file]);
    expect(r.code).toBe(Status.Unknown);
    expect(r.stderr).toMatch(new RegExp(`^focus ${missing.replace(/[.*]/g, '\\$&')} \\(gone\\): \\S`));
    expect(r.stdout).toMatch(/\n {2}FAILED: \S/);
    expect(r.stdout).toContain(`focus ${exportPath}: all, effective cost (monthly)`);
  });

  test('anomaly checks alone: their source\'s month to date, forecast and movers, no budget table', async () => {
    const file = write('anomaly.yaml', `checks:\n  - { name: spikes, type: cost-anomaly, source: { type: focus, path: "${exportPath}" } }\n`);
    const r = await runCli(['cost', '--config', file]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain(`focus ${exportPath}: all, effective cost (spikes)`);
    expect(r.stdout).toMatch(/^ {2}month to date +USD /m);
    expect(r.stdout).not.toContain('BUDGET');
    expect(r.stdout).toContain('  Top movers: ');
  });

  test('a config without cost checks is a usage error that says what to add (exit 3)', async () => {
    const file = write('none.yaml', 'checks:\n  - { name: disk, type: disk, mount: / }\n');
    const r = await runCli(['cost', '--config', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no cost checks with a source: add one to checks:, e.g.');
    expect(r.stderr).toContain('type: cost-budget');
  });
});

describe('pure parts', () => {
  test('costScopes groups checks by source, filters and cost column, skipping checks without a source', () => {
    const cfg = loadConfigText([
      'checks:',
      '  - { name: a, type: cost-budget, source: { type: focus, path: /x.csv }, budget: 1 }',
      '  - { name: b, type: cost-budget, source: { type: focus, path: /x.csv }, budget: 2, warn: "spendRatio > 0.5" }',
      '  - { name: c, type: cost-budget, source: { type: focus, path: /x.csv }, budget: 3, costColumn: billed }',
      '  - { name: d, type: cost-budget, source: { type: focus, path: /y.csv }, budget: 4, tags: { env: prod } }',
      '  - { name: e, type: disk, mount: / }',
    ].join('\n'), 'kw.yaml', { env: {} });
    expect(costScopes(cfg.checks).map((s) => [s.checks.map((c) => c.name).join(','), s.costColumn, s.filter ?? null])).toEqual([
      ['a,b', 'effective', null], ['c', 'billed', null], ['d', 'effective', { tags: { env: 'prod' } }],
    ]);
  });

  test('describeSource shows where a source reads, never credentials', () => {
    expect(describeSource({ type: 'focus', path: '/data/*.csv.gz' } as never)).toBe('focus /data/*.csv.gz');
    expect(describeSource({ type: 'opencost', url: 'http://admin:s3cret@opencost:9003/?token=abc' } as never)).toBe('opencost http://opencost:9003');
  });

  test('topMovers: largest absolute change first, a new service marked by no ratio, a week of data averaged over the days it has', () => {
    const rows: DailyCost[] = [];
    const add = (day: string, group: string, amount: number) => rows.push({ day, group, amount, currency: 'USD' });
    for (let i = 1; i <= 7; i++) {
      add(addDays('2026-06-20', -i), 'steady', 100);
      add(addDays('2026-06-20', -i), 'falling', 50);
    }
    add('2026-06-20', 'steady', 101);
    add('2026-06-20', 'falling', 10);
    add('2026-06-20', 'new', 25);
    expect(topMovers(rows, '2026-06-20')).toEqual([
      { service: 'falling', day: '2026-06-20', amount: 10, average: 50, delta: -40, deltaRatio: -0.8 },
      { service: 'new', day: '2026-06-20', amount: 25, average: 0, delta: 25 },
      { service: 'steady', day: '2026-06-20', amount: 101, average: 100, delta: 1, deltaRatio: 0.01 },
    ]);
    expect(topMovers(rows, '2026-06-20', 1).map((m) => m.service)).toEqual(['falling']);
    const short = [{ day: '2026-06-18', group: 's', amount: 10, currency: 'USD' }, { day: '2026-06-19', group: 's', amount: 20, currency: 'USD' }, { day: '2026-06-20', group: 's', amount: 45, currency: 'USD' }];
    expect(topMovers(short, '2026-06-20')[0]).toMatchObject({ average: 15, delta: 30, deltaRatio: 2 });
  });

  test('formatCost says a failed scope and shows the rest', () => {
    const text = formatCost({
      month: '2026-06', today: '2026-06-21', daysLeft: 10, exitCode: 3,
      scopes: [
        { source: 'aws', type: 'aws', scope: 'all', costColumn: 'effective', checks: [{ name: 'x', type: 'cost-budget' }], budgets: [], movers: [], error: 'AccessDeniedException: not authorized to perform ce:GetCostAndUsage' },
        { source: 'focus /f.csv', type: 'focus', scope: `service=${S3}`, costColumn: 'billed', checks: [{ name: 'y', type: 'cost-budget' }], currency: 'EUR', monthToDate: 1234.5, forecast: 2000, runRate: 61.2, providerForecast: 1900, through: '2026-06-19', lagDays: 1, budgets: [], movers: [] },
      ],
    });
    expect(text).toBe([
      'Cost, month to date: 2026-06 (UTC), today 2026-06-21, 10 days left',
      '',
      'aws: all, effective cost (x)',
      '  FAILED: AccessDeniedException: not authorized to perform ce:GetCostAndUsage',
      '',
      `focus /f.csv: service=${S3}, billed cost (y)`,
      '  month to date      EUR 1,235',
      '  forecast           EUR 2,000 (run rate 61.20/day)',
      '  provider forecast  EUR 1,900',
      '  data through       2026-06-19 (1 day behind: forecast at the run rate)',
    ].join('\n'));
  });
});
