import type { CheckConfig } from '../config/load';
import { Status } from '../evaluate';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { NotifierInstance } from '../notifiers/outbox';
import { render } from '../notifiers/render';
import type { EventKind, IncidentEvent } from '../notifiers/types';
import type { CheckResult } from '../runner';
import type { Incident, OutboxEntry, Silence, Store, TimelineEntry } from '../store/store';
import { addActive, isActive, nextChange, type Timeframe } from './coverage';
import { dueStep, tierMatches, type SlaTarget, type Tier } from './escalation';
import { windowKpis } from './kpis';
import { advance, initialState, type CheckState, type LifecyclePolicy, type Severity } from './lifecycle';
import { activeRange, activeWindows, baseName, globToRegExp, type MaintenanceWindow } from './maintenance';
import { remediationAllowed, runRemediation } from '../responders/remediate';
import { summariseSnapshot, takeSnapshot, type Snapshot } from '../responders/snapshot';

/** Everything the engine needs from the config, compiled. */
export interface EngineConfig {
  agent: string;
  policy: LifecyclePolicy;
  tiers: readonly Tier[];
  sla: Partial<Record<Severity, SlaTarget>>;
  coverage: ReadonlyMap<string, Timeframe>;
  maintenance: readonly MaintenanceWindow[];
  notifiers: ReadonlyMap<string, NotifierInstance>;
  /** Resolved incidents are kept this long, then pruned with their timelines (ms). */
  retentionMs: number;
  /** Base URL of this agent's API, and a Grafana URL template, for links in notifications. */
  links: { agent: string; grafana?: string };
  /** The checks that run (expanded), by name. */
  checks: ReadonlyMap<string, CheckConfig>;
}

export interface EngineDeps {
  store: Store;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
  /** Re-runs a check at once (after a remediation) and returns that run's result. */
  runNow?(check: string): Promise<CheckResult | undefined>;
  /** Something was queued in the outbox. */
  onEnqueue?(): void;
  /** Sends an event straight to a notifier (periodic re-sends of open incidents). */
  resend?(notifier: string, event: IncidentEvent): void;
  /** Take a diagnostic snapshot when an incident opens (default true). */
  snapshots?: boolean;
}

/** How often changed check states are written when nothing else is (ms). */
const STATE_FLUSH_MS = 5000;

/** How many results are kept per check as an incident's evidence (at least openAfter). */
const EVIDENCE = 5;

/**
 * How long the first pages of a new incident wait for its diagnostic snapshot (the root-cause
 * context belongs in the page); they go as soon as it is taken.
 */
const SNAPSHOT_HOLD_MS = 5000;

/** Extra hold on top of a remediation's own timeouts, for the re-run of the check. */
const REMEDIATION_HOLD_MS = 30_000;

