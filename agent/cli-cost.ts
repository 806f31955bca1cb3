import type { Argv, CommandModule } from 'yargs';
import { budgetObservation, budgetWindow, providerForecast, queryFilter, scopeText, sourceOf } from '../checks/cost-sources/budget';
import { currentMonth, formatAmount, formatRatio, monthFigures, RATE_DAYS, type CurrentMonth } from '../checks/cost-sources/month';
import { addDays, daysBetween, type CostForecast, type CostQuery, type DailyCost, type SourceSpec } from '../checks/cost-sources';
import { round } from '../checks/types';
import { EXIT_USAGE } from './cli-errors';
import { oneShot } from './cli-oneshot';
import { formatColumns } from './cli-table';
import { judge, Status, STATUS_NAMES } from './evaluate';
import type { Logger } from './logger';
import type { CheckConfig } from './model';
import { scrub } from './secrets';

interface CostArgs {
  config?: string;
  json: boolean;
}

const DAY = 86_400_000;
/** The staleAfter a scope's query allows for when no budget check there sets one (cost-budget's default). */
const DEFAULT_STALE_MS = 3 * DAY;
/** How many movers a scope lists. */
export const TOP_MOVERS = 5;

/**
 * The checks that read one source the same way (same `source:` block, filters and cost
 * column): one query answers them all.
 */
export interface CostScope {
  source: SourceSpec;
  filter: CostQuery['filter'];
  costColumn: CostQuery['costColumn'];
  checks: CheckConfig[];
}

/** A service whose last complete day moved against its trailing average. */
export interface Mover {
  service: string;
  /** The last complete day with data. */
  day: string;
  amount: number;
  /** Its average daily amount over the 7 days before `day`. */
  average: number;
  /** amount − average. */
  delta: number;
  /** delta / average; absent for a service new in the window (average 0). */
  deltaRatio?: number;
}

/** A budget check's figures, judged by its own thresholds. */
export interface BudgetLine {
  check: string;
  status: (typeof STATUS_NAMES)[number];
  budget?: number;
  spendRatio?: number;
  forecastRatio?: number;
  providerForecastRatio?: number;
  message: string;
}

/** What `keepwatch cost` says about one scope. */
export interface ScopeReport {
  /** The source in words: its type and where it reads (`focus /data/focus/*.csv.gz`). */
  source: string;
  type: string;
  /** The filters in words (`all`, `service=AmazonEC2`). */
  scope: string;
  costColumn: CostQuery['costColumn'];
  checks: Array<{ name: string; type: string }>;
  currency?: string;
  monthToDate?: number;
  forecast?: number;
  runRate?: number;
  providerForecast?: number;
  /** The last complete day with data, and how many complete days are missing after it. */
  through?: string;
  lagDays?: number;
  budgets: BudgetLine[];
  movers: Mover[];
  /** Why the source could not answer: the scope has no figures, and the command exits 3. */
  error?: string;
}

/** The report as `--json` prints it. */
export interface CostReport {
  /** `YYYY-MM` (UTC). */
  month: string;
  today: string;
  daysLeft: number;
  scopes: ScopeReport[];
  /** 0, or 3 when a source failed. */
  exitCode: number;
}

/** Cost checks that read a source (cost-budget, cost-anomaly), grouped by what they query, in config order. */
export function costScopes(checks: readonly CheckConfig[]): CostScope[] {
  const scopes = new Map<string, CostScope>();
  for (const c of checks) {
    const spec = c.spec as { source?: SourceSpec; costColumn?: CostQuery['costColumn'] } & Parameters<typeof queryFilter>[0];
    if (c.category !== 'cost' || !spec.source) continue;
    const filter = queryFilter(spec);
    const costColumn = spec.costColumn ?? 'effective';
    const key = JSON.stringify([spec.source, filter ?? null, costColumn]);
    let scope = scopes.get(key);
    if (!scope) scopes.set(key, (scope = { source: spec.source, filter, costColumn, checks: [] }));
    scope.checks.push(c);
  }
  return [...scopes.values()];
}

/** A source in words, without credentials: its type and the file, URL, endpoint or region it reads. */
export function describeSource(source: SourceSpec): string {
  const s = source as unknown as Record<string, unknown>;
  const where = ['path', 'url', 'endpoint', 'region'].map((k) => s[k]).find((v): v is string => typeof v === 'string');
  if (where === undefined) return source.type;
  try {
    const url = new URL(where);
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      url.username = '';
      url.password = '';
      url.search = '';
      return `${source.type} ${url.toString().replace(/\/$/, '')}`;
    }
  } catch {
    // Not a URL: a path or a region, shown as it is.
  }
  return `${source.type} ${where}`;
}

/**
 * The services whose last complete day (`day`) moved most against their average of the 7
 * days before it, largest absolute change first (pure). Rows are one currency, grouped by service.
 */
