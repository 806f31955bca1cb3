/**
 * The incident policy: one input (a result, a tick of the clock, an ack, a resolve, a
 * responder's report) and a check's slice of state in; the new slice and a list of effects
 * out. No store, no timers, no I/O, no clock of its own: the engine shell loads the slice,
 * calls `decide` and applies the effects in one transaction.
 */
import { Status } from '../evaluate';
import { PAGING_EVENTS, type CheckConfig, type CheckResult, type Incident, type Severity } from '../model';
import { remediationAllowed } from './remediation-limit';
import { dueStep, type EscalationView } from './escalation';
import { advance, initialState, severityOf, type CheckState, type LifecyclePolicy } from './lifecycle';
import { cancelHeld, deadlines, heardBy, held, notify, pageWaitsUntil, reachedTiers, release, releaseOpeningPages, suppression, tierNotifiers } from './paging';
import type { Ctx, Decision, Effect, Input, PolicyConfig, Slice, Tracked } from './policy-types';

export type * from './policy-types';
export { reloadTiers } from './escalation';
export { confirming } from './lifecycle';

/** How many results are kept per check as an incident's evidence (at least openAfter). */
export const EVIDENCE = 5;

/** How many of a result's findings (worst first) its evidence keeps. */
const EVIDENCE_FINDINGS = 20;

/** Why an incident L1 remediation fixed was resolved. */
const FIXED_BY_L1 = 'fixed by L1: the check passed right after remediation';

/** Extra hold on top of a remediation's own timeouts, for the re-run of the check. */
export const REMEDIATION_HOLD_MS = 30_000;

/** A check's lifecycle policy: the config's, with the check's own thresholds. */
export function policyFor(cfg: PolicyConfig, check: Pick<CheckConfig, 'openAfter' | 'resolveAfter'>): LifecyclePolicy {
  const p = cfg.policy;
  return check.openAfter || check.resolveAfter
    ? { ...p, openAfter: check.openAfter ?? p.openAfter, resolveAfter: check.resolveAfter ?? p.resolveAfter }
    : p;
}

/**
 * Decides what one input does to the check `name` and its incident. `evidence` are the results
 * that led to a result (the latest last), as the shell keeps them.
 */
export function decide(ctx: Ctx, name: string, slice: Slice, input: Input, evidence: readonly CheckResult[] = []): Decision {
  const s: Slice & { resolved?: Incident } = { state: slice.state, open: slice.open && copy(slice.open) };
  const out: Effect[] = [];
  let urgent = true;
  switch (input.kind) {
    case 'result':
      urgent = onResult(ctx, input.check, s, input.result, input.remediations, evidence, out);
      break;
    case 'tick':
      if (s.open) {
        checkSla(ctx, s.open, out);
        if (s.open.incident.state === 'open') escalate(ctx, s.open, false, out);
      }
      break;
    case 'ack':
      if (s.open?.incident.state === 'open') acknowledge(ctx, s.open, input.by, input.comment, out);
      break;
    case 'resolve':
      if (s.open) {
        resetCounters(s, name, out);
        resolveIncident(ctx, s, input.by, input.comment ? `resolved by hand: ${input.comment}` : 'resolved by hand', out);
      }
      break;
    case 'snapshot':
      attachSnapshot(ctx, s.open?.incident.id === input.id ? s.open : undefined, input, out);
      break;
    case 'remediation-start':
      if (s.open?.incident.id === input.id) startRemediation(ctx, input.check, s.open, input.remediations, out);
      break;
    case 'remediation-ran':
      remediationRan(input.id, input.ok, input.outcome, input.stopping, out);
      break;
    case 'remediation-checked':
      remediationChecked(ctx, name, s, input.id, input.ok, input.result, out);
      break;
  }
  const { resolved, ...next } = s;
  return { slice: next, effects: out, urgent, resolved };
}

function copy(t: Tracked): Tracked {
  return { incident: { ...t.incident }, notices: t.notices.map((n) => ({ ...n })) };
}

// Results

