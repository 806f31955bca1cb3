import { z } from 'zod';
import { postJson } from '../outbound-http';
import { render, type Templates } from '../render';
import { scrubAndCut } from '../../secrets';
import { defineNotifier, type IncidentEvent } from '../types';
import { httpUrl } from '../../../checks/types';

const REGIONS = { us: 'https://events.pagerduty.com/v2/enqueue', eu: 'https://events.eu.pagerduty.com/v2/enqueue' };

/** The Events API endpoint: the configured `url`, else the region's. */
export function pagerdutyUrl(spec: { url?: string; region: keyof typeof REGIONS }): string {
  return spec.url ?? REGIONS[spec.region];
}

/**
 * The Events API v2 body for an event. Everything but an acknowledgement or a resolution
 * (re)triggers: PagerDuty folds triggers with the same dedup_key into the open alert and
 * updates it. The dedup key is the incident's ref (agent, store, id), so trigger, acknowledge
 * and resolve of one incident meet, and a new incident opens a new alert: an event repeated
 * after a crash folds into the same alert and pages no one again. The event's own idempotency
 * key rides in custom_details.key.
 */
export function pagerdutyEvent(e: IncidentEvent, t: Templates, routingKey: string) {
  const dedup_key = e.incident.ref;
  if (e.event === 'acknowledge' || e.event === 'resolve') return { routing_key: routingKey, dedup_key, event_action: e.event };
  const links = Object.entries(e.links ?? {}).filter(([, href]) => href).map(([k, href]) => ({ href, text: k === 'grafana' ? 'Grafana' : 'keepwatch incident' }));
  return {
    routing_key: routingKey,
    dedup_key,
    event_action: 'trigger',
    payload: {
      summary: scrubAndCut(render(t.title, e), 1024),
      source: e.agent,
      severity: e.incident.severity,
      timestamp: e.at,
      component: e.incident.check,
      class: e.incident.type,
      ...(e.incident.labels.service && { group: e.incident.labels.service }),
      custom_details: {
        summary: e.incident.summary,
        event: e.event,
        key: e.key,
        tier: e.incident.tier,
        values: e.incident.values,
        labels: e.incident.labels,
        respond_due: e.incident.respondDue,
        resolve_due: e.incident.resolveDue,
        ...(e.details?.snapshot !== undefined && { snapshot: e.details.snapshot }),
      },
    },
    client: 'keepwatch',
    ...(e.links?.incident && { client_url: e.links.incident }),
    ...(links.length && { links }),
  };
}

/** Sends Events API v2 trigger / acknowledge / resolve events to PagerDuty. */
export const pagerdutyNotifier = defineNotifier({
  type: 'pagerduty',
  summary: 'PagerDuty Events API v2: trigger, acknowledge and resolve with a dedup key per incident.',
  schema: z.strictObject({
    routingKey: z.string().min(1).describe('The integration (routing) key of the PagerDuty service (a secret: use ${PD_ROUTING_KEY}).'),
    region: z.enum(['us', 'eu']).default('us').describe('PagerDuty service region.'),
    url: httpUrl()
      .optional()
      .describe('Events endpoint, to override the region\'s (tests, proxies).'),
  }),
  async send(event, spec, { signal, templates }) {
    await postJson(pagerdutyUrl(spec), pagerdutyEvent(event, templates, spec.routingKey), { signal });
  },
});
