import type { Readable } from 'node:stream';
import axios from 'axios';
import { describeNetworkError, requestParts } from '../../checks/types';
import { longestSecretBytes, scrubAndCut } from '../secrets';
import { NotifyError } from './types';

/** How much of a refusal's body an error keeps. */
const ERROR_BODY_CHARS = 500;

/**
 * POSTs JSON and maps the outcome the way Alertmanager does: network errors, 429 and 5xx
 * may succeed later; any other 4xx will not (the body says why, and is kept in the error,
 * scrubbed of secrets).
 *
 * A 2xx resolves as soon as the status line arrives, without waiting for the body: the
 * caller records the delivery in that same tick, so a crash can repeat an event only if it
 * falls between the receiver answering and those response headers being read.
 *
 * Credentials in the URL (`https://user:pass@host/`) become a Basic Authorization header,
 * unless the configured headers carry one: configured headers win.
 */
export async function postJson(url: string, body: unknown, opts: { headers?: Record<string, string>; signal: AbortSignal }): Promise<void> {
  const { target, headers } = requestParts(url, opts.headers);
  let status: number;
  let stream: Readable;
  let retryAfter: string | undefined;
  try {
    const res = await axios.post(target, body, {
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'keepwatch', ...headers },
      signal: opts.signal,
      validateStatus: () => true,
      responseType: 'stream',
      maxRedirects: 0,
      proxy: false,
    });
    status = res.status;
    stream = res.data as Readable;
    retryAfter = res.headers['retry-after'];
  } catch (err) {
    // An aborted request says why (the attempt's timeout, the agent stopping), not just "canceled".
    const reason = opts.signal.aborted ? (opts.signal.reason as Error | undefined) : undefined;
    const why = reason?.name === 'TimeoutError' ? 'timed out' : describeNetworkError(reason ?? err);
    throw new NotifyError(`POST failed: ${why}`, true, { cause: err });
  }
  if (status >= 200 && status < 300) {
    stream.destroy();
    return;
  }
  // Read past what is kept, so a secret the receiver echoes across the cut is whole when it
  // is scrubbed: scrub first, then cut.
  const head = await readHead(stream, ERROR_BODY_CHARS * 4 + longestSecretBytes());
  const text = scrubAndCut(head.trim(), ERROR_BODY_CHARS);
  const retryable = status === 429 || status >= 500;
  throw new NotifyError(`HTTP ${status}${text ? `: ${text}` : ''}`, retryable, { retryAfterMs: parseRetryAfter(retryAfter) });
}

/** The first `limit` bytes of a response body as text (less when it ends or fails first). */
function readHead(stream: Readable, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      stream.destroy();
      resolve(Buffer.concat(chunks).subarray(0, limit).toString('utf8'));
    };
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= limit) done();
    });
    stream.once('end', done);
    // A body cut short (aborted, reset) still leaves the status: the error says what came.
    stream.once('error', done);
    stream.once('close', done);
  });
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
