import { z } from 'zod';

/** Rounds to `decimals` places (values in messages and metrics need no float noise). */
export function round(n: number, decimals = 1): number {
  const f = 10 ** decimals;
  return Math.round(n * f) / f;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A duration: one or more `<number><unit>` parts, units ms s m h d w (`500ms`, `30s`, `1h30m`). */
export const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
};

/** A size: a number and a unit, SI (`KB` = 1000) or IEC (`KiB` = 1024), case-insensitive (`10GB`, `512MiB`). */
export const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgtp]i?b|b)$/i;

/** A percentage: `80%`. */
export const PERCENT_RE = /^(\d+(?:\.\d+)?)\s*%$/;

/** Parses a duration such as `500ms`, `30s` or `1h30m` into milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!DURATION_RE.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
  }
  return total;
}

/** Parses a size such as `10GB` or `512MiB` into bytes; undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
}

/** Parses a percentage such as `80%` into 80; undefined when it is not one. */
export function parsePercent(text: string): number | undefined {
  const m = PERCENT_RE.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/** Formats milliseconds as the shortest duration text that parses back to it (`90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  if (rest > 0) out += `${Math.round(rest * 1000) / 1000}ms`;
  return out;
}

/**
 * Bytes in SI units, the ones conditions take (`freeBytes < 10GB`): `12.3 GB`. With `iec`, in
 * powers of 1024 without a trailing `.0` (`4 MiB`): a limit that is a power of two, shown in SI
 * units, would read as a different number (4 MiB is `4.2 MB`).
 */
export function formatBytes(n: number, opts: { iec?: boolean } = {}): string {
  const base = opts.iec ? 1024 : 1000;
  const units = opts.iec ? ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  if (i === 0) return `${v} B`;
  return `${opts.iec ? +v.toFixed(1) : v.toFixed(1)} ${units[i]}`;
}

/**
 * Zod type for a duration: a string such as `30s` or a number of milliseconds; parses to milliseconds.
 */
export function duration(opts: { min?: number; max?: number } = {}) {
  const fits = (ms: number) => (opts.min === undefined || ms >= opts.min) && (opts.max === undefined || ms <= opts.max);
  return z
    .union([
      z.number().nonnegative(),
      z.string().regex(DURATION_RE, { message: 'expected a duration such as 500ms, 30s, 5m or 1h30m' }),
    ])
    .transform((v, ctx) => {
      const ms = typeof v === 'number' ? v : (parseDuration(v) as number);
      if (opts.min !== undefined && ms < opts.min) {
        // `every: 30` meant seconds, almost always: say how it was read, and what to write.
        const bare = typeof v === 'number'
          ? `; a bare number is read as milliseconds (${v} is ${v}ms): ${v > 0 && fits(v * 1000) ? `write ${v}s for ${v} seconds` : 'write it with a unit (ms, s, m, h, d, w)'}`
          : '';
        ctx.addIssue({ code: 'custom', message: `must be at least ${formatDuration(opts.min)}${bare}` });
      }
      if (opts.max !== undefined && ms > opts.max) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(opts.max)}` });
      }
      return ms;
    });
}

/** Zod type for a size: a string such as `10GB` / `512MiB` or a number of bytes; parses to bytes. */
export function size() {
  return z
    .union([
      z.number().int().nonnegative(),
      z.string().regex(SIZE_RE, { message: 'expected a size such as 512KB, 10MB or 1GiB' }),
    ])
    .transform((v) => (typeof v === 'number' ? v : (parseSize(v) as number)));
}

/** Zod type for a percentage: `80%` or a number from 0 to 100; parses to the number. */
export function percent() {
  return z
    .union([
      z.number().min(0).max(100),
      z.string().regex(PERCENT_RE, { message: 'expected a percentage such as 80%' }),
    ])
    .transform((v, ctx) => {
      const n = typeof v === 'number' ? v : (parsePercent(v) as number);
      if (n > 100) ctx.addIssue({ code: 'custom', message: 'must be at most 100%' });
      return n;
    });
}
