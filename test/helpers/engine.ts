import { Writable } from 'node:stream';
import { engineConfig } from '../../agent/agent';
import { loadConfigText } from '../../agent/config/load';
import type { Status } from '../../agent/evaluate';
import { IncidentEngine } from '../../agent/engine';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import type { IncidentEvent } from '../../agent/notifiers/types';
import { Store } from '../../agent/store/store';
import { tempDir } from './daemon';
import { result } from './policy';

export { result };

/** An incident engine on a real store in a temp dir, with a clock the test moves. */
export function engineHarness(yaml: string, start = Date.parse('2026-11-27T10:00:00Z'), opts: { snapshots?: boolean } = {}) {
  const dir = tempDir();
  const config = loadConfigText(yaml, 'kw.yaml', { env: {} });
  const checks = new Map(config.checks.map((c) => [c.name, c]));
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }) as never });
  const metrics = new Metrics({ version: 't', defaultMetrics: false });
  const clock = { t: start };
  const resent: Array<[string, IncidentEvent]> = [];
  let store = Store.open(dir.dir);
  const make = () => new IncidentEngine(engineConfig(config, checks), { store, log, metrics, now: () => clock.t, snapshots: opts.snapshots ?? false, resend: (n, e) => resent.push([n, e]) });
  const h = {
    dir,
    config,
    checks,
    clock,
    logs,
    metrics,
    store,
    engine: make(),
    /** What the engine re-sent to lease notifiers: [notifier, event]. */
    resent,
    /** Feeds results of one check, one per `every` ms (default: no time passes). */
    feed(name: string, statuses: Status[], everyMs = 0) {
      const check = checks.get(name);
      if (!check) throw new Error(`no check ${name}`);
      for (const s of statuses) {
        h.engine.onResult(check, result(check, s, clock.t));
        clock.t += everyMs;
      }
    },
    /** Moves the clock and runs the engine's timer work. */
    advance(ms: number) {
      clock.t += ms;
      h.engine.tick();
    },
    at(iso: string) {
      clock.t = Date.parse(iso);
      h.engine.tick();
    },
    /** Applies another config, as a reload does. */
    reload(next: string) {
      const c = loadConfigText(next, 'kw.yaml', { env: {} });
      checks.clear();
      for (const x of c.checks) checks.set(x.name, x);
      h.engine.apply(engineConfig(c, checks));
    },
    /** Every queued notification: [event, notifier], in order. */
    outbox() {
      return h.store.listIncidents({ limit: 1000 }).reverse().flatMap((i) => h.store.notificationsOf(i.id)).sort((a, b) => a.id - b.id).map((n) => [n.event, n.notifier]);
    },
    timeline(id: number) {
      return h.store.timeline(id).map((t) => t.kind);
    },
    /** A clean restart (the engine flushes what it holds), or a crash (it does not). */
    restart(kind: 'clean' | 'crash' = 'clean') {
      if (kind === 'clean') h.engine.flushStates();
      store.close();
      store = h.store = Store.open(dir.dir);
      h.engine = make();
    },
    async close() {
      await h.engine.stop();
      store.close();
      dir.cleanup();
    },
  };
  return h;
}
