/**
 * The registry of cost sources: the `source:` block every cost check shares (a zod
 * discriminated union on `type`) and `sourceFor(spec)`, which turns a parsed block into the
 * adapter that answers `CostQuery`s. One adapter per type in checks/cost-sources/<type>/.
 *
 * Adapters that pull in a heavy dependency (the AWS SDK) are loaded lazily, with a dynamic
 * `import()` inside `lazySource`, only when a source of that type is configured and first asked:
 * an agent without an `aws` source never loads the SDK. This module must not import one.
 */
import { z } from 'zod';
import { httpUrl } from '../support';
import { focusSource } from './focus';
import { opencostSource } from './opencost';
import type { CostForecast, CostQuery, CostSource, DailyCost } from './types';

export * from './types';
export * from './days';

/** The group of rows that lack the grouping key (no such tag, no namespace). */
export const UNGROUPED = '(none)';

/** ISO 4217 code, upper case (USD, EUR). */
export const currencyCode = () => z.string().regex(/^[A-Z]{3}$/, { message: 'expected an ISO 4217 currency code such as USD or EUR' });

/**
 * The `costColumn` key of the cost checks (passed on in `CostQuery.costColumn`): `effective`
 * (amortised; FOCUS EffectiveCost) by default, or `billed` (as invoiced; FOCUS BilledCost).
 */
export const costColumnSchema = z
  .enum(['effective', 'billed'])
  .default('effective')
  .describe('Which amount: effective (amortised: an upfront commitment purchase spread over its usage; FOCUS EffectiveCost) or billed (as invoiced; FOCUS BilledCost).');

// ---------------------------------------------------------------------------------------------
// One schema per source type. Each is a strictObject with a literal `type` and .describe() on
// every key; add it to `sourceSchema` below and a case to `sourceFor`.
// ---------------------------------------------------------------------------------------------

/** `type: focus`: FinOps FOCUS cost-and-usage exports (CSV, gzip or not) from a path or glob. */
export const focusSourceSchema = z.strictObject({
  type: z.literal('focus').describe('FinOps FOCUS cost-and-usage exports (CSV files, gzip or not).'),
  path: z
    .string()
    .min(1)
    .describe('An export file, or a glob of them (`*`, `?`, `**` for any depth, e.g. /data/focus/**/*.csv.gz); every matching file is read.'),
  currency: currencyCode()
    .optional()
    .describe('Only rows billed in this currency (BillingCurrency); without it, exports in more than one currency are refused.'),
  namespaceTag: z
    .string()
    .min(1)
    .default('aws:eks:namespace')
    .describe('The tag (a key of the Tags column) that holds a row\'s Kubernetes namespace, for grouping or filtering by namespace (AWS split cost allocation data: aws:eks:namespace).'),
});
export type FocusSourceSpec = z.output<typeof focusSourceSchema>;

/** `type: opencost`: Kubernetes cost from the OpenCost `/allocation` API. */
export const opencostSourceSchema = z.strictObject({
  type: z.literal('opencost').describe('Kubernetes cost from the OpenCost /allocation API.'),
  url: httpUrl().describe('The OpenCost API base URL; /allocation is appended (http://opencost.opencost:9003, or the UI\'s proxy http://opencost-ui:9090/model).'),
  currency: currencyCode().default('USD').describe('ISO 4217 code of the amounts: OpenCost answers numbers without a currency, in the one its pricing is configured in.'),
  token: z.string().min(1).optional().describe('Bearer token sent as Authorization: Bearer … (an auth proxy in front of OpenCost); use ${ENV} or ${file:/path}.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (values may use ${ENV} for secrets).'),
  serviceAggregate: z
    .enum(['controller', 'service', 'controllerKind', 'deployment', 'statefulset', 'daemonset', 'job', 'pod'])
    .default('controller')
    .describe('What a cost check\'s `service` grouping and filter mean in Kubernetes: the OpenCost aggregate (controller: a workload such as deployment:api; service: a Kubernetes Service).'),
  includeIdle: z.boolean().default(true).describe('Ask for __idle__ (capacity paid for that no workload requested), kept as its own group.'),
});
export type OpencostSourceSpec = z.output<typeof opencostSourceSchema>;

