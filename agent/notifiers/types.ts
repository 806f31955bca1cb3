import type { z } from 'zod';
import type { IncidentEvent } from '../model';
import type { Templates } from './render';

/** The event and its kinds are the model's: the store and the incidents speak them too. */
export type { EventKind, IncidentEvent } from '../model';

/** A delivery failed; `retryable` says whether trying again can help (network, 429, 5xx). */
export class NotifyError extends Error {
  readonly code = 'NOTIFY_FAILED';
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.name = 'NotifyError';
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly retryAfterMs?: number;
}

/** A notifier type: what `defineNotifier` takes and the registry lists. */
export interface NotifierDefinition<S extends z.ZodObject = z.ZodObject> {
  type: string;
  summary: string;
  /** The type-specific keys (name, type and coverage are added by the engine). */
  schema: S;
  /** Delivers one event; throws NotifyError. */
  send(event: IncidentEvent, spec: z.output<S>, ctx: SendContext): Promise<void>;
  /**
   * Re-send the state of open incidents this often, outside the outbox (Alertmanager forgets
   * alerts whose lease ran out: a dead agent's alerts expire by themselves).
   */
  resendEveryMs?: number;
  /**
   * Config keys whose values are credentials although their names do not say so (a Slack
   * webhook URL is its own token): scrubbed from logs, errors and the store like the rest.
   */
  secretKeys?: readonly string[];
}

/** What a delivery gets besides the event and the notifier's config. */
export interface SendContext {
  signal: AbortSignal;
  /** The message templates in force for this notifier. */
  templates: Templates;
}

/** Declares a notifier type. */
export function defineNotifier<S extends z.ZodObject>(def: NotifierDefinition<S>): NotifierDefinition<S> {
  return def;
}
