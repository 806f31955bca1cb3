/**
 * `source.type: aws`: AWS Cost Explorer (GetCostAndUsage daily, GetCostForecast for the rest of
 * a period) through `@aws-sdk/client-cost-explorer` and the standard credential chain.
 *
 * The SDK is loaded with a dynamic `import()` on the first request, never at this module's top:
 * the registry (`../index`) loads this module only through `lazySource`, and even then an agent
 * pays for the SDK only once a check actually asks. Only `import type` from the SDK here.
 *
 * Cost Explorer bills every request (about 0.01 USD, each page of a paged answer included), and
 * its data changes a few times a day: answers are cached per query and each query is sent at
 * most `maxCallsPerDay` times in 24 hours, whatever the check's interval. Between calls the
 * cached answer is served, and `fetchedAt` says how old it is.
 */
import { createHash } from 'node:crypto';
import type {
  CostExplorerClient, Expression, GetCostAndUsageCommandInput, GetCostAndUsageCommandOutput, GetCostForecastCommandOutput, GroupDefinition,
} from '@aws-sdk/client-cost-explorer';
import type { AwsSourceSpec } from '../index';
import { addDays, utcDay } from '../days';
import { MixedCurrencyError, type CostForecast, type CostQuery, type CostSource, type DailyCost } from '../types';

const DAY_MS = 86_400_000;
/** Pages followed for one query at most: 100 pages is 1 USD of requests and far more groups than a check can show. */
export const AWS_MAX_PAGES = 100;
/** The group of amounts without the grouping tag (Cost Explorer's key `team$`). */
export const UNTAGGED = '(none)';

/**
 * Where cached answers are kept: a check's `ctx.state` (persistent across restarts) satisfies
 * it; without one the adapter keeps them in this process's memory.
 */
export interface CostCacheStore {
  get(key: string): Promise<unknown | undefined>;
  set(key: string, value: unknown): Promise<void>;
}

/** What the adapter may be given besides its config. */
export interface AwsSourceOptions {
  /** Where to keep answers and call times; a check passes `ctx.state`. Default: process memory. */
  store?: CostCacheStore;
  /** Wall clock (ms); tests inject one. */
  now?: () => number;
}

/** One cached answer of a query shape, with the times Cost Explorer was called for it. */
interface CacheEntry<T> {
  from: string;
  to: string;
  fetchedAt: number;
  result: T;
  /** Calls (epoch ms) of the last 24 hours, failed ones included: they are billed as well. */
  calls: number[];
}

const processMemory = new Map<string, unknown>();
/** The fallback store: answers outlive runs, not the process. */
const memoryStore: CostCacheStore = {
  async get(key) {
    return processMemory.get(key);
  },
  async set(key, value) {
    if (value === undefined) processMemory.delete(key);
    else processMemory.set(key, structuredClone(value));
  },
};

/** Cost Explorer's metric for a cost column: amortised for `effective`, as invoiced for `billed`. */
export function metricFor(costColumn: CostQuery['costColumn']): { usage: 'AmortizedCost' | 'UnblendedCost'; forecast: 'AMORTIZED_COST' | 'UNBLENDED_COST' } {
  return costColumn === 'billed' ? { usage: 'UnblendedCost', forecast: 'UNBLENDED_COST' } : { usage: 'AmortizedCost', forecast: 'AMORTIZED_COST' };
}

