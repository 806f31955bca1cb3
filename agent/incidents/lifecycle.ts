import { Status } from '../evaluate';
import type { Severity } from '../model';

export type { Severity } from '../model';

/** How a check's results become incidents. */
export interface LifecyclePolicy {
  /** Consecutive non-ok results that open an incident. */
  openAfter: number;
  /** Consecutive ok results that resolve it. */
  resolveAfter: number;
  /** What an unknown result counts as. */
  unknownIs: 'ignore' | 'warning' | 'critical';
  flapping: { enabled: boolean; low: number; high: number };
}

/** What the engine remembers about a check between results (persisted). */
export interface CheckState {
  /** Consecutive non-ok results (counted up to openAfter). */
  bad: number;
  /** Consecutive ok results (counted up to resolveAfter). */
  good: number;
  /** Consecutive unknown results, counted apart whatever unknownIs says. */
  unknown: number;
  /** The last FLAP_SAMPLES statuses (0 ok, 1 warning, 2 critical, 3 unknown), oldest first. */
  history: number[];
  flapping: boolean;
  flapPercent: number;
}

/** The open incident of a check, as far as the lifecycle needs to know. */
export interface OpenIncident {
  severity: Severity;
  flapping: boolean;
}

/** What should happen to the check's incident after a result. */
export type Decision =
  | { kind: 'open'; severity: Severity; flapping: boolean }
  | { kind: 'severity'; from: Severity; to: Severity }
  | { kind: 'resolve' }
  | { kind: 'flapping'; flapping: boolean; percent: number };

/** Nagios keeps 21 states: 20 transitions. */
export const FLAP_SAMPLES = 21;

/** A check's state before its first result. */
export function initialState(): CheckState {
  return { bad: 0, good: 0, unknown: 0, history: [], flapping: false, flapPercent: 0 };
}

/**
 * Nagios' flap percentage: state changes across the history, each weighted from 0.75 (oldest)
 * to 1.25 (newest), as a percentage of the 20 possible changes.
 */
export function flapPercent(history: readonly number[]): number {
  const n = FLAP_SAMPLES;
  let changes = 0;
  for (let x = 1; x < history.length; x++) {
    // Weights are fixed by position in a full window; a short history uses the newest slots.
    const slot = n - history.length + x;
    if (history[x] !== history[x - 1]) changes += ((slot - 1) * (1.25 - 0.75)) / (n - 2) + 0.75;
  }
  return (changes * 100) / (n - 1);
}

/**
 * Advances a check's state by one result and says what should happen to its incident.
 * Pure: state and result in, new state and decisions out.
 *
 * `suppressed` (maintenance, silence, a failing dependency) stops an incident from opening,
 * nothing else: the counters still advance, so a check still failing when a window ends
 * opens at its next result. While a check flaps its incident stays open whatever the
 * results, and severity changes are recorded but not paged (the engine decides that).
 */
export function advance(
  prev: CheckState,
  incident: OpenIncident | undefined,
  status: Status,
  policy: LifecyclePolicy,
  suppressed: boolean,
): { state: CheckState; decisions: Decision[] } {
  const decisions: Decision[] = [];
  // Ignored unknowns are counted apart: they are not states the check flaps between either.
  const ignored = status === Status.Unknown && policy.unknownIs === 'ignore';
  const state: CheckState = { ...prev, history: ignored ? prev.history : [...prev.history, status].slice(-FLAP_SAMPLES) };

  if (policy.flapping.enabled) {
    state.flapPercent = Math.round(flapPercent(state.history) * 100) / 100;
    if (!state.flapping && state.flapPercent >= policy.flapping.high) state.flapping = true;
    else if (state.flapping && state.flapPercent <= policy.flapping.low) state.flapping = false;
  } else {
    state.flapping = false;
    state.flapPercent = 0;
  }

  const severity = severityOf(status, policy);
  state.unknown = status === Status.Unknown ? prev.unknown + 1 : 0;
  if (ignored) {
    // Counted apart, and neither confirms a failure nor a recovery.
  } else if (severity) {
    state.bad = Math.min(prev.bad + 1, policy.openAfter);
    state.good = 0;
  } else {
    state.good = Math.min(prev.good + 1, policy.resolveAfter);
    state.bad = 0;
  }

  const flapChanged = state.flapping !== prev.flapping;
  if (incident) {
    if (flapChanged) decisions.push({ kind: 'flapping', flapping: state.flapping, percent: state.flapPercent });
    if (severity && severity !== incident.severity) decisions.push({ kind: 'severity', from: incident.severity, to: severity });
    // A flapping check's recoveries are not believed until it settles.
    if (!state.flapping && state.good >= policy.resolveAfter && !severity) decisions.push({ kind: 'resolve' });
  } else if (!suppressed) {
    if (state.flapping) {
      // Flapping with no incident (it started flapping now, or while suppressed): open one,
      // marked flapping, at the worst severity seen.
      decisions.push({ kind: 'open', severity: worstOf(state.history, policy) ?? 'warning', flapping: true });
    } else if (!state.flapping && severity && state.bad >= policy.openAfter) {
      decisions.push({ kind: 'open', severity, flapping: false });
    }
  }
  return { state, decisions };
}

/** The incident severity a status stands for, or undefined for ok (and for unknown when ignored). */
export function severityOf(status: Status, policy: LifecyclePolicy): Severity | undefined {
  switch (status) {
    case Status.Ok:
      return undefined;
    case Status.Warning:
      return 'warning';
    case Status.Critical:
      return 'critical';
    default:
      return policy.unknownIs === 'ignore' ? undefined : policy.unknownIs;
  }
}

function worstOf(history: readonly number[], policy: LifecyclePolicy): Severity | undefined {
  let worst: Severity | undefined;
  for (const s of history) {
    const sev = severityOf(s as Status, policy);
    if (sev === 'critical') return 'critical';
    if (sev) worst = sev;
  }
  return worst;
}

/** Whether the scheduler should re-check sooner (`retryEvery`): a failure or a recovery is counted but not confirmed. */
export function confirming(state: CheckState | undefined, incidentOpen: boolean, policy: LifecyclePolicy): boolean {
  if (!state) return false;
  if (!incidentOpen) return state.bad > 0 && state.bad < policy.openAfter;
  return state.good > 0 && state.good < policy.resolveAfter;
}