/** Paging events: the ones a tier's or notifier's coverage window holds back. */
const PAGES: readonly EventKind[] = ['trigger', 'escalate', 'severity_change', 'sla_breach', 'flapping'];

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
  private states = new Map<string, CheckState>();
  private readonly stateJson = new Map<string, string>();
  private open = new Map<string, Incident>();
  private readonly recent = new Map<string, CheckResult[]>();
  private readonly lastStatus = new Map<string, Status>();
  /** Checks whose state changed since it was last written. */
  private readonly dirty = new Set<string>();
  /** Open incidents whose summary and values changed since they were last written, by check. */
  private readonly dirtySummaries = new Map<string, Incident>();
  private readonly availability = new Map<string, { hour: number; ok: number; total: number }>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Incidents whose L1 remediation runs now: their escalation waits for it. */
  private readonly remediating = new Map<number, AbortController>();
  /** When each open incident was last re-sent to each lease-keeping notifier. */
  private readonly lastResend = new Map<string, number>();
  private readonly abort = new AbortController();
  private stopping = false;
  private silences: Silence[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastStateFlush = 0;
  private lastFlush = 0;
  private lastPrune = 0;

  constructor(cfg: EngineConfig, private readonly deps: EngineDeps) {
    this.cfg = cfg;
    this.store = deps.store;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.load();
  }

  /** (Re)reads check states and unresolved incidents from the store. */
  private load(): void {
    this.states = new Map();
    this.stateJson.clear();
    for (const [name, s] of this.store.loadCheckStates()) {
      this.states.set(name, { ...initialState(), ...(s as Partial<CheckState>) });
      this.stateJson.set(name, JSON.stringify(s));
      const h = (s as CheckState).history;
      if (h?.length) this.lastStatus.set(name, h[h.length - 1] as Status);
    }
    this.open = new Map(this.store.unresolvedIncidents().map((i) => [i.check, i]));
    this.dirtySummaries.clear();
    this.silences = this.store.listSilences(this.now());
    this.updateGauges();
  }

  /**
   * Applies a reloaded config. Incidents keep the tier they reached by its name (tiers may
   * have moved); states of checks that are gone are dropped, so a removed check can no longer
   * hold its dependents back. Incidents of checks that went away stay until resolved by hand.
   */
  apply(cfg: EngineConfig): void {
    const before = this.cfg;
    this.cfg = cfg;
    for (const inc of this.open.values()) {
      if (!inc.tier) continue;
      const index = cfg.tiers.findIndex((t) => t.name === inc.tier);
      const wasIndex = before.tiers.findIndex((t) => t.name === inc.tier);
      if (index !== inc.tierIndex && (index >= 0 || wasIndex >= 0)) {
        inc.tierIndex = index >= 0 ? index : Math.min(inc.tierIndex, cfg.tiers.length - 1);
        this.store.updateIncident(inc.id, { tierIndex: inc.tierIndex });
      }
    }
    if (cfg.checks.size) {
      for (const name of [...this.lastStatus.keys()]) {
        if (!cfg.checks.has(name)) {
          this.lastStatus.delete(name);
          this.states.delete(name);
          this.stateJson.delete(name);
          this.recent.delete(name);
        }
      }
    }
    this.updateGauges();
  }

  /** Starts the timer that escalates, checks SLA clocks, flushes and prunes. */
  start(intervalMs = 1000): void {
    this.lastFlush = this.lastStateFlush = this.now();
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /**
   * Stops the timer, lets remediations and snapshots finish (aborting them after 5 s) and
   * flushes. A remediation cut short by the stop escalates nothing: its held pages go out
   * after their hold if the agent does not come back.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    const t = setTimeout(() => this.abort.abort(new Error('agent stopping')), 5000);
    await Promise.allSettled([...this.pending]);
    clearTimeout(t);
    try {
      this.flushStates();
      this.flushAvailability();
    } catch (err) {
      this.log.error({ err }, 'cannot write check states and availability on stop');
    }
    if (!this.store.maintain(this.now(), true)) {
      const { pending, error } = this.store.health();
      this.log.error({ pending, error }, 'store still not writable on stop: the changes held in memory are lost');
    }
  }

  /** Open and acknowledged incidents. */
  openIncidents(): Incident[] {
    return [...this.open.values()];
  }

  // Results

  /** Feeds one judged result of a check to the lifecycle. */
  onResult(check: CheckConfig, result: CheckResult): void {
    const now = this.now();
    this.countAvailability(check.name, result, now);
    // Evidence is the run of results that opens an incident: a healthy check keeps none (with
    // a thousand checks, old results kept alive cost megabytes and garbage-collector work).
    if (result.status === Status.Ok && !this.open.has(check.name)) {
      this.recent.delete(check.name);
    } else {
      const ring = this.recent.get(check.name) ?? [];
      ring.push(result);
      while (ring.length > Math.max(EVIDENCE, this.policyFor(check).openAfter)) ring.shift();
      this.recent.set(check.name, ring);
    }
    this.lastStatus.set(check.name, result.status);

    const policy = this.policyFor(check);
    const prev = this.states.get(check.name) ?? initialState();
    const incident = this.open.get(check.name);
    const suppressed = !incident && !!this.suppression(check, now, true);
    const { state, decisions } = advance(prev, incident && { severity: incident.severity, flapping: incident.flapping }, result.status, policy, suppressed);

    const json = JSON.stringify(state);
    const stateChanged = json !== this.stateJson.get(check.name);
    if (incident && (result.message !== incident.summary || JSON.stringify(result.values) !== JSON.stringify(incident.values))) {
      incident.summary = result.message;
      incident.values = result.values;
      this.dirtySummaries.set(check.name, incident);
    }
    if (!decisions.length) {
      // Nothing is decided: the new state (and an open incident's latest message and values)
      // is saved with the next batch (a few seconds), not in a transaction per result: those
      // were whole WAL pages per result of every failing check. A crash loses at most those
      // seconds of counting, which can only delay an incident, never open or page one twice.
      this.states.set(check.name, state);
      if (stateChanged) {
        this.stateJson.set(check.name, json);
        this.dirty.add(check.name);
      }
      return;
    }
    let opened: Incident | undefined;
    this.guarded(check.name, () => {
      if (stateChanged) this.store.saveCheckState(check.name, state, now);
      let inc = incident;
      if (inc && this.dirtySummaries.get(check.name) === inc) this.store.updateIncident(inc.id, { summary: inc.summary, values: inc.values });
      for (const d of decisions) {
        if (d.kind === 'open') {
          inc = opened = this.openIncident(check, result, d.severity, d.flapping, now);
        } else if (d.kind === 'severity' && inc) {
          this.changeSeverity(inc, d.from, d.to, now);
        } else if (d.kind === 'flapping' && inc) {
          this.setFlapping(inc, d.flapping, d.percent, result, now);
        } else if (d.kind === 'resolve' && inc) {
          this.resolveIncident(inc, now, this.remediating.has(inc.id) ? 'L1' : 'auto', 'recovered: the check is ok again');
        }
      }
    });
    this.states.set(check.name, state);
    this.stateJson.set(check.name, json);
    this.dirty.delete(check.name);
    if (this.dirtySummaries.get(check.name) === incident) this.dirtySummaries.delete(check.name);
    if (decisions.length) this.deps.onEnqueue?.();
    if (opened) this.afterOpen(check, opened);
  }

  /**
   * Runs incident changes in one transaction. When it fails (a full disk, a locked file), the
   * in-memory view is re-read from the store, which rolled back: memory never runs ahead of
   * what a restart would find.
   */
  private guarded(what: string, fn: () => void): void {
    try {
      this.store.transaction(fn);
    } catch (err) {
      this.log.error({ err, check: what }, 'incident change not stored; re-reading the store');
      try {
        this.load();
      } catch (loadErr) {
        this.log.error({ err: loadErr }, 'cannot re-read the store');
      }
      throw err;
    } finally {
      this.updateGauges();
    }
  }

  private policyFor(check: CheckConfig): LifecyclePolicy {
    const p = this.cfg.policy;
    return check.openAfter || check.resolveAfter
      ? { ...p, openAfter: check.openAfter ?? p.openAfter, resolveAfter: check.resolveAfter ?? p.resolveAfter }
      : p;
  }

  /** The opening threshold of a check (for retry pacing). */
  openAfterOf(check: CheckConfig): number {
    return this.policyFor(check).openAfter;
  }

  /**
   * Why no incident may open (or page) for a check now: a maintenance window, a silence, or
   * (for opening only) a configured dependency whose last result was not ok.
   */
  private suppression(check: CheckConfig, now: number, opening: boolean): string | undefined {
    const windows = activeWindows(this.cfg.maintenance, now, check.name, check.labels);
    if (windows.length) return `maintenance ${windows.map((w) => w.name).join(', ')}`;
    const silence = this.silences.find((s) => s.startsAt <= now && now < s.endsAt && silenceMatches(s, check));
    if (silence) return `silence ${silence.id}`;
    if (opening) {
      for (const dep of check.dependsOn ?? []) {
        for (const [name, st] of this.lastStatus) {
          if (st !== Status.Ok && baseName(name) === dep && this.cfg.checks.has(name)) return `dependency ${name} is failing`;
        }
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
    // Tiers due at once (after: 0) are reached now. Their pages are held while the snapshot
    // is taken (so they carry it) and while L1 remediation runs (which may make them moot).
    const reached: number[] = [];
    for (let step = dueStep(this.cfg.tiers, this.view(inc), now); step?.kind === 'escalate'; step = dueStep(this.cfg.tiers, this.view(inc), now)) {
      reached.push(step.tierIndex);
      inc.tierIndex = step.tierIndex;
    }
    if (reached.length) {
      inc.tier = this.cfg.tiers[inc.tierIndex].name;
      inc.escalatedAt = now;
      this.store.updateIncident(inc.id, { tierIndex: inc.tierIndex, tier: inc.tier, escalatedAt: now });
      this.store.addTimeline(inc.id, now, 'escalated', `reached ${reached.map((i) => this.cfg.tiers[i].name).join(', ')}`);
    }
    const hold = Math.max(this.deps.snapshots === false ? 0 : SNAPSHOT_HOLD_MS, this.remediationHold(check, now));
    this.notify(inc, flapping ? 'flapping' : 'trigger', this.tierNotifiers(inc, reached), now, { hold });
    return inc;
  }

  private changeSeverity(inc: Incident, from: Severity, to: Severity, now: number): void {
    inc.severity = to;
    inc.labels = { ...inc.labels, severity: to };
    Object.assign(inc, this.deadlines(to, inc.coverage, inc.openedAt));
    this.store.updateIncident(inc.id, { severity: to, labels: inc.labels, respondDue: inc.respondDue, resolveDue: inc.resolveDue });
    const rise = to === 'critical';
    this.store.addTimeline(inc.id, now, 'severity', `severity ${rise ? 'rose' : 'fell'} from ${from} to ${to}`);
    if (!rise || inc.flapping) {
      // A fall pages no one, but notifiers that keep the alert by lease (Alertmanager) have
      // severity in its identity: tell them, so the alert moves rather than splits in two.
      const lease = this.store.heardBy(inc.id).filter((n) => this.cfg.notifiers.get(n)?.def.resendEveryMs);
      if (lease.length) this.notify(inc, 'severity_change', lease, now, { details: { from, to } });
      return;
    }
    // A rise re-notifies whoever has heard of the incident, and pages held back by a
    // coverage window go now where the tier lets this severity page anyway.
    for (const i of this.reachedTiers(inc)) {
      const tier = this.cfg.tiers[i];
      if (tier.pageAnyway.includes(to)) this.store.release(inc.id, now, tier.notify);
    }
    this.notify(inc, 'severity_change', this.store.heardBy(inc.id), now, { details: { from, to } });
  }

  private setFlapping(inc: Incident, flapping: boolean, percent: number, result: CheckResult, now: number): void {
    inc.flapping = flapping;
    this.store.updateIncident(inc.id, { flapping });
    this.store.addTimeline(inc.id, now, flapping ? 'flapping' : 'settled', flapping ? `flapping (${percent}% state changes): no more pages until it settles` : `settled (${percent}% state changes)`);
    if (flapping) {
      this.notify(inc, 'flapping', this.store.heardBy(inc.id), now, { details: { percent } });
    } else if (result.status !== Status.Ok) {
      // Settled into failing: now it is a real incident, and pages like one.
      this.notify(inc, 'trigger', this.tierNotifiers(inc, this.reachedTiers(inc)), now, { details: { settled: true } });
    }
  }

  private resolveIncident(inc: Incident, now: number, by: string, why: string, resolution?: string): void {
    inc.state = 'resolved';
    inc.resolvedAt = now;
    inc.resolvedBy = by;
    inc.resolution = resolution ?? why;
    this.store.updateIncident(inc.id, { state: 'resolved', resolvedAt: now, resolvedBy: by, resolution: inc.resolution });
    this.store.addTimeline(inc.id, now, 'resolved', `resolved by ${by}: ${why}`);
    // Pages still held back are dropped; those who heard (or will) hear the end.
    this.store.cancelHeld(inc.id, now);
    this.notify(inc, 'resolve', this.store.heardBy(inc.id), now, { details: { by, why } });
    this.open.delete(inc.check);
    this.remediating.get(inc.id)?.abort(new Error('incident resolved'));
    this.deps.metrics.incidentResolved(inc.severity, (now - inc.openedAt) / 1000);
  }

  private afterOpen(check: CheckConfig, inc: Incident): void {
    if (this.deps.snapshots !== false) {
      this.track(
        takeSnapshot({ logs: check.logs, signal: this.abort.signal }).then((snap) => this.attachSnapshot(inc, snap)),
      );
    }
    if (check.remediate) this.track(this.remediate(check, inc));
  }

  /** Stores the snapshot, puts its summary into the pages not sent yet, and lets them go. */
  private attachSnapshot(inc: Incident, snap: Snapshot): void {
    const now = this.now();
    const summary = summariseSnapshot(snap);
    this.store.transaction(() => {
      this.store.updateIncident(inc.id, { snapshot: snap });
      this.store.addTimeline(inc.id, now, 'snapshot', `diagnostic snapshot: ${summary}`);
      this.store.updateUnsentPayloads(inc.id, (payload) => {
        const e = JSON.parse(payload) as IncidentEvent;
        e.details = { ...e.details, snapshot: summary };
        return JSON.stringify(e);
      });
      // Held for the snapshot only (not for a remediation or a closed coverage window).
      if (!this.remediating.has(inc.id)) this.releaseOpeningPages(inc, now);
    });
    inc.snapshot = snap;
    this.deps.onEnqueue?.();
  }

  /** Releases held pages of an incident except those waiting for a closed coverage window. */
  private releaseOpeningPages(inc: Incident, now: number): void {
    const waiting = new Set<string>();
    for (const n of this.store.notificationsOf(inc.id)) {
      if (n.deliveredAt || n.failedAt || n.attempts || n.notBefore <= now) continue;
      if (this.pageWaitsUntil(inc, n.notifier, this.reachedTiers(inc), now) > now) waiting.add(n.notifier);
    }
    const free = this.store.heardBy(inc.id).filter((n) => !waiting.has(n));
    if (free.length) this.store.release(inc.id, now, free);
  }

  private remediationHold(check: CheckConfig, now: number): number {
    const r = check.remediate;
    if (!r) return 0;
    const history = this.store.remediationsSince(check.name, now - Math.max(r.limit.within, r.cooldown));
    if (!remediationAllowed(history, now, r.limit, r.cooldown).allowed) return 0;
    return r.actions.reduce((sum, a) => sum + a.timeout, 0) + REMEDIATION_HOLD_MS;
  }

  /**
   * L1, Monit-style: run the check's remediation, re-run the check at once, and resolve the
   * incident as fixed by L1 if it passes; pages of the tiers reached at opening are held
   * meanwhile. Still failing (or L1 unable to act), the held pages go and the incident
   * escalates to the next tier now rather than after its delay. Rate limit and cool-down
   * keep a broken fix from looping.
   */
  private async remediate(check: CheckConfig, inc: Incident): Promise<void> {
    const r = check.remediate!;
    const now = this.now();
    const history = this.store.remediationsSince(check.name, now - Math.max(r.limit.within, r.cooldown));
    const allowed = remediationAllowed(history, now, r.limit, r.cooldown);
    if (!allowed.allowed) {
      this.deps.metrics.remediation(check.name, 'skipped');
      this.guarded(check.name, () => {
        this.store.addTimeline(inc.id, now, 'remediation', `L1 remediation skipped: ${allowed.reason}`);
        if (this.open.get(check.name)?.id === inc.id) this.escalate(inc, now, true);
      });
      this.deps.onEnqueue?.();
      return;
    }
    const ac = new AbortController();
    this.remediating.set(inc.id, ac);
    try {
      this.store.transaction(() => {
        this.store.addRemediation(check.name, now);
        this.store.addTimeline(inc.id, now, 'remediation', `L1 remediation started (${r.actions.length} action${r.actions.length === 1 ? '' : 's'})`);
      });
      const outcome = await runRemediation(r.actions, { signal: AbortSignal.any([ac.signal, this.abort.signal]) }); // never rejects
      this.store.addTimeline(inc.id, this.now(), 'remediation', `L1 remediation ${outcome.ok ? 'ran' : 'failed'}`, outcome);
      if (this.stopping) {
        this.store.addTimeline(inc.id, this.now(), 'remediation', 'L1 remediation interrupted by the agent stopping');
        return;
      }
      if (this.open.get(check.name)?.id !== inc.id) {
        this.deps.metrics.remediation(check.name, 'moot');
        return; // resolved meanwhile
      }
      const result = outcome.ok && this.deps.runNow ? await this.deps.runNow(check.name) : undefined;
      const current = this.open.get(check.name);
      if (this.stopping || !current || current.id !== inc.id) {
        // A resolve that came with the re-run's own result was L1's doing (see onResult).
        if (!this.stopping) this.deps.metrics.remediation(check.name, result?.status === Status.Ok ? 'fixed' : 'moot');
        return;
      }
      const at = this.now();
      if (result?.status === Status.Ok) {
        this.deps.metrics.remediation(check.name, 'fixed');
        this.guarded(check.name, () => {
          this.resetCounters(check.name, at);
          this.resolveIncident(current, at, 'L1', 'fixed by L1: the check passed right after remediation', 'fixed by L1');
        });
      } else {
        this.deps.metrics.remediation(check.name, 'failed');
        this.guarded(check.name, () => {
          this.store.addTimeline(current.id, at, 'remediation', outcome.ok ? `the check still fails after remediation: ${result?.message ?? 'no result'}` : 'remediation failed; escalating');
          this.remediating.delete(inc.id);
          this.releaseOpeningPages(current, at);
          this.escalate(current, at, true);
        });
      }
      this.deps.onEnqueue?.();
    } finally {
      this.remediating.delete(inc.id);
    }
  }

  // Time-driven work

  /** Escalates, repeats and checks SLA clocks of open incidents; flushes and prunes. Never throws. */
  tick(): void {
    try {
      const now = this.now();
      this.silences = this.store.listSilences(now);
      let queued = false;
      for (const inc of [...this.open.values()]) {
        try {
          this.guarded(inc.check, () => {
            if (this.checkSla(inc, now)) queued = true;
            if (inc.state === 'open' && this.escalate(inc, now, false)) queued = true;
          });
        } catch {
          // guarded() logged it; one bad incident must not stop the others.
        }
      }
      if (queued) this.deps.onEnqueue?.();
      this.resendOpen(now);
      if (now - this.lastStateFlush >= STATE_FLUSH_MS) this.flushStates();
      if (now - this.lastFlush >= 60_000) this.flushAvailability();
      if (now - this.lastPrune >= 3_600_000) this.prune(now);
      // Writes changes held in memory while the disk was full, and keeps the WAL small.
      this.store.maintain(now);
      const open = this.cfg.maintenance.filter((w) => activeRange(w, now) !== undefined);
      this.deps.metrics.setMaintenance(this.cfg.maintenance.map((w) => ({ name: w.name, active: open.includes(w) })));
      const covered: string[] = [];
      if (open.length) for (const c of this.cfg.checks.values()) if (activeWindows(open, now, c.name, c.labels).length) covered.push(c.name);
      this.deps.metrics.setChecksInMaintenance(covered);
    } catch (err) {
      this.log.error({ err }, 'incident timer failed; it runs again in a second');
    }
  }

  /**
   * Re-sends open incidents to the notifiers that keep state by lease (Alertmanager), every
   * `resendEveryMs`, to those that have received the incident (a page still held back is not
   * sent early this way). Not through the outbox: a missed re-send is mended by the next one,
   * and a dead agent should stop renewing.
   */
  private resendOpen(now: number): void {
    if (!this.deps.resend) return;
    const live = new Set<string>();
    if (![...this.cfg.notifiers.values()].some((n) => n.def.resendEveryMs)) {
      this.lastResend.clear();
      return;
    }
    for (const inc of this.open.values()) {
      for (const name of this.store.deliveredTo(inc.id)) {
        const every = this.cfg.notifiers.get(name)?.def.resendEveryMs;
        if (!every) continue;
        const k = `${inc.id}/${name}`;
        live.add(k);
        if (now - (this.lastResend.get(k) ?? inc.openedAt) < every) continue;
        this.lastResend.set(k, now);
        this.deps.resend(name, this.event(inc, 'trigger', `${this.cfg.agent}:${this.store.id}:${inc.id}:resend`, now));
      }
    }
    for (const k of this.lastResend.keys()) if (!live.has(k)) this.lastResend.delete(k);
  }

  /** One escalation step if due (or forced); true when something was queued. */
  private escalate(inc: Incident, now: number, force: boolean): boolean {
    const check = this.cfg.checks.get(inc.check);
    if (check && this.suppression(check, now, false)) return false; // paused in maintenance or silence
    if (inc.flapping) return false; // no more pages until it settles
    if (!force && this.remediating.has(inc.id)) return false; // L1 first
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
      this.notify(inc, 'escalate', this.tierNotifiers(inc, [step.tierIndex]), now, { details: { tier: tier.name } });
    } else {
      inc.escalatedAt = now;
      inc.repeats = step.repeat;
      this.store.updateIncident(inc.id, { escalatedAt: now, repeats: step.repeat });
      this.store.addTimeline(inc.id, now, 'repeat', `re-notified ${tier.name} (${step.repeat} of ${tier.repeat!.max})`);
      this.notify(inc, 'trigger', this.tierNotifiers(inc, [step.tierIndex]), now, { details: { repeat: step.repeat } });
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
      if (!inc.flapping) this.notify(inc, 'sla_breach', this.store.heardBy(inc.id), now, { details: { kind: 'respond' } });
      this.escalate(inc, now, true);
      queued = true;
    }
    if (!inc.resolveBreached && inc.resolveDue !== undefined && now >= inc.resolveDue) {
      inc.resolveBreached = true;
      this.store.updateIncident(inc.id, { resolveBreached: true });
      this.store.addTimeline(inc.id, now, 'sla_breach', `resolve SLA breached: not resolved by ${new Date(inc.resolveDue).toISOString()}`);
      this.deps.metrics.slaBreach(inc.severity, 'resolve');
      if (!inc.flapping) this.notify(inc, 'sla_breach', this.store.heardBy(inc.id), now, { details: { kind: 'resolve' } });
      queued = true;
    }
    return queued;
  }

  /** Deletes resolved incidents older than the retention, old availability and remediation history. */
  private prune(now: number): void {
    this.lastPrune = now;
    const { incidents } = this.store.prune(now - this.cfg.retentionMs, Math.floor((now - 35 * 86_400_000) / 3_600_000), now - 7 * 86_400_000);
    if (incidents) this.log.info({ incidents }, 'pruned resolved incidents past their retention');
  }

  // People

  /**
   * Acknowledges an incident: escalation stops (the resolve clock does not), and pages still
   * held back by a coverage window are dropped; whoever heard of it hears the ack.
   */
  acknowledge(id: number, by: string, comment?: string): Incident | 'not-found' | 'not-open' {
    const inc = this.findOpen(id);
    if (!inc) return this.store.getIncident(id) ? 'not-open' : 'not-found';
    if (inc.state !== 'open') return 'not-open';
    const now = this.now();
    this.guarded(inc.check, () => {
      inc.state = 'acknowledged';
      inc.ackedAt = now;
      inc.ackedBy = by;
      this.store.updateIncident(inc.id, { state: 'acknowledged', ackedAt: now, ackedBy: by });
      this.store.addTimeline(inc.id, now, 'acknowledged', `acknowledged by ${by}${comment ? `: ${comment}` : ''}`);
      this.store.cancelHeld(inc.id, now, PAGES);
      this.notify(inc, 'acknowledge', this.store.heardBy(inc.id), now, { details: { by, comment } });
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
    this.guarded(inc.check, () => {
      this.resetCounters(inc.check, now);
      this.resolveIncident(inc, now, by, comment ? `resolved by hand: ${comment}` : 'resolved by hand');
    });
    this.deps.onEnqueue?.();
    return inc;
  }

  private findOpen(id: number): Incident | undefined {
    return [...this.open.values()].find((i) => i.id === id);
  }

  /** Forgets a check's counting (and flapping): after a resolve by hand or by L1, it starts over. */
  private resetCounters(check: string, now: number): void {
    const s: CheckState = { ...(this.states.get(check) ?? initialState()), bad: 0, good: 0, history: [], flapping: false, flapPercent: 0 };
    this.states.set(check, s);
    this.stateJson.set(check, JSON.stringify(s));
    this.dirty.delete(check);
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

  /** Indexes of the tiers reached so far that apply to the incident. */
  private reachedTiers(inc: Incident): number[] {
    const out: number[] = [];
    for (let i = 0; i <= inc.tierIndex && i < this.cfg.tiers.length; i++) if (tierMatches(this.cfg.tiers[i], inc.labels)) out.push(i);
    return out;
  }

  private tierNotifiers(inc: Incident, tierIndexes: number[]): string[] {
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
   * When a page to `notifier` may go: now, or when the coverage window of the notifier, or of
   * every reached tier that calls it, opens. A tier lets the severities in `pageAnyway`
   * through; a notifier's own `pageAnyway` likewise.
   */
  private pageWaitsUntil(inc: Incident, notifier: string, tierIndexes: number[], now: number): number {
    const opensAt = (coverage: string | undefined, anyway: readonly Severity[]) => {
      const tf = coverage ? this.cfg.coverage.get(coverage) : undefined;
      if (!tf || anyway.includes(inc.severity) || isActive(tf, now)) return now;
      return finite(nextChange(tf, now)) ?? now;
    };
    const n = this.cfg.notifiers.get(notifier);
    const tiers = tierIndexes.map((i) => this.cfg.tiers[i]).filter((t) => t.notify.includes(notifier));
    const tierWait = tiers.length ? Math.min(...tiers.map((t) => opensAt(t.coverage, t.pageAnyway))) : now;
    return Math.max(tierWait, opensAt(n?.coverage, n?.pageAnyway ?? []));
  }

  /**
   * Queues one event for the given notifiers, in the caller's transaction. A notifier hearing
   * of the incident for the first time gets a trigger whatever the event (so a provider
   * opens its own incident); pages wait for closed coverage windows (pageWaitsUntil) and for
   * `hold` (snapshot, remediation); pages for a check in maintenance or silenced are not sent
   * at all, and the timeline says so.
   */
  private notify(inc: Incident, kind: EventKind, notifiers: string[], now: number, opts: { details?: Record<string, unknown>; hold?: number } = {}): void {
    inc.seq++;
    this.store.updateIncident(inc.id, { seq: inc.seq });
    if (!notifiers.length) return;
    const check = this.cfg.checks.get(inc.check);
    const muted = check && PAGES.includes(kind) ? this.suppression(check, now, false) : undefined;
    if (muted) {
      this.store.addTimeline(inc.id, now, 'suppressed', `${kind} to ${notifiers.join(', ')} not sent: ${muted}`);
      return;
    }
    const key = `${this.cfg.agent}:${this.store.id}:${inc.id}:${inc.seq}`;
    const heard = new Set(this.store.heardBy(inc.id));
    const reached = this.reachedTiers(inc);
    for (const name of notifiers) {
      const event = kind === 'escalate' && !heard.has(name) ? 'trigger' : kind;
      const waits = PAGES.includes(event) ? this.pageWaitsUntil(inc, name, reached, now) : now;
      const notBefore = Math.max(waits, now + (PAGES.includes(event) ? (opts.hold ?? 0) : 0));
      const payload = JSON.stringify(this.event(inc, event, key, now, opts.details));
      this.store.enqueue({ key, notifier: name, incidentId: inc.id, event, payload, createdAt: now, notBefore });
      const why = waits > now ? ` (waits for its coverage until ${new Date(waits).toISOString()})` : '';
      this.store.addTimeline(inc.id, now, 'notify', `${event} queued for ${name}${why}`);
    }
  }

  private event(inc: Incident, kind: EventKind, key: string, now: number, details?: Record<string, unknown>): IncidentEvent {
    const snapshot = inc.snapshot ? summariseSnapshot(inc.snapshot as Snapshot) : undefined;
    const e: IncidentEvent = {
      event: kind,
      key,
      agent: inc.agent,
      at: new Date(now).toISOString(),
      message: `${inc.severity}: ${inc.check}: ${inc.summary}`,
      incident: {
        id: inc.id,
        ref: `${inc.agent}:${this.store.id}:${inc.id}`,
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
    e.links = { incident: `${this.cfg.links.agent.replace(/\/+$/, '')}/api/v1/incidents/${inc.id}` };
    if (this.cfg.links.grafana) e.links.grafana = render(this.cfg.links.grafana, e, encodeURIComponent);
    return e;
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

  /** Writes the check states and incident summaries that changed since the last flush, in one transaction. */
  flushStates(): void {
    this.lastStateFlush = this.now();
    if (!this.dirty.size && !this.dirtySummaries.size) return;
    const now = this.now();
    this.store.transaction(() => {
      for (const name of this.dirty) {
        const s = this.states.get(name);
        if (s) this.store.saveCheckState(name, s, now);
      }
      for (const inc of this.dirtySummaries.values()) this.store.updateIncident(inc.id, { summary: inc.summary, values: inc.values });
    });
    this.dirty.clear();
    this.dirtySummaries.clear();
  }

  /** Writes the availability counted since the last flush. */
  flushAvailability(): void {
    this.lastFlush = this.now();
    this.store.transaction(() => {
      for (const [check, a] of this.availability) this.flushOne(check, a);
    });
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
        window: 'incidents opened in the last 7 or 30 days',
        mtta: 'mean of acknowledged - opened, over those incidents that were acknowledged',
        mttr: 'mean of resolved - opened, over those incidents that were resolved',
        availability: 'share of runs that were ok or warning; maintenance windows count like any other time',
        slaAttainment: 'met / (met + breached) of SLA clocks decided so far, counted in the check\'s coverage hours',
      },
    };
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((err) => this.log.error({ err }, 'incident side task failed')).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}

function finite(n: number): number | undefined {
  return Number.isFinite(n) ? n : undefined;
}

/** Whether a silence covers a check: a glob matches its name (or, expanded, its base name) and every label matches. */
export function silenceMatches(s: Pick<Silence, 'checks' | 'labels'>, check: Pick<CheckConfig, 'name' | 'labels'>): boolean {
  const base = baseName(check.name);
  const nameOk = s.checks.some((g) => {
    const re = globToRegExp(g);
    return re.test(check.name) || re.test(base);
  });
  return nameOk && Object.entries(s.labels).every(([k, v]) => check.labels[k] === v);
}
