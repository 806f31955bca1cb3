import type { Logger } from '../logger';
import type { CheckConfig, CheckResult } from '../model';
import type { Input, Slice } from '../incidents/policy-types';
import { runRemediation } from '../responders/remediate';
import { summariseSnapshot, takeSnapshot } from '../responders/snapshot';

export interface ResponderDeps {
  log: Logger;
  now(): number;
  /** When the check's L1 remediation ran since `since` (its rate limit). */
  remediationsSince(check: string, since: number): number[];
  /** Feeds a responder's report to the policy; the check's slice after it. */
  feed(check: string, input: Input): Slice | undefined;
  /** Re-runs a check at once and returns that run's result. */
  runNow?(check: string): Promise<CheckResult | undefined>;
}

/**
 * Runs what the policy starts beside it, the diagnostic snapshot and L1 remediation, and
 * reports back as inputs. The policy only ever sees their outcomes.
 */
export class Responders {
  private readonly pending = new Set<Promise<unknown>>();
  /** What aborts each remediation in progress, by incident. */
  private readonly controllers = new Map<number, AbortController>();
  /** Incidents whose L1 remediation the policy let start (a `remediation-run` effect) and that runs now. */
  readonly running = new Set<number>();
  private readonly abort = new AbortController();
  private stopping = false;

  constructor(private readonly deps: ResponderDeps) {}

  /** Takes the diagnostic snapshot of incident `id`; its pages wait for it. */
  snapshot(check: CheckConfig | undefined, id: number): void {
    const name = check?.name;
    if (!name) return;
    this.track(
      takeSnapshot({ logs: check.logs, signal: this.abort.signal }).then((snap) => {
        this.deps.feed(name, { kind: 'snapshot', id, snapshot: snap, summary: summariseSnapshot(snap) });
      }),
    );
  }

  /**
   * L1, Monit-style: asks the policy whether the remediation may run (rate limit, cool-down),
   * runs its actions, re-runs the check at once and reports what it found.
   */
  remediate(check: CheckConfig | undefined, id: number): void {
    if (check?.remediate) this.track(this.run(check, id));
  }

  /** Stops a remediation in progress (its incident resolved). */
  cancel(id: number): void {
    this.controllers.get(id)?.abort(new Error('incident resolved'));
  }

  /** Lets snapshots and remediations finish, aborting them after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const t = setTimeout(() => this.abort.abort(new Error('agent stopping')), graceMs);
    await Promise.allSettled([...this.pending]);
    clearTimeout(t);
  }

  private async run(check: CheckConfig, id: number): Promise<void> {
    const r = check.remediate!;
    const name = check.name;
    const history = this.deps.remediationsSince(name, this.deps.now() - Math.max(r.limit.within, r.cooldown));
    const ac = new AbortController();
    this.controllers.set(id, ac);
    try {
      const started = this.deps.feed(name, { kind: 'remediation-start', id, check, remediations: history });
      if (!this.running.has(id)) return; // refused: the policy escalated
      const outcome = await runRemediation(r.actions, { signal: AbortSignal.any([ac.signal, this.abort.signal]) }); // never rejects
      const after = this.deps.feed(name, { kind: 'remediation-ran', id, ok: outcome.ok, outcome, stopping: this.stopping });
      if (this.stopping) return;
      const stillOpen = (after ?? started)?.open?.incident.id === id;
      const result = outcome.ok && stillOpen && this.deps.runNow ? await this.deps.runNow(name) : undefined;
      if (this.stopping) return;
      this.deps.feed(name, { kind: 'remediation-checked', id, ok: outcome.ok, result });
    } finally {
      this.controllers.delete(id);
      this.running.delete(id);
    }
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((err) => this.deps.log.error({ err }, 'incident side task failed')).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
