import type { CostFigures } from '../checks/types';

/**
 * The keepwatch_cost_* families: what a cost check's observation puts in its `cost` block,
 * one series per check and figure. Their labels are bounded by construction: `check`, and the
 * block's `source` (the source type: focus, opencost, aws, host), `scope` (the check's filter
 * summary: `all`, `service=AmazonEC2`) and `currency` (one per check: amounts are never summed
 * across currencies), plus `group` on keepwatch_cost_group_spend, of which a check keeps at
 * most MAX_COST_GROUPS.
 */
export const COST_FAMILIES = {
  costSpend: {
    name: 'keepwatch_cost_spend',
    type: 'gauge',
    help: 'Spend a cost check saw, in its currency: month to date (cost-budget) or the last complete day (cost-anomaly).',
  },
  costForecast: { name: 'keepwatch_cost_forecast', type: 'gauge', help: "Forecast spend for the current month, in the check's currency." },
  costBudget: { name: 'keepwatch_cost_budget', type: 'gauge', help: "The monthly budget a cost check holds spend to, in the check's currency." },
  costAnomalyScore: {
    name: 'keepwatch_cost_anomaly_score',
    type: 'gauge',
    help: "Anomaly score of a cost check's worst offender: robust z-score of its daily spend against its trailing baseline.",
  },
  costWastedMonthly: {
    name: 'keepwatch_cost_wasted_monthly',
    type: 'gauge',
    help: "Cost of capacity never needed at p95 (idle-capacity), per month, in the check's currency.",
  },
  costGroupSpend: {
    name: 'keepwatch_cost_group_spend',
    type: 'gauge',
    help: "Spend of a cost check's largest groups (services, accounts, tag values, namespaces), in its currency, over the same period as keepwatch_cost_spend.",
  },
} as const;

export type CostFamily = keyof typeof COST_FAMILIES;
export const COST_FAMILY_KEYS = Object.keys(COST_FAMILIES) as CostFamily[];

/** The most groups of one check exported in keepwatch_cost_group_spend (the largest). */
export const MAX_COST_GROUPS = 10;
/** The longest source, scope or group label value kept (longer ones are cut, with an ellipsis). */
export const MAX_COST_LABEL = 100;

const FIGURES: Array<[Exclude<CostFamily, 'costGroupSpend'>, keyof CostFigures]> = [
  ['costSpend', 'spend'],
  ['costForecast', 'forecast'],
  ['costBudget', 'budget'],
  ['costAnomalyScore', 'anomalyScore'],
  ['costWastedMonthly', 'wastedMonthly'],
];

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
const label = (s: string) => (s.length > MAX_COST_LABEL ? `${s.slice(0, MAX_COST_LABEL - 1)}…` : s);

/**
 * The cost block a result keeps: label values cut to MAX_COST_LABEL, figures that are not
 * finite numbers dropped (no data is no series, not NaN), the MAX_COST_GROUPS largest groups.
 * Throws when the block is malformed (no source, scope or currency): a bug in the check,
 * which makes the run unknown rather than export series nobody can tell apart.
 */
export function keepCost(cost: unknown, clean: (s: string) => string = (s) => s): CostFigures {
  const c = cost as Partial<CostFigures> | null;
  if (typeof c !== 'object' || c === null) throw new Error('the check returned a cost block that is not an object');
  for (const key of ['source', 'scope', 'currency'] as const) {
    if (typeof c[key] !== 'string' || c[key] === '') throw new Error(`the check returned a cost block without ${key}`);
  }
  const out: CostFigures = { source: label(c.source!), scope: label(clean(c.scope!)), currency: label(c.currency!) };
  for (const [, key] of FIGURES) if (finite(c[key])) (out as unknown as Record<string, number>)[key] = c[key] as number;
  if (Array.isArray(c.groups)) {
    out.groups = c.groups
      .filter((g) => typeof g?.group === 'string' && g.group !== '' && finite(g.spend))
      .sort((a, b) => b.spend - a.spend)
      .slice(0, MAX_COST_GROUPS)
      .map((g) => ({ group: label(clean(g.group)), spend: g.spend }));
  }
  return out;
}

/** One check's lines of each cost family (empty where the block has no such figure). */
export function renderCost(check: string, cost: CostFigures | undefined): Record<CostFamily, string> {
  const out = Object.fromEntries(COST_FAMILY_KEYS.map((k) => [k, ''])) as Record<CostFamily, string>;
  if (!cost) return out;
  const labels = `check="${escapeLabel(check)}",source="${escapeLabel(cost.source)}",scope="${escapeLabel(cost.scope)}",currency="${escapeLabel(cost.currency)}"`;
  for (const [family, key] of FIGURES) {
    const n = cost[key];
    if (typeof n === 'number') out[family] = `${COST_FAMILIES[family].name}{${labels}} ${n}\n`;
  }
  for (const g of cost.groups ?? []) out.costGroupSpend += `${COST_FAMILIES.costGroupSpend.name}{${labels},group="${escapeLabel(g.group)}"} ${g.spend}\n`;
  return out;
}

/** Escapes a label value for the text format: backslash, double quote and newline. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
