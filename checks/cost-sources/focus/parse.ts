/**
 * Reading FOCUS export files: which files a path or glob names, gzip detection, the CSV record
 * parser, and one file's stream parse into per-day aggregates (see index.ts for the source).
 */
import fs from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { globNameSource } from '../../support';
import { utcDay } from '../days';

/** FOCUS columns the adapter reads. SubAccountId falls back to BillingAccountId; Tags may be absent. */
const REQUIRED = ['ChargePeriodStart', 'BillingCurrency', 'BilledCost', 'EffectiveCost', 'ServiceName'] as const;

/** Most files a glob may match. */
export const MAX_FILES = 10_000;
/** Longest record (a quoted field may span lines): past this an unterminated quote is a malformed row, not the rest of the file. */
export const MAX_RECORD_CHARS = 1 << 20;

/** Malformed rows located (file:line) per file; the rest are only counted. */
export const MAX_EXAMPLES = 5;

export interface Entry {
  day: string;
  currency: string;
  service: string;
  account: string;
  /** Values of the file's tracked tag keys, in `tagKeys` order (undefined: absent). */
  tags: (string | undefined)[];
  effective: number;
  billed: number;
}

export interface FileAggregate {
  size: number;
  mtimeMs: number;
  tagKeys: string[];
  entries: Entry[];
  rows: number;
  malformed: number;
  examples: string[];
}

const GLOB_CHARS = /[*?[]/;

/** The files a path or glob names, sorted. A plain path must exist; a glob must match at least one file. */
export async function expandGlob(pattern: string): Promise<string[]> {
  const abs = path.resolve(pattern);
  if (!GLOB_CHARS.test(abs)) {
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new Error(`${pattern}: no such file`);
    if (!st.isFile()) throw new Error(`${pattern}: not a regular file`);
    return [abs];
  }
  const segments = abs.split(path.sep);
  const first = segments.findIndex((s) => GLOB_CHARS.test(s));
  const base = segments.slice(0, first).join(path.sep) || path.sep;
  const rest = segments.slice(first);
  const matchers = rest.map((s) => (s === '**' ? undefined : new RegExp(`^${globNameSource(s)}$`)));
  const found = new Set<string>();
  const walk = async (dir: string, i: number): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const re = matchers[i];
    if (!re) {
      // `**`: zero directories here, or any one more level down.
      if (i + 1 < rest.length) await walk(dir, i + 1);
      for (const e of entries) if (!e.name.startsWith('.') && (await isDir(dir, e))) await walk(path.join(dir, e.name), i);
      return;
    }
    for (const e of entries) {
      if (!re.test(e.name) || (e.name.startsWith('.') && !rest[i].startsWith('.'))) continue;
      const p = path.join(dir, e.name);
      if (i === rest.length - 1) {
        if (await isFile(dir, e)) found.add(p);
        if (found.size > MAX_FILES) throw new Error(`${pattern}: matches more than ${MAX_FILES} files`);
      } else if (await isDir(dir, e)) await walk(p, i + 1);
    }
  };
  await walk(base, 0);
  if (found.size === 0) throw new Error(`${pattern}: no file matches`);
  return [...found].sort();
}

async function isDir(dir: string, e: fs.Dirent): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await stat(path.join(dir, e.name)).catch(() => undefined))?.isDirectory() ?? false;
}

