import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { describeNetworkError, httpUrl, isSecretName, requestParts, urlCredentials } from '../../checks/types';
import { longestSecretBytes, scrub, scrubAndCut } from '../secrets';
import { NotifyError } from './types';

/** The methods an outbound request may use. */
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** An outbound request as the config writes it (a remediation's `http:` action). */
export const httpRequestSchema = z.strictObject({
  url: httpUrl()
    .describe('The URL to call.'),
  method: z.enum(HTTP_METHODS).default('POST').describe('HTTP method (default POST: a remediation endpoint does something).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Request headers (values may use ${ENV} for secrets).'),
  body: z
    .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
    .optional()
    .describe('Request body: text as is, or a mapping/list sent as JSON.'),
});

/** A request to make: what {@link httpRequestSchema} parses, its headers optional. */
export type HttpRequest = Omit<z.output<typeof httpRequestSchema>, 'headers'> & { headers?: Record<string, string> };

/** One request to make, and how long it may take and what of its answer to read. */
export interface OutboundRequest extends HttpRequest {
  /** Gives up when this aborts (the caller stopping, or its own deadline). */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds, the body included. */
  timeoutMs?: number;
  /**
   * What to read of the body once the status is known: nothing (undefined, the connection is
   * closed at once), or at most `limit` bytes handed to `onData` as they come.
   */
  read?: (status: number) => { limit: number; onData(chunk: Buffer): void } | undefined;
}

/** Why a request did not complete: none of its messages holds a secret of the config or of the request. */
export interface OutboundFailure {
  /** `timeout`: past `timeoutMs`; `aborted`: the signal; `network`: no answer (refused, DNS, TLS, reset); `body`: the body broke off. */
  kind: 'timeout' | 'aborted' | 'network' | 'body';
  /** `timed out`, or the error in one line. */
  message: string;
  cause?: unknown;
}

/** What came back: the status when an answer came, and the failure when something did not. */
export interface OutboundResponse {
  status?: number;
  /** Retry-After, in milliseconds from now. */
  retryAfterMs?: number;
  failure?: OutboundFailure;
}

/** Answers worth trying again (Alertmanager's `notify/util.go`): 429 and 5xx; any other refusal will not change by waiting. */
export function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * The secrets a request carries besides the config's: the URL's credentials (and the Basic
 * value made of them), secret-looking headers (`Authorization`, `X-Api-Key`) and query values
 * (`?token=`). A receiver echoing them must not leak them into an error or an output.
 */
export function requestSecrets(url: string, headers: Record<string, string> = {}): string[] {
  const query = URL.canParse(url) ? [...new URL(url).searchParams].filter(([k]) => isSecretName(k)).map(([, v]) => v) : [];
  return [
    ...(urlCredentials(url)?.derived ?? []),
    ...Object.entries(headers).filter(([k]) => isSecretName(k)).map(([, v]) => v),
    ...query,
  ].filter((s) => s.length > 0);
}

/**
 * Makes one HTTP request, on a connection of its own, without following redirects or using
 * a proxy; resolves (never rejects) as soon as the status line arrives, or once the body
 * asked for by `read` is in. Credentials in the URL (`https://user:pass@host/`) become a Basic
 * Authorization header unless the configured headers carry one: configured headers win.
 */
export function request(req: OutboundRequest): Promise<OutboundResponse> {
  const secrets = requestSecrets(req.url, req.headers);
  const configured: Record<string, string> = { 'User-Agent': 'keepwatch', ...req.headers };
  let body: string | undefined;
  if (typeof req.body === 'string') body = req.body;
  else if (req.body !== undefined) {
    body = JSON.stringify(req.body);
    if (!Object.keys(configured).some((h) => h.toLowerCase() === 'content-type')) configured['Content-Type'] = 'application/json';
  }
  const { target, headers } = requestParts(req.url, configured);
  const describe = (err: unknown) => scrub(describeNetworkError(err), secrets);

  return new Promise((resolve) => {
    let settled = false;
    let stopped = false;
    const answer: OutboundResponse = {};
    const finish = (failure?: OutboundFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      resolve({ ...answer, ...(failure && { failure }) });
    };
    const stop = (failure: OutboundFailure) => {
      stopped = true;
      finish(failure);
      outgoing?.destroy();
    };
    const onAbort = () => {
      const reason = req.signal?.reason as Error | undefined;
      // The caller's deadline reads as a timeout, not as "aborted".
      stop({ kind: 'aborted', message: reason?.name === 'TimeoutError' ? 'timed out' : describe(reason ?? 'aborted'), cause: reason });
    };
    const timer = req.timeoutMs === undefined ? undefined : setTimeout(() => stop({ kind: 'timeout', message: 'timed out' }), req.timeoutMs);
    req.signal?.addEventListener('abort', onAbort, { once: true });

    let outgoing: http.ClientRequest | undefined;
    try {
      const mod = target.startsWith('https:') ? https : http;
      outgoing = mod.request(target, { method: req.method, headers, agent: false }, (res) => {
        const status = res.statusCode ?? 0;
        answer.status = status;
        answer.retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        const plan = req.read?.(status);
        if (!plan) {
          finish();
          res.destroy();
          return;
        }
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const part = chunk.subarray(0, plan.limit - read);
          read += part.length;
          plan.onData(part);
          if (read >= plan.limit) {
            finish();
            res.destroy();
          }
        });
        res.once('end', () => finish());
        res.once('error', (err) => finish(stopped ? undefined : { kind: 'body', message: describe(err), cause: err }));
        // A body cut short without an error (the peer closing) still leaves the status.
        res.once('close', () => finish());
      });
    } catch (err) {
      // A header Node refuses to send (a control character in a value) fails this request only.
      finish({ kind: 'network', message: describe(err), cause: err });
      return;
    }
    outgoing.on('error', (err) => {
      if (!stopped) finish({ kind: 'network', message: describe(err), cause: err });
    });
    if (req.signal?.aborted) onAbort();
    else outgoing.end(body);
  });
}

