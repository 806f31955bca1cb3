import type { CheckConfig } from '../config/load';
import { Status } from '../evaluate';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { NotifierInstance } from '../notifiers/outbox';
import type { EventKind, IncidentEvent } from '../notifiers/types';
import type { CheckResult } from '../runner';
import type { Incident, OutboxEntry, Silence, Store, TimelineEntry } from '../store/store';
import { activeMs, addActive, isActive, nextChange, type Timeframe } from './coverage';
import { dueStep, notifiedSoFar, tierMatches, type Tier } from './escalation';
import { windowKpis } from './kpis';
import { advance, initialState, type CheckState, type LifecyclePolicy, type Severity } from './lifecycle';
import { activeRange, activeWindows, globToRegExp, type MaintenanceWindow } from './maintenance';
import { remediationAllowed, runRemediation } from './remediate';
import { summariseSnapshot, takeSnapshot } from './snapshot';

/** SLA targets of one severity. */
export interface SlaTarget {
  respondMs?: number;
  resolveMs?: number;
}

/** Everything the engine needs from the config, compiled. */
export interface EngineConfig {
  agent: string;
  policy: LifecyclePolicy;
  tiers: readonly Tier[];
  sla: Partial<Record<Severity, SlaTarget>>;
  coverage: ReadonlyMap<string, Timeframe>;
  maintenance: readonly MaintenanceWindow[];
  notifiers: ReadonlyMap<string, NotifierInstance>;
  /** The checks that run (expanded), by name. */
  checks: ReadonlyMap<string, CheckConfig>;
}

export interface EngineDeps {
  store: Store;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
  /** Re-runs a check at once (after a remediation) and returns its result. */
  runNow?(check: string): Promise<CheckResult | undefined>;
  /** Something was queued in the outbox. */
  onEnqueue?(): void;
  /** Take a diagnostic snapshot when an incident opens (default true). */
  snapshots?: boolean;
}

/** How often changed check states are written when nothing else is (ms). */
const STATE_FLUSH_MS = 5000;

/** How many results are kept per check as an incident's evidence. */
const EVIDENCE = 5;

/**
 * Turns check results into incidents and incidents into notifications. Every decision and
 * the notifications it causes are written to the store in one transaction, so a crash at
 * any point neither loses an incident nor pages twice, and the state of each check (its
 * counters and flap history) carries over a restart.
 */