function onResult(ctx: Ctx, check: CheckConfig, s: Slice, result: CheckResult, remediations: readonly number[] | undefined, evidence: readonly CheckResult[], out: Effect[]): boolean {
  const policy = policyFor(ctx.cfg, check);
  const t = s.open;
  const suppressed = !t && !!suppression(ctx, check, true);
  const { state, decisions } = advance(s.state, t && { severity: t.incident.severity, flapping: t.incident.flapping }, result.status, policy, suppressed);
  const stateChanged = JSON.stringify(state) !== JSON.stringify(s.state);
  s.state = state;
  if (stateChanged) out.push({ kind: 'save-state', check: check.name, state });
  // The summary is the cause: the latest failing result's message and values. A recovery
  // does not overwrite it; the resolution says what resolved it.
  const failing = severityOf(result.status, policy) !== undefined;
  if (t && failing && (result.message !== t.incident.summary || JSON.stringify(result.values) !== JSON.stringify(t.incident.values))) {
    t.incident.summary = result.message;
    t.incident.values = result.values;
    out.push({ kind: 'update', id: t.incident.id, fields: { summary: result.message, values: result.values } });
  }
  for (const d of decisions) {
    if (d.kind === 'open') {
      s.open = openIncident(ctx, check, result, d.severity, d.flapping, remediations, evidence, out);
    } else if (d.kind === 'severity' && s.open) {
      changeSeverity(ctx, s.open, d.from, d.to, out);
    } else if (d.kind === 'flapping' && s.open) {
      setFlapping(ctx, s.open, d.flapping, d.percent, result, out);
    } else if (d.kind === 'resolve' && s.open) {
      if (ctx.remediating.has(s.open.incident.id)) resolveIncident(ctx, s, 'L1', FIXED_BY_L1, out, 'fixed by L1');
      else resolveIncident(ctx, s, 'auto', `recovered: ${result.message}`, out);
    }
  }
  return decisions.length > 0;
}

function openIncident(
  ctx: Ctx,
  check: CheckConfig,
  result: CheckResult,
  severity: Severity,
  flapping: boolean,
  remediations: readonly number[] | undefined,
  evidence: readonly CheckResult[],
  out: Effect[],
): Tracked {
  const { now } = ctx;
  const coverage = check.coverage ?? '24x7';
  const inc: Incident = {
    id: 0,
    key: `${ctx.cfg.agent}/${check.name}`,
    agent: ctx.cfg.agent,
    check: check.name,
    type: check.type,
    severity,
    state: 'open',
    tierIndex: -1,
    summary: result.message,
    labels: { ...check.labels, check: check.name, type: check.type, severity },
    values: result.values,
    flapping,
    openedAt: now,
    seq: 0,
    evidence: evidence.map((r) => ({ at: new Date(r.startedAt).toISOString(), status: r.statusText, reason: r.reason, message: r.message, values: r.values, ...(r.findings ? { findings: r.findings.slice(0, EVIDENCE_FINDINGS) } : {}), ...(r.excerpt ? { excerpt: r.excerpt } : {}) })),
    repeats: 0,
    coverage,
    ...deadlines(ctx, severity, coverage, now),
    respondBreached: false,
    resolveBreached: false,
  };
  out.push({ kind: 'open', incident: { ...inc } });
  const t: Tracked = { incident: inc, notices: [] };
  out.push({ kind: 'timeline', id: 0, entry: 'opened', message: `opened ${severity}${flapping ? ' (flapping)' : ''}: ${result.message}`, data: { status: result.statusText, reason: result.reason } });
  out.push({ kind: 'metric', metric: 'opened', severity });
  // Tiers due at once (after: 0) are reached now. Their pages are held while the snapshot
  // is taken (so they carry it) and while L1 remediation runs (which may make them moot).
  const reached: number[] = [];
  for (let step = dueStep(ctx.cfg.tiers, view(inc), now); step?.kind === 'escalate'; step = dueStep(ctx.cfg.tiers, view(inc), now)) {
    reached.push(step.tierIndex);
    inc.tierIndex = step.tierIndex;
  }
  if (reached.length) {
    inc.tier = ctx.cfg.tiers[inc.tierIndex].name;
    inc.escalatedAt = now;
    out.push({ kind: 'update', id: 0, fields: { tierIndex: inc.tierIndex, tier: inc.tier, escalatedAt: now } });
    out.push({ kind: 'timeline', id: 0, entry: 'escalated', message: `reached ${reached.map((i) => ctx.cfg.tiers[i].name).join(', ')}` });
  }
  const hold = Math.max(ctx.snapshotHoldMs, remediationHold(check, remediations, now));
  notify(ctx, t, flapping ? 'flapping' : 'trigger', tierNotifiers(ctx, inc, reached), out, { hold });
  if (ctx.snapshotHoldMs > 0) out.push({ kind: 'start', responder: 'snapshot', id: 0, check: check.name });
  if (check.remediate) out.push({ kind: 'start', responder: 'remediate', id: 0, check: check.name });
  return t;
}

