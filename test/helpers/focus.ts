/**
 * Realistic FinOps FOCUS 1.x cost-and-usage exports for the cost tests and the benchmark,
 * modelled on the FinOps Foundation's scenario CSVs (FOCUS_Spec specification/data/
 * commitment_discount_scenarios/*.csv): the spec's column names and allowed values, UTC
 * `...T00:00:00Z` timestamps, a one-time commitment purchase with EffectiveCost 0 then hourly
 * Committed usage with BilledCost 0, corrections (ChargeClass Correction) with negative costs,
 * JSON Tags, and provider-style service names.
 *
 * Deterministic from a seed. Alongside the CSV the generator keeps, in integer micro-units,
 * exactly what it wrote per (day, service, account, currency, tags): `expectedDaily` sums those
 * facts for a query, an independent computation the adapter's totals are checked against.
 *
 *   const exp = focusExport({ seed: 7, spikes: [{ service: EC2, day: 60, factor: 4 }] });
 *   fs.writeFileSync(file, exp.csv);
 *   expectedDaily(exp, { groupBy: 'service', costColumn: 'effective' })
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { addDays, dayStart, utcDay, weekday } from '../../checks/cost-sources/days';
import { UNGROUPED } from '../../checks/cost-sources';
import type { CostQuery, DailyCost } from '../../checks/cost-sources/types';
import { rng } from './rng';

export const EC2 = 'Amazon Elastic Compute Cloud';
export const S3 = 'Amazon Simple Storage Service';
export const RDS = 'Amazon Relational Database Service';
export const LAMBDA = 'AWS Lambda';
export const CLOUDFRONT = 'Amazon CloudFront';
export const CLOUDWATCH = 'Amazon CloudWatch';
export const SAVINGS_PLANS = 'Savings Plans for AWS Compute usage';

export interface FocusService {
  name: string;
  category: string;
  /** Cost per hour in the biggest account (scale 1), before factors. */
  hourly: number;
  /** Multiplier on Saturdays and Sundays (1: none). */
  weekend: number;
  /** Value of the `team` tag. */
  team: string;
  sku: string;
  unit: string;
  /** ARN service part of its resources (ec2, s3, rds ...). */
  arn: string;
}

export interface FocusAccount {
  id: string;
  name: string;
  /** Multiplier on every service's cost in this account. */
  scale: number;
  /** Value of the `env` tag. */
  env: string;
}

export const DEFAULT_SERVICES: readonly FocusService[] = [
  { name: EC2, category: 'Compute', hourly: 120, weekend: 0.7, team: 'platform', sku: 'BoxUsage:m7i.2xlarge', unit: 'Hours', arn: 'ec2' },
  { name: S3, category: 'Storage', hourly: 18, weekend: 1, team: 'data', sku: 'TimedStorage-ByteHrs', unit: 'GB-Hours', arn: 's3' },
  { name: RDS, category: 'Databases', hourly: 42, weekend: 1, team: 'data', sku: 'InstanceUsage:db.r6g.xlarge', unit: 'Hours', arn: 'rds' },
  { name: LAMBDA, category: 'Compute', hourly: 6.5, weekend: 0.45, team: 'web', sku: 'Lambda-GB-Second', unit: 'GB-Seconds', arn: 'lambda' },
  { name: CLOUDFRONT, category: 'Networking', hourly: 9, weekend: 0.8, team: 'web', sku: 'DataTransfer-Out-Bytes', unit: 'GB', arn: 'cloudfront' },
  { name: CLOUDWATCH, category: 'Management and Governance', hourly: 2.2, weekend: 1, team: 'platform', sku: 'CW:MetricMonitorUsage', unit: 'Metrics', arn: 'cloudwatch' },
];

export const DEFAULT_ACCOUNTS: readonly FocusAccount[] = [
  { id: '111111111111', name: 'prod', scale: 1, env: 'prod' },
  { id: '222222222222', name: 'staging', scale: 0.35, env: 'staging' },
  { id: '333333333333', name: 'dev', scale: 0.12, env: 'dev' },
];

