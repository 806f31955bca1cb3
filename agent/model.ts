/**
 * The types every part of the agent shares: a check as configured and as run, incidents and
 * what the store keeps of them, and the events notifiers receive. Types and constant lists
 * only: it implements nothing, so config, incidents, store and notifiers can all import it
 * without importing each other.
 */
import type { CheckCategory, CheckDefinition, CostFigures, FailureReason, FieldSpec, Finding, FindingSeverity, Value } from '../checks/types';
import type { Rules, Status, StatusName } from './evaluate';
// A check's `remediate:` and `logs:` keys are typed by the responders' zod schemas, the one
// source of their shape (type imports: nothing of the responders loads from here).
import type { RemediateConfig } from './responders/remediate-schema';
import type { LogSpec } from './responders/snapshot';

/** When a check runs: a fixed interval, or a cron expression. */
export type Schedule = { kind: 'every'; everyMs: number } | { kind: 'cron'; cron: string; timezone?: string };

/** One check, validated and compiled: the engine's view of a `checks:` entry. */
export interface CheckConfig {
  name: string;
  type: string;
  category: CheckCategory;
  def: CheckDefinition<any>;
  /** The type-specific keys, parsed by the type's schema. */
  spec: Record<string, unknown>;
  description?: string;
  enabled: boolean;
  schedule: Schedule;
  timeoutMs: number;
  retryEveryMs?: number;
  labels: Readonly<Record<string, string>>;
  fields: Readonly<Record<string, FieldSpec>>;
  rules: Rules;
  openAfter?: number;
  resolveAfter?: number;
  dependsOn?: readonly string[];
  /** The service timeframe SLA clocks count in. */
  coverage?: string;
  /** Availability objective as a ratio (0.999), when the check has an SLO. */
  slo?: number;
  remediate?: RemediateConfig;
  logs?: readonly LogSpec[];
}

/** The outcome of one run of one check: what it saw and how it was judged. */
export interface CheckResult {
  check: string;
  type: string;
  status: Status;
  statusText: StatusName;
  /** Whether the target answered. */
  up: boolean;
  reason?: FailureReason;
  /** The condition that decided a warning or critical status. */
  condition?: string;
  message: string;
  values: Record<string, Value>;
  /** Start of the run, ms since epoch. */
  startedAt: number;
  durationMs: number;
  /** What an auditing check found wrong, worst first (at most MAX_FINDINGS). */
  findings?: Finding[];
  /** All its findings counted by severity (the list may be cut; these are not). */
  findingCounts?: Record<FindingSeverity, number>;
  /** A cost check's figures with their labels (the keepwatch_cost_* gauges). */
  cost?: CostFigures;
  /** Lines that explain the result, newest last (a log check's last matching lines); bounded, scrubbed. */
  excerpt?: string[];
}

/** An incident's severities, mildest first. */
export const SEVERITIES = ['warning', 'critical'] as const;
/** An incident's severity. */
export type Severity = (typeof SEVERITIES)[number];

/** The states of an incident, in the order it goes through them. */
export const INCIDENT_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** An incident as stored. Times are ms since epoch. */
export interface Incident {
  id: number;
  key: string;
  agent: string;
  check: string;
  type: string;
  severity: Severity;
  state: IncidentState;
  tier?: string;
  tierIndex: number;
  summary: string;
  labels: Record<string, string>;
  values: Record<string, number | string | boolean>;
  flapping: boolean;
  openedAt: number;
  ackedAt?: number;
  ackedBy?: string;
  resolvedAt?: number;
  resolvedBy?: string;
  resolution?: string;
  /** Events so far; the next event's sequence number is seq + 1. */
  seq: number;
  evidence: unknown[];
  snapshot?: unknown;
  escalatedAt?: number;
  repeats: number;
  coverage: string;
  respondDue?: number;
  resolveDue?: number;
  respondBreached: boolean;
  resolveBreached: boolean;
}

/** One entry of an incident's timeline. */
export interface TimelineEntry {
  n: number;
  at: number;
  kind: string;
  message: string;
  data?: unknown;
}

/** An ad hoc silence: no incident opens or pages for matching checks between its times. */
export interface Silence {
  id: string;
  checks: string[];
  labels: Record<string, string>;
  startsAt: number;
  endsAt: number;
  comment: string;
  createdBy: string;
  createdAt: number;
}

/** The event kinds an incident produces, as notifiers receive them. */
export const EVENT_KINDS = ['trigger', 'acknowledge', 'resolve', 'escalate', 'flapping', 'sla_breach', 'severity_change'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * Paging events: the ones a tier's or notifier's coverage window holds back, a silence or a
 * maintenance window mutes, and an acknowledgement cancels while they are held. Acknowledge
 * and resolve are not among them: they go at once to whoever heard of the incident.
 */
export const PAGING_EVENTS: readonly EventKind[] = ['trigger', 'escalate', 'severity_change', 'sla_breach', 'flapping'];

/** A notification waiting in (or done with) the outbox. */
export interface OutboxEntry {
  id: number;
  key: string;
  notifier: string;
  incidentId: number;
  event: EventKind;
  payload: string;
  createdAt: number;
  notBefore: number;
  attempts: number;
  nextAttemptAt: number;
  deliveredAt?: number;
  failedAt?: number;
  lastError?: string;
}

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
    severity: Severity;
    state: IncidentState;
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