function changeSeverity(ctx: Ctx, t: Tracked, from: Severity, to: Severity, out: Effect[]): void {
  const inc = t.incident;
  inc.severity = to;
  inc.labels = { ...inc.labels, severity: to };
  Object.assign(inc, deadlines(ctx, to, inc.coverage, inc.openedAt));
  out.push({ kind: 'update', id: inc.id, fields: { severity: to, labels: inc.labels, respondDue: inc.respondDue, resolveDue: inc.resolveDue } });
  const rise = to === 'critical';
  out.push({ kind: 'timeline', id: inc.id, entry: 'severity', message: `severity ${rise ? 'rose' : 'fell'} from ${from} to ${to}` });
  if (!rise || inc.flapping) {
    // A fall pages no one, but notifiers that keep the alert by lease (Alertmanager) have
    // severity in its identity: tell them, so the alert moves rather than splits in two.
    const lease = heardBy(t).filter((n) => ctx.cfg.notifiers.get(n)?.def.resendEveryMs);
    if (lease.length) notify(ctx, t, 'severity_change', lease, out, { details: { from, to } });
    return;
  }
  // A rise re-notifies whoever has heard of the incident, and pages held back by a coverage
  // window go now where the new severity may page anyway (by the tier's or the notifier's own
  // pageAnyway): those the old severity waited for and the new one does not.
  const reached = reachedTiers(ctx, inc);
  const was = { ...inc, severity: from };
  const free = [...new Set(held(t, ctx.now).map((n) => n.notifier))].filter(
    (n) => pageWaitsUntil(ctx, was, n, reached) > ctx.now && pageWaitsUntil(ctx, inc, n, reached) <= ctx.now,
  );
  if (free.length) release(t, ctx.now, out, free);
  notify(ctx, t, 'severity_change', heardBy(t), out, { details: { from, to } });
}

function setFlapping(ctx: Ctx, t: Tracked, flapping: boolean, percent: number, result: CheckResult, out: Effect[]): void {
  const inc = t.incident;
  inc.flapping = flapping;
  out.push({ kind: 'update', id: inc.id, fields: { flapping } });
  out.push({
    kind: 'timeline',
    id: inc.id,
    entry: flapping ? 'flapping' : 'settled',
    message: flapping ? `flapping (${percent}% state changes): no more pages until it settles` : `settled (${percent}% state changes)`,
  });
  if (flapping) {
    notify(ctx, t, 'flapping', heardBy(t), out, { details: { percent } });
  } else if (result.status !== Status.Ok) {
    // Settled into failing: now it is a real incident, and pages like one.
    notify(ctx, t, 'trigger', tierNotifiers(ctx, inc, reachedTiers(ctx, inc)), out, { details: { settled: true } });
  }
}

function resolveIncident(ctx: Ctx, s: Slice & { resolved?: Incident }, by: string, why: string, out: Effect[], resolution?: string): void {
  const t = s.open!;
  const inc = t.incident;
  const { now } = ctx;
  inc.state = 'resolved';
  inc.resolvedAt = now;
  inc.resolvedBy = by;
  inc.resolution = resolution ?? why;
  out.push({ kind: 'update', id: inc.id, fields: { state: 'resolved', resolvedAt: now, resolvedBy: by, resolution: inc.resolution } });
  out.push({ kind: 'timeline', id: inc.id, entry: 'resolved', message: `resolved by ${by}: ${why}` });
  // Pages still held back are dropped; those who heard (or will) hear the end.
  cancelHeld(t, now, out);
  notify(ctx, t, 'resolve', heardBy(t), out, { details: { by, why } });
  if (ctx.remediating.has(inc.id)) out.push({ kind: 'abort-remediation', id: inc.id });
  out.push({ kind: 'metric', metric: 'resolved', severity: inc.severity, seconds: (now - inc.openedAt) / 1000 });
  s.resolved = inc;
  s.open = undefined;
}

/** Forgets a check's counting (and flapping): after a resolve by hand or by L1, it starts over. */
function resetCounters(s: Slice, check: string, out: Effect[]): void {
  s.state = { ...(s.state ?? initialState()), bad: 0, good: 0, history: [], flapping: false, flapPercent: 0 };
  out.push({ kind: 'save-state', check, state: s.state });
}

// People

/**
 * Acknowledging stops escalation (the resolve clock runs on), drops pages still held back by
 * a coverage window, and tells whoever heard of the incident.
 */