/** A day given as `YYYY-MM-DD` or as an index from the export's first day (0-based). */
export type DayRef = string | number;

export interface FocusOptions {
  seed?: number;
  /** First day, `YYYY-MM-DD` (default 2026-01-01). */
  start?: string;
  /** Number of days (default 90). */
  days?: number;
  /** One row per hour or per day for each resource (default daily; the commitment's usage is always hourly). */
  granularity?: 'hourly' | 'daily';
  services?: readonly FocusService[];
  accounts?: readonly FocusAccount[];
  /** Resources per service and account (default 1; the benchmark raises it for size). */
  resources?: number;
  /** BillingCurrency of every account (default USD) but `secondCurrency`'s. */
  currency?: string;
  /** One account billed in another currency (amounts times `rate`). */
  secondCurrency?: { currency: string; account?: string; rate?: number };
  /** Relative noise on each row, uniform in ±noise (default 0.03). */
  noise?: number;
  /** Apply each service's weekend factor (default true). */
  weekend?: boolean;
  /** A service's usage times `factor` on one day (in one account, or all). */
  spikes?: ReadonlyArray<{ service: string; day: DayRef; factor: number; account?: string }>;
  /** A service growing `pctPerDay` % a day (compounded) from `from` (default the first day). */
  creeps?: ReadonlyArray<{ service: string; pctPerDay: number; from?: DayRef }>;
  /**
   * A one-time upfront commitment (Savings Plan) bought on `day`: a Purchase row of `upfront`
   * (default 121,333) BilledCost and 0 EffectiveCost, then every hour to the end of the export
   * a Committed usage row of `service` (default EC2) with BilledCost 0 and EffectiveCost
   * `hourly` (default 51.14), replacing as much on-demand usage of that service in `account`.
   */
  commitment?: { day: DayRef; upfront?: number; hourly?: number; account?: string; service?: string };
  /** Corrections to an earlier day (ChargeClass Correction): negative `amount` on that day. */
  corrections?: ReadonlyArray<{ day: DayRef; service: string; amount: number; account?: string }>;
  /** Promotional credits (ChargeCategory Credit): negative `amount` on that day. */
  credits?: ReadonlyArray<{ day: DayRef; service: string; amount: number; account?: string }>;
  /** Tax rows (ChargeCategory Tax) per service, account and day at this rate of usage (default none). */
  taxRate?: number;
  /** Broken rows mixed in (wrong field count, a non-numeric cost, a bad date), left out of the expected figures. */
  malformed?: number;
  /** Descriptions with commas, quotes and now and then a newline, as real exports have (default true). */
  awkwardText?: boolean;
  /** Columns in a shuffled order (they are found by name). */
  shuffleColumns?: boolean;
  /** Start with a UTF-8 byte order mark. */
  bom?: boolean;
}

/** What the generator wrote, in integer micro-units, per (day, service, account, currency, tags). */
export interface FocusFact {
  day: string;
  service: string;
  account: string;
  currency: string;
  tags: Record<string, string>;
  /** EffectiveCost, micro-units. */
  effective: number;
  /** BilledCost, micro-units. */
  billed: number;
}

export interface FocusExpected {
  facts: FocusFact[];
  /** Data rows written (header and malformed rows not counted). */
  rows: number;
  /** Lines (1-based, the line a record starts on) of the malformed rows. */
  malformedLines: number[];
  /** Bytes of CSV text (before gzip). */
  bytes: number;
  /** First day and last-plus-one day of the export. */
  from: string;
  to: string;
}

export interface FocusExport extends FocusExpected {
  csv: string;
}

