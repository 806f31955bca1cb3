/**
 * `source.type: opencost`: Kubernetes cost from the OpenCost `/allocation` API, one set per UTC
 * day (`step=1d`), aggregated by namespace, label, controller or service, in the configured
 * currency (OpenCost's answer names none).
 */
import { requestParts } from '../../support';
import type { OpencostSourceSpec } from '../index';
import { utcDay } from '../days';
import type { CostQuery, CostSource, DailyCost } from '../types';

/** The largest answer read (bytes): a 90-day window by namespace is a few MiB; beyond this is a runaway. */
export const OPENCOST_MAX_BODY_BYTES = 128 * 1024 * 1024;

/** OpenCost's group for capacity paid for but requested by no workload. Kept as its own group. */
export const IDLE_GROUP = '__idle__';
/** OpenCost's group for costs without the aggregated property (a pod without the label). Kept as its own group. */
export const UNALLOCATED_GROUP = '__unallocated__';

/** One allocation of an OpenCost answer (`AllocationJSON`), the fields read here. */
interface AllocationJson {
  name?: string;
  window?: { start?: string; end?: string };
  start?: string;
  totalCost?: number | null;
  cpuCost?: number | null;
  gpuCost?: number | null;
  ramCost?: number | null;
  pvCost?: number | null;
  networkCost?: number | null;
  loadBalancerCost?: number | null;
  sharedCost?: number | null;
  externalCost?: number | null;
}

/** The parts of a total when OpenCost wrote `totalCost: null` (it does for NaN and Inf). */
const COST_PARTS = ['cpuCost', 'gpuCost', 'ramCost', 'pvCost', 'networkCost', 'loadBalancerCost', 'sharedCost', 'externalCost'] as const;

/** The `aggregate` property each grouping and filter asks OpenCost for. */
function aggregateOf(spec: OpencostSourceSpec, dim: 'service' | 'account' | 'namespace' | { tag: string }): string {
  if (typeof dim === 'object') return `label:${dim.tag}`;
  if (dim === 'service') return spec.serviceAggregate;
  if (dim === 'account') return 'cluster';
  return 'namespace';
}

/** The request's query string for a CostQuery, and how to read each allocation's name back. */
export function allocationRequest(spec: OpencostSourceSpec, query: CostQuery): {
  params: URLSearchParams;
  /** Per name part, the filter values it must match (undefined: the grouping part, any value). */
  parts: Array<readonly string[] | undefined>;
  grouped: boolean;
} {
  const aggregates: string[] = [];
  const parts: Array<readonly string[] | undefined> = [];
  const grouped = query.groupBy !== 'none';
  aggregates.push(grouped ? aggregateOf(spec, query.groupBy as Exclude<CostQuery['groupBy'], 'none'>) : 'cluster');
  parts.push(undefined);
  // OpenCost's /allocation takes no filter that every version understands: each filter is one
  // more aggregate, and the answer's names (joined with '/') are matched here.
  const f = query.filter ?? {};
  const filters: Array<[string, readonly string[]]> = [];
  if (f.service?.length) filters.push([aggregateOf(spec, 'service'), f.service]);
  if (f.account?.length) filters.push(['cluster', f.account]);
  if (f.namespace?.length) filters.push(['namespace', f.namespace]);
  for (const [k, v] of Object.entries(f.tags ?? {})) filters.push([`label:${k}`, [v]]);
  for (const [agg, values] of filters) {
    aggregates.push(agg);
    parts.push(values);
  }
  const params = new URLSearchParams({
    window: `${query.from}T00:00:00Z,${query.to}T00:00:00Z`,
    aggregate: aggregates.join(','),
    step: '1d',
    accumulate: 'false',
    includeIdle: String(spec.includeIdle),
    shareIdle: 'false',
    idleByNode: 'false',
  });
  return { params, parts, grouped };
}

