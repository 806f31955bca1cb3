import { setMaxListeners } from 'node:events';
import os from 'node:os';
import { CheckStates } from './check-state';
import { expandChecks, type Config } from './config/load';
import { parseListen } from './config/schema';
import { ConfigError, formatProblem } from './errors';
import { Status } from './evaluate';
import { setSecrets, type Logger } from './logger';
import { Metrics } from './metrics';
import type { CheckConfig, CheckResult } from './model';
import { CheckHistories } from './check-history';
import { runCheckOnce } from './runner';
import { IncidentEngine, type EngineConfig } from './engine';
import { OutboxWorker } from './notifiers/outbox';
import { Scheduler } from './scheduler';
import type { Store } from './store/store';

export interface AgentDeps {
  log: Logger;
  metrics: Metrics;
  /** Loads the config for a reload (SIGHUP, /-/reload), files read off the event loop; ConfigError when invalid. */
  loadConfig?: () => Config | Promise<Config>;
  now?: () => number;
  /** Spread of first runs after start (default 5 s). */
  initialSpreadMs?: number;
  /** A log level that wins over `agent.logLevel` (from --log-level or KEEPWATCH_LOG_LEVEL). */
  logLevel?: string;
  /** The store: with it, results become incidents and notifications; without, checks only. */
  store?: Store;
}

/** A check as the API shows it: config, last result, next run. */
export interface CheckView {
  name: string;
  type: string;
  category: string;
  description?: string;
  labels: Record<string, string>;
  schedule: string;
  timeoutMs: number;
  warn: string[];
  crit: string[];
  nextRun?: string;
  running: boolean;
  last?: Omit<CheckResult, 'startedAt'> & { startedAt: string };
}

/** The outcome of a reload. */
export type ReloadOutcome = { ok: true; checks: number } | { ok: false; errors: string[] };

/**
 * The running agent: wires scheduler → runner (check + evaluator) → metrics and keeps the
 * last result of every check. It knows check types only through the config's registry entries.
 */
export class Agent {
  config: Config;
  private checks = new Map<string, CheckConfig>();
  private readonly results = new Map<string, CheckResult>();
  private readonly scheduler: Scheduler;
  private readonly stopController = new AbortController();
  private readonly log: Logger;
  readonly metrics: Metrics;
  /** The agent's clock (ms since epoch; injected in tests). */
  readonly now: () => number;
  private ready = false;
  private reloading: Promise<ReloadOutcome> | undefined;
  /** The incident engine and the outbox, when the agent has a store. */
  readonly incidents?: IncidentEngine;
  readonly outbox?: OutboxWorker;
  /** When start() was called (ms since epoch): the agent's uptime counts from here. */
  startedAt: number | undefined;
  /** What checks keep between runs (baselines), in the store when there is one. */
  readonly states: CheckStates;
  /** The recent samples of checks whose conditions look back, in the store when there is one. */
  readonly histories: CheckHistories;

  private constructor(config: Config, private readonly deps: AgentDeps) {
    this.config = config;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.now = deps.now ?? Date.now;
    this.states = new CheckStates(deps.store, this.now);
    this.histories = new CheckHistories(deps.store, this.now, deps.log);
    // Every run in flight listens for the stop signal; thousands may be in flight at once.
    setMaxListeners(0, this.stopController.signal);
    this.scheduler = new Scheduler({
      concurrency: config.agent.concurrency,
      execute: (name) => this.execute(name),
      pace: (name) => this.pace(name),
      onLag: (s) => this.metrics.recordLag(s),
      onSkip: (name, reason) => {
        this.metrics.recordSkip(name, reason);
        this.log.warn({ check: name, reason }, reason === 'overlap' ? 'run skipped: the previous run has not finished' : 'cron run missed: the agent was too busy or suspended');
      },
      onQueue: (n) => this.metrics.setQueueLength(n),
      initialSpreadMs: deps.initialSpreadMs,
      log: this.log,
      now: this.now,
    });
  }

  /** Builds an agent for a loaded config (expanding checks such as disk-per-mount). */
  static async create(config: Config, deps: AgentDeps): Promise<Agent> {
    const agent = new Agent(config, deps);
    if (deps.store) {
      const store = deps.store;
      const outbox = new OutboxWorker(store, {
        notifiers: () => agent.config.notifiers,
        log: deps.log,
        now: deps.now,
        onResult: (n, r) => deps.metrics.notification(n, r),
        onQueue: (due, held) => deps.metrics.setNotificationQueue(due, held),
        maxAgeMs: () => agent.config.notifications.maxAge,
        timeoutMs: () => agent.config.notifications.timeout,
      });
      const engine = new IncidentEngine(engineConfig(config, new Map()), {
        store,
        log: deps.log,
        metrics: deps.metrics,
        now: deps.now,
        runNow: (name) => agent.rerun(name),
        onEnqueue: () => outbox.kick(),
        resend: (name, event) => outbox.resend(name, event),
        snapshots: config.incidents.snapshots,
      });
      Object.assign(agent, { incidents: engine, outbox });
      watchStore(store, deps);
    }
    await agent.apply(config);
    agent.metrics.recordReload(true);
    return agent;
  }