/** How much of a refusal's body an error keeps. */
const ERROR_BODY_CHARS = 500;

/**
 * POSTs JSON for a notifier and maps the outcome the way Alertmanager does: network errors,
 * 429 and 5xx may succeed later; any other 4xx will not (the body says why, and is kept in
 * the error, scrubbed of secrets). Throws {@link NotifyError}.
 *
 * A 2xx resolves as soon as the status line arrives, without waiting for the body: the
 * caller records the delivery in that same tick, so a crash can repeat an event only if it
 * falls between the receiver answering and those response headers being read.
 */
export async function postJson(url: string, body: unknown, opts: { headers?: Record<string, string>; signal: AbortSignal }): Promise<void> {
  const headers = { 'Content-Type': 'application/json', ...opts.headers };
  const secrets = requestSecrets(url, headers);
  const chunks: Buffer[] = [];
  // Read past what is kept, so a secret the receiver echoes across the cut is whole when it
  // is scrubbed: scrub first, then cut.
  const limit = ERROR_BODY_CHARS * 4 + longestSecretBytes(secrets);
  const res = await request({
    url,
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: opts.signal,
    read: (status) => (status >= 200 && status < 300 ? undefined : { limit, onData: (c) => chunks.push(c) }),
  });
  if (res.status === undefined) {
    throw new NotifyError(`POST failed: ${res.failure?.message ?? 'no answer'}`, true, { cause: res.failure?.cause });
  }
  if (res.status >= 200 && res.status < 300) return;
  const text = scrubAndCut(Buffer.concat(chunks).toString('utf8').trim(), ERROR_BODY_CHARS, secrets);
  throw new NotifyError(`HTTP ${res.status}${text ? `: ${text}` : ''}`, retryableStatus(res.status), { retryAfterMs: res.retryAfterMs });
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
