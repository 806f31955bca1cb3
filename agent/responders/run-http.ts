import { formatDuration } from '../../checks/types';
import { request, requestSecrets } from '../notifiers/outbound-http';
import { longestSecretBytes } from '../secrets';
import { finishOutput, OUTPUT_LIMIT, TailBuffer, type ActionOutcome } from './action-output';
import type { HttpAction } from './remediate-schema';

/** Most response body read from an http action; the rest is not downloaded. */
const HTTP_BODY_READ_LIMIT = 1 << 20;

/** Calls an HTTP endpoint with the outbound helper; a 2xx answer is success. No redirects, no keep-alive, body tail kept. */
export async function runHttp(action: HttpAction, signal?: AbortSignal): Promise<ActionOutcome> {
  const secrets = requestSecrets(action.url, action.headers);
  const out = new TailBuffer(OUTPUT_LIMIT + longestSecretBytes(secrets));
  const { status, failure } = await request({
    url: action.url,
    method: action.method,
    headers: action.headers,
    body: action.body,
    signal,
    timeoutMs: action.timeout,
    read: () => ({ limit: HTTP_BODY_READ_LIMIT, onData: (chunk) => out.push(chunk) }),
  });
  const ok = status !== undefined && status >= 200 && status < 300;
  const result: ActionOutcome = { ok: false, status, ...finishOutput(out, secrets) };
  if (failure?.kind === 'timeout') return { ...result, timedOut: true, error: `timed out after ${formatDuration(action.timeout)}` };
  if (failure?.kind === 'aborted') return { ...result, error: 'aborted' };
  if (failure?.kind === 'network') return { ...result, error: failure.message };
  const error = failure?.kind === 'body' ? `reading the body: ${failure.message}` : ok ? undefined : `HTTP ${status}`;
  return { ...result, ok, error };
}
