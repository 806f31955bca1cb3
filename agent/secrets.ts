/**
 * The secret values of the loaded config, and the scrubbing that keeps them out of every
 * log line and every text the agent stores or sends (timelines, snapshots, notification
 * payloads, remediation output): a token must not leak through an error message either.
 */
import { isSecretName } from '../checks/types';

const REDACTED = '[REDACTED]';

/**
 * The shortest piece of a secret that counts as a leak when a text ends in it. A cut can
 * leave any prefix; shorter pieces than this would scrub ordinary words ending a message.
 */
export const MIN_PARTIAL = 6;

/** A secret and the KMP failure table of its characters (for its prefixes at a text's end). */
interface Secret {
  value: string;
  fail: Int32Array;
}

let secrets: Secret[] = [];

function compile(value: string): Secret {
  const fail = new Int32Array(value.length);
  for (let i = 1, k = 0; i < value.length; i++) {
    while (k > 0 && value[i] !== value[k]) k = fail[k - 1];
    if (value[i] === value[k]) k++;
    fail[i] = k;
  }
  return { value, fail };
}

/** Sets the values to scrub; called whenever a config is loaded. */
export function setSecrets(values: Iterable<string>): void {
  // Longest first, so a secret that contains another is replaced whole. Very short values
  // would scrub ordinary words; JSON-escaped forms are added so secrets inside JSON match.
  secrets = [...new Set([...values].filter((v) => v.length >= 4).flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]))]
    .sort((a, b) => b.length - a.length)
    .map(compile);
}

/** Whether `text` holds one of the config's secret values, whole (a header value to keep from another host). */
export function holdsSecret(text: string): boolean {
  return secrets.some((s) => text.includes(s.value));
}

/** The longest secret in UTF-8 bytes (of the config's and of `extra`): how much a tail cut must keep beyond its limit. */
export function longestSecretBytes(extra: readonly string[] = []): number {
  return Math.max(0, ...[...extra, ...secrets.map((s) => s.value)].map((v) => Buffer.byteLength(v)));
}

/**
 * `text` with every known secret (and every value of `extra`) replaced by [REDACTED], and
 * a secret cut short at the end of the text as well: a suffix of at least MIN_PARTIAL
 * characters that begins a secret, before an optional ellipsis and closing quotes or
 * brackets (`…token: "abc123de"` from a check that cut its own message).
 */
export function scrub(text: string, extra: readonly string[] = []): string {
  const all = extra.length
    ? [...extra.filter((v) => v.length >= 4).map(compile), ...secrets].sort((a, b) => b.value.length - a.value.length)
    : secrets;
  if (!all.length) return text;
  let out = text;
  for (const s of all) if (out.includes(s.value)) out = out.split(s.value).join(REDACTED);
  return scrubTail(out, all);
}

function scrubTail(text: string, all: readonly Secret[]): string {
  const end = trailerStart(text);
  for (const at of end === text.length ? [end] : [text.length, end]) {
    let longest = 0;
    for (const s of all) longest = Math.max(longest, overlap(text, at, s));
    if (longest >= MIN_PARTIAL) return `${text.slice(0, at - longest)}${REDACTED}${text.slice(at)}`;
  }
  return text;
}

const TRAILER = new Set([' ', '\t', '\n', '"', "'", '`', ')', ']', '}', '>', '…', '.']);

/** Where the text's closing punctuation starts: an ellipsis, quotes, brackets, blanks (at most 16 characters). */
function trailerStart(text: string): number {
  let i = text.length;
  while (i > 0 && text.length - i < 16 && TRAILER.has(text[i - 1])) i--;
  return i;
}

/** The length of the longest proper prefix of the secret that `text.slice(0, end)` ends with. */
function overlap(text: string, end: number, s: Secret): number {
  const v = s.value;
  if (v.length <= MIN_PARTIAL) return 0;
  let k = 0;
  for (let i = Math.max(0, end - (v.length - 1)); i < end; i++) {
    while (k > 0 && text[i] !== v[k]) k = s.fail[k - 1];
    if (text[i] === v[k]) k++;
    if (k === v.length) k = s.fail[k - 1];
  }
  return k;
}

/**
 * `text` scrubbed, then cut to at most `max` characters (ending in `…` when cut). Always in
 * that order: a text cut first can end in part of a secret that no longer matches it whole.
 */
export function scrubAndCut(text: string, max: number, extra: readonly string[] = []): string {
  const clean = scrub(text, extra);
  if (clean.length <= max) return clean;
  let cut = clean.slice(0, Math.max(0, max - 1)).replace(/[\ud800-\udbff]$/, '');
  // Not half a marker: `[REDAC…` reads like a value.
  const mark = cut.lastIndexOf('[', cut.length - 1);
  if (mark >= 0 && cut.length - mark < REDACTED.length && REDACTED.startsWith(cut.slice(mark))) cut = cut.slice(0, mark);
  return `${cut}…`;
}

/**
 * A copy of a JSON-like value with every string in it scrubbed (each one on its own, so a
 * string ending in part of a secret is caught wherever it sits in the object).
 */
export function scrubDeep<T>(value: T, extra: readonly string[] = []): T {
  if (typeof value === 'string') return scrub(value, extra) as T;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, extra)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrubDeep(v, extra);
    return out as T;
  }
  return value;
}

/**
 * A command line's arguments fit to show: values of secret-looking flags hidden
 * (`--token=…`, `--password x`) and passwords in URLs (`//user:pw@`) replaced.
 */
export function redactArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  let hideNext = false;
  for (const arg of args) {
    if (hideNext) {
      out.push(REDACTED);
      hideNext = false;
      continue;
    }
    const m = /^(--?[A-Za-z0-9_-]+)=/.exec(arg);
    if (m && isSecretName(m[1])) {
      out.push(`${m[1]}=${REDACTED}`);
      continue;
    }
    if (/^--?[A-Za-z]/.test(arg) && isSecretName(arg)) hideNext = true;
    out.push(arg.replace(/(\/\/[^/:@\s]+):[^/@\s]+@/g, `$1:${REDACTED}@`));
  }
  return out;
}