export function topMovers(rows: readonly DailyCost[], day: string, n = TOP_MOVERS): Mover[] {
  const from = addDays(day, -RATE_DAYS);
  const first = rows.reduce((m, r) => (r.day < m ? r.day : m), day);
  // Data that starts inside the week averages the days it has, as the run rate does.
  const days = Math.max(1, daysBetween(first > from ? first : from, day));
  const by = new Map<string, { amount: number; before: number }>();
  for (const r of rows) {
    if (r.day < from || r.day > day) continue;
    const m = by.get(r.group) ?? { amount: 0, before: 0 };
    if (r.day === day) m.amount += r.amount;
    else m.before += r.amount;
    by.set(r.group, m);
  }
  const movers: Mover[] = [];
  for (const [service, m] of by) {
    const average = m.before / days;
    const delta = m.amount - average;
    if (Math.abs(delta) < 0.005) continue;
    movers.push({ service, day, amount: round(m.amount, 2), average: round(average, 2), delta: round(delta, 2), ...(average > 0 ? { deltaRatio: round(delta / average, 4) } : {}) });
  }
  return movers.sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta) || a.service.localeCompare(b.service)).slice(0, n);
}

/** Queries one scope's source once and works out its figures, its budget checks' verdicts and its movers. */
export async function scopeReport(scope: CostScope, nowMs: number, log: Logger): Promise<ScopeReport> {
  const report: ScopeReport = {
    source: describeSource(scope.source),
    type: scope.source.type,
    scope: scopeText(scope.filter),
    costColumn: scope.costColumn,
    checks: scope.checks.map((c) => ({ name: c.name, type: c.type })),
    budgets: [],
    movers: [],
  };
  const month = currentMonth(nowMs);
  const staleAfter = Math.max(...scope.checks.map((c) => (c.spec as { staleAfter?: number }).staleAfter ?? DEFAULT_STALE_MS));
  const timeoutMs = Math.max(...scope.checks.map((c) => c.timeoutMs));
  const signal = AbortSignal.timeout(timeoutMs);
  const source = sourceOf(scope.source);
  const base = { filter: scope.filter, costColumn: scope.costColumn };
  let rows: DailyCost[];
  let provider: CostForecast | { error: string } | undefined;
  try {
    rows = await source.daily({ ...budgetWindow(month, staleAfter), groupBy: 'service', ...base }, signal);
    if (scope.checks.some((c) => c.type === 'cost-budget')) {
      provider = await providerForecast(source, { from: month.today, to: month.to, groupBy: 'none', ...base }, signal, log);
    }
  } catch (err) {
    const why = signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message;
    return { ...report, error: scrub(why) };
  }
  if (!rows.length) return { ...report, error: `no cost data from ${budgetWindow(month, staleAfter).from} to ${month.today}: check the filter values and the source` };
  let figures;
  try {
    figures = monthFigures(rows, nowMs);
  } catch (err) {
    return { ...report, error: scrub((err as Error).message) };
  }
  Object.assign(report, {
    currency: figures.currency,
    monthToDate: round(figures.spend, 2),
    forecast: round(figures.forecast, 2),
    runRate: round(figures.runRate, 2),
    ...(provider && 'amount' in provider && provider.currency === figures.currency ? { providerForecast: round(figures.spend + provider.amount, 2) } : {}),
    ...(figures.through ? { through: figures.through, lagDays: figures.lagDays } : {}),
  });
  for (const c of scope.checks.filter((k) => k.type === 'cost-budget')) report.budgets.push(budgetLine(c, rows, nowMs, provider));
  if (figures.through) report.movers = topMovers(rows, figures.through);
  return report;
}

function budgetLine(check: CheckConfig, rows: readonly DailyCost[], nowMs: number, provider: CostForecast | { error: string } | undefined): BudgetLine {
  try {
    const obs = budgetObservation(rows, nowMs, check.spec as Parameters<typeof budgetObservation>[2], provider);
    const verdict = judge(obs, check.rules);
    const v = obs.values as Record<string, number>;
    return {
      check: check.name,
      status: STATUS_NAMES[verdict.status],
      budget: v.budget,
      spendRatio: v.spendRatio,
      forecastRatio: v.forecastRatio,
      ...(v.providerForecastRatio !== undefined ? { providerForecastRatio: v.providerForecastRatio } : {}),
      message: scrub(verdict.condition ? `${obs.message} (${verdict.condition})` : obs.message),
    };
  } catch (err) {
    return { check: check.name, status: 'unknown', message: scrub((err as Error).message) };
  }
}

