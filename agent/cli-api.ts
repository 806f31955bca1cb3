import os from 'node:os';
import { fail } from './cli-errors';

/**
 * The agent's base URL from `--url` or $KEEPWATCH_URL. A value without a scheme
 * (`localhost:9470`, `10.0.0.5:9470`) gets `http://`, as curl does; anything that is still
 * not an http(s) URL is refused with the value quoted (a yargs `coerce`: it throws).
 */
export function agentUrl(value: unknown): string {
  if (Array.isArray(value)) throw new Error(`--url is given ${value.length} times; give one agent`);
  const text = String(value).trim();
  if (!text) throw new Error('--url is empty: give the agent\'s address, e.g. http://127.0.0.1:9470 (or leave --url out for $KEEPWATCH_URL or that one)');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--url "${value}" is not a URL (expected e.g. http://127.0.0.1:9470)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--url "${value}": only http:// and https:// are supported`);
  return url.href;
}

/**
 * An incident id from the command line: a positive integer (a yargs `coerce`: it throws), so
 * `ack abc` is a usage error instead of a request for `/incidents/NaN/ack`.
 */
export function incidentId(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const id = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(id) || id < 1) throw new Error(`incident ids are positive integers, not "${text}"`);
  return id;
}

/** An error answer of the API: its status and `{ error }` body. */
export interface ApiFailure {
  status: number;
  json: { error?: string; [key: string]: unknown };
}

/**
 * Calls a running agent's API (token from $KEEPWATCH_TOKEN) and returns the JSON answer. On an
 * error answer it exits 1 with the method, path, status and the API's message, plus what
 * `hint` adds for that answer.
 */
export async function api(url: string, method: string, path: string, body?: unknown, hint?: (f: ApiFailure) => string | undefined): Promise<any> {
  const token = process.env.KEEPWATCH_TOKEN;
  let res: Response;
  try {
    res = await fetch(new URL(path, url), {
      signal: AbortSignal.timeout(30_000),
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    fail(`cannot reach the agent at ${url}: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message} (is it running? set --url or KEEPWATCH_URL)`);
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    fail(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const extra = res.status === 401 || res.status === 403 ? 'set KEEPWATCH_TOKEN' : hint?.({ status: res.status, json });
    fail(`${method} ${path}: HTTP ${res.status}: ${json.error ?? text}${extra ? ` (${extra})` : ''}`);
  }
  return json;
}

/** Who runs the CLI, for ack/resolve/silence records (containers may have no passwd entry). */
export function whoami(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'cli';
  }
}

/** An API time (ISO 8601) as the CLI shows it, `-` for none. */
export const when = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
