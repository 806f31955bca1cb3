import type { EventKind, Incident, IncidentEvent } from '../model';
import { render } from '../notifiers/render';

/** Where notifications link to: this agent's API, and Grafana (a URL template). */
export interface Links {
  agent: string;
  grafana?: string;
}

/** An incident's reference, unique across agents and stores. */
export function incidentRef(inc: Pick<Incident, 'agent' | 'id'>, storeId: string): string {
  return `${inc.agent}:${storeId}:${inc.id}`;
}

/** The idempotency key of an incident's event number `seq`: the same event always carries the same key. */
export function eventKey(agent: string, storeId: string, id: number, seq: number | 'resend'): string {
  return `${agent}:${storeId}:${id}:${seq}`;
}

/** The event notifiers receive, as the incident stands. `snapshot` is the diagnostic snapshot's summary, once taken. */
export function incidentEvent(
  inc: Incident,
  kind: EventKind,
  key: string,
  at: number,
  opts: { storeId: string; links: Links; details?: Record<string, unknown>; snapshot?: string },
): IncidentEvent {
  const { details, snapshot } = opts;
  const e: IncidentEvent = {
    event: kind,
    key,
    agent: inc.agent,
    at: new Date(at).toISOString(),
    message: `${inc.severity}: ${inc.check}: ${inc.summary}`,
    incident: {
      id: inc.id,
      ref: incidentRef(inc, opts.storeId),
      dedupKey: inc.key,
      check: inc.check,
      type: inc.type,
      severity: inc.severity,
      state: inc.state,
      tier: inc.tier,
      summary: inc.summary,
      openedAt: new Date(inc.openedAt).toISOString(),
      flapping: inc.flapping,
      labels: inc.labels,
      values: inc.values,
      acknowledgedBy: inc.ackedBy,
      resolvedBy: inc.resolvedBy,
      respondDue: inc.respondDue !== undefined ? new Date(inc.respondDue).toISOString() : undefined,
      resolveDue: inc.resolveDue !== undefined ? new Date(inc.resolveDue).toISOString() : undefined,
    },
    details: snapshot ? { ...details, snapshot } : details,
  };
  e.links = { incident: `${opts.links.agent.replace(/\/+$/, '')}/api/v1/incidents/${inc.id}` };
  if (opts.links.grafana) e.links.grafana = render(opts.links.grafana, e, encodeURIComponent);
  return e;
}
