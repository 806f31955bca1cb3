/**
 * The cost data every cost check reads, whatever its source: daily amounts per group (a
 * service, an account, a tag value, a Kubernetes namespace), in one currency. One small adapter
 * per `source.type` (focus, opencost, aws) turns its provider's answer into these rows; the
 * checks (cost-budget, cost-anomaly) never see a provider's format.
 */

/** One group's cost on one day (UTC). Negative amounts (refunds, corrections) are kept, never dropped. */
export interface DailyCost {
  /** The day, `YYYY-MM-DD` (UTC). */
  day: string;
  /** The group's key: a service name, an account id, a tag value, a namespace; `total` when not grouped. */
  group: string;
  amount: number;
  /** ISO 4217 code. Amounts in different currencies are never added up. */
  currency: string;
}

/** What a check asks a source for. */
export interface CostQuery {
  /** First day included, `YYYY-MM-DD`. */
  from: string;
  /** Day after the last one included, `YYYY-MM-DD`. */
  to: string;
  /** How to group: by service, account, a tag's value, a namespace, or not at all. */
  groupBy: 'service' | 'account' | 'namespace' | 'none' | { tag: string };
  /** Only rows matching every given filter (exact values; any of a list). */
  filter?: {
    service?: readonly string[];
    account?: readonly string[];
    namespace?: readonly string[];
    tags?: Readonly<Record<string, string>>;
  };
  /**
   * Which amount: `effective` (amortised: a commitment's upfront purchase spread over its
   * usage; FOCUS EffectiveCost, the default) or `billed` (as invoiced: FOCUS BilledCost).
   */
  costColumn: 'effective' | 'billed';
}

/** A source's own forecast of a period's total, where the provider has one (AWS GetCostForecast). */
export interface CostForecast {
  /** First and last-plus-one day of the forecast period. */
  from: string;
  to: string;
  amount: number;
  currency: string;
  /** When the provider computed it (epoch ms), for a source that serves cached answers (aws). */
  fetchedAt?: number;
}

/** One configured source of cost data. */
export interface CostSource {
  /** The `source.type` value: focus, opencost, aws. */
  readonly type: string;
  /** Daily costs for the query; all rows share one currency or the source throws saying which it found. */
  daily(query: CostQuery, signal: AbortSignal): Promise<DailyCost[]>;
  /** The provider's forecast of the total for [from, to), when it has one. */
  forecast?(query: CostQuery, signal: AbortSignal): Promise<CostForecast | undefined>;
  /**
   * When the provider answered what `daily(query)` last returned (epoch ms), for a source that
   * serves cached answers between its calls (aws: Cost Explorer is billed per request), so that
   * a check can say how old its data is. Undefined for a source that asks its provider every time.
   */
  fetchedAt?(query: CostQuery): number | undefined;
}

/** A source that found amounts in more than one currency for one query: refused, never summed. */
export class MixedCurrencyError extends Error {
  constructor(readonly currencies: readonly string[], where: string) {
    super(`${where}: amounts in ${currencies.join(' and ')}; a check adds up one currency only (filter by account or billing currency, or set currency:)`);
    this.name = 'MixedCurrencyError';
  }
}