/** The URL of the `/allocation` endpoint under the configured base (its user-info removed by the caller). */
export function allocationUrl(base: string, params: URLSearchParams): string {
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/allocation`;
  u.search = params.toString();
  return u.href;
}

/** Where the source is, for messages: scheme, host and path, never user-info or query. */
function where(base: string): string {
  const u = new URL(base);
  return `OpenCost at ${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}/allocation`;
}

/** Reads a response body up to `max` bytes; throws past it. */
async function readCapped(res: Response, max: number, at: string): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) throw new Error(`${at}: answer larger than ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The first line of a text, cut short, for an error message. */
function excerpt(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

/**
 * Turns an OpenCost `/allocation` answer (already parsed) into daily rows: one row per day and
 * group, amounts summed over the parts that only served filtering. `__idle__` (capacity nobody
 * requested) and `__unallocated__` (workloads without the grouped property) stay their own
 * groups: folding them into others would hide exactly the waste a cost check is for. With a
 * filter, `__idle__` belongs to no namespace, label or controller and is left out.
 */
export function allocationRows(
  body: unknown,
  shape: { parts: Array<readonly string[] | undefined>; grouped: boolean; currency: string; from: string; to: string },
  at: string,
): DailyCost[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error(`${at}: answer is not an OpenCost response object`);
  const { code, message, data } = body as { code?: unknown; message?: unknown; data?: unknown };
  if (code !== undefined && code !== 200) {
    throw new Error(`${at}: code ${String(code)}${typeof message === 'string' && message ? `: ${excerpt(message)}` : ''}`);
  }
  if (!Array.isArray(data)) throw new Error(`${at}: answer has no data list (one allocation set per day)`);
  const filtered = shape.parts.some((p) => p !== undefined);
  const sums = new Map<string, { day: string; group: string; amount: number }>();
  for (const set of data) {
    if (set === null) continue; // a day OpenCost has no data for
    if (typeof set !== 'object' || Array.isArray(set)) throw new Error(`${at}: an allocation set is not an object`);
    for (const [key, value] of Object.entries(set as Record<string, AllocationJson>)) {
      if (!value || typeof value !== 'object') continue;
      const name = typeof value.name === 'string' ? value.name : key;
      const start = value.window?.start && value.window.start !== 'null' ? value.window.start : value.start;
      const t = start ? Date.parse(start) : NaN;
      if (!Number.isFinite(t)) throw new Error(`${at}: allocation ${name} has no window start`);
      const day = utcDay(t);
      if (day < shape.from || day >= shape.to) continue;
      let group: string;
      if (name.includes(IDLE_GROUP)) {
        if (filtered) continue;
        group = IDLE_GROUP;
      } else {
        const pieces = name.split('/');
        if (pieces.length !== shape.parts.length) {
          throw new Error(`${at}: allocation name ${excerpt(name)} has ${pieces.length} parts, expected ${shape.parts.length}`);
        }
        if (!pieces.every((p, i) => shape.parts[i] === undefined || shape.parts[i]!.includes(p))) continue;
        group = shape.grouped ? pieces[0] : 'total';
      }
      const amount = allocationCost(value);
      const k = `${day}\u0000${group}`;
      const row = sums.get(k);
      if (row) row.amount += amount;
      else sums.set(k, { day, group, amount });
    }
  }
  return [...sums.values()]
    .sort((a, b) => (a.day === b.day ? a.group.localeCompare(b.group) : a.day < b.day ? -1 : 1))
    .map((r) => ({ ...r, amount: Math.round(r.amount * 1e6) / 1e6, currency: shape.currency }));
}

function allocationCost(a: AllocationJson): number {
  if (typeof a.totalCost === 'number') return a.totalCost;
  let sum = 0;
  for (const part of COST_PARTS) {
    const v = a[part];
    if (typeof v === 'number') sum += v;
  }
  return sum;
}

/** The adapter for an `opencost` source block. */
export function opencostSource(spec: OpencostSourceSpec): CostSource {
  const at = where(spec.url);
  return {
    type: 'opencost',
    async daily(query: CostQuery, signal: AbortSignal): Promise<DailyCost[]> {
      if (query.from >= query.to) return [];
      const req = allocationRequest(spec, query);
      const headers: Record<string, string> = { Accept: 'application/json', ...spec.headers };
      if (spec.token) headers.Authorization = `Bearer ${spec.token}`;
      const { target, headers: sent } = requestParts(spec.url, headers);
      let res: Response;
      let text: string;
      try {
        res = await fetch(allocationUrl(target, req.params), { headers: sent, signal, redirect: 'follow' });
        text = await readCapped(res, OPENCOST_MAX_BODY_BYTES, at);
      } catch (err) {
        if (signal.aborted) throw new Error(`${at}: no answer before the check's timeout`, { cause: err });
        if (err instanceof Error && err.message.startsWith(at)) throw err;
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new Error(`${at}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new Error(`${at}: HTTP ${res.status}, answer is not JSON: ${excerpt(text) || '(empty)'}`, { cause: err });
      }
      if (!res.ok) {
        const msg = body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : '';
        throw new Error(`${at}: HTTP ${res.status}${msg ? `: ${excerpt(msg)}` : ''}`);
      }
      return allocationRows(body, { parts: req.parts, grouped: req.grouped, currency: spec.currency, from: query.from, to: query.to }, at);
    },
  };
}
