import type { Logger } from '../logger';
import type { Store, OutboxEntry } from '../store/store';
import { DEFAULT_TEMPLATES, type Templates } from './render';
import { NotifyError, type IncidentEvent, type NotifierDefinition } from './types';

/** A configured notifier: its type and its parsed config. */
export interface NotifierInstance {
  name: string;
  def: NotifierDefinition<any>;
  spec: Record<string, unknown>;
  /** Deliveries wait while this coverage timeframe is closed … */
  coverage?: string;
  /** … except pages of these severities. */
  pageAnyway?: readonly ('warning' | 'critical')[];
  /** Message templates (defaults, the config's, the notifier's own). */
  templates?: Templates;
}

export interface OutboxOptions {
  /** The notifiers configured now (a reload may change them). */
  notifiers(): ReadonlyMap<string, NotifierInstance>;
  log: Logger;
  now?: () => number;
  /** Give up on a notification this long after it was queued (default 24 h); read at each use, so a reload applies. */
  maxAgeMs?: number | (() => number);
  /** Most deliveries in flight at once (default 8). */
  concurrency?: number;
  /** Per-attempt timeout (default 30 s); read at each use, so a reload applies. */
  timeoutMs?: number | (() => number);
  /** First retry delay, doubling up to 5 min (default 1 s). */
  retryBaseMs?: number;
  onResult?(notifier: string, result: 'delivered' | 'retry' | 'failed' | 'expired' | 'resent' | 'resend_failed'): void;
  /** After each pass: messages due (or retrying) and messages held back until later. */
  onQueue?(due: number, held: number): void;
}

/** What the outbox holds: see {@link OutboxWorker.health}. */
export interface OutboxHealth {
  due: number;
  held: number;
  failing: Array<{ notifier: string; count: number; lastError?: string }>;
}

/** First retry after `baseMs` (1 s), doubling to 5 min; ±20 % jitter so a fleet does not retry in step. */
export function backoffMs(attempt: number, baseMs = 1000, random = Math.random): number {
  const base = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 300_000);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Delivers the notifications the incident engine writes to the store's outbox, in order per
 * incident and notifier, retrying what can succeed later. A notification is written in the
 * same transaction as the incident change that caused it, so none is lost to a crash; one
 * delivered is marked so at once, so none is sent twice by a running agent. A crash between a
 * provider's answer and that mark can repeat one: delivery is at-least-once, and every repeat
 * carries the event's idempotency key (or the provider's dedup key made from it) to fold it.
 */
export class OutboxWorker {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly inflight = new Map<number, Promise<void>>();
  private readonly resends = new Set<Promise<void>>();
  /** Chains (incident/notifier) with a delivery or a re-send in flight: one message at a time each, in order. */
  private readonly busy = new Set<string>();
  /** Attempts whose outcome the store could not record: never sent again, recorded when it can. */
  private readonly unrecorded = new Map<number, { e: OutboxEntry; attempts: number; sent: boolean; error: unknown }>();
  private readonly now: () => number;
  private readonly abort = new AbortController();

  constructor(private readonly store: Store, private readonly opts: OutboxOptions) {
    this.now = opts.now ?? Date.now;
  }

  private timeoutMs(): number {
    return typeof this.opts.timeoutMs === 'function' ? this.opts.timeoutMs() : (this.opts.timeoutMs ?? 30_000);
  }