  /** Starts running checks on their schedules. */
  start(): void {
    this.incidents?.start();
    this.outbox?.start();
    this.histories.start();
    this.scheduler.start();
    this.startedAt = this.now();
    this.ready = true;
    this.log.info({ checks: this.checks.size, agent: this.config.agent.name }, 'agent started');
  }

  /** Stops scheduling, aborts runs in flight and waits for them to settle. */
  async stop(): Promise<void> {
    this.ready = false;
    this.stopController.abort(new Error('agent stopping'));
    await this.scheduler.stop();
    this.histories.stop();
    await this.incidents?.stop();
    await this.outbox?.stop();
  }

  /** True once the config is loaded and checks are scheduled. */
  isReady(): boolean {
    return this.ready;
  }

  /**
   * Why the agent is not ready (for /readyz), or undefined when it is: not started, or a store
   * that cannot write (it still runs checks, opens incidents and pages, from memory).
   */
  notReady(): string | undefined {
    if (!this.ready) return 'not ready';
    const h = this.deps.store?.health();
    if (h && !h.writable) return `store not writable: ${h.error ?? 'unknown error'} (${h.pending} change${h.pending === 1 ? '' : 's'} held in memory)`;
    return undefined;
  }

  /**
   * Loads the config again and applies it. An invalid config is refused: the running one
   * stays, the errors are logged and `keepwatch_config_last_reload_successful` drops to 0.
   */
  reload(): Promise<ReloadOutcome> {
    // Reloads are serialised: a SIGHUP arriving during a reload waits for it.
    const next = (this.reloading ?? Promise.resolve()).then(() => this.doReload());
    this.reloading = next;
    return next;
  }

  private async doReload(): Promise<ReloadOutcome> {
    if (!this.deps.loadConfig) return { ok: false, errors: ['this agent has no config file to reload'] };
    let config: Config;
    try {
      config = await this.deps.loadConfig();
      await this.apply(config);
    } catch (err) {
      const errors = err instanceof ConfigError ? err.problems.map(formatProblem) : [String((err as Error).message ?? err)];
      this.metrics.recordReload(false, this.now());
      this.log.error({ errors }, 'config reload refused; the running config stays');
      return { ok: false, errors };
    }
    this.metrics.recordReload(true, this.now());
    this.log.info({ checks: this.checks.size }, 'config reloaded');
    return { ok: true, checks: this.checks.size };
  }

  private async apply(config: Config): Promise<void> {
    const expanded = await expandChecks(config.checks);
    const seen = new Set<string>();
    for (const c of expanded) {
      if (seen.has(c.name)) throw new Error(`two checks expand to the same name "${c.name}"`);
      seen.add(c.name);
    }
    if (this.ready && config.agent.listen !== this.config.agent.listen) {
      this.log.warn({ listen: config.agent.listen }, 'agent.listen changed; restart the agent to apply it');
    }
    setSecrets(config.secrets);
    this.log.level = this.deps.logLevel ?? config.agent.logLevel;
    this.config = config;
    this.checks = new Map(expanded.filter((c) => c.enabled).map((c) => [c.name, c]));
    for (const name of [...this.results.keys()]) {
      const c = this.checks.get(name);
      if (!c || c.type !== this.results.get(name)!.type) {
        this.results.delete(name);
      }
    }
    this.histories.sync(this.checks.values());
    this.metrics.setChecks([...this.checks.values()]);
    this.metrics.setNotifiers([...config.notifiers.values()].map((n) => ({ name: n.name, resends: n.def.resendEveryMs !== undefined })));
    this.incidents?.apply(engineConfig(config, this.checks));
    this.scheduler.setConcurrency(config.agent.concurrency);
    this.scheduler.setJobs([...this.checks.values()].map((c) => ({ name: c.name, schedule: c.schedule })));
  }

  /** The checks, with their last results, in config order. */
  listChecks(): CheckView[] {
    return [...this.checks.values()].map((c) => this.view(c));
  }

  /** One check's view, or undefined when there is no such check. */
  getCheck(name: string): CheckView | undefined {
    const c = this.checks.get(name);
    return c && this.view(c);
  }

  /** The compiled checks that run, in config order (their fields' units and conditions). */
  checkConfigs(): CheckConfig[] {
    return [...this.checks.values()];
  }

  /** Names of the checks that run. */
  checkNames(): string[] {
    return [...this.checks.keys()];
  }

  /**
   * Runs a check now (the API's "run now") and returns its result; `busy` when a run of
   * it is already queued or in flight.
   */
  async runNow(name: string): Promise<{ result?: CheckResult; busy?: boolean; missing?: boolean }> {
    if (!this.checks.has(name)) return { missing: true };
    const { started, done } = this.scheduler.runNow(name);
    if (!started) return { busy: true };
    await done;
    return { result: this.results.get(name) };
  }