/** Cost Explorer's GroupBy for a grouping (none for `none`). */
export function groupByFor(groupBy: CostQuery['groupBy']): GroupDefinition[] | undefined {
  if (groupBy === 'none') return undefined;
  if (typeof groupBy === 'object') return [{ Type: 'TAG', Key: groupBy.tag }];
  if (groupBy === 'service') return [{ Type: 'DIMENSION', Key: 'SERVICE' }];
  if (groupBy === 'account') return [{ Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' }];
  throw new Error('aws source: Cost Explorer has no namespace; group by service, account or a tag');
}

/** Cost Explorer's Filter for a query's filters: each one an expression, several joined with And. */
export function filterFor(filter: CostQuery['filter']): Expression | undefined {
  const parts: Expression[] = [];
  if (filter?.namespace?.length) throw new Error('aws source: Cost Explorer has no namespace; filter by service, account or tags');
  if (filter?.service?.length) parts.push({ Dimensions: { Key: 'SERVICE', Values: [...filter.service] } });
  if (filter?.account?.length) parts.push({ Dimensions: { Key: 'LINKED_ACCOUNT', Values: [...filter.account] } });
  for (const [key, value] of Object.entries(filter?.tags ?? {})) parts.push({ Tags: { Key: key, Values: [value] } });
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { And: parts };
}

/** The GetCostAndUsage request of a query (without NextPageToken). */
export function costAndUsageInput(query: CostQuery): GetCostAndUsageCommandInput {
  const input: GetCostAndUsageCommandInput = {
    TimePeriod: { Start: query.from, End: query.to },
    Granularity: 'DAILY',
    Metrics: [metricFor(query.costColumn).usage],
  };
  const groupBy = groupByFor(query.groupBy);
  if (groupBy) input.GroupBy = groupBy;
  const filter = filterFor(query.filter);
  if (filter) input.Filter = filter;
  return input;
}

/**
 * Daily rows of GetCostAndUsage pages: one per day and group (the Total when ungrouped), amounts
 * parsed from Cost Explorer's strings, a tag's `key$value` reduced to the value (`(none)` when
 * untagged). Amounts in another currency than `currency` are left out when it is set; without
 * it, more than one currency is refused.
 */
export function costAndUsageRows(pages: readonly GetCostAndUsageCommandOutput[], query: CostQuery, currency?: string): DailyCost[] {
  const metric = metricFor(query.costColumn).usage;
  const sums = new Map<string, DailyCost>();
  const units = new Set<string>();
  const add = (day: string, group: string, value: { Amount?: string; Unit?: string } | undefined) => {
    if (!value?.Amount) return;
    const amount = Number(value.Amount);
    if (!Number.isFinite(amount)) throw new Error(`aws source: Cost Explorer amount ${JSON.stringify(value.Amount)} on ${day} is not a number`);
    const unit = value.Unit ?? 'USD';
    units.add(unit);
    if (currency && unit !== currency) return;
    const k = `${day}\u0000${group}\u0000${unit}`;
    const row = sums.get(k);
    if (row) row.amount += amount;
    else sums.set(k, { day, group, amount, currency: unit });
  };
  const tagged = typeof query.groupBy === 'object';
  for (const page of pages) {
    for (const r of page.ResultsByTime ?? []) {
      const day = r.TimePeriod?.Start;
      if (!day) continue;
      if (query.groupBy === 'none') {
        add(day, 'total', r.Total?.[metric]);
        continue;
      }
      for (const g of r.Groups ?? []) {
        let key = g.Keys?.[0] ?? UNTAGGED;
        if (tagged) {
          const dollar = key.indexOf('$');
          key = dollar >= 0 ? key.slice(dollar + 1) : key;
          if (key === '') key = UNTAGGED;
        }
        add(day, key, g.Metrics?.[metric]);
      }
    }
  }
  if (!currency && units.size > 1) throw new MixedCurrencyError([...units].sort(), 'aws source (Cost Explorer)');
  return [...sums.values()]
    .map((r) => ({ ...r, amount: Math.round(r.amount * 1e10) / 1e10 }))
    .sort((a, b) => (a.day === b.day ? a.group.localeCompare(b.group) : a.day < b.day ? -1 : 1));
}

/** A stable short key of what makes two queries the same question to Cost Explorer (dates aside). */
function shapeKey(kind: string, spec: AwsSourceSpec, query: CostQuery): string {
  const canonical = JSON.stringify([
    kind, spec.region, spec.endpoint ?? '', spec.profile ?? '', spec.currency ?? '',
    query.groupBy, query.costColumn,
    query.filter?.service ? [...query.filter.service].sort() : null,
    query.filter?.account ? [...query.filter.account].sort() : null,
    query.filter?.tags ? Object.entries(query.filter.tags).sort() : null,
  ]);
  return `aws-ce:${kind}:${createHash('sha256').update(canonical).digest('hex').slice(0, 24)}`;
}

function isEntry(v: unknown): v is CacheEntry<unknown> {
  const e = v as CacheEntry<unknown> | undefined;
  return !!e && typeof e === 'object' && typeof e.fetchedAt === 'number' && typeof e.from === 'string' && typeof e.to === 'string' && Array.isArray(e.calls);
}

/** An SDK error as a message that says what to do; `action` is the IAM action of the request. */
export function describeAwsError(err: unknown, action: string, attempts: number): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number }; code?: string };
  const name = e?.name ?? 'Error';
  const msg = (e?.message ?? String(err)).split('\n')[0];
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || status === 403) {
    return `Cost Explorer denied ${action} (${name}: ${msg}): the agent's AWS identity needs the IAM action ${action}`;
  }
  if (['UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'InvalidClientTokenId'].includes(name)) {
    return `Cost Explorer refused the credentials (${name}: ${msg}): check the AWS credentials the agent finds (environment, profile, role)`;
  }
  if (name === 'CredentialsProviderError') {
    return `no AWS credentials found for ${action}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or the source's profile), or run with a role (web identity, ECS, EC2 instance profile) (${msg})`;
  }
  if (['ThrottlingException', 'LimitExceededException', 'TooManyRequestsException'].includes(name)) {
    return `Cost Explorer throttled ${action} (${name}) after ${e?.$metadata?.attempts ?? attempts} attempts: ${msg}`;
  }
  const code = e?.code ?? (e as { cause?: { code?: string } })?.cause?.code;
  return `Cost Explorer ${action} failed (${name}${status ? `, HTTP ${status}` : ''}${code && !msg.includes(code) ? `, ${code}` : ''}): ${msg}`;
}