/** `type: aws`: AWS Cost Explorer (zod only here: the SDK loads with the adapter, on first use). */
export const awsSourceSchema = z.strictObject({
  type: z.literal('aws').describe('AWS Cost Explorer (GetCostAndUsage, GetCostForecast), with the standard AWS credential chain.'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'expected an AWS region such as us-east-1' }).default('us-east-1')
    .describe('Region to sign for: Cost Explorer is served from us-east-1 (cn-northwest-1 in China).'),
  endpoint: httpUrl().optional().describe('Cost Explorer endpoint instead of https://ce.us-east-1.amazonaws.com: a VPC interface endpoint, or a test server.'),
  profile: z.string().min(1).optional().describe('Named profile of ~/.aws/config and ~/.aws/credentials; default: the standard chain (environment, AWS_PROFILE, SSO, web identity, ECS, EC2 instance role).'),
  maxCallsPerDay: z.number().int().min(1).max(96).default(4)
    .describe('Cost Explorer bills every request: each query (daily costs, forecast) is sent at most this many times in 24 hours, whatever the check\'s interval; between calls the cached answer is served and its age said.'),
  maxAttempts: z.number().int().min(1).max(10).default(3).describe('Attempts per request, throttling (LimitExceededException) and 5xx retried with backoff.'),
  currency: currencyCode().optional().describe('Only amounts in this currency (Cost Explorer\'s Unit); without it, an answer in more than one currency is refused.'),
});
export type AwsSourceSpec = z.output<typeof awsSourceSchema>;

/** The `source:` block of every cost check. */
export const sourceSchema = z
  .discriminatedUnion('type', [
    focusSourceSchema,
    opencostSourceSchema,
    awsSourceSchema,
  ])
  .describe('Where the cost data comes from: `type` focus (FOCUS exports), opencost (OpenCost /allocation) or aws (Cost Explorer).');
export type SourceSpec = z.output<typeof sourceSchema>;

/**
 * A source whose adapter module is loaded on first use (`load` runs `import('./<type>')`), then
 * kept: for adapters with heavy dependencies, so that configuring none of them costs nothing.
 */
export function lazySource(type: string, load: () => Promise<CostSource>): CostSource {
  let loaded: Promise<CostSource> | undefined;
  let ready: CostSource | undefined;
  const get = () => (loaded ??= load().then((s) => (ready = s)).catch((err) => { loaded = undefined; throw err; }));
  return {
    type,
    async daily(query: CostQuery, signal: AbortSignal): Promise<DailyCost[]> {
      return (await get()).daily(query, signal);
    },
    async forecast(query: CostQuery, signal: AbortSignal): Promise<CostForecast | undefined> {
      const source = await get();
      return source.forecast ? source.forecast(query, signal) : undefined;
    },
    fetchedAt(query: CostQuery): number | undefined {
      return ready?.fetchedAt?.(query);
    },
  };
}

/** What a check may hand an adapter besides its block. */
export interface SourceOptions {
  /**
   * The check's `ctx.state`: the aws source keeps Cost Explorer answers and its call times
   * there, so that a restart neither loses them nor calls (and pays) again. Without it they
   * are kept in the process's memory.
   */
  state?: { get(key: string): Promise<unknown>; set(key: string, value: unknown): Promise<void> };
  /** Wall clock (ms); tests inject one. */
  now?: () => number;
}

/** The adapter for a parsed `source:` block. */
export function sourceFor(spec: SourceSpec, options: SourceOptions = {}): CostSource {
  switch (spec.type) {
    case 'focus':
      return focusSource(spec);
    case 'opencost':
      return opencostSource(spec);
    case 'aws':
      return lazySource('aws', async () => (await import('./aws')).awsSource(spec, { store: options.state, now: options.now }));
    default: {
      const never: never = spec;
      throw new Error(`unknown cost source type ${String((never as { type?: unknown }).type)}`);
    }
  }
}
