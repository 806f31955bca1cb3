/**
 * `source.type: focus`: FinOps FOCUS cost-and-usage exports (CSV, gzip or not) from a path or
 * a glob. Each file is stream-parsed (a line at a time through node:readline; a 1 GB export
 * never sits in memory) into per-day aggregates by currency, service, account and the tag
 * values the queries use; those aggregates are cached per file (path, size, mtime), so an
 * unchanged export is not parsed again, and every query is answered from them.
 *
 * Columns are found by their FOCUS names (case-sensitive, as the spec says; a UTF-8 BOM is
 * skipped). A row counts for the UTC day of its ChargePeriodStart (a one-time purchase whose
 * charge period is a whole year counts, whole, on its first day). Negative rows (refunds,
 * credits, corrections) are summed like the others. A malformed row (wrong field count, a cost
 * that is not a number, a bad date) is skipped, counted and located (file:line).
 */
import { stat } from 'node:fs/promises';
import { expandGlob, MAX_EXAMPLES, parseFile, type Entry, type FileAggregate } from './parse';
import { MixedCurrencyError, type CostQuery, type CostSource, type DailyCost } from '../types';

/** The group of rows that lack the grouping tag (same value as the registry's UNGROUPED). */
const UNGROUPED = '(none)';


/** Cached aggregate entries (one per day, currency, service, account and tag values), all files together. */
export const MAX_CACHED_ENTRIES = 250_000;
/** Most files whose aggregates are kept. */
export const MAX_CACHED_FILES = 512;

export interface FocusSourceOptions {
  path: string;
  currency?: string;
  namespaceTag?: string;
}

/** What the last query read: files, rows, and the malformed rows skipped (counted and located). */
export interface FocusReadReport {
  files: number;
  rows: number;
  malformed: number;
  /** `file:line: reason`, the first few. */
  examples: string[];
  /** Files parsed for this query (the others came from the cache). */
  parsed: number;
}

export interface FocusSource extends CostSource {
  /** What the last `daily()` read, for a check's message. */
  readonly lastRead: FocusReadReport | undefined;
}



// One cache for every focus source of the agent: two checks reading the same exports share it.
const cache = new Map<string, FileAggregate>();
let cachedEntries = 0;
const stats = { parses: 0, hits: 0 };

/** Parse and cache counters (tests and the bench). */
export function focusCacheStats(): { parses: number; hits: number; files: number; entries: number } {
  return { ...stats, files: cache.size, entries: cachedEntries };
}

/** Empties the cache and zeroes the counters (tests). */
export function clearFocusCache(): void {
  cache.clear();
  cachedEntries = 0;
  stats.parses = 0;
  stats.hits = 0;
}

function remember(file: string, agg: FileAggregate): void {
  forget(file);
  if (agg.entries.length > MAX_CACHED_ENTRIES) return; // too big to keep: parsed again next time
  while (cache.size > 0 && (cache.size >= MAX_CACHED_FILES || cachedEntries + agg.entries.length > MAX_CACHED_ENTRIES)) {
    forget(cache.keys().next().value as string);
  }
  cache.set(file, agg);
  cachedEntries += agg.entries.length;
}

function forget(file: string): void {
  const old = cache.get(file);
  if (old) {
    cache.delete(file);
    cachedEntries -= old.entries.length;
  }
}

export function focusSource(spec: FocusSourceOptions): FocusSource {
  const namespaceTag = spec.namespaceTag ?? 'aws:eks:namespace';
  let lastRead: FocusReadReport | undefined;
  return {
    type: 'focus',
    get lastRead() {
      return lastRead;
    },
    async daily(query: CostQuery, signal: AbortSignal): Promise<DailyCost[]> {
      const keys = tagKeysOf(query, namespaceTag);
      const files = await expandGlob(spec.path);
      const report: FocusReadReport = { files: files.length, rows: 0, malformed: 0, examples: [], parsed: 0 };
      const sums = new Map<string, DailyCost>();
      for (const file of files) {
        signal.throwIfAborted();
        const agg = await aggregateOf(file, keys, signal, report);
        report.rows += agg.rows;
        report.malformed += agg.malformed;
        for (const e of agg.examples) if (report.examples.length < MAX_EXAMPLES) report.examples.push(e);
        addUp(agg, query, spec.currency, namespaceTag, sums);
      }
      lastRead = report;
      const rows = [...sums.values()].map((d) => ({ ...d, amount: Math.round(d.amount * 1e6) / 1e6 }));
      const currencies = [...new Set(rows.map((r) => r.currency))].sort();
      if (currencies.length > 1) throw new MixedCurrencyError(currencies, `focus source ${spec.path}`);
      return rows.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
    },
  };
}

