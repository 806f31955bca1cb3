import axios from 'axios';
import { describeNetworkError } from '../../checks/types';
import { NotifyError } from './types';

/**
 * POSTs JSON and maps the outcome the way Alertmanager does: network errors, 429 and 5xx
 * may succeed later; any other 4xx will not (the body says why, and is kept in the error).
 */
export async function postJson(url: string, body: unknown, opts: { headers?: Record<string, string>; signal: AbortSignal }): Promise<void> {
  let status: number;
  let text = '';
  let retryAfter: string | undefined;
  try {
    const res = await axios.post(url, body, {
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'keepwatch', ...opts.headers },
      signal: opts.signal,
      validateStatus: () => true,
      responseType: 'text',
      maxRedirects: 0,
      proxy: false,
      timeout: 30_000,
    });
    status = res.status;
    text = String(res.data ?? '').slice(0, 500);
    retryAfter = res.headers['retry-after'];
  } catch (err) {
    throw new NotifyError(`POST failed: ${describeNetworkError(err)}`, true, { cause: err });
  }
  if (status >= 200 && status < 300) return;
  const retryable = status === 429 || status >= 500;
  throw new NotifyError(`HTTP ${status}${text ? `: ${text}` : ''}`, retryable, { retryAfterMs: parseRetryAfter(retryAfter) });
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
