import type { FieldUnit } from '../types';

/**
 * The Nagios plugin output format (monitoring-plugins development guidelines, "Plugin
 * Output" and "Performance data"):
 *
 *     TEXT OUTPUT | OPTIONAL PERFDATA
 *     LONG TEXT LINE 1
 *     LONG TEXT LINE N | PERFDATA LINE 2
 *     PERFDATA LINE 3
 *
 * Perfdata is a space-separated list of `'label'=value[UOM];[warn];[crit];[min];[max]`.
 */

/** One perfdata item as the plugin wrote it. */
export interface PerfDatum {
  label: string;
  /** The number; undefined for `U` (the plugin could not determine it). */
  value: number | undefined;
  /** The unit of measurement as written (`s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `GB`, `TB`, `c`, or none). */
  uom: string;
  /** The warn and crit ranges as written (`10`, `@5:10`, `~:20`), undefined when empty. */
  warn?: string;
  crit?: string;
  min?: number;
  max?: number;
}

/** A plugin's output taken apart. */
export interface PluginOutput {
  /** The first line's text, before any `|`, trimmed. */
  text: string;
  /** The lines after the first, up to the `|` that starts more perfdata. */
  longText: string[];
  perfdata: PerfDatum[];
  /** Perfdata items that could not be read (kept out of the values), as written. */
  malformed: string[];
}

/** Splits a plugin's standard output into text, long text and perfdata. Never throws. */
export function parsePluginOutput(stdout: string): PluginOutput {
  const lines = stdout.replace(/\r\n?/g, '\n').split('\n');
  const first = lines[0] ?? '';
  const bar = first.indexOf('|');
  const text = (bar < 0 ? first : first.slice(0, bar)).trim();
  const perfText: string[] = bar < 0 ? [] : [first.slice(bar + 1)];
  const longText: string[] = [];
  let inPerf = false;
  for (const line of lines.slice(1)) {
    if (inPerf) {
      perfText.push(line);
      continue;
    }
    const at = line.indexOf('|');
    if (at < 0) {
      longText.push(line);
      continue;
    }
    longText.push(line.slice(0, at));
    perfText.push(line.slice(at + 1));
    inPerf = true;
  }
  while (longText.length > 0 && longText[longText.length - 1].trim() === '') longText.pop();
  const { data, malformed } = parsePerfdata(perfText.join(' '));
  return { text, longText, perfdata: data, malformed };
}

const NUMBER = /^[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?/;

/** Reads a perfdata list; items it cannot read go to `malformed` instead of ending the parse. */
export function parsePerfdata(text: string): { data: PerfDatum[]; malformed: string[] } {
  const data: PerfDatum[] = [];
  const malformed: string[] = [];
  let i = 0;
  const n = text.length;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && isSpace(text[i])) i++;
    if (i >= n) break;
    const start = i;
    let label: string | undefined;
    if (text[i] === "'") {
      // Quoted label: '' stands for one quote; it ends at a quote followed by "=".
      let j = i + 1;
      let out = '';
      for (;;) {
        if (j >= n) break;
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            out += "'";
            j += 2;
            continue;
          }
          break;
        }
        out += text[j++];
      }
      if (j < n && text[j + 1] === '=') {
        label = out;
        i = j + 2;
      } else {
        // No closing quote before "=": skip to the next space and carry on.
        while (i < n && !isSpace(text[i])) i++;
        malformed.push(text.slice(start, i));
        continue;
      }
    } else {
      let j = i;
      while (j < n && text[j] !== '=' && !isSpace(text[j])) j++;
      if (j >= n || text[j] !== '=' || j === i) {
        while (j < n && !isSpace(text[j])) j++;
        malformed.push(text.slice(start, j));
        i = j;
        continue;
      }
      label = text.slice(i, j);
      i = j + 1;
    }
    let k = i;
    while (k < n && !isSpace(text[k])) k++;
    const datum = parseDatum(label, text.slice(i, k));
    if (datum) data.push(datum);
    else malformed.push(text.slice(start, k));
    i = k;
  }
  return { data, malformed };
}

