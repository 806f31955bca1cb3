/**
 * The mapping of the model's incidents and outbox entries to and from SQLite columns, free
 * text scrubbed of secrets.
 */
import type { Incident, OutboxEntry } from '../model';
import { scrub, scrubDeep } from '../secrets';

/** A row as better-sqlite3 returns it. */
export type Row = Record<string, any>;

export function toIncident(r: Row): Incident {
  return {
    id: r.id,
    key: r.key,
    agent: r.agent,
    check: r.check_name,
    type: r.type,
    severity: r.severity,
    state: r.state,
    tier: r.tier ?? undefined,
    tierIndex: r.tier_index,
    summary: r.summary,
    labels: JSON.parse(r.labels),
    values: JSON.parse(r.vals),
    flapping: !!r.flapping,
    openedAt: r.opened_at,
    ackedAt: r.acked_at ?? undefined,
    ackedBy: r.acked_by ?? undefined,
    resolvedAt: r.resolved_at ?? undefined,
    resolvedBy: r.resolved_by ?? undefined,
    resolution: r.resolution ?? undefined,
    seq: r.seq,
    evidence: JSON.parse(r.evidence),
    snapshot: r.snapshot ? JSON.parse(r.snapshot) : undefined,
    escalatedAt: r.escalated_at ?? undefined,
    repeats: r.repeats,
    coverage: r.coverage,
    respondDue: r.respond_due ?? undefined,
    resolveDue: r.resolve_due ?? undefined,
    respondBreached: !!r.respond_breached,
    resolveBreached: !!r.resolve_breached,
  };
}

export const INCIDENT_COLUMNS: Record<keyof Omit<Incident, 'id' | 'key' | 'agent' | 'check' | 'type'>, string> = {
  severity: 'severity',
  state: 'state',
  tier: 'tier',
  tierIndex: 'tier_index',
  summary: 'summary',
  labels: 'labels',
  values: 'vals',
  flapping: 'flapping',
  openedAt: 'opened_at',
  ackedAt: 'acked_at',
  ackedBy: 'acked_by',
  resolvedAt: 'resolved_at',
  resolvedBy: 'resolved_by',
  resolution: 'resolution',
  seq: 'seq',
  evidence: 'evidence',
  snapshot: 'snapshot',
  escalatedAt: 'escalated_at',
  repeats: 'repeats',
  coverage: 'coverage',
  respondDue: 'respond_due',
  resolveDue: 'resolve_due',
  respondBreached: 'respond_breached',
  resolveBreached: 'resolve_breached',
};

/** Columns whose text may carry what a check, a command or a log printed: scrubbed of secrets. */
const FREE_TEXT = new Set(['summary', 'values', 'evidence', 'snapshot', 'resolution']);

export function toColumn(v: unknown, key?: string): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const free = !!key && FREE_TEXT.has(key);
  if (v !== null && typeof v === 'object') return free ? toJson(v) : JSON.stringify(v);
  return typeof v === 'string' && free ? scrub(v) : v;
}

/** JSON of a value whose strings may hold secrets: each string scrubbed on its own (one cut short ends it), then the whole. */
export function toJson(v: unknown): string {
  return scrub(JSON.stringify(scrubDeep(v)));
}

/** A JSON text (a notification payload) scrubbed as toJson does; text that is not JSON is scrubbed whole. */
export function scrubJsonText(text: string): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return scrub(text);
  }
  return toJson(v);
}

export function toOutbox(r: Row): OutboxEntry {
  return {
    id: r.id,
    key: r.key,
    notifier: r.notifier,
    incidentId: r.incident_id,
    event: r.event,
    payload: r.payload,
    createdAt: r.created_at,
    notBefore: r.not_before,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    deliveredAt: r.delivered_at ?? undefined,
    failedAt: r.failed_at ?? undefined,
    lastError: r.last_error ?? undefined,
  };
}