async function isFile(dir: string, e: fs.Dirent): Promise<boolean> {
  if (e.isFile()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await stat(path.join(dir, e.name)).catch(() => undefined))?.isFile() ?? false;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** Whether a file starts with the gzip magic bytes (1f 8b), whatever its name. */
async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Splits one CSV record (RFC 4180: quoted fields, "" for a quote, commas and newlines inside
 * quotes). Returns undefined when the text ends inside a quoted field: the record goes on on
 * the next line.
 */
export function parseCsvRecord(s: string): string[] | undefined {
  if (!s.includes('"')) return s.split(',');
  const out: string[] = [];
  const n = s.length;
  let i = 0;
  for (;;) {
    if (s.charCodeAt(i) === 34 /* " */) {
      let value = '';
      i++;
      for (;;) {
        const q = s.indexOf('"', i);
        if (q < 0) return undefined;
        value += s.slice(i, q);
        if (s.charCodeAt(q + 1) === 34) {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      // Text between a closing quote and the next comma (not RFC 4180) is kept, as most readers do.
      const comma = s.indexOf(',', i);
      if (comma < 0) {
        out.push(value + s.slice(i));
        return out;
      }
      out.push(value + s.slice(i, comma));
      i = comma + 1;
    } else {
      const comma = s.indexOf(',', i);
      if (comma < 0) {
        out.push(s.slice(i));
        return out;
      }
      out.push(s.slice(i, comma));
      i = comma + 1;
    }
    if (i === n) {
      out.push('');
      return out;
    }
  }
}

const DAY_SHAPE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A copy of `s` that holds no reference to the text it was cut from. A field split from a line
 * is a V8 sliced string that keeps readline's whole 256 KiB chunk alive: kept as a cache key or
 * a group name, a few thousand of them would hold hundreds of megabytes.
 */
function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}
const OFFSET = /[+-]\d{2}:?\d{2}$/;

export async function parseFile(file: string, tagKeys: string[], signal: AbortSignal): Promise<FileAggregate> {
  const name = path.basename(file);
  const raw = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  const input: Readable = (await isGzip(file)) ? raw.pipe(zlib.createGunzip()) : raw;
  if (input !== raw) raw.on('error', (err) => input.destroy(err));
  const lines = readline.createInterface({ input, crlfDelay: Infinity });

  const agg: FileAggregate = { size: 0, mtimeMs: 0, tagKeys, entries: [], rows: 0, malformed: 0, examples: [] };
  const sums = new Map<string, Entry>();
  const validDays = new Map<string, boolean>();
  const tagCache = new Map<string, (string | undefined)[]>();
  let header: string[] | undefined;
  let col: Record<string, number> = {};
  let width = 0;
  let lineNo = 0;
  let pending = '';
  let pendingLine = 0;

  const bad = (line: number, reason: string) => {
    agg.malformed++;
    if (agg.examples.length < MAX_EXAMPLES) agg.examples.push(`${name}:${line}: ${reason}`);
  };

  const dayOf = (s: string): string | undefined => {
    let day = s.slice(0, 10);
    if (s.length > 10 && OFFSET.test(s.slice(10))) {
      const t = Date.parse(s);
      return Number.isFinite(t) ? utcDay(t) : undefined;
    }
    let ok = validDays.get(day);
    if (ok === undefined) {
      ok = DAY_SHAPE.test(day) && Number.isFinite(Date.parse(`${day}T00:00:00Z`)) && utcDay(Date.parse(`${day}T00:00:00Z`)) === day;
      if (validDays.size < 10_000) validDays.set(day, ok);
    }
    if (!ok) return undefined;
    if (s.length > 10 && !/^[T ]\d{2}:\d{2}/.test(s.slice(10, 16))) return undefined;
    return day;
  };

  const tagValues = (json: string): (string | undefined)[] | undefined => {
    const known = tagCache.get(json);
    if (known) return known;
    let values: (string | undefined)[];
    if (json === '' || json === 'null') values = tagKeys.map(() => undefined);
    else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(json);
      } catch {
        return undefined;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
      const obj = parsed as Record<string, unknown>;
      values = tagKeys.map((k) => (obj[k] === undefined || obj[k] === null ? undefined : String(obj[k])));
    }
    if (tagCache.size >= 10_000) tagCache.clear();
    tagCache.set(own(json), values);
    return values;
  };

  const record = (fields: string[], line: number) => {
    if (!header) {
      if (fields[0]?.charCodeAt(0) === 0xfeff) fields[0] = fields[0].slice(1);
      header = fields;
      width = fields.length;
      col = Object.fromEntries(fields.map((f, i) => [f, i]));
      const missing = REQUIRED.filter((c) => !(c in col));
      if (missing.length) {
        const lower = new Map(fields.map((f) => [f.toLowerCase(), f]));
        const near = missing.map((m) => lower.get(m.toLowerCase())).filter((f): f is string => !!f);
        throw new Error(
          `${file}: not a FOCUS export: no ${missing.join(', ')} column${missing.length > 1 ? 's' : ''}` +
            (near.length ? ` (found ${near.join(', ')}: FOCUS column names are case-sensitive)` : ''),
        );
      }
      return;
    }
    if (fields.length !== width) {
      if (fields.length === 1 && fields[0] === '') return; // blank line
      return bad(line, `${fields.length} fields, the header has ${width}`);
    }
    const start = fields[col.ChargePeriodStart];
    const day = dayOf(start);
    if (!day) return bad(line, `ChargePeriodStart '${start}' is not a date`);
    const billedText = fields[col.BilledCost];
    const effectiveText = fields[col.EffectiveCost];
    const billed = billedText === '' ? NaN : Number(billedText);
    const effective = effectiveText === '' ? NaN : Number(effectiveText);
    if (!Number.isFinite(billed)) return bad(line, `BilledCost '${billedText}' is not a number`);
    if (!Number.isFinite(effective)) return bad(line, `EffectiveCost '${effectiveText}' is not a number`);
    const currency = fields[col.BillingCurrency];
    if (!currency) return bad(line, 'no BillingCurrency');
    const service = fields[col.ServiceName];
    const account = (col.SubAccountId !== undefined ? fields[col.SubAccountId] : '') || (col.BillingAccountId !== undefined ? fields[col.BillingAccountId] : '');
    let tags: (string | undefined)[] = [];
    if (tagKeys.length) {
      const t = col.Tags !== undefined ? tagValues(fields[col.Tags]) : tagKeys.map(() => undefined);
      if (!t) return bad(line, 'Tags is not a JSON object');
      tags = t;
    }
    agg.rows++;
    const key = tagKeys.length
      ? `${day}\u0000${currency}\u0000${service}\u0000${account}\u0000${tags.join('\u0001')}\u0000${tags.map((v) => (v === undefined ? 0 : 1)).join('')}`
      : `${day}\u0000${currency}\u0000${service}\u0000${account}`;
    const e = sums.get(key);
    if (e) {
      e.effective += effective;
      e.billed += billed;
    } else {
      sums.set(own(key), { day: own(day), currency: own(currency), service: own(service), account: own(account), tags, effective, billed });
    }
  };

  const onLine = (text: string) => {
    lineNo++;
    if (pending) {
      pending += `\n${text}`;
      const fields = parseCsvRecord(pending);
      if (fields) {
        const line = pendingLine;
        pending = '';
        record(fields, line);
      } else if (pending.length > MAX_RECORD_CHARS) {
        bad(pendingLine, 'unterminated quoted field');
        pending = '';
      }
      return;
    }
    const fields = parseCsvRecord(text);
    if (fields) record(fields, lineNo);
    else {
      pending = text;
      pendingLine = lineNo;
    }
  };

  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      signal.removeEventListener('abort', onAbort);
      lines.close();
      raw.destroy();
      input.destroy();
      reject(err);
    };
    const onAbort = () => fail(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    lines.on('line', (text) => {
      if (failed) return;
      try {
        onLine(text);
      } catch (err) {
        fail(err);
      }
    });
    // readline passes its input's errors on (a truncated gzip: "unexpected end of file").
    const onError = (err: unknown) => fail(new Error(`${file}: ${(err as Error).message}`));
    input.on('error', onError);
    lines.on('error', onError);
    lines.on('close', () => {
      if (failed) return;
      signal.removeEventListener('abort', onAbort);
      if (pending) bad(pendingLine, 'unterminated quoted field');
      if (!header) return fail(new Error(`${file}: empty file, not a FOCUS export`));
      resolve();
    });
  });
  agg.entries = [...sums.values()];
  return agg;
}