function acknowledge(ctx: Ctx, t: Tracked, by: string, comment: string | undefined, out: Effect[]): void {
  const inc = t.incident;
  const { now } = ctx;
  inc.state = 'acknowledged';
  inc.ackedAt = now;
  inc.ackedBy = by;
  out.push({ kind: 'update', id: inc.id, fields: { state: 'acknowledged', ackedAt: now, ackedBy: by } });
  out.push({ kind: 'timeline', id: inc.id, entry: 'acknowledged', message: `acknowledged by ${by}${comment ? `: ${comment}` : ''}` });
  cancelHeld(t, now, out, PAGING_EVENTS);
  notify(ctx, t, 'acknowledge', heardBy(t), out, { details: { by, comment } });
  out.push({ kind: 'metric', metric: 'acked', severity: inc.severity, seconds: (now - inc.openedAt) / 1000 });
}

// Time

/** Records SLA breaches that are due; a respond breach escalates to the next tier. */
function checkSla(ctx: Ctx, t: Tracked, out: Effect[]): void {
  const inc = t.incident;
  const { now } = ctx;
  if (inc.state === 'open' && !inc.respondBreached && inc.respondDue !== undefined && now >= inc.respondDue) {
    inc.respondBreached = true;
    out.push({ kind: 'update', id: inc.id, fields: { respondBreached: true } });
    out.push({ kind: 'timeline', id: inc.id, entry: 'sla_breach', message: `respond SLA breached: not acknowledged by ${new Date(inc.respondDue).toISOString()}` });
    out.push({ kind: 'metric', metric: 'sla', severity: inc.severity, clock: 'respond' });
    if (!inc.flapping) notify(ctx, t, 'sla_breach', heardBy(t), out, { details: { kind: 'respond' } });
    escalate(ctx, t, true, out);
  }
  if (!inc.resolveBreached && inc.resolveDue !== undefined && now >= inc.resolveDue) {
    inc.resolveBreached = true;
    out.push({ kind: 'update', id: inc.id, fields: { resolveBreached: true } });
    out.push({ kind: 'timeline', id: inc.id, entry: 'sla_breach', message: `resolve SLA breached: not resolved by ${new Date(inc.resolveDue).toISOString()}` });
    out.push({ kind: 'metric', metric: 'sla', severity: inc.severity, clock: 'resolve' });
    if (!inc.flapping) notify(ctx, t, 'sla_breach', heardBy(t), out, { details: { kind: 'resolve' } });
  }
}

/** One escalation step if due (or forced). */
function escalate(ctx: Ctx, t: Tracked, force: boolean, out: Effect[]): void {
  const inc = t.incident;
  const { now } = ctx;
  const check = ctx.cfg.checks.get(inc.check);
  if (check && suppression(ctx, check, false)) return; // paused in maintenance or silence
  if (inc.flapping) return; // no more pages until it settles
  if (!force && ctx.remediating.has(inc.id)) return; // L1 first
  const step = dueStep(ctx.cfg.tiers, view(inc), now, force);
  if (!step) return;
  const tier = ctx.cfg.tiers[step.tierIndex];
  if (step.kind === 'escalate') {
    inc.tierIndex = step.tierIndex;
    inc.tier = tier.name;
    inc.escalatedAt = now;
    inc.repeats = 0;
    out.push({ kind: 'update', id: inc.id, fields: { tierIndex: inc.tierIndex, tier: inc.tier, escalatedAt: now, repeats: 0 } });
    out.push({ kind: 'timeline', id: inc.id, entry: 'escalated', message: `escalated to ${tier.name}${step.reason === 'forced' ? ' at once' : ''}` });
    notify(ctx, t, 'escalate', tierNotifiers(ctx, inc, [step.tierIndex]), out, { details: { tier: tier.name } });
  } else {
    inc.escalatedAt = now;
    inc.repeats = step.repeat;
    out.push({ kind: 'update', id: inc.id, fields: { escalatedAt: now, repeats: step.repeat } });
    out.push({ kind: 'timeline', id: inc.id, entry: 'repeat', message: `re-notified ${tier.name} (${step.repeat} of ${tier.repeat!.max})` });
    notify(ctx, t, 'trigger', tierNotifiers(ctx, inc, [step.tierIndex]), out, { details: { repeat: step.repeat } });
  }
}

