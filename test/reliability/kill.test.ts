/**
 * SIGKILL during toggling outages: the built daemon watches a target that fails and recovers
 * on a fixed-seed schedule, so incidents open and resolve, and pages a local webhook receiver.
 * It is killed 20 times at fixed-seed random moments, and a few more times by the receiver
 * itself right after answering 2xx (the window between a delivery and its record). After the
 * last restart the outbox drains: every event the store holds reached the receiver at least
 * once, every repeat carried the same key, and the SQLite file passes integrity_check.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { eventually, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { sleep } from '../helpers/fake-checks';
import { percentile } from '../helpers/metrics';
import { rng } from '../helpers/rng';
import { startHttp, startReceiver, type Receiver, type TestServer } from '../helpers/servers';

const SEED = 0x6b77;
const KILLS = 20;
/** Restarts (by index) whose daemon the receiver kills right after answering a delivery. */
const INJECTED = new Set([4, 11, 18]);

interface Arrival {
  key: string;
  header: string | undefined;
  event: string;
  incident: number;
  raw: string;
  /** Receiver time minus the event's time: how long the page took, kills and restarts included. */
  latencyMs: number;
}

test('20 random SIGKILLs and kills between send and record lose no event; repeats carry the same key; the store stays sound', async () => {
  const tmp = tempDir();
  // Seeded, so every run kills at the same moments.
  const kills = rng(SEED);
  const flips = rng(SEED + 1);
  let up = true;
  let flipping = true;
  let flipTimer: NodeJS.Timeout | undefined;
  let toggles = 0;
  let daemon: Daemon | undefined;
  let killOnNextDelivery = false;
  let injected = 0;
  const injectedKeys = new Set<string>();
  let target: TestServer | undefined;
  let receiver: Receiver | undefined;
  const started = Date.now();

  try {
    target = await startHttp((_req, res) => res.writeHead(up ? 200 : 503).end(up ? 'ok' : 'down'));
    receiver = await startReceiver(({ body }, res) => {
      res.writeHead(200).end('ok');
      if (killOnNextDelivery && daemon) {
        // Answered, and dead before it can record the delivery (or just after).
        killOnNextDelivery = false;
        daemon.child.kill('SIGKILL');
        injected++;
        injectedKeys.add(body.key);
      }
    });
    const flip = () => {
      if (!flipping) return;
      up = !up;
      toggles++;
      flipTimer = setTimeout(flip, 800 + flips.int(1200));
    };
    flipTimer = setTimeout(flip, 800);

    const data = path.join(tmp.dir, 'data');
    const file = path.join(tmp.dir, 'keepwatch.yaml');
    fs.writeFileSync(file, [
      `agent: { name: kill-test, listen: "127.0.0.1:0", dataDir: "${data}" }`,
      'incidents: { openAfter: 1, resolveAfter: 1, flapping: { enabled: false }, snapshots: false }',
      'notifications: { timeout: 2s }',
      'checks:',
      `  - { name: web, type: http, url: "${target.url}/", every: 1s, timeout: 500ms }`,
      'notifiers:',
      `  - { name: hook, type: webhook, url: "${receiver.url}/hook" }`,
    ].join('\n'));

    const restarts = KILLS + INJECTED.size;
    let randomKills = 0;
    for (let i = 0; i < restarts; i++) {
      daemon = await startDaemon(['--config', file]);
      if (INJECTED.has(i)) {
        killOnNextDelivery = true;
        // The next delivery kills it; toggles every 1-3 s make one soon. Bounded all the same.
        const child = daemon.child;
        const bound = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await daemon.exited;
        clearTimeout(bound);
        killOnNextDelivery = false;
      } else {
        await sleep(200 + kills.int(1000));
        daemon.child.kill('SIGKILL');
        randomKills++;
      }
      await daemon.exited;
      // Nothing else took it down: every exit was one of our SIGKILLs.
      expect(daemon.child.signalCode).toBe('SIGKILL');
    }

    // Last restart: the target recovers for good, the open incident resolves, the outbox drains.
    flipping = false;
    clearTimeout(flipTimer);
    up = true;
    const drainFrom = Date.now();
    daemon = await startDaemon(['--config', file]);
    const d = daemon;
    await eventually(async () => {
      const open = (await (await fetch(`${d.base}/api/v1/incidents?state=open`)).json()) as { incidents: unknown[] };
      if (open.incidents.length) return false;
      const all = (await (await fetch(`${d.base}/api/v1/incidents?limit=1000`)).json()) as { incidents: { id: number }[] };
      for (const { id } of all.incidents) {
        const inc = (await (await fetch(`${d.base}/api/v1/incidents/${id}`)).json()) as { notifications: { state: string }[] };
        if (inc.notifications.some((n) => n.state !== 'delivered')) return false;
      }
      return true;
    }, 60_000, 'every incident resolved and every notification delivered');
    const drainMs = Date.now() - drainFrom;
    expect(await d.stop('SIGTERM')).toBe(0);

    const db = new Database(path.join(data, 'keepwatch.db'));
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const outbox = db.prepare('SELECT key, event, incident_id AS incident, delivered_at AS deliveredAt, failed_at AS failedAt FROM outbox ORDER BY id').all() as
        { key: string; event: string; incident: number; deliveredAt: number | null; failedAt: number | null }[];
      const incidents = db.prepare('SELECT id, state FROM incidents ORDER BY id').all() as { id: number; state: string }[];

      const arrivals = receiver.got.map(({ body, headers, raw, at }): Arrival => ({
        key: body.key, header: headers['x-keepwatch-key'] as string | undefined, event: body.event, incident: body.incident.id, raw,
        latencyMs: at - Date.parse(body.at),
      }));
      // Every event the store holds was delivered, and reached the receiver at least once.
      const seen = new Map<string, Arrival[]>();
      for (const a of arrivals) seen.set(a.key, [...(seen.get(a.key) ?? []), a]);
      expect(outbox.filter((n) => n.deliveredAt === null)).toEqual([]);
      expect(outbox.map((n) => n.key).filter((k) => !seen.has(k))).toEqual([]);
      // Nothing arrived that the store does not hold.
      expect([...seen.keys()].filter((k) => !outbox.some((n) => n.key === k))).toEqual([]);
      // Every incident paged its trigger and its resolve, in that order.
      expect(incidents.filter((i) => i.state !== 'resolved')).toEqual([]);
      for (const inc of incidents) {
        const events = arrivals.filter((a) => a.incident === inc.id).map((a) => a.event);
        expect(events[0]).toBe('trigger');
        expect(events).toContain('resolve');
        expect(events.indexOf('trigger')).toBeLessThan(events.indexOf('resolve'));
      }
      // Every request carried its key in the header, and a repeat is byte for byte the same event.
      expect(arrivals.filter((a) => a.header !== a.key)).toEqual([]);
      const repeated = [...seen.values()].filter((list) => list.length > 1);
      for (const list of repeated) expect(new Set(list.map((a) => a.raw)).size).toBe(1);
      const duplicates = repeated.reduce((n, list) => n + list.length - 1, 0);
      const afterInjected = repeated.filter((list) => injectedKeys.has(list[0].key)).length;

      expect(randomKills).toBe(KILLS);
      expect(injected).toBeGreaterThanOrEqual(1);
      expect(incidents.length).toBeGreaterThanOrEqual(5);
      const firsts = [...seen.values()].map((list) => list[0].latencyMs).sort((a, b) => a - b);
      console.log(
        `reliability: kill ${randomKills} random + ${injected} between send and record SIGKILLs (seed ${SEED}), ${toggles} outage toggles, ` +
        `${incidents.length} incidents, ${outbox.length} events, all delivered, ${duplicates} duplicates (same key; ${afterInjected} after a kill between send and record), ` +
        `delivery latency p50 ${percentile(firsts, 0.5)} ms p99 ${percentile(firsts, 0.99)} ms max ${firsts.at(-1)} ms, ` +
        `drain after last restart ${drainMs} ms, integrity_check ok, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    } finally {
      db.close();
    }
  } finally {
    flipping = false;
    clearTimeout(flipTimer);
    await daemon?.stop('SIGKILL');
    await target?.close();
    await receiver?.close();
    tmp.cleanup();
  }
});