/** The adapter for an `aws` source block. */
export function awsSource(spec: AwsSourceSpec, options: AwsSourceOptions = {}): CostSource {
  const store = options.store ?? memoryStore;
  const now = options.now ?? Date.now;
  const interval = DAY_MS / spec.maxCallsPerDay;
  let client: Promise<{ client: CostExplorerClient; sdk: typeof import('@aws-sdk/client-cost-explorer') }> | undefined;
  const inflight = new Map<string, Promise<CacheEntry<unknown>>>();
  const answeredAt = new Map<string, number>();

  const getClient = () => (client ??= import('@aws-sdk/client-cost-explorer').then((sdk) => ({
    sdk,
    client: new sdk.CostExplorerClient({
      region: spec.region,
      ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
      ...(spec.profile ? { profile: spec.profile } : {}),
      maxAttempts: spec.maxAttempts,
    }),
  })).catch((err) => {
    client = undefined;
    throw err;
  }));

  /** Runs `call` unless this shape's cached answer is fresh, or its calls of the day are spent. */
  async function cached<T>(kind: string, query: CostQuery, call: () => Promise<T>): Promise<CacheEntry<T>> {
    const key = shapeKey(kind, spec, query);
    const running = inflight.get(key);
    if (running) return (await running) as CacheEntry<T>;
    const p = (async (): Promise<CacheEntry<T>> => {
      const t = now();
      const stored = await store.get(key);
      const entry = isEntry(stored) ? (stored as CacheEntry<T>) : undefined;
      const calls = (entry?.calls ?? []).filter((c) => t - c < DAY_MS && c <= t);
      const sameWindow = entry?.from === query.from && entry?.to === query.to;
      if (entry && entry.fetchedAt > 0 && sameWindow && t - entry.fetchedAt < interval) return entry;
      if (calls.length >= spec.maxCallsPerDay) {
        if (entry && entry.fetchedAt > 0) return entry;
        const next = new Date(Math.min(...calls) + DAY_MS).toISOString();
        throw new Error(`aws source: Cost Explorer was already called ${calls.length} times in 24 hours for this query (maxCallsPerDay ${spec.maxCallsPerDay}) without an answer; next call after ${next}`);
      }
      calls.push(t);
      // The call is counted before it is made: a crash or a failure must not lead to more calls.
      await store.set(key, { ...(entry ?? { from: '', to: '', fetchedAt: 0, result: null }), calls });
      const result = await call();
      const fresh: CacheEntry<T> = { from: query.from, to: query.to, fetchedAt: t, result, calls };
      await store.set(key, fresh);
      return fresh;
    })();
    inflight.set(key, p);
    try {
      return await p;
    } finally {
      inflight.delete(key);
    }
  }

  async function request<T>(action: string, send: (c: CostExplorerClient, sdk: typeof import('@aws-sdk/client-cost-explorer')) => Promise<T>, signal: AbortSignal): Promise<T> {
    const { client: c, sdk } = await getClient();
    try {
      return await send(c, sdk);
    } catch (err) {
      if (signal.aborted) throw new Error(`aws source: Cost Explorer did not answer ${action} before the check's timeout`, { cause: err });
      throw new Error(`aws source: ${describeAwsError(err, action, spec.maxAttempts)}`, { cause: err });
    }
  }

  return {
    type: 'aws',
    async daily(query: CostQuery, signal: AbortSignal): Promise<DailyCost[]> {
      if (query.from >= query.to) return [];
      // Cost Explorer has nothing after today: a window reaching into the future (the rest of the
      // month) is asked up to tomorrow, so no request risks a validation error over days to come.
      const tomorrow = addDays(utcDay(now()), 1);
      if (query.from >= tomorrow) return [];
      const input = costAndUsageInput(query.to > tomorrow ? { ...query, to: tomorrow } : query);
      const entry = await cached('usage', query, async () => {
        const pages: GetCostAndUsageCommandOutput[] = [];
        let token: string | undefined;
        do {
          const page = await request('ce:GetCostAndUsage',
            (c, sdk) => c.send(new sdk.GetCostAndUsageCommand({ ...input, ...(token ? { NextPageToken: token } : {}) }), { abortSignal: signal }), signal);
          pages.push({ ResultsByTime: page.ResultsByTime, $metadata: {} });
          token = page.NextPageToken || undefined;
          if (token && pages.length >= AWS_MAX_PAGES) throw new Error(`aws source: Cost Explorer answered more than ${AWS_MAX_PAGES} pages; narrow the query (filter, fewer groups)`);
        } while (token);
        return costAndUsageRows(pages, query, spec.currency);
      });
      answeredAt.set(shapeKey('usage', spec, query), entry.fetchedAt);
      // An answer cached for another window (the day moved on, and the day's calls are spent)
      // still holds the days both share.
      return (entry.result as DailyCost[]).filter((r) => r.day >= query.from && r.day < query.to);
    },
    async forecast(query: CostQuery, signal: AbortSignal): Promise<CostForecast | undefined> {
      // Cost Explorer forecasts from today on: the rest of a period, never its past.
      const from = query.from > utcDay(now()) ? query.from : utcDay(now());
      if (from >= query.to) return undefined;
      const q = { ...query, from };
      const filter = filterFor(query.filter);
      const metric = metricFor(query.costColumn).forecast;
      const entry = await cached('forecast', q, async (): Promise<CostForecast | null> => {
        let out: GetCostForecastCommandOutput;
        try {
          out = await request('ce:GetCostForecast', (c, sdk) => c.send(new sdk.GetCostForecastCommand({
            TimePeriod: { Start: from, End: query.to }, Metric: metric, Granularity: 'MONTHLY', ...(filter ? { Filter: filter } : {}),
          }), { abortSignal: signal }), signal);
        } catch (err) {
          // A new account, or too little history: Cost Explorer has no forecast to give.
          if ((err as { cause?: { name?: string } }).cause?.name === 'DataUnavailableException') return null;
          throw err;
        }
        const amount = Number(out.Total?.Amount);
        if (!out.Total?.Amount || !Number.isFinite(amount)) return null;
        const unit = out.Total.Unit ?? 'USD';
        if (spec.currency && unit !== spec.currency) throw new MixedCurrencyError([spec.currency, unit], 'aws source (Cost Explorer forecast)');
        return { from, to: query.to, amount, currency: unit };
      });
      return entry.result ? { ...entry.result, fetchedAt: entry.fetchedAt } : undefined;
    },
    fetchedAt(query: CostQuery): number | undefined {
      return answeredAt.get(shapeKey('usage', spec, query));
    },
  };
}