  private async execute(name: string): Promise<void> {
    const check = this.checks.get(name);
    if (!check) return;
    const history = this.histories.for(check);
    const result = await runCheckOnce(check, { log: this.log, now: this.now, signal: this.stopController.signal, state: this.states.for(name), history });
    if (history) this.histories.recorded(name, history);
    if (this.stopController.signal.aborted) return;
    // A reload during the run: keep the result if the check is still configured the same way.
    const current = this.checks.get(name);
    if (!current || (current !== check && fingerprint(current) !== fingerprint(check))) return;
    this.record(current, result);
  }

  /**
   * Runs a check now for the incident engine (after a remediation) or a new baseline, waiting out
   * a run in flight; the result of that very run, or undefined when it was not recorded (stop, reload).
   */
  async rerun(name: string): Promise<CheckResult | undefined> {
    for (let i = 0; i < 2; i++) {
      if (!this.checks.has(name)) return undefined;
      const before = this.results.get(name);
      const { started, done } = this.scheduler.runNow(name);
      await done;
      if (started) {
        const after = this.results.get(name);
        return after !== before ? after : undefined;
      }
    }
    return undefined;
  }

  private record(check: CheckConfig, result: CheckResult): void {
    const prev = this.results.get(check.name);
    this.results.set(check.name, result);
    try {
      this.incidents?.onResult(check, result);
    } catch (err) {
      // The store failing must not stop the checks or their metrics.
      this.log.error({ err, check: check.name }, 'incident engine failed on a result');
    }
    this.metrics.recordRun(check.name, {
      status: result.status,
      up: result.up,
      reason: result.reason,
      durationSeconds: result.durationMs / 1000,
      values: result.values,
      findings: result.findingCounts,
      cost: result.cost,
    });
    if (!prev || prev.status !== result.status) {
      const fields = { check: check.name, status: result.statusText, was: prev?.statusText, reason: result.reason, message: result.message };
      if (result.status === Status.Ok) this.log.info(fields, prev ? 'check recovered' : 'check ok');
      else this.log.warn(fields, `check ${result.statusText}`);
    } else if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ check: check.name, status: result.statusText, durationMs: result.durationMs, values: result.values }, 'check ran');
    }
  }

  /**
   * retryEvery applies while the incident lifecycle counts a failure or a recovery it has not
   * confirmed yet (its own counters: there is no second count here).
   */
  private pace(name: string): number | undefined {
    const check = this.checks.get(name);
    if (!check?.retryEveryMs || !this.incidents?.confirming(check)) return undefined;
    return check.retryEveryMs;
  }

  private view(c: CheckConfig): CheckView {
    const r = this.results.get(c.name);
    const next = this.scheduler.nextRun(c.name);
    return {
      name: c.name,
      type: c.type,
      category: c.category,
      description: c.description,
      labels: { ...c.labels },
      schedule: c.schedule.kind === 'every' ? `every ${c.schedule.everyMs} ms` : `cron ${c.schedule.cron}${c.schedule.timezone ? ` (${c.schedule.timezone})` : ''}`,
      timeoutMs: c.timeoutMs,
      warn: c.rules.warn.map((x) => x.source),
      crit: c.rules.crit.map((x) => x.source),
      nextRun: next !== undefined ? new Date(next).toISOString() : undefined,
      running: this.scheduler.busy(c.name),
      last: r && { ...r, startedAt: new Date(r.startedAt).toISOString() },
    };
  }
}

const fingerprints = new WeakMap<CheckConfig, string>();

/** What makes two configs of a check run the same way (labels and schedule aside). */
function fingerprint(c: CheckConfig): string {
  let f = fingerprints.get(c);
  if (f === undefined) {
    f = JSON.stringify([c.type, c.spec, c.timeoutMs, c.rules.warn.map((r) => r.source), c.rules.crit.map((r) => r.source)]);
    fingerprints.set(c, f);
  }
  return f;
}

/**
 * Counts store failures, keeps keepwatch_store_writable current and logs when the store stops
 * and starts taking writes again (a retry every few seconds would flood the log).
 */
function watchStore(store: Store, deps: AgentDeps): void {
  let writable = true;
  store.observe({
    error: (op) => deps.metrics.storeError(op),
    health: (h) => {
      deps.metrics.setStoreHealth(h.writable, h.pending);
      if (h.writable === writable) return;
      writable = h.writable;
      if (h.writable) deps.log.info('store writable again; the changes held in memory are written');
      else deps.log.error({ error: h.error }, 'store not writable: keeping incidents and notifications in memory and retrying every 5 s');
    },
  });
}

/** The incident engine's view of a config. */
export function engineConfig(config: Config, checks: ReadonlyMap<string, CheckConfig>): EngineConfig {
  const i = config.incidents;
  return {
    agent: config.agent.name,
    policy: { openAfter: i.openAfter, resolveAfter: i.resolveAfter, unknownIs: i.unknownIs, flapping: i.flapping },
    retentionMs: i.retention,
    links: {
      agent: config.notifications.links.agent ?? `http://${os.hostname()}:${parseListen(config.agent.listen).port}`,
      grafana: config.notifications.links.grafana,
    },
    tiers: config.escalation,
    sla: config.sla,
    coverage: config.coverage,
    maintenance: config.maintenance,
    notifiers: config.notifiers,
    checks,
  };
}
