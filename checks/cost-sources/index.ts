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

// === aws: the aws colleague adds `awsSourceSchema` (type: 'aws') here (zod only: no SDK import) ===

/** The `source:` block of every cost check. */
export const sourceSchema = z
  .discriminatedUnion('type', [
    focusSourceSchema,
    opencostSourceSchema,
    // === aws: awsSourceSchema, ===
  ])
  .describe('Where the cost data comes from: `type` focus (FOCUS exports), opencost (OpenCost /allocation) or aws (Cost Explorer).');
export type SourceSpec = z.output<typeof sourceSchema>;

/**
 * A source whose adapter module is loaded on first use (`load` runs `import('./<type>')`), then
 * kept: for adapters with heavy dependencies, so that configuring none of them costs nothing.
 */
export function lazySource(type: string, load: () => Promise<CostSource>): CostSource {
  let loaded: Promise<CostSource> | undefined;
  const get = () => (loaded ??= load().catch((err) => { loaded = undefined; throw err; }));
  return {
    type,
    async daily(query: CostQuery, signal: AbortSignal): Promise<DailyCost[]> {
      return (await get()).daily(query, signal);
    },
    async forecast(query: CostQuery, signal: AbortSignal): Promise<CostForecast | undefined> {
      const source = await get();
      return source.forecast ? source.forecast(query, signal) : undefined;
    },
  };
}

/** The adapter for a parsed `source:` block. */
export function sourceFor(spec: SourceSpec): CostSource {
  switch (spec.type) {
    case 'focus':
      return focusSource(spec);
    case 'opencost':
      return opencostSource(spec);
    // === aws: case 'aws': return lazySource('aws', async () => (await import('./aws')).awsSource(spec)); ===
    default: {
      const never: never = spec;
      throw new Error(`unknown cost source type ${String((never as { type?: unknown }).type)}`);
    }
  }
}