const COLUMNS = [
  'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodStart', 'BillingPeriodEnd',
  'ChargePeriodStart', 'ChargePeriodEnd', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency',
  'PricingCategory', 'BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'ConsumedQuantity', 'ConsumedUnit',
  'ProviderName', 'PublisherName', 'InvoiceIssuerName', 'RegionId', 'RegionName', 'ResourceId', 'ResourceName',
  'ResourceType', 'ServiceCategory', 'ServiceName', 'SkuId', 'SubAccountId', 'SubAccountName',
  'CommitmentDiscountId', 'CommitmentDiscountType', 'CommitmentDiscountStatus', 'Tags',
] as const;
type Column = (typeof COLUMNS)[number];
type Row = Partial<Record<Column, string>>;

/** The tag a FOCUS source reads a Kubernetes namespace from by default (AWS split cost allocation for EKS). */
export const NAMESPACE_TAG = 'aws:eks:namespace';
const NAMESPACES = ['checkout', 'search', 'batch'];
const PAYER = { id: '999999999999', name: 'acme-payer' };
const REGIONS = [['us-east-1', 'US East (N. Virginia)'], ['eu-west-1', 'Europe (Ireland)']] as const;

/** A CSV field, quoted when it holds a comma, quote, CR or LF (RFC 4180). */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const micro = (x: number) => Math.round(x * 1e6);
const money = (m: number) => {
  const neg = m < 0;
  const a = Math.abs(m);
  const s = `${Math.floor(a / 1e6)}.${String(a % 1e6).padStart(6, '0')}`;
  return neg ? `-${s}` : s;
};
const ts = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const HOUR = 3_600_000;

function resolveDay(start: string, d: DayRef): string {
  return typeof d === 'number' ? addDays(start, d) : d;
}

/**
 * The export, as chunks of CSV text (about 64 KiB each), and the facts filled in as it is
 * consumed: stream it to a file for a large export, or join it for a small one.
 */
