import { z } from 'zod';
import { postJson } from '../outbound-http';
import { render, type Templates } from '../render';
import { scrubAndCut } from '../../secrets';
import { defineNotifier, type IncidentEvent } from '../types';
import { httpUrl } from '../../../checks/types';

const REGIONS = { us: 'https://api.opsgenie.com', eu: 'https://api.eu.opsgenie.com' };

/** The Alert API base: the configured `url`, else the region's. */
export function opsgenieBase(spec: { url?: string; region: keyof typeof REGIONS }): string {
  return (spec.url ?? REGIONS[spec.region]).replace(/\/+$/, '');
}

/** keepwatch severity → Opsgenie priority. */
export const PRIORITY = { critical: 'P1', warning: 'P3' } as const;

/**
 * The Opsgenie request for an event: create (deduplicated by alias, the incident's ref) for
 * anything that pages, acknowledge or close by alias otherwise. A create repeated after a
 * crash only raises the open alert's count; acknowledge and close are idempotent by alias.
 */
export function opsgenieRequest(e: IncidentEvent, t: Templates, base: string, spec: { tags: string[]; responders: unknown[] }) {
  const alias = e.incident.ref;
  const byAlias = (action: string) => `${base}/v2/alerts/${encodeURIComponent(alias)}/${action}?identifierType=alias`;
  if (e.event === 'acknowledge') {
    return { url: byAlias('acknowledge'), body: { source: `keepwatch ${e.agent}`, user: e.incident.acknowledgedBy ?? 'keepwatch', note: scrubAndCut(render(t.text, e), 25000) } };
  }
  if (e.event === 'resolve') {
    return { url: byAlias('close'), body: { source: `keepwatch ${e.agent}`, user: e.incident.resolvedBy ?? 'keepwatch', note: scrubAndCut(render(t.text, e), 25000) } };
  }
  const details: Record<string, string> = { check: e.incident.check, type: e.incident.type, event: e.event, key: e.key, tier: e.incident.tier ?? '' };
  for (const [k, v] of Object.entries(e.incident.values)) details[`value.${k}`] = String(v);
  for (const [k, v] of Object.entries(e.incident.labels)) details[`label.${k}`] = v;
  if (e.links?.incident) details.incident = e.links.incident;
  if (e.links?.grafana) details.grafana = e.links.grafana;
  return {
    url: `${base}/v2/alerts`,
    body: {
      alias,
      message: scrubAndCut(render(t.title, e), 130),
      description: scrubAndCut(render(t.text, e), 15000),
      details,
      source: `keepwatch ${e.agent}`,
      entity: e.incident.check,
      tags: [...spec.tags, e.incident.severity, e.incident.type],
      priority: PRIORITY[e.incident.severity],
      ...(spec.responders.length && { responders: spec.responders }),
    },
  };
}

/** Opsgenie Alert API: create, acknowledge and close by alias. */
export const opsgenieNotifier = defineNotifier({
  type: 'opsgenie',
  summary: 'Opsgenie Alert API: create, acknowledge and close by alias; priority from severity.',
  schema: z.strictObject({
    apiKey: z.string().min(1).describe('An API integration key (a secret: use ${OPSGENIE_API_KEY}).'),
    region: z.enum(['us', 'eu']).default('us').describe('Opsgenie account region.'),
    url: httpUrl()
      .optional()
      .describe('API base URL, to override the region\'s (tests, proxies).'),
    tags: z.array(z.string()).default([]).describe('Tags added to every alert.'),
    responders: z
      .array(z.strictObject({ type: z.enum(['team', 'user', 'escalation', 'schedule']), name: z.string().optional(), id: z.string().optional(), username: z.string().optional() }))
      .default([])
      .describe('Who the alert is for (else the integration\'s team).'),
  }),
  async send(event, spec, { signal, templates }) {
    const base = opsgenieBase(spec);
    const req = opsgenieRequest(event, templates, base, spec);
    await postJson(req.url, req.body, { headers: { Authorization: `GenieKey ${spec.apiKey}` }, signal });
  },
});
