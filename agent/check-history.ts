import { History, type HistorySpec } from './conditions/history';
import { historySpec } from './conditions/rules';
import type { Logger } from './logger';
import type { CheckConfig } from './model';
import type { Store } from './store/store';

/** How often the samples of the last runs are written to the store, in one transaction. */
export const SAMPLE_FLUSH_MS = 10_000;
/** How often the store's samples are pruned to what the histories keep. */
export const SAMPLE_PRUNE_MS = 600_000;

/**
 * The histories of the checks whose conditions look back (windows, `for:`, `clear:`): one ring
 * per check, sized by its conditions (see History), reloaded from the store at start or when
 * its conditions change, so a restart does not blind its windows. New samples are written in
 * one transaction every SAMPLE_FLUSH_MS (not one per run), and the store pruned every
 * SAMPLE_PRUNE_MS. Checks with plain conditions have none and cost nothing.
 */
export class CheckHistories {
  private readonly rings = new Map<string, { spec: HistorySpec; key: string; history: History }>();
  private pending: Array<{ check: string; sample: ReturnType<History['sample']> }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;

  constructor(private readonly store: Store | undefined, private readonly now: () => number = Date.now, private readonly log?: Logger) {}

  /**
   * The history of a check under its present conditions, or undefined when they do not look
   * back. A change of conditions keeps the samples of the series that stay.
   */
  for(check: Pick<CheckConfig, 'name' | 'rules'>): History | undefined {
    const spec = historySpec(check.rules);
    if (!spec) {
      this.rings.delete(check.name);
      return undefined;
    }
    const had = this.rings.get(check.name);
    if (had?.spec === spec) return had.history;
    const key = specKey(spec);
    if (had?.key === key) {
      had.spec = spec;
      return had.history;
    }
    const history = new History(spec);
    if (had) history.restore(had.history.samples());
    else if (this.store) {
      try {
        history.restore(this.store.samples.load(check.name, history.maxSamples));
      } catch (err) {
        this.log?.error({ err, check: check.name }, 'cannot read the check\'s history from the store; its windows start empty');
      }
    }
    this.rings.set(check.name, { spec, key, history });
    return history;
  }

  /**
   * Makes the histories of the checks that run (at start and on a reload: each is loaded from the
   * store now, so a prune never takes the samples of a check that has not run yet) and forgets
   * those of checks that are gone (their stored samples go at the next prune).
   */
  sync(checks: Iterable<Pick<CheckConfig, 'name' | 'rules'>>): void {
    const names = new Set<string>();
    for (const c of checks) {
      names.add(c.name);
      this.for(c);
    }
    for (const name of [...this.rings.keys()]) if (!names.has(name)) this.rings.delete(name);
  }

  /** After a judged run: its sample (the history's newest) waits for the next flush. */
  recorded(check: string, history: History): void {
    if (!this.store || !history.length) return;
    this.pending.push({ check, sample: history.sample(history.length - 1) });
  }

  /** Starts the timer that writes and prunes (unref'd: it never keeps the process alive). */
  start(): void {
    if (!this.store || this.timer) return;
    this.lastPrune = this.now();
    this.timer = setInterval(() => this.tick(), SAMPLE_FLUSH_MS);
    this.timer.unref();
  }

  /** Stops the timer and writes what waits. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }

  /** Writes the samples waiting, in one transaction. */
  flush(): void {
    if (!this.store || !this.pending.length) return;
    const rows = this.pending;
    this.pending = [];
    try {
      this.store.samples.add(rows);
    } catch (err) {
      this.log?.error({ err, samples: rows.length }, 'cannot write check samples; windows after a restart will miss them');
    }
  }

  /** Deletes stored samples no history keeps (older than each ring's oldest; checks gone). */
  prune(): number {
    if (!this.store) return 0;
    this.flush();
    const keep = new Map<string, number>();
    for (const [name, { history }] of this.rings) keep.set(name, history.oldest() ?? Infinity);
    return this.store.samples.prune(keep);
  }

  /** Checks with a history, and the bytes their rings take. */
  memory(): { checks: number; bytes: number; samples: number } {
    let bytes = 0;
    let samples = 0;
    for (const { history } of this.rings.values()) {
      bytes += history.bytes;
      samples += history.length;
    }
    return { checks: this.rings.size, bytes, samples };
  }

  private tick(): void {
    try {
      this.flush();
      const now = this.now();
      if (now - this.lastPrune >= SAMPLE_PRUNE_MS) {
        this.lastPrune = now;
        this.prune();
      }
    } catch (err) {
      this.log?.error({ err }, 'check history upkeep failed; it runs again later');
    }
  }
}

function specKey(spec: HistorySpec): string {
  return JSON.stringify([spec.series, spec.keepMs, spec.keepSamples, spec.maxSamples]);
}