export function focusChunks(opts: FocusOptions = {}): { chunks: Iterable<string>; expected: FocusExpected } {
  const start = opts.start ?? '2026-01-01';
  const days = opts.days ?? 90;
  const end = addDays(start, days);
  const services = opts.services ?? DEFAULT_SERVICES;
  const accounts = opts.accounts ?? DEFAULT_ACCOUNTS;
  const hourly = (opts.granularity ?? 'daily') === 'hourly';
  const resources = opts.resources ?? 1;
  const noise = opts.noise ?? 0.03;
  const awkward = opts.awkwardText ?? true;
  const r = rng(opts.seed ?? 1);
  const currencyOf = new Map(accounts.map((a) => [a.id, opts.currency ?? 'USD']));
  const rateOf = new Map(accounts.map((a) => [a.id, 1]));
  if (opts.secondCurrency) {
    const acc = opts.secondCurrency.account ?? accounts[accounts.length - 1].id;
    currencyOf.set(acc, opts.secondCurrency.currency);
    rateOf.set(acc, opts.secondCurrency.rate ?? 0.92);
  }
  const columns: Column[] = [...COLUMNS];
  if (opts.shuffleColumns) for (let i = columns.length - 1; i > 0; i--) { const j = r.int(i + 1); [columns[i], columns[j]] = [columns[j], columns[i]]; }

  const factMap = new Map<string, FocusFact>();
  const expected: FocusExpected = { facts: [], rows: 0, malformedLines: [], bytes: 0, from: start, to: end };
  const fact = (day: string, service: string, account: string, tags: Record<string, string>, effective: number, billed: number) => {
    const currency = currencyOf.get(account) ?? opts.currency ?? 'USD';
    const key = `${day}\u0000${service}\u0000${account}\u0000${currency}\u0000${JSON.stringify(tags)}`;
    let f = factMap.get(key);
    if (!f) { f = { day, service, account, currency, tags, effective: 0, billed: 0 }; factMap.set(key, f); expected.facts.push(f); }
    f.effective += effective;
    f.billed += billed;
  };

  const spikes = (opts.spikes ?? []).map((s) => ({ ...s, day: resolveDay(start, s.day) }));
  const creeps = (opts.creeps ?? []).map((c) => ({ ...c, from: resolveDay(start, c.from ?? 0) }));
  const commitment = opts.commitment && {
    day: resolveDay(start, opts.commitment.day),
    upfront: opts.commitment.upfront ?? 121_333,
    hourly: opts.commitment.hourly ?? 51.14,
    account: opts.commitment.account ?? accounts[0].id,
    service: opts.commitment.service ?? EC2,
  };
  const commitmentId = 'arn:aws:savingsplans::999999999999:savingsplan/3f2c5e1a-8d4b-4f6e-9a7c-0b1d2e3f4a5b';
  const malformedAt = new Set<number>();
  const plannedRows = days * (hourly ? 24 : 1) * services.length * accounts.length * resources;
  for (let i = 0; i < (opts.malformed ?? 0); i++) malformedAt.add(1 + r.int(Math.max(1, plannedRows - 1)));

  const tagsFor = (svc: FocusService, acc: FocusAccount, res: number): Record<string, string> =>
    svc.name === CLOUDWATCH ? { env: acc.env } : {
      team: svc.team, env: acc.env,
      ...(res % 2 === 1 ? { 'cost-center': `cc-${100 + res}` } : {}),
      ...(svc.name === EC2 ? { [NAMESPACE_TAG]: NAMESPACES[res % NAMESPACES.length] } : {}),
    };

  function* generate(): Generator<string> {
    let line = 1;
    let buf = '';
    let written = 0;
    const emit = (text: string) => {
      buf += text;
      expected.bytes += Buffer.byteLength(text);
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) line++;
    };
    const rowText = (row: Row) => columns.map((c) => csvField(row[c] ?? '')).join(',') + '\n';
    const malformedRow = (kind: number, row: Row): string => {
      if (kind === 0) return columns.slice(0, 7).map((c) => csvField(row[c] ?? '')).join(',') + '\n';
      const bad: Row = { ...row };
      if (kind === 1) bad.EffectiveCost = bad.BilledCost = 'n/a';
      else bad.ChargePeriodStart = 'yesterday';
      return rowText(bad);
    };
    /** Writes one data row, and now and then a malformed one before it. */
    const write = (row: Row, day: string, service: string, account: string, tags: Record<string, string>, effective: number, billed: number) => {
      written++;
      if (malformedAt.has(written)) {
        expected.malformedLines.push(line);
        emit(malformedRow(expected.malformedLines.length % 3, row));
      }
      emit(rowText(row));
      expected.rows++;
      fact(day, service, account, tags, effective, billed);
    };

    if (opts.bom) emit('\uFEFF');
    emit(columns.join(',') + '\n');
    const slots = hourly ? 24 : 1;
    for (let d = 0; d < days; d++) {
      const day = addDays(start, d);
      const dayMs = dayStart(day);
      const monthStart = utcDay(Date.UTC(new Date(dayMs).getUTCFullYear(), new Date(dayMs).getUTCMonth(), 1));
      const nextMonth = utcDay(Date.UTC(new Date(dayMs).getUTCFullYear(), new Date(dayMs).getUTCMonth() + 1, 1));
      const billing = { BillingPeriodStart: `${monthStart}T00:00:00Z`, BillingPeriodEnd: `${nextMonth}T00:00:00Z` };
      const isWeekend = weekday(day) === 0 || weekday(day) === 6;
      const committed = commitment && day >= commitment.day;

      if (commitment && day === commitment.day) {
        const acc = accounts.find((a) => a.id === commitment.account) ?? accounts[0];
        const up = micro(commitment.upfront * (rateOf.get(acc.id) ?? 1));
        const termEnd = ts(Date.UTC(new Date(dayMs).getUTCFullYear() + 1, new Date(dayMs).getUTCMonth(), new Date(dayMs).getUTCDate()));
        write({
          BillingAccountId: PAYER.id, BillingAccountName: PAYER.name, BillingCurrency: currencyOf.get(acc.id), ...billing,
          ChargePeriodStart: ts(dayMs), ChargePeriodEnd: termEnd, ChargeCategory: 'Purchase', ChargeDescription: '1 year All Upfront Compute Savings Plan',
          ChargeFrequency: 'One-Time', PricingCategory: 'Standard', BilledCost: money(up), EffectiveCost: money(0), ListCost: money(up), ContractedCost: money(up),
          ConsumedQuantity: '', ConsumedUnit: '', ProviderName: 'AWS', PublisherName: 'AWS', InvoiceIssuerName: 'AWS', RegionId: '', RegionName: '',
          ResourceId: commitmentId, ResourceName: 'compute-savings-plan', ResourceType: 'Savings Plan', ServiceCategory: 'Compute', ServiceName: SAVINGS_PLANS,
          SkuId: 'ComputeSP:1yrAllUpfront', SubAccountId: acc.id, SubAccountName: acc.name, CommitmentDiscountId: commitmentId,
          CommitmentDiscountType: 'Savings Plan', CommitmentDiscountStatus: '', Tags: '{}',
        }, day, SAVINGS_PLANS, acc.id, {}, 0, up);
      }

      for (let slot = 0; slot < slots; slot++) {
        const from = dayMs + (hourly ? slot * HOUR : 0);
        const to = hourly ? from + HOUR : dayMs + 24 * HOUR;
        const hours = hourly ? 1 : 24;
        for (const acc of accounts) {
          const rate = rateOf.get(acc.id) ?? 1;
          for (const svc of services) {
            let factor = acc.scale;
            if (opts.weekend !== false && isWeekend) factor *= svc.weekend;
            for (const c of creeps) if (c.service === svc.name && day >= c.from) factor *= (1 + c.pctPerDay / 100) ** ((dayStart(day) - dayStart(c.from)) / 86_400_000);
            for (const s of spikes) if (s.service === svc.name && s.day === day && (!s.account || s.account === acc.id)) factor *= s.factor;
            const covered = committed && commitment.account === acc.id && commitment.service === svc.name ? commitment.hourly * hours : 0;
            for (let res = 0; res < resources; res++) {
              const usage = (svc.hourly * hours * factor / resources) * (1 + noise * (2 * r.next() - 1));
              const onDemand = Math.max(0, usage - covered / resources);
              const amount = micro(onDemand * rate);
              const region = REGIONS[res % REGIONS.length];
              const tags = tagsFor(svc, acc, res);
              const resourceId = `arn:aws:${svc.arn}:${region[0]}:${acc.id}:${svc.category.toLowerCase().replace(/ /g, '-')}/r-${acc.id.slice(-3)}${String(res).padStart(4, '0')}`;
              const description = awkward && r.int(40) === 0
                ? `$${(svc.hourly / 10).toFixed(3)} per ${svc.unit}, "${svc.sku}"\nincludes free tier`
                : awkward && r.int(4) === 0 ? `$${(svc.hourly / 10).toFixed(3)} per ${svc.unit} for ${svc.sku}, on demand` : `${svc.sku} usage`;
              write({
                BillingAccountId: PAYER.id, BillingAccountName: PAYER.name, BillingCurrency: currencyOf.get(acc.id), ...billing,
                ChargePeriodStart: ts(from), ChargePeriodEnd: ts(to), ChargeCategory: 'Usage', ChargeDescription: description,
                ChargeFrequency: 'Usage-Based', PricingCategory: 'Standard', BilledCost: money(amount), EffectiveCost: money(amount),
                ListCost: money(amount), ContractedCost: money(amount), ConsumedQuantity: (onDemand * 10).toFixed(4), ConsumedUnit: svc.unit,
                ProviderName: 'AWS', PublisherName: 'AWS', InvoiceIssuerName: 'AWS', RegionId: region[0], RegionName: region[1],
                ResourceId: resourceId, ResourceName: `${tags.team ?? 'shared'}-${res}`, ResourceType: svc.category, ServiceCategory: svc.category,
                ServiceName: svc.name, SkuId: svc.sku, SubAccountId: acc.id, SubAccountName: acc.name, CommitmentDiscountId: '',
                CommitmentDiscountType: '', CommitmentDiscountStatus: '', Tags: JSON.stringify(tags),
              }, day, svc.name, acc.id, tags, amount, amount);
              if (opts.taxRate) {
                const tax = micro(onDemand * rate * opts.taxRate);
                write({
                  BillingAccountId: PAYER.id, BillingAccountName: PAYER.name, BillingCurrency: currencyOf.get(acc.id), ...billing,
                  ChargePeriodStart: ts(from), ChargePeriodEnd: ts(to), ChargeCategory: 'Tax', ChargeDescription: 'Sales tax', ChargeFrequency: 'Usage-Based',
                  PricingCategory: '', BilledCost: money(tax), EffectiveCost: money(tax), ListCost: money(tax), ContractedCost: money(tax),
                  ProviderName: 'AWS', PublisherName: 'AWS', InvoiceIssuerName: 'AWS', ServiceCategory: svc.category, ServiceName: svc.name,
                  SubAccountId: acc.id, SubAccountName: acc.name, Tags: JSON.stringify(tags),
                }, day, svc.name, acc.id, tags, tax, tax);
              }
            }
            if (covered && hourly) writeCommitted(acc, svc, from, to, day, billing);
            else if (covered) for (let h = 0; h < 24; h++) writeCommitted(acc, svc, from + h * HOUR, from + (h + 1) * HOUR, day, billing);
          }
        }
        if (buf.length >= 65_536) { yield buf; buf = ''; }
      }

      for (const [kind, list] of [['Correction', opts.corrections ?? []], ['Credit', opts.credits ?? []]] as const) {
        for (const c of list) {
          if (resolveDay(start, c.day) !== day) continue;
          const acc = accounts.find((a) => a.id === (c.account ?? accounts[0].id)) ?? accounts[0];
          const svc = services.find((s) => s.name === c.service) ?? services[0];
          const amount = micro(c.amount * (rateOf.get(acc.id) ?? 1));
          const tags = tagsFor(svc, acc, 0);
          // A correction is billed in a later billing period but keeps the corrected charge period.
          const corrBilling = kind === 'Correction'
            ? { BillingPeriodStart: `${billing.BillingPeriodEnd.slice(0, 10)}T00:00:00Z`, BillingPeriodEnd: `${utcDay(Date.UTC(Number(billing.BillingPeriodEnd.slice(0, 4)), Number(billing.BillingPeriodEnd.slice(5, 7)), 1))}T00:00:00Z` }
            : billing;
          write({
            BillingAccountId: PAYER.id, BillingAccountName: PAYER.name, BillingCurrency: currencyOf.get(acc.id), ...corrBilling,
            ChargePeriodStart: ts(dayMs), ChargePeriodEnd: ts(dayMs + 24 * HOUR), ChargeCategory: kind === 'Credit' ? 'Credit' : 'Adjustment',
            ChargeClass: kind === 'Correction' ? 'Correction' : '', ChargeDescription: kind === 'Credit' ? 'Promotional credit, "Activate"' : 'Refund: usage over-billed',
            ChargeFrequency: 'One-Time', PricingCategory: '', BilledCost: money(amount), EffectiveCost: money(amount), ListCost: money(amount),
            ContractedCost: money(amount), ProviderName: 'AWS', PublisherName: 'AWS', InvoiceIssuerName: 'AWS', ServiceCategory: svc.category,
            ServiceName: svc.name, SubAccountId: acc.id, SubAccountName: acc.name, Tags: JSON.stringify(tags),
          }, day, svc.name, acc.id, tags, amount, amount);
        }
      }
    }
    if (buf) yield buf;

    function writeCommitted(acc: FocusAccount, svc: FocusService, from: number, to: number, day: string, billing: Row) {
      const eff = micro(commitment!.hourly * (rateOf.get(acc.id) ?? 1));
      const tags = tagsFor(svc, acc, 0);
      write({
        BillingAccountId: PAYER.id, BillingAccountName: PAYER.name, BillingCurrency: currencyOf.get(acc.id), ...billing,
        ChargePeriodStart: ts(from), ChargePeriodEnd: ts(to), ChargeCategory: 'Usage', ChargeDescription: 'Savings Plan covered usage',
        ChargeFrequency: 'Usage-Based', PricingCategory: 'Committed', BilledCost: money(0), EffectiveCost: money(eff),
        ListCost: money(Math.round(eff * 1.39)), ContractedCost: money(eff), ConsumedQuantity: '1.0000', ConsumedUnit: 'Hours',
        ProviderName: 'AWS', PublisherName: 'AWS', InvoiceIssuerName: 'AWS', RegionId: 'us-east-1', RegionName: REGIONS[0][1],
        ResourceId: `arn:aws:ec2:us-east-1:${acc.id}:instance/i-0committed`, ResourceName: 'committed-0', ResourceType: svc.category,
        ServiceCategory: svc.category, ServiceName: svc.name, SkuId: svc.sku, SubAccountId: acc.id, SubAccountName: acc.name,
        CommitmentDiscountId: commitmentId, CommitmentDiscountType: 'Savings Plan', CommitmentDiscountStatus: 'Used', Tags: JSON.stringify(tags),
      }, day, svc.name, acc.id, tags, eff, 0);
    }
  }

  return { chunks: { [Symbol.iterator]: generate }, expected };
}

