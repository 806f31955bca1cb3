/**
 * The incident engine: the thin shell around the pure policy (agent/incidents/policy.ts). It
 * keeps each check's slice of state, calls the policy with one input at a time, applies its
 * effects in one store transaction, runs the clock, and starts the responders. Every decision
 * and the notifications it causes land together, so a crash at any point neither loses an
 * incident nor pages twice, and each check's counting carries over a restart.
 */
import { Status } from '../evaluate';
import { AvailabilityCounter } from '../incidents/availability';
import { kpiHours, kpiReport } from '../incidents/kpis';
import { initialState, type CheckState } from '../incidents/lifecycle';
import { maintenanceNow } from '../incidents/maintenance';
import { confirming, decide, EVIDENCE, policyFor, reloadTiers, type Ctx, type Decision, type Effect, type Input, type PolicyConfig, type Slice } from '../incidents/policy';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { CheckConfig, CheckResult, Incident, IncidentEvent, OutboxEntry, Silence, TimelineEntry } from '../model';
import type { NotifierInstance } from '../notifiers/outbox';
import type { Store } from '../store/store';
import { EffectWriter, latestOnly } from './effects';
import type { Links } from './events';
import { Leases } from './leases';
import { Responders } from './responders';

export { silenceMatches } from '../incidents/paging';

/** Everything the engine needs from the config, compiled. */
export interface EngineConfig extends PolicyConfig {
  notifiers: ReadonlyMap<string, NotifierInstance>;
  /** Resolved incidents are kept this long, then pruned with their timelines (ms). */
  retentionMs: number;
  /** Base URL of this agent's API, and a Grafana URL template, for links in notifications. */
  links: Links;
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

/** How long the first pages of a new incident wait for its diagnostic snapshot; they go as soon as it is taken. */
const SNAPSHOT_HOLD_MS = 5000;

export class IncidentEngine {
  private cfg: EngineConfig;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Each check's counting and open incident. */
  private slices = new Map<string, Slice>();
  private readonly lastStatus = new Map<string, Status>();
  /** The latest results of failing checks: the evidence an incident opens with. */
  private readonly recent = new Map<string, CheckResult[]>();
  /** Counting and open incidents' latest messages not written yet (the next batch writes them). */
  private readonly unwritten = new Map<string, Effect[]>();
  private readonly availability = new AvailabilityCounter();
  private readonly responders: Responders;
  private readonly writer: EffectWriter;
  private readonly leases: Leases;
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
    this.writer = new EffectWriter(deps.store, deps.metrics, deps.log, () => this.cfg);
    this.leases = new Leases(deps.store, this.writer);
    this.responders = new Responders({
      log: this.log,
      now: this.now,
      remediationsSince: (check, since) => this.store.remediationsSince(check, since),
      feed: (check, input) => this.feed(check, input).slice,
      runNow: deps.runNow,
    });
    this.load();
  }

  /** (Re)reads check states, unresolved incidents and their notifications from the store. */
  private load(): void {
    this.slices = new Map();
    for (const [name, s] of this.store.loadCheckStates()) {
      const state: CheckState = { ...initialState(), ...(s as Partial<CheckState>) };
      this.slices.set(name, { state });
      if (state.history.length) this.lastStatus.set(name, state.history[state.history.length - 1] as Status);
    }
    for (const incident of this.store.unresolvedIncidents()) {
      const notices = this.store.notificationsOf(incident.id).map((n) => ({ notifier: n.notifier, event: n.event, notBefore: n.notBefore }));
      const slice = this.slices.get(incident.check) ?? { state: initialState() };
      this.slices.set(incident.check, { ...slice, open: { incident, notices } });
    }
    this.unwritten.clear();
    this.silences = this.store.listSilences(this.now());
    this.updateGauges();
  }