/** Runs every scope's query (one at a time: sources such as Cost Explorer bill per request). */
export async function costReport(checks: readonly CheckConfig[], nowMs: number, log: Logger): Promise<CostReport> {
  const month: CurrentMonth = currentMonth(nowMs);
  const scopes: ScopeReport[] = [];
  for (const scope of costScopes(checks)) scopes.push(await scopeReport(scope, nowMs, log));
  return {
    month: month.from.slice(0, 7),
    today: month.today,
    daysLeft: month.daysLeft,
    scopes,
    exitCode: scopes.some((s) => s.error !== undefined) ? Status.Unknown : Status.Ok,
  };
}

const signed = (n: number) => `${n > 0 ? '+' : ''}${formatAmount(n)}`;

/** The readable report: per scope its month to date, forecasts, budgets and top movers. */
export function formatCost(report: CostReport): string {
  const out: string[] = [`Cost, month to date: ${report.month} (UTC), today ${report.today}, ${report.daysLeft} day${report.daysLeft === 1 ? '' : 's'} left`];
  for (const s of report.scopes) {
    out.push('', `${s.source}: ${s.scope}, ${s.costColumn} cost (${s.checks.map((c) => c.name).join(', ')})`);
    if (s.error !== undefined) {
      out.push(`  FAILED: ${s.error}`);
      continue;
    }
    const cur = s.currency as string;
    const lines = [
      ['month to date', `${cur} ${formatAmount(s.monthToDate as number)}`],
      ['forecast', `${cur} ${formatAmount(s.forecast as number)} (run rate ${formatAmount(s.runRate as number)}/day)`],
    ];
    if (s.providerForecast !== undefined) lines.push(['provider forecast', `${cur} ${formatAmount(s.providerForecast)}`]);
    if (s.through) lines.push(['data through', `${s.through}${s.lagDays ? ` (${s.lagDays} day${s.lagDays === 1 ? '' : 's'} behind: forecast at the run rate)` : ''}`]);
    out.push(formatColumns(lines, { indent: '  ' }));
    if (s.budgets.length) {
      const rows = [['BUDGET', 'CHECK', 'STATUS', 'SPENT', 'FORECAST', 'MESSAGE']];
      for (const b of s.budgets) {
        rows.push([b.budget === undefined ? '-' : `${cur} ${formatAmount(b.budget)}`, b.check, b.status.toUpperCase(), formatRatio(b.spendRatio), formatRatio(b.forecastRatio), b.message]);
      }
      out.push('', formatColumns(rows, { indent: '  ' }));
    }
    if (s.movers.length) {
      out.push('', `  Top movers: ${s.movers[0].day} against the average of the ${RATE_DAYS} days before (${cur})`);
      const rows = [['SERVICE', 'DAY', 'AVERAGE', 'CHANGE']];
      for (const m of s.movers) rows.push([m.service, formatAmount(m.amount), formatAmount(m.average), `${signed(m.delta)}${m.deltaRatio !== undefined ? ` (${m.deltaRatio > 0 ? '+' : ''}${formatRatio(m.deltaRatio)})` : ' (new)'}`]);
      out.push(formatColumns(rows, { indent: '    ' }));
    }
  }
  return out.join('\n');
}

/**
 * `keepwatch cost [--json]`: queries the sources of the configured cost checks once (checks
 * that read the same source the same way share one query) and prints, per source, month to
 * date, the forecasts, each budget check's verdict and the top movers. Informational: exits 0,
 * or 3 when a source fails (with why); a config without cost checks is a usage error (3).
 */
export function costCommand(configOption: object, now: () => number = Date.now): CommandModule<object, CostArgs> {
  return {
    command: 'cost',
    describe: 'Query the cost checks\' sources once and print month to date, forecast, budgets and the top movers (services whose last day moved most); exit 0, or 3 when a source fails.',
    builder: (y: Argv) =>
      y
        .option('config', configOption)
        .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON: month, today, daysLeft, scopes (figures, budgets, movers, error), exitCode' }) as unknown as Argv<CostArgs>,
    handler: (argv) => cost(argv, now),
  };
}

async function cost(argv: CostArgs, now: () => number): Promise<void> {
  const { config, log, checks: all } = await oneShot(argv.config);
  const checks = all.filter((c) => c.enabled);
  if (!costScopes(checks).length) {
    process.stderr.write(
      `${config.file}: no cost checks with a source: add one to checks:, e.g.\n` +
      '  - { name: monthly-budget, type: cost-budget, source: { type: focus, path: "/data/focus/*.csv.gz" }, budget: 10000 }\n' +
      'see the README\'s "Cost checks"\n',
    );
    process.exit(EXIT_USAGE);
  }
  const report = await costReport(checks, now(), log);
  for (const s of report.scopes) if (s.error !== undefined) process.stderr.write(`${s.source} (${s.checks.map((c) => c.name).join(', ')}): ${s.error}\n`);
  process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCost(report)}\n`, () => process.exit(report.exitCode));
}
