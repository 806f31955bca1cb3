import crypto from 'node:crypto';
import { z } from 'zod';
import { postJson } from '../outbound-http';
import { defineNotifier, type IncidentEvent } from '../types';
import { httpUrl } from '../../../checks/types';

/**
 * The signature of a webhook body: hex HMAC-SHA256 with the shared secret over
 * `<timestamp>.<body>`. A receiver recomputes it from the X-Keepwatch-Timestamp header and the
 * raw body, compares in constant time, and rejects old timestamps (replays).
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * The webhook request for an event: the event as JSON, `X-Keepwatch-Key` with its idempotency
 * key (a repeat after a crash carries the same one, so a receiver can drop it) and, with a
 * secret, the timestamp and signature headers. The configured headers come first; ours win.
 */
export function webhookRequest(event: IncidentEvent, spec: { headers: Record<string, string>; secret?: string }, now = Date.now()) {
  const body = JSON.stringify(event);
  const headers: Record<string, string> = { ...spec.headers, 'X-Keepwatch-Key': event.key };
  if (spec.secret) {
    const timestamp = String(Math.floor(now / 1000));
    headers['X-Keepwatch-Timestamp'] = timestamp;
    headers['X-Keepwatch-Signature'] = `sha256=${signature(spec.secret, timestamp, body)}`;
  }
  return { body, headers };
}

/** POSTs the generic incident event as JSON to any URL, optionally signed. */
export const webhookNotifier = defineNotifier({
  type: 'webhook',
  summary: 'POSTs the incident event as JSON with its idempotency key, optionally signed with HMAC-SHA256.',
  schema: z.strictObject({
    url: httpUrl()
      .describe('Where to POST the event. Credentials in it (https://user:pass@host/) are sent as Basic auth unless `headers` set Authorization.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (use ${ENV} for secrets); an Authorization here wins over credentials in the URL.'),
    secret: z.string().min(16, { message: 'use at least 16 characters' }).optional()
      .describe('Shared secret: adds X-Keepwatch-Timestamp and X-Keepwatch-Signature: sha256=HMAC(secret, "<timestamp>.<body>").'),
  }),
  async send(event, spec, { signal }) {
    const { body, headers } = webhookRequest(event, spec);
    await postJson(spec.url, body, { headers, signal });
  },
});