  /**
   * Applies a reloaded config. Incidents keep the tier they reached by its name; states of
   * checks that are gone are dropped, so a removed check can no longer hold its dependents
   * back. Incidents of checks that went away stay until resolved by hand.
   */
  apply(cfg: EngineConfig): void {
    const before = this.cfg;
    this.cfg = cfg;
    for (const { open } of this.slices.values()) {
      for (const e of open ? reloadTiers(before, cfg, open.incident) : []) {
        if (e.kind !== 'update') continue;
        Object.assign(open!.incident, e.fields);
        this.store.updateIncident(e.id, e.fields);
      }
    }
    if (cfg.checks.size) {
      for (const [name, slice] of this.slices) {
        if (cfg.checks.has(name)) continue;
        this.lastStatus.delete(name);
        this.recent.delete(name);
        this.unwritten.delete(name);
        if (slice.open) this.slices.set(name, { ...slice, state: initialState() });
        else this.slices.delete(name);
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
   * flushes. A remediation cut short escalates nothing: its held pages go out after their
   * hold if the agent does not come back.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.responders.stop();
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
    return [...this.slices.values()].flatMap((s) => (s.open ? [s.open.incident] : []));
  }

  /** Whether the scheduler should re-check `check` sooner (`retryEvery`): its lifecycle is confirming a failure or a recovery. */
  confirming(check: CheckConfig): boolean {
    const slice = this.slices.get(check.name);
    return confirming(slice?.state, !!slice?.open, policyFor(this.cfg, check));
  }

  // Inputs

  /** Feeds one judged result of a check to the policy. */
  onResult(check: CheckConfig, result: CheckResult): void {
    const now = this.now();
    const ended = this.availability.count(check.name, result.status, now);
    if (ended) this.store.addAvailability([ended]);
    const slice = this.slices.get(check.name) ?? { state: initialState() };
    // Evidence is the run of results that opens an incident: a healthy check keeps none (with
    // a thousand checks, old results kept alive cost megabytes and garbage-collector work).
    if (result.status === Status.Ok && !slice.open) {
      this.recent.delete(check.name);
    } else {
      const ring = this.recent.get(check.name) ?? [];
      ring.push(result);
      while (ring.length > Math.max(EVIDENCE, policyFor(this.cfg, check).openAfter)) ring.shift();
      this.recent.set(check.name, ring);
    }
    this.lastStatus.set(check.name, result.status);
    const r = check.remediate;
    const remediations = r && !slice.open && result.status !== Status.Ok ? this.store.remediationsSince(check.name, now - Math.max(r.limit.within, r.cooldown)) : undefined;
    const ctx = this.ctx(now);
    const d = decide(ctx, check.name, slice, { kind: 'result', check, result, remediations }, this.recent.get(check.name));
    if (!d.urgent) {
      // Nothing is decided: the new state (and an open incident's latest message and values)
      // is saved with the next batch (a few seconds), not in a transaction per result: those
      // were whole WAL pages per result of every failing check. A crash loses at most those
      // seconds of counting, which can only delay an incident, never open or page one twice.
      this.slices.set(check.name, d.slice);
      if (d.effects.length) this.unwritten.set(check.name, [...(this.unwritten.get(check.name) ?? []), ...d.effects].filter(latestOnly));
      return;
    }
    this.commit(check.name, d, ctx);
  }

  /** Feeds a person's or a responder's input about a check to the policy, and applies what it decides. */
  private feed(check: string, input: Input): Decision {
    const slice = this.slices.get(check) ?? { state: initialState() };
    const ctx = this.ctx(this.now());
    const d = decide(ctx, check, slice, input);
    if (d.effects.length) this.commit(check, d, ctx);
    return d;
  }

  private ctx(now: number): Ctx {
    const snapshotHoldMs = this.deps.snapshots === false ? 0 : SNAPSHOT_HOLD_MS;
    return { cfg: this.cfg, now, silences: this.silences, lastStatus: this.lastStatus, snapshotHoldMs, remediating: this.responders.running };
  }

  /**
   * Applies a decision's effects in one transaction, then keeps its slice. When the
   * transaction fails (a full disk, a locked file), the in-memory view is re-read from the
   * store, which rolled back: memory never runs ahead of what a restart would find.
   */
  private commit(check: string, d: Decision, ctx: Ctx): void {
    let opened = 0;
    try {
      this.store.transaction(() => {
        for (const e of this.unwritten.get(check) ?? []) this.writer.write(e, ctx.now, 0);
        for (const e of d.effects) {
          const id = this.writer.write(e, ctx.now, opened);
          if (e.kind === 'open') opened = id;
        }
      });
    } catch (err) {
      this.log.error({ err, check }, 'incident change not stored; re-reading the store');
      try {
        this.load();
      } catch (loadErr) {
        this.log.error({ err: loadErr }, 'cannot re-read the store');
      }
      this.updateGauges();
      throw err;
    }
    this.unwritten.delete(check);
    if (d.slice.open && d.slice.open.incident.id === 0) d.slice.open.incident.id = opened;
    this.slices.set(check, d.slice);
    this.updateGauges();
    let queued = false;
    for (const e of d.effects) {
      const id = 'id' in e ? e.id || opened : 0;
      if (e.kind === 'notify' || e.kind === 'release') queued = true;
      else if (e.kind === 'remediation-run') this.responders.running.add(id);
      else if (e.kind === 'abort-remediation') this.responders.cancel(id);
      else if (e.kind === 'start' && e.responder === 'snapshot') this.responders.snapshot(this.cfg.checks.get(e.check), id);
      else if (e.kind === 'start') this.responders.remediate(this.cfg.checks.get(e.check), id);
      else if (e.kind === 'metric' || e.kind === 'timeline') this.writer.report(e, d.slice.open?.incident.id === id ? d.slice.open.incident : d.resolved);
    }
    if (queued) this.deps.onEnqueue?.();
  }

  // Time

  /** Escalates, repeats and checks SLA clocks of open incidents; flushes and prunes. Never throws. */
  tick(): void {
    try {
      const now = this.now();
      this.silences = this.store.listSilences(now);
      const ctx = this.ctx(now);
      for (const [name, slice] of this.slices) {
        if (!slice.open) continue;
        try {
          const d = decide(ctx, name, slice, { kind: 'tick' });
          if (d.effects.length) this.commit(name, d, ctx);
        } catch {
          // commit() logged it; one bad incident must not stop the others.
        }
      }
      if (this.deps.resend) this.leases.renew(now, this.cfg.agent, this.openIncidents(), this.cfg.notifiers, this.deps.resend);
      if (now - this.lastStateFlush >= STATE_FLUSH_MS) this.flushStates();
      if (now - this.lastFlush >= 60_000) this.flushAvailability();
      if (now - this.lastPrune >= 3_600_000) this.prune(now);
      // Writes changes held in memory while the disk was full, and keeps the WAL small.
      this.store.maintain(now);
      const { windows, covered } = maintenanceNow(this.cfg.maintenance, this.cfg.checks.values(), now);
      this.deps.metrics.setMaintenance(windows);
      this.deps.metrics.setChecksInMaintenance(covered);
    } catch (err) {
      this.log.error({ err }, 'incident timer failed; it runs again in a second');
    }
  }

  /** Deletes resolved incidents older than the retention, old availability and remediation history. */
  private prune(now: number): void {
    this.lastPrune = now;
    const { incidents } = this.store.prune(now - this.cfg.retentionMs, Math.floor((now - 35 * 86_400_000) / 3_600_000), now - 7 * 86_400_000);
    if (incidents) this.log.info({ incidents }, 'pruned resolved incidents past their retention');
  }

  /** Writes the check states and incident summaries that changed since the last flush, in one transaction. */
  flushStates(): void {
    const now = (this.lastStateFlush = this.now());
    if (!this.unwritten.size) return;
    this.store.transaction(() => {
      for (const effects of this.unwritten.values()) for (const e of effects) this.writer.write(e, now, 0);
    });
    this.unwritten.clear();
  }

  /** Writes the availability counted since the last flush. */
  flushAvailability(): void {
    this.lastFlush = this.now();
    const rows = this.availability.take();
    if (rows.length) this.store.addAvailability(rows);
  }

  // People

  /**
   * Acknowledges an incident: escalation stops (the resolve clock does not), and pages still
   * held back by a coverage window are dropped; whoever heard of it hears the ack.
   */
  acknowledge(id: number, by: string, comment?: string): Incident | 'not-found' | 'not-open' {
    const check = this.findOpen(id);
    if (!check) return this.store.getIncident(id) ? 'not-open' : 'not-found';
    if (this.slices.get(check)!.open!.incident.state !== 'open') return 'not-open';
    return this.feed(check, { kind: 'ack', by, comment }).slice.open!.incident;
  }

  /** Resolves an incident by hand; the check must fail `openAfter` times again to reopen it. */
  resolve(id: number, by: string, comment?: string): Incident | 'not-found' | 'not-open' {
    const check = this.findOpen(id);
    if (!check) return this.store.getIncident(id) ? 'not-open' : 'not-found';
    return this.feed(check, { kind: 'resolve', by, comment }).resolved!;
  }

  private findOpen(id: number): string | undefined {
    for (const [name, s] of this.slices) if (s.open?.incident.id === id) return name;
    return undefined;
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

  addSilence(s: Silence): void {
    this.store.insertSilence(s);
    this.silences = this.store.listSilences(this.now());
  }

  expireSilence(id: string): boolean {
    const ok = this.store.expireSilence(id, this.now());
    this.silences = this.store.listSilences(this.now());
    return ok;
  }

  /** MTTA, MTTR, SLA attainment over 7 and 30 days, and availability per check. */
  kpis(): Record<string, unknown> {
    const now = this.now();
    this.flushAvailability();
    const { h7, h30 } = kpiHours(now);
    const incidents = this.store.incidentsSince(now - 30 * 86_400_000);
    return kpiReport(now, incidents, this.store.availabilitySince(h7), this.store.availabilitySince(h30), this.cfg.checks.keys());
  }

  private updateGauges(): void {
    const counts = new Map<string, number>();
    for (const inc of this.openIncidents()) {
      const k = `${inc.severity}|${inc.tier ?? 'none'}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    this.deps.metrics.setOpenIncidents([...counts].map(([k, n]) => {
      const [severity, tier] = k.split('|');
      return { severity, tier, count: n };
    }));
  }
}
