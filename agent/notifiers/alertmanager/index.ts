import { z } from 'zod';
import { describeNetworkError, httpUrl } from '../../../checks/types';
import { postJson } from '../outbound-http';
import { render, type Templates } from '../render';
import { defineNotifier, NotifyError, type IncidentEvent } from '../types';

/** How often open incidents are re-sent (Prometheus re-sends firing alerts every minute too). */
export const RESEND_MS = 60_000;

/**
 * How long a firing alert is valid without news: four re-send intervals, as Prometheus
 * does. An agent that dies stops renewing, and its alerts resolve by themselves.
 */
export const LEASE_MS = 4 * RESEND_MS;

/**
 * The alert for an event, in the API v2 shape. The label set (alertname, check, severity,
 * instance and the check's labels) is what Alertmanager deduplicates on; a resolve sends the
 * same labels with endsAt now.
 */
export function alertmanagerAlert(e: IncidentEvent, t: Templates, alertname: string, now = Date.now()) {
  const resolved = e.event === 'resolve';
  const { severity: _s, check: _c, type: _t, ...checkLabels } = e.incident.labels;
  return {
    labels: { ...checkLabels, alertname, check: e.incident.check, severity: e.incident.severity, instance: e.agent },
    annotations: {
      summary: render(t.title, e),
      description: render(t.text, e),
      incident: String(e.incident.id),
      ...(e.incident.tier && { tier: e.incident.tier }),
      ...(e.incident.acknowledgedBy && { acknowledged_by: e.incident.acknowledgedBy }),
      ...(e.links?.grafana && { dashboard: e.links.grafana }),
    },
    startsAt: e.incident.openedAt,
    // The lease runs from when the alert is sent, not from when the event was queued: an
    // event delivered late (retries, a coverage window) must not end a firing alert.
    endsAt: resolved ? e.at : new Date(now + LEASE_MS).toISOString(),
    ...(e.links?.incident && { generatorURL: e.links.incident }),
  };
}

/**
 * Posts alerts to Alertmanager's API v2, to every URL of an HA cluster (they gossip and
 * deduplicate; one accepting is enough). Open incidents are re-sent every minute with a
 * lease on endsAt.
 */
export const alertmanagerNotifier = defineNotifier({
  type: 'alertmanager',
  summary: 'Posts alerts to Alertmanager (API v2), re-sent every minute with a lease; several URLs for an HA cluster.',
  schema: z.strictObject({
    urls: z
      .array(httpUrl())
      .min(1)
      .describe('Alertmanager base URLs, e.g. ["http://alertmanager:9093"]; every one gets every alert.'),
    alertname: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/).default('KeepwatchCheckFailing').describe('The alertname label.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (auth in front of Alertmanager).'),
  }),
  resendEveryMs: RESEND_MS,
  async send(event, spec, { signal, templates }) {
    const alert = alertmanagerAlert(event, templates, spec.alertname);
    const body: object[] = [alert];
    // Severity is in the label set: a rise makes a new alert, so end the old one now
    // rather than leave it firing until its lease runs out.
    const from = event.event === 'severity_change' ? event.details?.from : undefined;
    if (typeof from === 'string' && from !== event.incident.severity) {
      body.push({ ...alert, labels: { ...alert.labels, severity: from }, endsAt: event.at });
    }
    const results = await Promise.allSettled(
      spec.urls.map((u) => postJson(`${u.replace(/\/+$/, '')}/api/v2/alerts`, body, { headers: spec.headers, signal })),
    );
    if (results.some((r) => r.status === 'fulfilled')) return;
    const errors = results.map((r) => (r as PromiseRejectedResult).reason);
    const retryable = errors.some((err) => !(err instanceof NotifyError) || err.retryable);
    const retryAfterMs = Math.max(0, ...errors.map((err) => (err as NotifyError).retryAfterMs ?? 0)) || undefined;
    throw new NotifyError(`every Alertmanager failed: ${errors.map((err) => describeNetworkError(err)).join('; ')}`, retryable, { retryAfterMs });
  },
});