  /**
   * The signal of one attempt: aborted by its timeout or by stop(). A timer of our own, not
   * AbortSignal.any([…, AbortSignal.timeout()]): on Node 20 the garbage collector can take the
   * timeout signal of such a pair, and the attempt then hangs until the receiver answers.
   */
  private attemptSignal(): { signal: AbortSignal; done(): void } {
    const ctl = new AbortController();
    const onStop = () => ctl.abort(this.abort.signal.reason);
    if (this.abort.signal.aborted) onStop();
    else this.abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => ctl.abort(new DOMException('The operation timed out.', 'TimeoutError')), this.timeoutMs());
    return {
      signal: ctl.signal,
      done: () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', onStop);
      },
    };
  }

  /** The queue now: messages due, held back until later, and failing (retrying after an error) by notifier. */
  health(): OutboxHealth {
    return { ...this.store.queuedNotifications(this.now()), failing: this.store.failingNotifications() };
  }

  start(): void {
    this.running = true;
    this.kick();
  }

  /** Stops delivering; waits for deliveries in flight (they are aborted after 5 s). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    const t = setTimeout(() => this.abort.abort(new Error('agent stopping')), 5000);
    await Promise.allSettled([...this.inflight.values(), ...this.resends]);
    clearTimeout(t);
  }

  /**
   * Sends an event straight to a notifier, outside the outbox: the periodic re-send of open
   * incidents (Alertmanager leases). A failure is logged and left to the next re-send.
   */
  resend(name: string, event: IncidentEvent): void {
    const notifier = this.opts.notifiers().get(name);
    if (!notifier || !this.running) return;
    // A re-send must not overtake, or be overtaken by, a queued message of the same chain
    // (a resolve going out while a re-send is on the wire would fire the alert again).
    const chain = `${event.incident.id}/${name}`;
    if (this.busy.has(chain)) return;
    this.busy.add(chain);
    const attempt = this.attemptSignal();
    const p = notifier.def
      .send(event, notifier.spec, { signal: attempt.signal, templates: notifier.templates ?? DEFAULT_TEMPLATES })
      .finally(attempt.done)
      .then(
        () => this.opts.onResult?.(name, 'resent'),
        (err) => {
          this.opts.onResult?.(name, 'resend_failed');
          this.opts.log.warn({ notifier: name, incident: event.incident.id, error: (err as Error).message }, 're-send failed; the next one may succeed');
        },
      );
    this.resends.add(p);
    void p.finally(() => {
      this.resends.delete(p);
      this.busy.delete(chain);
      this.kick();
    });
  }

  /** Looks for due notifications now (call after enqueueing). */
  kick(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.drain(), 0);
  }

  private drain(): void {
    this.timer = undefined;
    if (!this.running) return;
    try {
      this.recordLeftovers();
      const now = this.now();
      const limit = this.opts.concurrency ?? 8;
      const waiting: number[] = [];
      for (const e of this.store.dueNotifications(now, 200)) {
        if (this.inflight.size >= limit) break;
        if (this.inflight.has(e.id)) continue;
        const chain = `${e.incidentId}/${e.notifier}`;
        if (this.unrecorded.has(e.id) || this.busy.has(chain)) {
          waiting.push(e.id);
          continue;
        }
        this.busy.add(chain);
        const p = this.deliver(e).finally(() => {
          this.inflight.delete(e.id);
          this.busy.delete(chain);
          this.kick();
        });
        this.inflight.set(e.id, p);
      }
      if (this.opts.onQueue) {
        const q = this.store.queuedNotifications(now);
        this.opts.onQueue(q.due, q.held);
      }
      this.schedule(waiting);
    } catch (err) {
      // The store failing must not stop deliveries for good: try again in a while.
      this.opts.log.error({ err }, 'outbox: cannot read pending notifications; retrying in 5 s');
      this.timer = setTimeout(() => this.drain(), 5000);
      this.timer.unref?.();
    }
  }

  /**
   * Arms the timer for the next chain head that is not in flight nor waiting (a finished
   * delivery or re-send kicks anyway); outcomes not recorded yet are tried again in 5 s.
   */
  private schedule(waiting: readonly number[] = []): void {
    if (!this.running || this.timer) return;
    const limit = this.opts.concurrency ?? 8;
    let next = this.store.nextNotificationAt([...this.inflight.keys(), ...this.unrecorded.keys(), ...waiting]);
    if (this.unrecorded.size) next = Math.min(next, this.now() + 5000);
    if (next === Infinity) return;
    const delay = next - this.now();
    if (delay <= 0 && this.inflight.size >= limit) return; // busy: the next finished delivery drains
    this.timer = setTimeout(() => this.drain(), Math.min(Math.max(0, delay), 60_000));
    this.timer.unref?.();
  }

  private async deliver(e: OutboxEntry): Promise<void> {
    const attempts = e.attempts + 1;
    const notifier = this.opts.notifiers().get(e.notifier);
    if (!notifier) {
      this.store.markFailed(e.id, this.now(), attempts, 'notifier no longer configured');
      this.opts.onResult?.(e.notifier, 'failed');
      return;
    }
    const attempt = this.attemptSignal();
    let error: unknown;
    let sent = false;
    try {
      await notifier.def.send(JSON.parse(e.payload) as IncidentEvent, notifier.spec, { signal: attempt.signal, templates: notifier.templates ?? DEFAULT_TEMPLATES });
      sent = true;
    } catch (err) {
      error = err;
    }
    attempt.done();
    // Recorded in the tick the answer arrived, with no await in between: a crash repeats this
    // event only if it falls between the receiver answering and this synchronous commit
    // (at-least-once; the repeat carries the same idempotency key).
    this.record(e, attempts, sent, error);
  }

  /**
   * Records an attempt's outcome. When the store cannot (a full disk), the outcome is kept in
   * memory and the entry is not offered again: a sent notification must never be sent again
   * because its mark failed. It is recorded at a later drain (every 5 s until it can).
   */
  private record(e: OutboxEntry, attempts: number, sent: boolean, error: unknown): boolean {
    try {
      if (sent) this.delivered(e, attempts);
      else this.failed(e, attempts, error);
      this.unrecorded.delete(e.id);
      return true;
    } catch (err) {
      if (!this.unrecorded.has(e.id)) {
        this.opts.log.error({ err, notifier: e.notifier, incident: e.incidentId, sent }, 'outbox: cannot record a delivery attempt; holding it and trying again in 5 s');
      }
      this.unrecorded.set(e.id, { e, attempts, sent, error });
      return false;
    }
  }

  private recordLeftovers(): void {
    for (const { e, attempts, sent, error } of [...this.unrecorded.values()]) {
      if (!this.record(e, attempts, sent, error)) return; // the store still fails: later
    }
  }

  private delivered(e: OutboxEntry, attempts: number): void {
    this.store.transaction(() => {
      this.store.markDelivered(e.id, this.now(), attempts);
      this.store.addTimeline(e.incidentId, this.now(), 'notified', `${e.event} delivered to ${e.notifier}${attempts > 1 ? ` (attempt ${attempts})` : ''}`);
    });
    this.opts.onResult?.(e.notifier, 'delivered');
    this.opts.log.info({ notifier: e.notifier, event: e.event, incident: e.incidentId, key: e.key, attempts }, 'notification delivered');
  }

  private failed(e: OutboxEntry, attempts: number, err: unknown): void {
    const now = this.now();
    const retryable = err instanceof NotifyError ? err.retryable : true;
    const message = (err as Error)?.message ?? String(err);
    if (!retryable) {
      this.store.transaction(() => {
        this.store.markFailed(e.id, now, attempts, message);
        this.store.addTimeline(e.incidentId, now, 'notify_failed', `${e.event} to ${e.notifier} refused: ${message}`);
      });
      this.opts.onResult?.(e.notifier, 'failed');
      this.opts.log.error({ notifier: e.notifier, event: e.event, incident: e.incidentId, error: message }, 'notification refused; not retrying');
      return;
    }
    const next = now + Math.max(backoffMs(attempts, this.opts.retryBaseMs), (err as NotifyError).retryAfterMs ?? 0);
    // The age counts from when the notification could first go out: a page held for a
    // weekend by its coverage window still gets its full day of retries.
    const maxAge = typeof this.opts.maxAgeMs === 'function' ? this.opts.maxAgeMs() : (this.opts.maxAgeMs ?? 86_400_000);
    if (next - Math.max(e.createdAt, e.notBefore) > maxAge) {
      this.store.transaction(() => {
        this.store.markFailed(e.id, now, attempts, `expired: ${message}`);
        this.store.addTimeline(e.incidentId, now, 'notify_failed', `${e.event} to ${e.notifier} given up after ${attempts} attempts: ${message}`);
      });
      this.opts.onResult?.(e.notifier, 'expired');
      this.opts.log.error({ notifier: e.notifier, event: e.event, incident: e.incidentId, attempts, error: message }, 'notification expired undelivered');
      return;
    }
    this.store.markRetry(e.id, attempts, next, message);
    this.opts.onResult?.(e.notifier, 'retry');
    this.opts.log.warn({ notifier: e.notifier, event: e.event, incident: e.incidentId, attempts, retryInMs: next - now, error: message }, 'notification failed; will retry');
  }
}
