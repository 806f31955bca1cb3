import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Value } from '../checks/types';
import type { CheckConfig } from './config/load';
import { STATUS_NAMES, type Status } from './evaluate';
import { SKIP_REASONS } from './scheduler';

/**
 * Buckets for check durations. Few on purpose: each bucket is a series per check, and with
 * a thousand checks every one counts. They bracket what SLOs are written against
 * (50 ms … 2.5 s) up to the default timeout.
 */
export const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Buckets for scheduler lag: a healthy agent starts runs within a few ms of their slot. */
export const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/** What the metrics need to know about one judged run. */
export interface RunRecord {
  status: Status;
  up: boolean;
  reason?: string;
  durationSeconds: number;
  values: Record<string, Value>;
}

interface CheckSeries {
  config: CheckConfig;
  statusLabels: Record<string, string>;
  basic: { check: string; type: string };
  status?: Status;
  up: ReturnType<Gauge['labels']>;
  duration: ReturnType<Histogram['labels']>;
  runs: Map<string, ReturnType<Counter['labels']>>;
  values: Map<string, ReturnType<Gauge['labels']>>;
}

/**
 * Our own prom-client registry and every metric the agent exports. Children are cached per
 * check so recording a run is a few map lookups, not label hashing.
 */
export class Metrics {
  readonly registry = new Registry();
  private statusLabelNames: string[] = [];
  private checkStatus: Gauge;
  private readonly checkUp: Gauge;
  private readonly checkValue: Gauge;
  private readonly checkDuration: Histogram;
  private readonly checkRuns: Counter;
  private readonly checkSkipped: Counter;
  private readonly schedulerLag: Histogram;
  private readonly schedulerQueue: Gauge;
  private readonly checksConfigured: Gauge;
  private readonly reloadOk: Gauge;
  private readonly reloadTime: Gauge;
  private readonly series = new Map<string, CheckSeries>();

  constructor(opts: { version: string; defaultMetrics?: boolean }) {
    const registers = [this.registry];
    this.checkStatus = this.makeStatusGauge([]);
    this.checkUp = new Gauge({
      name: 'keepwatch_check_up',
      help: '1 when the check\'s target answered on the last run, else 0.',
      labelNames: ['check', 'type'],
      registers,
    });
    this.checkValue = new Gauge({
      name: 'keepwatch_check_value',
      help: 'Each numeric value the last run of a check returned (booleans as 0/1), in the unit its field name gives.',
      labelNames: ['check', 'field'],
      registers,
    });
    this.checkDuration = new Histogram({
      name: 'keepwatch_check_duration_seconds',
      help: 'How long check runs took.',
      labelNames: ['check', 'type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.checkRuns = new Counter({
      name: 'keepwatch_check_runs_total',
      help: 'Check runs by resulting status and failure reason (none when ok).',
      labelNames: ['check', 'status', 'reason'],
      registers,
    });
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

  private makeStatusGauge(extra: string[]): Gauge {
    this.statusLabelNames = extra;
    return new Gauge({
      name: 'keepwatch_check_status',
      help: 'Status of the last run of each check: 0 ok, 1 warning, 2 critical, 3 unknown.',
      labelNames: ['check', 'type', 'category', ...extra],
      registers: [this.registry],
    });
  }

  /**
   * Tells the metrics which checks exist now: series of removed checks go, and the status
   * gauge is rebuilt when the set of check label names changes (its label names are fixed).
   */
  setChecks(checks: readonly CheckConfig[]): void {
    const names = new Set(checks.map((c) => c.name));
    for (const [name, s] of this.series) {
      const next = checks.find((c) => c.name === name);
      if (!names.has(name) || next?.type !== s.config.type) this.forget(name);
    }
    const extra = [...new Set(checks.flatMap((c) => Object.keys(c.labels)))].sort();
    const rebuild = extra.join(',') !== this.statusLabelNames.join(',');
    if (rebuild) {
      this.registry.removeSingleMetric('keepwatch_check_status');
      this.checkStatus = this.makeStatusGauge(extra);
    } else {
      this.checkStatus.reset();
    }
    for (const c of checks) {
      let s = this.series.get(c.name);
      const statusLabels: Record<string, string> = { check: c.name, type: c.type, category: c.category };
      for (const k of extra) statusLabels[k] = c.labels[k] ?? '';
      if (!s) {
        const basic = { check: c.name, type: c.type };
        s = {
          config: c,
          statusLabels,
          basic,
          up: this.checkUp.labels(basic),
          duration: this.checkDuration.labels(basic),
          runs: new Map(),
          values: new Map(),
        };
        this.series.set(c.name, s);
      }
      s.config = c;
      s.statusLabels = statusLabels;
      if (s.status !== undefined) this.checkStatus.set(statusLabels, s.status);
    }
    this.checksConfigured.set(checks.filter((c) => c.enabled).length);
  }

  /** Records one judged run of a check. */
  recordRun(name: string, run: RunRecord): void {
    const s = this.series.get(name);
    if (!s) return;
    s.status = run.status;
    this.checkStatus.set(s.statusLabels, run.status);
    s.up.set(run.up ? 1 : 0);
    s.duration.observe(run.durationSeconds);
    const runKey = `${run.status}|${run.reason ?? 'none'}`;
    let counter = s.runs.get(runKey);
    if (!counter) {
      counter = this.checkRuns.labels({ check: name, status: STATUS_NAMES[run.status], reason: run.reason ?? 'none' });
      s.runs.set(runKey, counter);
    }
    counter.inc();
    // A value the run did not return is removed, not left at its last reading.
    for (const field of s.values.keys()) {
      if (toNumber(run.values[field]) === undefined) {
        this.checkValue.remove({ check: name, field });
        s.values.delete(field);
      }
    }
    for (const field in run.values) {
      const n = toNumber(run.values[field]);
      if (n === undefined) continue;
      let g = s.values.get(field);
      if (!g) {
        g = this.checkValue.labels({ check: name, field });
        s.values.set(field, g);
      }
      g.set(n);
    }
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

  /** Records the outcome of a config load or reload. */
  recordReload(ok: boolean, at = Date.now()): void {
    this.reloadOk.set(ok ? 1 : 0);
    if (ok) this.reloadTime.set(Math.floor(at / 1000));
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private forget(name: string): void {
    const s = this.series.get(name);
    if (!s) return;
    if (s.status !== undefined) this.checkStatus.remove(s.statusLabels);
    this.checkUp.remove(s.basic);
    this.checkDuration.remove(s.basic);
    for (const key of s.runs.keys()) {
      const [status, reason] = key.split('|');
      this.checkRuns.remove({ check: name, status: STATUS_NAMES[Number(status)], reason });
    }
    for (const field of s.values.keys()) this.checkValue.remove({ check: name, field });
    for (const reason of SKIP_REASONS) this.checkSkipped.remove({ check: name, reason });
    this.series.delete(name);
  }
}

function toNumber(v: Value | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}
