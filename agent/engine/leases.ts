import type { Incident, IncidentEvent } from '../model';
import type { NotifierInstance } from '../notifiers/outbox';
import type { Store } from '../store/store';
import type { EffectWriter } from './effects';
import { eventKey } from './events';

/**
 * Re-sends open incidents to the notifiers that keep state by lease (Alertmanager), every
 * `resendEveryMs`, to those that have received the incident (a page still held back is not
 * sent early this way). Not through the outbox: a missed re-send is mended by the next one,
 * and a dead agent should stop renewing.
 */
export class Leases {
  /** When each open incident was last re-sent to each lease-keeping notifier. */
  private readonly last = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly writer: EffectWriter,
  ) {}

  renew(now: number, agent: string, open: readonly Incident[], notifiers: ReadonlyMap<string, NotifierInstance>, send: (notifier: string, event: IncidentEvent) => void): void {
    if (![...notifiers.values()].some((n) => n.def.resendEveryMs)) {
      this.last.clear();
      return;
    }
    const live = new Set<string>();
    for (const inc of open) {
      for (const name of this.store.deliveredTo(inc.id)) {
        const every = notifiers.get(name)?.def.resendEveryMs;
        if (!every) continue;
        const k = `${inc.id}/${name}`;
        live.add(k);
        if (now - (this.last.get(k) ?? inc.openedAt) < every) continue;
        this.last.set(k, now);
        send(name, this.writer.event(inc, 'trigger', eventKey(agent, this.store.id, inc.id, 'resend'), now));
      }
    }
    for (const k of this.last.keys()) if (!live.has(k)) this.last.delete(k);
  }
}