export class IncidentEngine {
  private cfg: EngineConfig;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly states = new Map<string, CheckState>();
  private readonly stateJson = new Map<string, string>();
  private readonly open = new Map<string, Incident>();
  private readonly recent = new Map<string, CheckResult[]>();
  private readonly lastStatus = new Map<string, Status>();
  /** Checks whose state changed since it was last written. */
  private readonly dirty = new Set<string>();
  private lastStateFlush = 0;
  private readonly availability = new Map<string, { hour: number; ok: number; total: number }>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private silences: Silence[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = 0;

  constructor(cfg: EngineConfig, private readonly deps: EngineDeps) {
    this.cfg = cfg;
    this.store = deps.store;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    for (const [name, s] of this.store.loadCheckStates()) {
      this.states.set(name, { ...initialState(), ...(s as Partial<CheckState>) });
      this.stateJson.set(name, JSON.stringify(s));
      const h = (s as CheckState).history;
      if (h?.length) this.lastStatus.set(name, h[h.length - 1] as Status);
    }
    for (const inc of this.store.unresolvedIncidents()) this.open.set(inc.check, inc);
    this.silences = this.store.listSilences(this.now());
    this.updateGauges();
  }

  /** Applies a reloaded config. Incidents of checks that went away stay until resolved by hand. */
  apply(cfg: EngineConfig): void {
    this.cfg = cfg;
    this.updateGauges();
  }

  /** Starts the timer that escalates, checks SLA clocks and flushes availability. */
  start(intervalMs = 1000): void {
    this.lastFlush = this.now();
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer, lets remediations and snapshots finish (aborting them after 5 s) and flushes. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const t = setTimeout(() => this.abort.abort(new Error('agent stopping')), 5000);
    await Promise.allSettled([...this.pending]);
    clearTimeout(t);
    this.flushStates();
    this.flushAvailability();
  }

  /** Open and acknowledged incidents, by check. */
  openIncidents(): Incident[] {
    return [...this.open.values()];
  }

  // Results

  /** Feeds one judged result of a check to the lifecycle. */
  onResult(check: CheckConfig, result: CheckResult): void {
    const now = this.now();
    this.countAvailability(check.name, result, now);
    const ring = this.recent.get(check.name) ?? [];
    ring.push(result);
    if (ring.length > EVIDENCE) ring.shift();
    this.recent.set(check.name, ring);
    this.lastStatus.set(check.name, result.status);

    const policy = this.policyFor(check);
    const prev = this.states.get(check.name) ?? initialState();
    const incident = this.open.get(check.name);
    const suppressedBy = incident ? undefined : this.suppression(check, now, true);
    const { state, decisions } = advance(prev, incident && { severity: incident.severity, flapping: incident.flapping }, result.status, policy, !!suppressedBy);

    const json = JSON.stringify(state);
    const stateChanged = json !== this.stateJson.get(check.name);
    if (!decisions.length && !incident) {
      // Nothing happens to an incident: the new state is saved with the next batch (a few
      // seconds), not in a transaction per result. A crash loses at most those seconds of
      // counting, which can only delay an incident, never open or page one twice.
      this.states.set(check.name, state);
      if (stateChanged) {
        this.stateJson.set(check.name, json);
        this.dirty.add(check.name);
      }
      return;
    }
    let opened: Incident | undefined;
    this.store.transaction(() => {
      if (stateChanged) this.store.saveCheckState(check.name, state, now);
      this.dirty.delete(check.name);
      let inc = incident;
      if (inc && (result.message !== inc.summary || JSON.stringify(result.values) !== JSON.stringify(inc.values))) {
        inc.summary = result.message;
        inc.values = result.values;
        this.store.updateIncident(inc.id, { summary: inc.summary, values: inc.values });
      }
      for (const d of decisions) {
        if (d.kind === 'open') {
          inc = opened = this.openIncident(check, result, d.severity, d.flapping, now);
        } else if (d.kind === 'severity' && inc) {
          this.changeSeverity(inc, d.from, d.to, now);
        } else if (d.kind === 'flapping' && inc) {
          this.setFlapping(inc, d.flapping, d.percent, now);
        } else if (d.kind === 'resolve' && inc) {
          this.resolveIncident(inc, now, 'auto', 'recovered: the check is ok again');
        }
      }
    });
    this.states.set(check.name, state);
    this.stateJson.set(check.name, json);
    if (decisions.length) this.deps.onEnqueue?.();
    if (opened) this.afterOpen(check, opened);
  }

  private policyFor(check: CheckConfig): LifecyclePolicy {
    const p = this.cfg.policy;
    return check.openAfter || check.resolveAfter
      ? { ...p, openAfter: check.openAfter ?? p.openAfter, resolveAfter: check.resolveAfter ?? p.resolveAfter }
      : p;
  }

  /**
   * Why no incident may open (or page) for a check now: a maintenance window, a silence, or
   * (for opening only) a dependency that is failing.
   */
  private suppression(check: CheckConfig, now: number, opening: boolean): string | undefined {
    const windows = activeWindows(this.cfg.maintenance, now, check.name, check.labels);
    if (windows.length) return `maintenance ${windows.map((w) => w.name).join(', ')}`;
    const silence = this.silences.find((s) => s.startsAt <= now && now < s.endsAt && silenceMatches(s, check));
    if (silence) return `silence ${silence.id}`;
    if (opening) {
      for (const dep of check.dependsOn ?? []) {
        const failing = [...this.lastStatus].find(([name, st]) => (name === dep || name.startsWith(`${dep}:`)) && st !== Status.Ok);
        if (failing) return `dependency ${failing[0]} is failing`;
      }
    }
    return undefined;
  }

  private openIncident(check: CheckConfig, result: CheckResult, severity: Severity, flapping: boolean, now: number): Incident {
    const labels = { ...check.labels, check: check.name, type: check.type, severity };
    const coverage = check.coverage ?? '24x7';
    const inc = this.store.insertIncident({
      key: `${this.cfg.agent}/${check.name}`,
      agent: this.cfg.agent,
      check: check.name,
      type: check.type,
      severity,
      state: 'open',
      tierIndex: -1,
      summary: result.message,
      labels,
      values: result.values,
      flapping,
      openedAt: now,
      seq: 0,
      evidence: (this.recent.get(check.name) ?? []).map((r) => ({ at: new Date(r.startedAt).toISOString(), status: r.statusText, reason: r.reason, message: r.message, values: r.values })),
      repeats: 0,
      coverage,
      ...this.deadlines(severity, coverage, now),
      respondBreached: false,
      resolveBreached: false,
    });
    this.open.set(check.name, inc);
    this.store.addTimeline(inc.id, now, 'opened', `opened ${severity}${flapping ? ' (flapping)' : ''}: ${result.message}`, { status: result.statusText, reason: result.reason });
    this.deps.metrics.incidentOpened(severity);
    // Tiers due at once (after: 0) are reached now; the first notification is the trigger,
    // or, for a check that opened because it flaps, the one flapping notice.
    let step = dueStep(this.cfg.tiers, this.view(inc), now);
    const reached: number[] = [];
    while (step?.kind === 'escalate') {
      reached.push(step.tierIndex);
      inc.tierIndex = step.tierIndex;
      step = dueStep(this.cfg.tiers, this.view(inc), now);
    }
    if (reached.length) {
      inc.tier = this.cfg.tiers[inc.tierIndex].name;
      inc.escalatedAt = now;
      this.store.updateIncident(inc.id, { tierIndex: inc.tierIndex, tier: inc.tier, escalatedAt: now });
      this.store.addTimeline(inc.id, now, 'escalated', `reached ${reached.map((i) => this.cfg.tiers[i].name).join(', ')}`);
    }
    this.notify(inc, flapping ? 'flapping' : 'trigger', this.notifiersOf(inc, reached), now);
    return inc;
  }

  private changeSeverity(inc: Incident, from: Severity, to: Severity, now: number): void {
    inc.severity = to;
    inc.labels = { ...inc.labels, severity: to };
    Object.assign(inc, this.deadlines(to, inc.coverage, inc.openedAt));
    this.store.updateIncident(inc.id, { severity: to, labels: inc.labels, respondDue: inc.respondDue, resolveDue: inc.resolveDue });
    const rise = to === 'critical';
    this.store.addTimeline(inc.id, now, 'severity', `severity ${rise ? 'rose' : 'fell'} from ${from} to ${to}`);
    // A rise re-notifies whoever has heard of the incident; a fall is only recorded.
    if (rise && !inc.flapping) this.notify(inc, 'severity_change', notifiedSoFar(this.cfg.tiers, inc), now, { from, to });
    this.updateGauges();
  }

  private setFlapping(inc: Incident, flapping: boolean, percent: number, now: number): void {
    inc.flapping = flapping;
    this.store.updateIncident(inc.id, { flapping });
    this.store.addTimeline(inc.id, now, flapping ? 'flapping' : 'settled', flapping ? `flapping (${percent}% state changes): no more pages until it settles` : `settled (${percent}% state changes)`);
    if (flapping) this.notify(inc, 'flapping', notifiedSoFar(this.cfg.tiers, inc), now, { percent });
  }

  private resolveIncident(inc: Incident, now: number, by: string, why: string, resolution?: string): void {
    inc.state = 'resolved';
    inc.resolvedAt = now;
    inc.resolvedBy = by;
    inc.resolution = resolution ?? why;
    this.store.updateIncident(inc.id, { state: 'resolved', resolvedAt: now, resolvedBy: by, resolution: inc.resolution });
    this.store.addTimeline(inc.id, now, 'resolved', `resolved by ${by}: ${why}`);
    // Pages still waiting for a coverage window are dropped; those who heard hear the end.
    this.store.cancelDeferred(inc.id, now);
    const heard = [...new Set(this.store.notificationsOf(inc.id).map((e) => e.notifier))];
    this.notify(inc, 'resolve', heard, now, { by, why });
    this.open.delete(inc.check);
    this.deps.metrics.incidentResolved(inc.severity, (now - inc.openedAt) / 1000);
    this.updateGauges();
  }

  private afterOpen(check: CheckConfig, inc: Incident): void {
    if (this.deps.snapshots !== false) {
      this.track(
        takeSnapshot({ logs: check.logs, signal: this.abort.signal }).then((snap) => {
          this.store.transaction(() => {
            this.store.updateIncident(inc.id, { snapshot: snap });
            this.store.addTimeline(inc.id, this.now(), 'snapshot', `diagnostic snapshot: ${summariseSnapshot(snap)}`);
          });
          inc.snapshot = snap;
        }),
      );
    }
    if (check.remediate) this.track(this.remediate(check, inc));
  }

  /**
   * L1, Monit-style: run the check's remediation, re-run the check at once, and resolve the
   * incident as fixed by L1 if it passes; if it still fails, escalate to the next tier now
   * rather than after its delay. Rate limit and cool-down keep a broken fix from looping.
   */
  private async remediate(check: CheckConfig, inc: Incident): Promise<void> {
    const r = check.remediate!;
    const now = this.now();
    const history = this.store.remediationsSince(check.name, now - Math.max(r.limit.within, r.cooldown));
    const allowed = remediationAllowed(history, now, r.limit, r.cooldown);
    if (!allowed.allowed) {
      this.store.addTimeline(inc.id, now, 'remediation', `L1 remediation skipped: ${allowed.reason}`);
      this.deps.metrics.remediation(check.name, 'skipped');
      return;
    }
    this.store.transaction(() => {
      this.store.addRemediation(check.name, now);
      this.store.addTimeline(inc.id, now, 'remediation', `L1 remediation started (${r.actions.length} action${r.actions.length === 1 ? '' : 's'})`);
    });
    const outcome = await runRemediation(r.actions, { signal: this.abort.signal }); // never rejects
    const done = this.now();
    this.store.addTimeline(inc.id, done, 'remediation', `L1 remediation ${outcome.ok ? 'ran' : 'failed'}`, outcome);
    const result = outcome.ok && this.deps.runNow ? await this.deps.runNow(check.name) : undefined;
    const current = this.open.get(check.name);
    if (!current || current.id !== inc.id) {
      this.deps.metrics.remediation(check.name, 'fixed');
      return; // resolved meanwhile
    }
    const at = this.now();
    if (result && result.status === Status.Ok) {
      this.deps.metrics.remediation(check.name, 'fixed');
      this.store.transaction(() => {
        this.resetCounters(check.name, at);
        this.resolveIncident(current, at, 'L1', 'fixed by L1: the check passed right after remediation', 'fixed by L1');
      });
    } else {
      this.deps.metrics.remediation(check.name, 'failed');
      this.store.transaction(() => {
        this.store.addTimeline(current.id, at, 'remediation', outcome.ok ? `the check still fails after remediation: ${result?.message ?? 'no result'}` : 'remediation failed; escalating');
        this.escalate(current, at, true);
      });
    }
    this.deps.onEnqueue?.();
  }

  // Time-driven work

  /** Escalates, repeats and checks SLA clocks of open incidents; flushes availability once a minute. */
  tick(): void {
    const now = this.now();
    this.silences = this.store.listSilences(now);
    let queued = false;
    for (const inc of [...this.open.values()]) {
      this.store.transaction(() => {
        if (this.checkSla(inc, now)) queued = true;
        if (inc.state === 'open' && this.escalate(inc, now, false)) queued = true;
      });
    }
    if (queued) this.deps.onEnqueue?.();
    if (now - this.lastStateFlush >= STATE_FLUSH_MS) this.flushStates();
    if (now - this.lastFlush >= 60_000) this.flushAvailability();
    this.deps.metrics.setMaintenance(this.cfg.maintenance.map((w) => ({ name: w.name, active: activeRange(w, now) !== undefined })));
  }

  /** One escalation step if due (or forced); true when something was queued. */
  private escalate(inc: Incident, now: number, force: boolean): boolean {
    const check = this.cfg.checks.get(inc.check);
    if (check && this.suppression(check, now, false)) return false; // paused in maintenance or silence
    if (inc.flapping && !force) return false; // no more pages until it settles
    const step = dueStep(this.cfg.tiers, this.view(inc), now, force);
    if (!step) return false;
    const tier = this.cfg.tiers[step.tierIndex];
    if (step.kind === 'escalate') {
      inc.tierIndex = step.tierIndex;
      inc.tier = tier.name;
      inc.escalatedAt = now;
      inc.repeats = 0;
      this.store.updateIncident(inc.id, { tierIndex: inc.tierIndex, tier: inc.tier, escalatedAt: now, repeats: 0 });
      this.store.addTimeline(inc.id, now, 'escalated', `escalated to ${tier.name}${step.reason === 'forced' ? ' at once' : ''}`);
      this.notify(inc, 'escalate', this.notifiersOf(inc, [step.tierIndex]), now, { tier: tier.name });
      this.updateGauges();
    } else {
      inc.escalatedAt = now;
      inc.repeats = step.repeat;
      this.store.updateIncident(inc.id, { escalatedAt: now, repeats: step.repeat });
      this.store.addTimeline(inc.id, now, 'repeat', `re-notified ${tier.name} (${step.repeat} of ${tier.repeat!.max})`);
      this.notify(inc, 'trigger', this.notifiersOf(inc, [step.tierIndex]), now, { repeat: step.repeat });
    }
    return true;
  }

  /** Records SLA breaches that are due; a respond breach escalates to the next tier. */
  private checkSla(inc: Incident, now: number): boolean {
    let queued = false;
    if (inc.state === 'open' && !inc.respondBreached && inc.respondDue !== undefined && now >= inc.respondDue) {
      inc.respondBreached = true;
      this.store.updateIncident(inc.id, { respondBreached: true });
      this.store.addTimeline(inc.id, now, 'sla_breach', `respond SLA breached: not acknowledged by ${new Date(inc.respondDue).toISOString()}`);
      this.deps.metrics.slaBreach(inc.severity, 'respond');
      this.notify(inc, 'sla_breach', notifiedSoFar(this.cfg.tiers, inc), now, { kind: 'respond' });
      this.escalate(inc, now, true);
      queued = true;
    }
    if (!inc.resolveBreached && inc.resolveDue !== undefined && now >= inc.resolveDue) {
      inc.resolveBreached = true;
      this.store.updateIncident(inc.id, { resolveBreached: true });
      this.store.addTimeline(inc.id, now, 'sla_breach', `resolve SLA breached: not resolved by ${new Date(inc.resolveDue).toISOString()}`);
      this.deps.metrics.slaBreach(inc.severity, 'resolve');
      this.notify(inc, 'sla_breach', notifiedSoFar(this.cfg.tiers, inc), now, { kind: 'resolve' });
      queued = true;
    }
    return queued;
  }

  // People

  /** Acknowledges an incident: escalation stops (the resolve clock does not). */
  acknowledge(id: number, by: string, comment?: string): Incident | 'not-found' | 'not-open' {
    const inc = this.findOpen(id);
    if (!inc) return this.store.getIncident(id) ? 'not-open' : 'not-found';
    if (inc.state !== 'open') return 'not-open';
    const now = this.now();
    this.store.transaction(() => {
      inc.state = 'acknowledged';
      inc.ackedAt = now;
      inc.ackedBy = by;
      this.store.updateIncident(inc.id, { state: 'acknowledged', ackedAt: now, ackedBy: by });
      this.store.addTimeline(inc.id, now, 'acknowledged', `acknowledged by ${by}${comment ? `: ${comment}` : ''}`);
      this.notify(inc, 'acknowledge', notifiedSoFar(this.cfg.tiers, inc), now, { by, comment });
    });
    this.deps.metrics.incidentAcked(inc.severity, (now - inc.openedAt) / 1000);
    this.deps.onEnqueue?.();
    return inc;
  }

  /** Resolves an incident by hand; the check must fail `openAfter` times again to reopen it. */
  resolve(id: number, by: string, comment?: string): Incident | 'not-found' | 'not-open' {
    const inc = this.findOpen(id);
    if (!inc) return this.store.getIncident(id) ? 'not-open' : 'not-found';
    const now = this.now();
    this.store.transaction(() => {
      this.resetCounters(inc.check, now);
      this.resolveIncident(inc, now, by, comment ? `resolved by hand: ${comment}` : 'resolved by hand');
    });
    this.deps.onEnqueue?.();
    return inc;
  }

  private findOpen(id: number): Incident | undefined {
    return [...this.open.values()].find((i) => i.id === id);
  }

  private resetCounters(check: string, now: number): void {
    const s = { ...(this.states.get(check) ?? initialState()), bad: 0, good: 0 };
    this.states.set(check, s);
    this.stateJson.set(check, JSON.stringify(s));
    this.store.saveCheckState(check, s, now);
  }

  // Reading

  listIncidents(filter: { state?: Incident['state']; check?: string; limit?: number }): Incident[] {
    return this.store.listIncidents(filter);
  }

  /** One incident with its timeline and notifications. */
  getIncident(id: number): { incident: Incident; timeline: TimelineEntry[]; notifications: OutboxEntry[] } | undefined {
    const incident = this.store.getIncident(id);
    return incident && { incident, timeline: this.store.timeline(id), notifications: this.store.notificationsOf(id) };
  }

  listSilences(all = false): Silence[] {
    return this.store.listSilences(this.now(), all);
  }

  // Silences

  addSilence(s: Silence): void {
    this.store.insertSilence(s);
    this.silences = this.store.listSilences(this.now());
  }

  expireSilence(id: string): boolean {
    const ok = this.store.expireSilence(id, this.now());
    this.silences = this.store.listSilences(this.now());
    return ok;
  }

  // Helpers

  private view(inc: Incident) {
    return { openedAt: inc.openedAt, severity: inc.severity, acked: inc.state !== 'open', tierIndex: inc.tierIndex, escalatedAt: inc.escalatedAt, repeats: inc.repeats, labels: inc.labels };
  }

  private notifiersOf(inc: Incident, tierIndexes: number[]): string[] {
    const out = new Set<string>();
    for (const i of tierIndexes) if (tierMatches(this.cfg.tiers[i], inc.labels)) for (const n of this.cfg.tiers[i].notify) out.add(n);
    return [...out];
  }

  private deadlines(severity: Severity, coverage: string, from: number): Pick<Incident, 'respondDue' | 'resolveDue'> {
    const t = this.cfg.sla[severity];
    const tf = this.cfg.coverage.get(coverage);
    const due = (ms?: number) => (ms === undefined || !tf ? undefined : finite(addActive(tf, from, ms)));
    return { respondDue: due(t?.respondMs), resolveDue: due(t?.resolveMs) };
  }

  /**
   * Queues one event for the given notifiers, in the caller's transaction. Pages for a tier
   * or notifier bound to a closed coverage window wait for it to open, unless the tier lets
   * the incident's severity page anyway; pages for a check in maintenance or silenced are
   * not sent at all (and the timeline says so).
   */
  private notify(inc: Incident, kind: EventKind, notifiers: string[], now: number, details?: Record<string, unknown>): void {
    inc.seq++;
    this.store.updateIncident(inc.id, { seq: inc.seq });
    if (!notifiers.length) return;
    const check = this.cfg.checks.get(inc.check);
    const muted = check && kind !== 'resolve' && kind !== 'acknowledge' ? this.suppression(check, now, false) : undefined;
    if (muted) {
      this.store.addTimeline(inc.id, now, 'suppressed', `${kind} to ${notifiers.join(', ')} not sent: ${muted}`);
      return;
    }
    const key = `${this.cfg.agent}:${inc.id}:${inc.seq}`;
    const event = this.event(inc, kind, key, now, details);
    const tier = this.cfg.tiers[inc.tierIndex];
    for (const name of notifiers) {
      const n = this.cfg.notifiers.get(name);
      let notBefore = now;
      const waitFor = (coverage: string | undefined, anyway: readonly Severity[]) => {
        const tf = coverage ? this.cfg.coverage.get(coverage) : undefined;
        if (!tf || anyway.includes(inc.severity) || isActive(tf, now)) return;
        notBefore = Math.max(notBefore, finite(nextChange(tf, now)) ?? notBefore);
      };
      if (kind === 'trigger' || kind === 'escalate') waitFor(tier?.coverage, tier?.pageAnyway ?? []);
      waitFor(n?.coverage, []);
      this.store.enqueue({ key, notifier: name, incidentId: inc.id, event: kind, payload: JSON.stringify(event), createdAt: now, notBefore });
      this.store.addTimeline(inc.id, now, 'notify', notBefore > now ? `${kind} for ${name} waits for ${n?.coverage ?? tier?.coverage} until ${new Date(notBefore).toISOString()}` : `${kind} queued for ${name}`);
    }
  }

  private event(inc: Incident, kind: EventKind, key: string, now: number, details?: Record<string, unknown>): IncidentEvent {
    const snapshot = inc.snapshot ? summariseSnapshot(inc.snapshot as never) : undefined;
    return {
      event: kind,
      key,
      agent: inc.agent,
      at: new Date(now).toISOString(),
      message: `${inc.severity}: ${inc.check}: ${inc.summary}`,
      incident: {
        id: inc.id,
        dedupKey: inc.key,
        check: inc.check,
        type: inc.type,
        severity: inc.severity,
        state: inc.state,
        tier: inc.tier,
        summary: inc.summary,
        openedAt: new Date(inc.openedAt).toISOString(),
        flapping: inc.flapping,
        labels: inc.labels,
        values: inc.values,
        acknowledgedBy: inc.ackedBy,
        resolvedBy: inc.resolvedBy,
        respondDue: inc.respondDue !== undefined ? new Date(inc.respondDue).toISOString() : undefined,
        resolveDue: inc.resolveDue !== undefined ? new Date(inc.resolveDue).toISOString() : undefined,
      },
      details: snapshot ? { ...details, snapshot } : details,
    };
  }

  private updateGauges(): void {
    const counts = new Map<string, number>();
    for (const inc of this.open.values()) {
      const k = `${inc.severity}|${inc.tier ?? 'none'}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    this.deps.metrics.setOpenIncidents([...counts].map(([k, n]) => {
      const [severity, tier] = k.split('|');
      return { severity, tier, count: n };
    }));
  }

  private countAvailability(check: string, result: CheckResult, now: number): void {
    const hour = Math.floor(now / 3_600_000);
    let a = this.availability.get(check);
    if (!a || a.hour !== hour) {
      if (a) this.flushOne(check, a);
      a = { hour, ok: 0, total: 0 };
      this.availability.set(check, a);
    }
    a.total++;
    if (result.status === Status.Ok || result.status === Status.Warning) a.ok++;
  }

  private flushOne(check: string, a: { hour: number; ok: number; total: number }): void {
    if (a.total) this.store.addAvailability([{ check, hour: a.hour, ok: a.ok, total: a.total }]);
    a.ok = 0;
    a.total = 0;
  }

  /** Writes the check states that changed since the last flush, in one transaction. */
  flushStates(): void {
    this.lastStateFlush = this.now();
    if (!this.dirty.size) return;
    const now = this.now();
    this.store.transaction(() => {
      for (const name of this.dirty) {
        const s = this.states.get(name);
        if (s) this.store.saveCheckState(name, s, now);
      }
    });
    this.dirty.clear();
  }

  /** Writes the availability counted since the last flush. */
  flushAvailability(): void {
    this.lastFlush = this.now();
    this.store.transaction(() => {
      for (const [check, a] of this.availability) this.flushOne(check, a);
    });
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((err) => this.log.error({ err }, 'incident side task failed')).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** MTTA, MTTR, SLA attainment over 7 and 30 days, and availability per check. */
  kpis(): Record<string, unknown> {
    const now = this.now();
    this.flushAvailability();
    const day = 86_400_000;
    const incidents = this.store.incidentsSince(now - 30 * day);
    const hourOf = (t: number) => Math.floor(t / 3_600_000);
    const a7 = this.store.availabilitySince(hourOf(now - 7 * day));
    const a30 = this.store.availabilitySince(hourOf(now - 30 * day));
    const ratio = (a?: { ok: number; total: number }) => (a && a.total ? Math.round((a.ok / a.total) * 1e6) / 1e6 : null);
    const checks: Record<string, { availability7d: number | null; availability30d: number | null }> = {};
    for (const name of this.cfg.checks.keys()) checks[name] = { availability7d: ratio(a7.get(name)), availability30d: ratio(a30.get(name)) };
    return {
      generatedAt: new Date(now).toISOString(),
      windows: { '7d': windowKpis(incidents, now - 7 * day, now), '30d': windowKpis(incidents, now - 30 * day, now) },
      checks,
      definitions: {
        mtta: 'mean of acknowledged - opened, over incidents acknowledged in the window',
        mttr: 'mean of resolved - opened, over incidents resolved in the window',
        availability: 'share of runs that were ok or warning (unknown and critical count as down)',
        slaAttainment: 'met / (met + breached) of SLA clocks decided in the window, counted in the check\'s coverage hours',
      },
    };
  }

  /** Business time an incident has spent open inside its coverage (for KPIs and the API). */
  businessOpenMs(inc: Incident, to: number): number | undefined {
    const tf = this.cfg.coverage.get(inc.coverage);
    return tf ? activeMs(tf, inc.openedAt, to) : undefined;
  }
}

function finite(n: number): number | undefined {
  return Number.isFinite(n) ? n : undefined;
}

/** Whether a silence covers a check: a glob matches its name and every label matches. */
export function silenceMatches(s: Pick<Silence, 'checks' | 'labels'>, check: Pick<CheckConfig, 'name' | 'labels'>): boolean {
  const nameOk = s.checks.some((g) => globToRegExp(g).test(check.name));
  return nameOk && Object.entries(s.labels).every(([k, v]) => check.labels[k] === v);
}