function view(inc: Incident): EscalationView {
  return { openedAt: inc.openedAt, severity: inc.severity, acked: inc.state !== 'open', tierIndex: inc.tierIndex, escalatedAt: inc.escalatedAt, repeats: inc.repeats, labels: inc.labels };
}

// Responders

/**
 * Stores the snapshot, puts its summary into the pages not sent yet, and lets them go. An
 * incident that resolved meanwhile keeps its snapshot too.
 */
function attachSnapshot(ctx: Ctx, t: Tracked | undefined, input: { id: number; snapshot: unknown; summary: string }, out: Effect[]): void {
  const { id, snapshot, summary } = input;
  if (t) t.incident.snapshot = snapshot;
  out.push({ kind: 'update', id, fields: { snapshot } });
  out.push({ kind: 'timeline', id, entry: 'snapshot', message: `diagnostic snapshot: ${summary}` });
  out.push({ kind: 'annotate', id, snapshot: summary });
  // Held for the snapshot only (not for a remediation or a closed coverage window).
  if (t && !ctx.remediating.has(id)) releaseOpeningPages(ctx, t, out);
}

/** How long the first pages wait for L1 remediation: its actions' timeouts and a re-run, when it may run. */
function remediationHold(check: CheckConfig, remediations: readonly number[] | undefined, now: number): number {
  const r = check.remediate;
  if (!r) return 0;
  if (!remediationAllowed(remediations ?? [], now, r.limit, r.cooldown).allowed) return 0;
  return r.actions.reduce((sum, a) => sum + a.timeout, 0) + REMEDIATION_HOLD_MS;
}

/**
 * L1, Monit-style: the check's remediation runs (the rate limit and cool-down allowing), the
 * check is re-run at once, and the incident resolves as fixed by L1 if it passes; pages of
 * the tiers reached at opening are held meanwhile. Refused, it escalates at once.
 */
function startRemediation(ctx: Ctx, check: CheckConfig, t: Tracked, remediations: readonly number[], out: Effect[]): void {
  const r = check.remediate!;
  const allowed = remediationAllowed(remediations, ctx.now, r.limit, r.cooldown);
  if (!allowed.allowed) {
    out.push({ kind: 'metric', metric: 'remediation', check: check.name, outcome: 'skipped' });
    out.push({ kind: 'timeline', id: t.incident.id, entry: 'remediation', message: `L1 remediation skipped: ${allowed.reason}` });
    escalate(ctx, t, true, out);
    return;
  }
  out.push({ kind: 'remediation-run', id: t.incident.id, check: check.name });
  out.push({ kind: 'timeline', id: t.incident.id, entry: 'remediation', message: `L1 remediation started (${r.actions.length} action${r.actions.length === 1 ? '' : 's'})` });
}

function remediationRan(id: number, ok: boolean, outcome: unknown, stopping: boolean, out: Effect[]): void {
  out.push({ kind: 'timeline', id, entry: 'remediation', message: `L1 remediation ${ok ? 'ran' : 'failed'}`, data: outcome });
  if (stopping) out.push({ kind: 'timeline', id, entry: 'remediation', message: 'L1 remediation interrupted by the agent stopping' });
}

/**
 * After the re-run (or straight after actions that failed): passing, the incident resolves
 * as fixed by L1; still failing, the held pages go and it escalates at once. The incident
 * may have been resolved meanwhile (then the remediation was moot, or the re-run's own
 * result resolved it, which was L1's doing).
 */
function remediationChecked(ctx: Ctx, check: string, s: Slice & { resolved?: Incident }, id: number, ok: boolean, result: CheckResult | undefined, out: Effect[]): void {
  const t = s.open;
  if (!t || t.incident.id !== id) {
    out.push({ kind: 'metric', metric: 'remediation', check, outcome: result?.status === Status.Ok ? 'fixed' : 'moot' });
    return;
  }
  if (result?.status === Status.Ok) {
    out.push({ kind: 'metric', metric: 'remediation', check, outcome: 'fixed' });
    resetCounters(s, check, out);
    resolveIncident(ctx, s, 'L1', FIXED_BY_L1, out, 'fixed by L1');
    return;
  }
  out.push({ kind: 'metric', metric: 'remediation', check, outcome: 'failed' });
  out.push({ kind: 'timeline', id: t.incident.id, entry: 'remediation', message: ok ? `the check still fails after remediation: ${result?.message ?? 'no result'}` : 'remediation failed; escalating' });
  releaseOpeningPages(ctx, t, out);
  escalate(ctx, t, true, out);
}
