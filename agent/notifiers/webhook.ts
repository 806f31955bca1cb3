import { z } from 'zod';
import { postJson } from './http';
import { defineNotifier } from './types';

/** POSTs the generic incident event as JSON to any URL. */
export const webhookNotifier = defineNotifier({
  type: 'webhook',
  summary: 'POSTs the incident event as JSON.',
  schema: z.strictObject({
    url: z
      .string()
      .refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), { message: 'expected an http:// or https:// URL' })
      .describe('Where to POST the event.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (use ${ENV} for secrets).'),
  }),
  async send(event, spec, { signal }) {
    await postJson(spec.url, event, { headers: spec.headers, signal });
  },
});