/** `value[UOM];warn;crit;min;max` of one label, or undefined when the value is not a number (or `U`). */
function parseDatum(label: string, rest: string): PerfDatum | undefined {
  if (label === '') return undefined;
  const [head, warn, crit, min, max] = rest.split(';');
  let value: number | undefined;
  let uom: string;
  if (head === 'U' || head === 'u') {
    value = undefined;
    uom = '';
  } else {
    const m = NUMBER.exec(head);
    if (!m) return undefined;
    value = toNumber(m[0]);
    uom = head.slice(m[0].length);
    if (value === undefined || !/^[A-Za-z%]*$/.test(uom)) return undefined;
  }
  const datum: PerfDatum = { label, value, uom };
  if (warn) datum.warn = warn;
  if (crit) datum.crit = crit;
  const lo = min ? toNumber(min) : undefined;
  const hi = max ? toNumber(max) : undefined;
  if (lo !== undefined) datum.min = lo;
  if (hi !== undefined) datum.max = hi;
  return datum;
}

function toNumber(text: string): number | undefined {
  const m = NUMBER.exec(text.trim());
  if (!m || m[0].length !== text.trim().length) return undefined;
  // A decimal comma (a plugin run under a locale that has one) reads as a point.
  const n = Number(m[0].replace(',', '.'));
  return Number.isFinite(n) ? n : undefined;
}

const BYTE_POWERS: Record<string, number> = { B: 0, KB: 1, kB: 1, KiB: 1, MB: 2, MiB: 2, GB: 3, GiB: 3, TB: 4, TiB: 4, PB: 5, PiB: 5 };

/**
 * A perfdata value in keepwatch's units: times in ms, sizes in bytes (1 KB = 1024 B, as the
 * monitoring-plugins count), `%` as percent, `c` (a counter) as count; no UOM, or one the
 * guidelines do not define (`W`, `dBm`), is a plain number (`none`).
 */
export function toUnit(value: number, uom: string): { value: number; unit: FieldUnit } {
  switch (uom) {
    case 's':
      return { value: tidy(value * 1000), unit: 'ms' };
    case 'ms':
      return { value, unit: 'ms' };
    case 'us':
      return { value: tidy(value / 1000), unit: 'ms' };
    case '%':
      return { value, unit: 'percent' };
    case 'c':
      return { value, unit: 'count' };
    default: {
      const power = BYTE_POWERS[uom];
      if (power !== undefined) return { value: tidy(value * 1024 ** power), unit: 'bytes' };
      return { value, unit: 'none' };
    }
  }
}

/** Drops float noise from a unit conversion (0.123 s → 123 ms, not 123.00000000000001). */
function tidy(n: number): number {
  return Number.isInteger(n) ? n : Number(n.toPrecision(12));
}

/** The longest value name made from a label. */
export const MAX_NAME_LENGTH = 64;

/**
 * The value name of a perfdata label: letters, digits and `_` (each run of other characters
 * becomes one `_`, none at either end), `root` for `/`, `_` before a leading digit, at most
 * MAX_NAME_LENGTH characters: `/var/log` → `var_log`, `'time to connect'` → `time_to_connect`,
 * `1min` → `_1min`.
 */
export function valueName(label: string): string {
  let name = label.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (name === '') name = label.trim() === '/' ? 'root' : 'value';
  if (/^\d/.test(name)) name = `_${name}`;
  return name.slice(0, MAX_NAME_LENGTH);
}

/** The most perfdata values a run keeps (each is a metric series); the rest are dropped. */
export const MAX_PERF_VALUES = 100;

/** One perfdata item as a value: its name, number and unit. */
export interface PerfValue {
  name: string;
  label: string;
  value: number;
  unit: FieldUnit;
  uom: string;
}

/**
 * The perfdata as named values. A name already taken (by an earlier label, or by one of
 * `reserved`) gets `_2`, `_3`, … in order of appearance; `U` values are left out; at most
 * MAX_PERF_VALUES are kept.
 */
export function perfValues(data: readonly PerfDatum[], reserved: readonly string[] = []): PerfValue[] {
  const taken = new Set(reserved);
  const out: PerfValue[] = [];
  for (const d of data) {
    if (d.value === undefined) continue;
    if (out.length >= MAX_PERF_VALUES) break;
    const base = valueName(d.label);
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    out.push({ name, label: d.label, uom: d.uom, ...toUnit(d.value, d.uom) });
  }
  return out;
}
