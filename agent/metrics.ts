import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CheckSeries, copyInto, EMPTY, FAMILY_HEADERS, FAMILY_KEYS, type RunRecord } from './check-series';
import { CLOSE_REASONS, type CloseReason } from './connections';
import { SEVERITIES, type CheckConfig } from './model';
import { SKIP_REASONS } from './scheduler';

export { DURATION_BUCKETS, type RunRecord } from './check-series';

/** Buckets for scheduler lag: a healthy agent starts runs within a few ms of their slot. */
export const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

const NOTIFY_RESULTS = ['delivered', 'retry', 'failed', 'expired'] as const;
const ALL_NOTIFY_RESULTS = [...NOTIFY_RESULTS, 'resent', 'resend_failed'] as const;
type NotifyResult = (typeof ALL_NOTIFY_RESULTS)[number];

/**
 * Every metric the agent exports. The per-check families are rendered by hand from
 * CheckSeries; the rest live in our own prom-client registry, with its process and Node.js
 * metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly checkSkipped: Counter;
  private readonly schedulerLag: Histogram;
  private readonly schedulerQueue: Gauge;
  private readonly checksConfigured: Gauge;
  private readonly reloadOk: Gauge;
  private readonly reloadTime: Gauge;
  private readonly series = new Map<string, CheckSeries>();
  private readonly incidentsOpen: Gauge;
  private readonly incidentsOpened: Counter;
  private readonly incidentAck: Histogram;
  private readonly incidentResolve: Histogram;
  private readonly slaBreaches: Counter;
  private readonly maintenanceActive: Gauge;
  private readonly checkMaintenance: Gauge;
  private readonly remediations: Counter;
  private readonly notifications: Counter;
  private readonly notificationQueue: Gauge;
  private readonly notificationsHeld: Gauge;
  private readonly sloObjective: Gauge;
  private readonly storeWritable: Gauge;
  private readonly storePending: Gauge;
  private readonly storeErrors: Counter;
  private readonly strayErrors: Counter;
  private readonly httpConnections: Gauge;
  private readonly httpClosed: Counter;
  private notifierNames = new Set<string>();
  /** The page buffer of the last scrape, free for the next one. */
  private spare: Buffer | undefined;

  constructor(opts: { version: string; defaultMetrics?: boolean }) {
    const registers = [this.registry];
    this.checkSkipped = new Counter({
      name: 'keepwatch_check_skipped_runs_total',
      help: 'Due runs that did not start: overlap (the previous run had not finished) or missed (a cron time passed unserved).',
      labelNames: ['check', 'reason'],
      registers,
    });
    this.schedulerLag = new Histogram({
      name: 'keepwatch_scheduler_lag_seconds',
      help: 'How late scheduled runs started after their slot.',
      buckets: LAG_BUCKETS,
      registers,
    });
    this.schedulerQueue = new Gauge({
      name: 'keepwatch_scheduler_queue_length',
      help: 'Due runs waiting for a free slot (agent.concurrency).',
      registers,
    });
    this.checksConfigured = new Gauge({
      name: 'keepwatch_checks_configured',
      help: 'Checks scheduled to run.',
      registers,
    });
    this.reloadOk = new Gauge({
      name: 'keepwatch_config_last_reload_successful',
      help: '1 when the last config load or reload succeeded, 0 when it was refused.',
      registers,
    });
    this.reloadTime = new Gauge({
      name: 'keepwatch_config_last_reload_success_timestamp_seconds',
      help: 'When the config was last loaded successfully (Unix seconds).',
      registers,
    });
    this.incidentsOpen = new Gauge({
      name: 'keepwatch_incidents_open',
      help: 'Incidents not resolved yet (open or acknowledged), by severity and escalation tier.',
      labelNames: ['severity', 'tier'],
      registers,
    });
    this.incidentsOpened = new Counter({
      name: 'keepwatch_incidents_opened_total',
      help: 'Incidents opened, by severity at opening.',
      labelNames: ['severity'],
      registers,
    });
    // Buckets span a quick human acknowledgement (1 min) to a business day and beyond.
    const humanBuckets = [60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 86400];
    this.incidentAck = new Histogram({
      name: 'keepwatch_incident_ack_seconds',
      help: 'Time from opening to acknowledgement (MTTA = sum / count).',
      labelNames: ['severity'],
      buckets: humanBuckets,
      registers,
    });
    this.incidentResolve = new Histogram({
      name: 'keepwatch_incident_resolve_seconds',
      help: 'Time from opening to resolution (MTTR = sum / count).',
      labelNames: ['severity'],
      buckets: humanBuckets,
      registers,
    });
    this.slaBreaches = new Counter({
      name: 'keepwatch_sla_breaches_total',
      help: 'SLA breaches: respond (not acknowledged in time) or resolve (not resolved in time).',
      labelNames: ['severity', 'kind'],
      registers,
    });
    this.maintenanceActive = new Gauge({
      name: 'keepwatch_maintenance_active',
      help: '1 while a maintenance window is open.',
      labelNames: ['window'],
      registers,
    });
    this.checkMaintenance = new Gauge({
      name: 'keepwatch_check_maintenance',
      help: 'Checks a maintenance window covers now (1); no series for the others.',
      labelNames: ['check'],
      registers,
    });
    this.remediations = new Counter({
      name: 'keepwatch_remediations_total',
      help: 'L1 remediations: fixed (the check passed after it), failed, skipped (rate limit, cool-down), or moot (the incident ended meanwhile).',
      labelNames: ['check', 'result'],
      registers,
    });
    this.notifications = new Counter({
      name: 'keepwatch_notifications_total',
      help: 'Notification delivery attempts by notifier and result: delivered, retry, failed (refused), expired (gave up); resent / resend_failed for periodic re-sends (Alertmanager).',
      labelNames: ['notifier', 'result'],
      registers,
    });
    this.notificationQueue = new Gauge({
      name: 'keepwatch_notification_queue',
      help: 'Notifications due in the outbox: waiting for a slot or retrying.',
      registers,
    });
    this.notificationsHeld = new Gauge({
      name: 'keepwatch_notifications_held',
      help: 'Notifications held back until later: a tier\'s coverage window, the diagnostic snapshot or L1 remediation.',
      registers,
    });
    this.sloObjective = new Gauge({
      name: 'keepwatch_check_slo_objective',
      help: 'Availability objective of checks that declare `slo:` (0.999 = 99.9% of runs not critical).',
      labelNames: ['check'],
      registers,
    });
    this.httpConnections = new Gauge({ name: 'keepwatch_http_connections', help: 'Client connections open to the HTTP listener.', registers });
    this.httpClosed = new Counter({
      name: 'keepwatch_http_connections_closed_total',
      help: 'Client connections the agent closed or refused, by reason: header_timeout, request_timeout, idle (keep-alive), evicted (idle, for a new one at a cap), limit / per_address_limit (refused: every one busy), unread_body (answered before the body arrived), bad_request.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of CLOSE_REASONS) this.httpClosed.inc({ reason }, 0);
    this.strayErrors = new Counter({
      name: 'keepwatch_uncaught_errors_total',
      help: "Errors nothing caught, by where they were made (check: a check's code; agent: the agent's own, an exception exits; io: a socket or stream nobody listened to) and kind (exception, rejection).",
      labelNames: ['source', 'kind'],
      registers,
    });
    for (const source of ['check', 'agent', 'io']) for (const kind of ['exception', 'rejection']) this.strayErrors.inc({ source, kind }, 0);
    this.storeWritable = new Gauge({
      name: 'keepwatch_store_writable',
      help: '1 while the store file takes writes; 0 while it cannot (full disk, read-only, I/O error) and changes are held in memory.',
      registers,
    });
    this.storeWritable.set(1);
    this.storePending = new Gauge({ name: 'keepwatch_store_pending_changes', help: 'Changes held in memory until the store file takes writes again.', registers });
    this.storeErrors = new Counter({
      name: 'keepwatch_store_errors_total',
      help: 'Store failures by operation: write (a change the file refused), sync (writing the held changes again), checkpoint (the WAL).',
      labelNames: ['op'],
      registers,
    });
    for (const op of ['write', 'sync', 'checkpoint']) this.storeErrors.inc({ op }, 0);
    // Series that exist from the start, at 0, so that rate() and increase() see the first event.
    for (const severity of SEVERITIES) {
      this.incidentsOpened.inc({ severity }, 0);
      this.incidentAck.zero({ severity });
      this.incidentResolve.zero({ severity });
      for (const kind of ['respond', 'resolve']) this.slaBreaches.inc({ severity, kind }, 0);
    }
    new Gauge({
      name: 'keepwatch_build_info',
      help: 'Build information; always 1.',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: opts.version, nodejs: process.version }, 1);
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these gauges with a counter's `_total` suffix, which promtool rejects;
      // the per-type nodejs_active_{handles,requests,resources} gauges carry the same numbers.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }
  }

  /**
   * Tells the metrics which checks exist now: series of removed checks (or of a name that
   * changed type) go, and every status series takes the check's current labels. Every
   * status series carries the union of all checks' label names, empty where a check has none
   * (an empty label is no label to Prometheus).
   */
  setChecks(checks: readonly CheckConfig[]): void {
    const byName = new Map(checks.map((c) => [c.name, c]));
    for (const [name, s] of this.series) {
      if (byName.get(name)?.type !== s.type) this.forget(name);
    }
    const extra = [...new Set(checks.flatMap((c) => Object.keys(c.labels)))].sort();
    for (const c of checks) {
      let s = this.series.get(c.name);
      if (!s) {
        s = new CheckSeries(c.name, c.type);
        this.series.set(c.name, s);
      }
      const labels: Record<string, string> = { check: c.name, type: c.type, category: c.category };
      for (const k of extra) labels[k] = c.labels[k] ?? '';
      s.setStatusLabels(labels);
    }
    this.checksConfigured.set(checks.filter((c) => c.enabled).length);
    this.sloObjective.reset();
    for (const c of checks) {
      if (c.slo === undefined || !c.enabled) continue;
      this.sloObjective.set({ check: c.name }, c.slo);
      this.series.get(c.name)!.startRunCounters();
    }
  }

  /**
   * Tells the metrics which notifiers exist: their delivery counters start at 0 (with the
   * re-send results for notifiers that re-send, like Alertmanager's), removed ones go.
   */
  setNotifiers(notifiers: ReadonlyArray<string | { name: string; resends: boolean }>): void {
    const keep = new Map(notifiers.map((n) => (typeof n === 'string' ? [n, false] : [n.name, n.resends])));
    for (const name of this.notifierNames) {
      if (!keep.has(name)) for (const result of ALL_NOTIFY_RESULTS) this.notifications.remove({ notifier: name, result });
    }
    // inc by 0 creates a missing series and keeps an existing count.
    for (const [name, resends] of keep) {
      for (const result of resends ? ALL_NOTIFY_RESULTS : NOTIFY_RESULTS) this.notifications.inc({ notifier: name, result }, 0);
    }
    this.notifierNames = new Set(keep.keys());
  }

  /** Records one judged run of a check. */
  recordRun(name: string, run: RunRecord): void {
    this.series.get(name)?.record(run);
  }

  /** Counts an error nothing caught (see process-guard.ts). */
  recordStrayError(source: 'check' | 'agent' | 'io', kind: 'exception' | 'rejection'): void {
    this.strayErrors.inc({ source, kind });
  }

  /** Counts a skipped run. */
  recordSkip(name: string, reason: string): void {
    this.checkSkipped.inc({ check: name, reason });
  }

  recordLag(seconds: number): void {
    this.schedulerLag.observe(seconds);
  }

  setQueueLength(n: number): void {
    this.schedulerQueue.set(n);
  }

  incidentOpened(severity: string): void {
    this.incidentsOpened.inc({ severity });
  }

  incidentAcked(severity: string, seconds: number): void {
    this.incidentAck.observe({ severity }, seconds);
  }

  incidentResolved(severity: string, seconds: number): void {
    this.incidentResolve.observe({ severity }, seconds);
  }

  slaBreach(severity: string, kind: 'respond' | 'resolve'): void {
    this.slaBreaches.inc({ severity, kind });
  }

  remediation(check: string, result: 'fixed' | 'failed' | 'skipped' | 'moot'): void {
    this.remediations.inc({ check, result });
  }

  notification(notifier: string, result: NotifyResult): void {
    this.notifications.inc({ notifier, result });
  }

  setNotificationQueue(due: number, held: number): void {
    this.notificationQueue.set(due);
    this.notificationsHeld.set(held);
  }

  storeError(op: 'write' | 'sync' | 'checkpoint'): void {
    this.storeErrors.inc({ op });
  }

  setStoreHealth(writable: boolean, pending: number): void {
    this.storeWritable.set(writable ? 1 : 0);
    this.storePending.set(pending);
  }

  /** Sets the open-incident gauge from scratch. */
  setOpenIncidents(rows: Array<{ severity: string; tier: string; count: number }>): void {
    this.incidentsOpen.reset();
    for (const r of rows) this.incidentsOpen.set({ severity: r.severity, tier: r.tier }, r.count);
  }

  /** Sets the maintenance gauge from scratch (windows removed by a reload disappear). */
  /** The checks a maintenance window covers now (1); others have no series. */
  setChecksInMaintenance(checks: readonly string[]): void {
    this.checkMaintenance.reset();
    for (const check of checks) this.checkMaintenance.set({ check }, 1);
  }

  setMaintenance(windows: Array<{ name: string; active: boolean }>): void {
    this.maintenanceActive.reset();
    for (const w of windows) this.maintenanceActive.set({ window: w.name }, w.active ? 1 : 0);
  }

  /** Counts a client connection the HTTP listener cut. */
  httpConnectionClosed(reason: CloseReason): void {
    this.httpClosed.inc({ reason });
  }

  /** Sets how many client connections are open. */
  setHttpConnections(count: number): void {
    this.httpConnections.set(count);
  }

  /** Records the outcome of a config load or reload. */
  recordReload(ok: boolean, at = Date.now()): void {
    this.reloadOk.set(ok ? 1 : 0);
    if (ok) this.reloadTime.set(Math.floor(at / 1000));
  }

  /**
   * The exposition (Prometheus text format, UTF-8) and its content type. The page is written
   * into a buffer kept between scrapes: allocating a megabyte per scrape made V8 collect
   * garbage more often. Call `release` once the body has been sent, so the next scrape can
   * reuse the buffer; a scrape while another is being sent gets a buffer of its own.
   */
  async expose(): Promise<{ contentType: string; body: Buffer; release(): void }> {
    const rest = Buffer.from(await this.registry.metrics());
    const parts = this.checkParts();
    parts.push(rest);
    let total = 0;
    for (const p of parts) total += p.length;
    let page = this.spare && this.spare.length >= total ? this.spare : Buffer.allocUnsafeSlow(Math.ceil(total * 1.25));
    this.spare = undefined;
    const body = copyInto(page, parts);
    return {
      contentType: this.registry.contentType,
      body,
      release: () => {
        if (page.length) this.spare = page;
        page = EMPTY;
      },
    };
  }

  /** The per-check families in the Prometheus text format. */
  renderChecks(): Buffer {
    const parts = this.checkParts();
    let total = 0;
    for (const p of parts) total += p.length;
    return copyInto(Buffer.allocUnsafe(total), parts);
  }

  private checkParts(): Buffer[] {
    const parts: Buffer[] = [];
    for (const key of FAMILY_KEYS) {
      parts.push(FAMILY_HEADERS[key]);
      for (const s of this.series.values()) parts.push(s.text[key]);
    }
    return parts;
  }

  private forget(name: string): void {
    for (const reason of SKIP_REASONS) this.checkSkipped.remove({ check: name, reason });
    this.series.delete(name);
  }
}
