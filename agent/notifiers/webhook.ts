import crypto from 'node:crypto';
import { z } from 'zod';
import { postJson } from './http';
import { defineNotifier } from './types';
import { httpUrl } from '../../checks/types';

/**
 * The signature of a webhook body: hex HMAC-SHA256 with the shared secret over
 * `<timestamp>.<body>`. A receiver recomputes it from the X-Keepwatch-Timestamp header and the
 * raw body, compares in constant time, and rejects old timestamps (replays).
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** POSTs the generic incident event as JSON to any URL, optionally signed. */
export const webhookNotifier = defineNotifier({
  type: 'webhook',
  summary: 'POSTs the incident event as JSON, optionally signed with HMAC-SHA256.',
  schema: z.strictObject({
    url: httpUrl()
      .describe('Where to POST the event.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (use ${ENV} for secrets).'),
    secret: z.string().min(16, { message: 'use at least 16 characters' }).optional()
      .describe('Shared secret: adds X-Keepwatch-Timestamp and X-Keepwatch-Signature: sha256=HMAC(secret, "<timestamp>.<body>").'),
  }),
  async send(event, spec, { signal }) {
    const body = JSON.stringify(event);
    const headers: Record<string, string> = { ...spec.headers };
    if (spec.secret) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      headers['X-Keepwatch-Timestamp'] = timestamp;
      headers['X-Keepwatch-Signature'] = `sha256=${signature(spec.secret, timestamp, body)}`;
    }
    await postJson(spec.url, body, { headers, signal });
  },
});
