import http from 'node:http';
import https from 'node:https';
import { describeNetworkError, formatDuration, isSecretName } from '../../checks/types';
import { longestSecretBytes, scrub } from '../secrets';
import { finishOutput, OUTPUT_LIMIT, TailBuffer, type ActionOutcome } from './action-output';
import type { HttpAction } from './remediate-schema';

/** Most response body read from an http action; the rest is not downloaded. */
const HTTP_BODY_READ_LIMIT = 1 << 20;

/** Calls an HTTP endpoint; a 2xx answer is success. No redirects, no keep-alive, body tail kept. */
export function runHttp(action: HttpAction, signal?: AbortSignal): Promise<ActionOutcome> {
  const url = new URL(action.url);
  const secrets = [
    decodeURIComponent(url.password),
    ...Object.entries(action.headers ?? {}).filter(([k]) => isSecretName(k)).map(([, v]) => v),
    ...[...url.searchParams].filter(([k]) => isSecretName(k)).map(([, v]) => v),
  ].filter((s) => s.length > 0);
  const out = new TailBuffer(OUTPUT_LIMIT + longestSecretBytes(secrets));
  const headers: Record<string, string> = { 'User-Agent': 'keepwatch', ...action.headers };
  let body: string | undefined;
  if (typeof action.body === 'string') body = action.body;
  else if (action.body !== undefined) {
    body = JSON.stringify(action.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }

  return new Promise((resolve) => {
    let settled = false;
    let stopReason: 'timeout' | 'aborted' | undefined;
    let status: number | undefined;
    const finish = (o: Partial<ActionOutcome>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ ok: false, status, ...finishOutput(out, secrets), ...o });
    };
    const stop = (why: 'timeout' | 'aborted') => {
      stopReason = why;
      req.destroy();
      finish({
        timedOut: why === 'timeout' ? true : undefined,
        error: why === 'timeout' ? `timed out after ${formatDuration(action.timeout)}` : 'aborted',
      });
    };
    const onAbort = () => stop('aborted');
    const timer = setTimeout(() => stop('timeout'), action.timeout);
    signal?.addEventListener('abort', onAbort, { once: true });

    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: action.method, headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const result: Partial<ActionOutcome> = { ok, status, error: ok ? undefined : `HTTP ${status}` };
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        out.push(chunk);
        read += chunk.length;
        if (read >= HTTP_BODY_READ_LIMIT) {
          res.destroy();
          finish(result);
        }
      });
      res.on('end', () => finish(result));
      res.on('error', (err) => finish({ ...result, error: stopReason ? undefined : `reading the body: ${describeNetworkError(err)}` }));
    });
    req.on('error', (err) => {
      if (!stopReason) finish({ error: scrub(describeNetworkError(err), secrets) });
    });
    req.end(body);
  });
}