/** A whole export in memory (tests: 90 daily days is about 1 MB). */
export function focusExport(opts: FocusOptions = {}): FocusExport {
  const { chunks, expected } = focusChunks(opts);
  let csv = '';
  for (const c of chunks) csv += c;
  return { csv, ...expected };
}

/** Streams an export to `file` (gzip when `gzip`), never holding it whole: for the benchmark's 1 GB export. */
export async function writeFocusExport(file: string, opts: FocusOptions = {}, write: { gzip?: boolean } = {}): Promise<FocusExpected> {
  const { chunks, expected } = focusChunks(opts);
  const source = Readable.from(chunks, { objectMode: false });
  if (write.gzip) await pipeline(source, zlib.createGzip({ level: 1 }), fs.createWriteStream(file));
  else await pipeline(source, fs.createWriteStream(file));
  return expected;
}

/**
 * The expected daily amounts for a query, summed from the generator's facts (micro-units,
 * exact) and returned in currency units, sorted by day then group. `currency` keeps one
 * currency's rows (as the source's `currency:` does); without it every currency is kept, each
 * group split by currency.
 */
export function expectedDaily(
  exp: FocusExpected,
  q: Pick<CostQuery, 'groupBy' | 'costColumn' | 'filter'> & { from?: string; to?: string; currency?: string },
): DailyCost[] {
  const sums = new Map<string, DailyCost & { micro: number }>();
  for (const f of exp.facts) {
    if (q.from && f.day < q.from) continue;
    if (q.to && f.day >= q.to) continue;
    if (q.currency && f.currency !== q.currency) continue;
    if (q.filter?.service && !q.filter.service.includes(f.service)) continue;
    if (q.filter?.account && !q.filter.account.includes(f.account)) continue;
    if (q.filter?.tags && !Object.entries(q.filter.tags).every(([k, v]) => f.tags[k] === v)) continue;
    if (q.filter?.namespace && !q.filter.namespace.includes(f.tags[NAMESPACE_TAG])) continue;
    const g = q.groupBy;
    const group = g === 'service' ? f.service : g === 'account' ? f.account : g === 'none' ? 'total'
      : (f.tags[g === 'namespace' ? NAMESPACE_TAG : g.tag] ?? UNGROUPED);
    const key = `${f.day}\u0000${group}\u0000${f.currency}`;
    let s = sums.get(key);
    if (!s) { s = { day: f.day, group, currency: f.currency, amount: 0, micro: 0 }; sums.set(key, s); }
    s.micro += q.costColumn === 'billed' ? f.billed : f.effective;
  }
  return [...sums.values()]
    .map(({ micro: m, ...d }) => ({ ...d, amount: m / 1e6 }))
    .sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.group < b.group ? -1 : a.group > b.group ? 1 : a.currency < b.currency ? -1 : 1));
}
