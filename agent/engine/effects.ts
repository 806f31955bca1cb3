import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Incident, IncidentEvent } from '../model';
import type { Effect } from '../incidents/policy';
import { summariseSnapshot, type Snapshot } from '../responders/snapshot';
import type { Store } from '../store/store';
import { eventKey, incidentEvent, type Links } from './events';

/** Writes the policy's effects to the store (in the caller's transaction), and, once stored, to the metrics and the log. */
export class EffectWriter {
  constructor(
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly cfg: () => { agent: string; links: Links },
  ) {}

  /** Writes one effect to the store; `opened` is the id of an incident this decision opened. Returns the id of an incident it opens. */
  write(e: Effect, now: number, opened: number): number {
    const id = 'id' in e ? e.id || opened : 0;
    switch (e.kind) {
      case 'save-state':
        this.store.saveCheckState(e.check, e.state, now);
        break;
      case 'open': {
        const { id: _placeholder, ...inc } = e.incident;
        return this.store.insertIncident(inc).id;
      }
      case 'update':
        this.store.updateIncident(id, e.fields);
        break;
      case 'timeline':
        this.store.addTimeline(id, now, e.entry, e.message, e.data);
        break;
      case 'notify': {
        const inc = { ...e.incident, id };
        const key = eventKey(this.cfg().agent, this.store.id, id, inc.seq);
        const payload = JSON.stringify(this.event(inc, e.event, key, now, e.details));
        this.store.enqueue({ key, notifier: e.notifier, incidentId: id, event: e.event, payload, createdAt: now, notBefore: e.notBefore });
        break;
      }
      case 'release':
        this.store.release(id, now, e.notifiers);
        break;
      case 'cancel':
        this.store.cancelHeld(id, now, e.events);
        break;
      case 'annotate':
        this.store.updateUnsentPayloads(id, (payload) => {
          const ev = JSON.parse(payload) as IncidentEvent;
          ev.details = { ...ev.details, snapshot: e.snapshot };
          return JSON.stringify(ev);
        });
        break;
      case 'remediation-run':
        this.store.addRemediation(e.check, now);
        break;
    }
    return 0;
  }

  /** After the transaction: metrics, and the incident's main events logged at info. */
  report(e: Extract<Effect, { kind: 'metric' | 'timeline' }>, inc: Incident | undefined): void {
    if (e.kind === 'metric') return this.metric(e);
    const what = LOGGED[e.entry];
    if (what && inc) this.log.info({ incident: inc.id, check: inc.check, severity: inc.severity, tier: inc.tier, detail: e.message }, what);
  }

  private metric(e: Extract<Effect, { kind: 'metric' }>): void {
    const m = this.metrics;
    switch (e.metric) {
      case 'opened':
        return m.incidentOpened(e.severity);
      case 'acked':
        return m.incidentAcked(e.severity, e.seconds);
      case 'resolved':
        return m.incidentResolved(e.severity, e.seconds);
      case 'sla':
        return m.slaBreach(e.severity, e.clock);
      case 'remediation':
        return m.remediation(e.check, e.outcome);
    }
  }

  event(inc: Incident, kind: IncidentEvent['event'], key: string, now: number, details?: Record<string, unknown>): IncidentEvent {
    const snapshot = inc.snapshot ? summariseSnapshot(inc.snapshot as Snapshot) : undefined;
    return incidentEvent(inc, kind, key, now, { storeId: this.store.id, links: this.cfg().links, details, snapshot });
  }
}

/** Of a check's unwritten effects, a later state or message replaces an earlier one. */
export function latestOnly(e: Effect, i: number, all: Effect[]): boolean {
  const same = (o: Effect) => o.kind === e.kind && (e.kind !== 'update' || (o.kind === 'update' && o.id === e.id));
  return !all.slice(i + 1).some(same);
}

/** Incident timeline entries that are logged too (at info), and what the log line says. */
const LOGGED: Record<string, string> = {
  opened: 'incident opened',
  escalated: 'incident escalated',
  repeat: 'incident re-notified',
  acknowledged: 'incident acknowledged',
  resolved: 'incident resolved',
  sla_breach: 'incident SLA breached',
  flapping: 'incident flapping',
  settled: 'incident settled',
};
