/**
 * The incident policy's vocabulary: what it knows (a check's slice of state and the compiled
 * config), what comes in (a result, a tick of the clock, a person, a responder) and what it
 * asks for (effects). Types only.
 */
import type { Status } from '../evaluate';
import type { CheckConfig, CheckResult, EventKind, Incident, Severity, Silence } from '../model';
import type { Timeframe } from './coverage';
import type { SlaTarget, Tier } from './escalation';
import type { CheckState, LifecyclePolicy } from './lifecycle';
import type { MaintenanceWindow } from './maintenance';

/** What the policy needs of a configured notifier. */
export interface NotifierPolicy {
  coverage?: string;
  pageAnyway?: readonly Severity[];
  /** Set for notifiers that keep alerts by lease (Alertmanager). */
  def: { resendEveryMs?: number };
}

/** Everything the policy needs from the config, compiled. */
export interface PolicyConfig {
  agent: string;
  policy: LifecyclePolicy;
  tiers: readonly Tier[];
  sla: Partial<Record<Severity, SlaTarget>>;
  coverage: ReadonlyMap<string, Timeframe>;
  maintenance: readonly MaintenanceWindow[];
  notifiers: ReadonlyMap<string, NotifierPolicy>;
  /** The checks that run (expanded), by name. */
  checks: ReadonlyMap<string, CheckConfig>;
}

/** The world at the moment of one input. */
export interface Ctx {
  cfg: PolicyConfig;
  now: number;
  /** Silences that have not ended. */
  silences: readonly Silence[];
  /** The last status of every check (a dependency that fails holds its dependents back). */
  lastStatus: ReadonlyMap<string, Status>;
  /** How long the first pages of a new incident wait for the diagnostic snapshot (0: none is taken). */
  snapshotHoldMs: number;
  /** Incidents whose L1 remediation runs now: their escalation waits for it. */
  remediating: ReadonlySet<number>;
}

/** One notification of an incident, as far as the policy needs it: who, what and from when. */
export interface Notice {
  notifier: string;
  event: EventKind;
  /** Held back until then (a coverage window, the snapshot, a remediation); past: due or sent. */
  notBefore: number;
}

/** An open (or acknowledged) incident with its notifications. */
export interface Tracked {
  incident: Incident;
  notices: Notice[];
}

/** What the policy knows of one check. */
export interface Slice {
  state: CheckState;
  open?: Tracked;
}

/** Something that happened to a check or its incident. */
export type Input =
  | {
      kind: 'result';
      /** The check as it ran (a reload may have changed the config since). */
      check: CheckConfig;
      result: CheckResult;
      /** When the check's L1 remediation ran lately (its rate limit), for a check that has one. */
      remediations?: readonly number[];
    }
  | { kind: 'tick' }
  | { kind: 'ack'; by: string; comment?: string }
  | { kind: 'resolve'; by: string; comment?: string }
  /** The diagnostic snapshot of incident `id` was taken (it may have resolved meanwhile). */
  | { kind: 'snapshot'; id: number; snapshot: unknown; summary: string }
  /** The responder is about to run the check's remediation; `remediations` as for a result. */
  | { kind: 'remediation-start'; id: number; check: CheckConfig; remediations: readonly number[] }
  /** The remediation's actions ran (`outcome` goes to the timeline as is). */
  | { kind: 'remediation-ran'; id: number; ok: boolean; outcome: unknown; stopping: boolean }
  /** The check was re-run after a remediation that ran; no result when it could not be. */
  | { kind: 'remediation-checked'; id: number; ok: boolean; result?: CheckResult };

/** The fields of an incident an update may write. */
export type IncidentFields = Partial<Omit<Incident, 'id' | 'key' | 'agent' | 'check' | 'type'>>;

/** What the policy asks for. Effects about an incident just opened carry id 0 until it is stored. */
export type Effect =
  | { kind: 'save-state'; check: string; state: CheckState }
  | { kind: 'open'; incident: Incident }
  | { kind: 'update'; id: number; fields: IncidentFields }
  | { kind: 'timeline'; id: number; entry: string; message: string; data?: unknown }
  /** Queue one event; `incident` is the incident as the event describes it. */
  | { kind: 'notify'; id: number; notifier: string; event: EventKind; notBefore: number; incident: Incident; details?: Record<string, unknown> }
  | { kind: 'release'; id: number; notifiers?: readonly string[] }
  | { kind: 'cancel'; id: number; events?: readonly EventKind[] }
  /** Put the snapshot's summary into the incident's notifications not attempted yet. */
  | { kind: 'annotate'; id: number; snapshot: string }
  /** Record that L1 remediation of a check started now (its rate limit). */
  | { kind: 'remediation-run'; id: number; check: string }
  | { kind: 'start'; responder: 'snapshot' | 'remediate'; id: number; check: string }
  | { kind: 'abort-remediation'; id: number }
  | { kind: 'metric'; metric: 'opened'; severity: Severity }
  | { kind: 'metric'; metric: 'acked' | 'resolved'; severity: Severity; seconds: number }
  | { kind: 'metric'; metric: 'sla'; severity: Severity; clock: 'respond' | 'resolve' }
  | { kind: 'metric'; metric: 'remediation'; check: string; outcome: 'skipped' | 'fixed' | 'failed' | 'moot' };

/** The policy's answer: the check's new slice and what to do. */
export interface Decision {
  slice: Slice;
  effects: Effect[];
  /** The incident this input resolved, as it stands resolved. */
  resolved?: Incident;
  /**
   * False when only counting and an open incident's latest message changed: the shell may
   * write those with its next batch. True when an incident or a notification changed.
   */
  urgent: boolean;
}
