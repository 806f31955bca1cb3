import type { z } from 'zod';
import type { Templates } from './render';

/** The event kinds an incident produces, as notifiers receive them. */
export type EventKind = 'trigger' | 'acknowledge' | 'resolve' | 'escalate' | 'flapping' | 'sla_breach' | 'severity_change';

/**
 * One notification: the generic event every provider renders from (the `webhook` notifier
 * sends it as is). `key` is the idempotency key: the same event always carries the same key.
 */
export interface IncidentEvent {
  event: EventKind;
  key: string;
  agent: string;
  /** When the event happened (ISO 8601). */
  at: string;
  /** One line for humans: "critical: api-health: 500 Internal Server Error in 12 ms". */
  message: string;
  incident: {
    id: number;
    /** This incident, unique across agents and stores (agent:store:id): providers' dedup key / alias. */
    ref: string;
    /** agent/check: the same for every incident of the check. */
    dedupKey: string;
    check: string;
    type: string;
    severity: 'warning' | 'critical';
    state: 'open' | 'acknowledged' | 'resolved';
    tier?: string;
    summary: string;
    openedAt: string;
    flapping: boolean;
    labels: Record<string, string>;
    values: Record<string, number | string | boolean>;
    acknowledgedBy?: string;
    resolvedBy?: string;
    respondDue?: string;
    resolveDue?: string;
  };
  /** Free-form details of the event (breach kind, previous severity, snapshot summary, …). */
  details?: Record<string, unknown>;
  /** The incident in the agent's API, and in Grafana when `notifications.links.grafana` is set. */
  links?: { incident?: string; grafana?: string };
}

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