/** The tag keys a query needs: its tag grouping, its tag filters, the namespace tag. */
function tagKeysOf(q: CostQuery, namespaceTag: string): string[] {
  const keys = new Set<string>();
  if (typeof q.groupBy === 'object') keys.add(q.groupBy.tag);
  if (q.groupBy === 'namespace' || q.filter?.namespace) keys.add(namespaceTag);
  for (const k of Object.keys(q.filter?.tags ?? {})) keys.add(k);
  return [...keys];
}

async function aggregateOf(file: string, keys: string[], signal: AbortSignal, report: FocusReadReport): Promise<FileAggregate> {
  const st = await stat(file);
  const cached = cache.get(file);
  if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs && keys.every((k) => cached.tagKeys.includes(k))) {
    stats.hits++;
    cache.delete(file); // most recently used last
    cache.set(file, cached);
    return cached;
  }
  // Parse again with every key asked for so far, so that two queries with different tags share one parse.
  const tagKeys = [...new Set([...(cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs ? cached.tagKeys : []), ...keys])];
  stats.parses++;
  report.parsed++;
  const agg = await parseFile(file, tagKeys, signal);
  const after = await stat(file);
  agg.size = st.size;
  agg.mtimeMs = st.mtimeMs;
  // A file rewritten while it was read is used as read but not kept: the next query reads it again.
  if (after.size === st.size && after.mtimeMs === st.mtimeMs) remember(file, agg);
  else forget(file);
  return agg;
}

function addUp(agg: FileAggregate, q: CostQuery, currency: string | undefined, namespaceTag: string, sums: Map<string, DailyCost>): void {
  const tagIndex = (k: string) => agg.tagKeys.indexOf(k);
  const groupIndex = typeof q.groupBy === 'object' ? tagIndex(q.groupBy.tag) : q.groupBy === 'namespace' ? tagIndex(namespaceTag) : -1;
  const nsIndex = tagIndex(namespaceTag);
  const tagFilters = Object.entries(q.filter?.tags ?? {}).map(([k, v]) => [tagIndex(k), v] as const);
  const services = q.filter?.service;
  const accounts = q.filter?.account;
  const namespaces = q.filter?.namespace;
  for (const e of agg.entries) {
    if (e.day < q.from || e.day >= q.to) continue;
    if (currency && e.currency !== currency) continue;
    if (services && !services.includes(e.service)) continue;
    if (accounts && !accounts.includes(e.account)) continue;
    if (namespaces && !namespaces.includes(e.tags[nsIndex] as string)) continue;
    if (tagFilters.length && !tagFilters.every(([i, v]) => e.tags[i] === v)) continue;
    const group = q.groupBy === 'service' ? e.service : q.groupBy === 'account' ? e.account : q.groupBy === 'none' ? 'total' : e.tags[groupIndex] ?? UNGROUPED;
    const key = `${e.day}\u0000${group}\u0000${e.currency}`;
    const amount = q.costColumn === 'billed' ? e.billed : e.effective;
    const s = sums.get(key);
    if (s) s.amount += amount;
    else sums.set(key, { day: e.day, group, amount, currency: e.currency });
  }
}

// ---------------------------------------------------------------------------------------------
// Files: a path, or a glob (`*`, `?`, `[...]` within a name, `**` for any depth)
// ---------------------------------------------------------------------------------------------

export { expandGlob, MAX_FILES, MAX_RECORD_CHARS, parseCsvRecord } from './parse';
