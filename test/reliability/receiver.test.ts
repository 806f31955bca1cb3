/**
 * A webhook receiver that is down (connection refused), slow (answers after 30 s, past the
 * agent's notifications.timeout) and throttling (429 with Retry-After), one after the other,
 * while the built daemon pages it: each event is delivered once the receiver recovers, in
 * order per incident; retries wait as long as Retry-After says; the metrics count every failure.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { eventually, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { sample } from '../helpers/metrics';
import { startHttp, type TestServer } from '../helpers/servers';

type Mode = 'ok' | 'slow' | 'throttle';

interface Attempt {
  key: string;
  event: string;
  incident: number;
  at: number;
  answer: 200 | 429 | 'slow';
}

/** An HTTP receiver that can go down and come back on the same port. */
class Receiver {
  mode: Mode = 'ok';
  throttleLeft = 0;
  readonly attempts: Attempt[] = [];
  readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly held = new Set<NodeJS.Timeout>();
  port = 0;

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Down: refuses connections (nothing listens on the port). */
  async down(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  close(): Promise<void> {
    for (const t of this.held) clearTimeout(t);
    return this.server.listening ? this.down() : Promise.resolve();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      const attempt = { key: body.key as string, event: body.event as string, incident: body.incident.id as number, at: Date.now() };
      if (this.mode === 'slow') {
        this.attempts.push({ ...attempt, answer: 'slow' });
        // Answers after 30 s, long after the agent gave up on the attempt.
        const t = setTimeout(() => (this.held.delete(t), res.writeHead(200).end()), 30_000);
        this.held.add(t);
      } else if (this.mode === 'throttle' && this.throttleLeft > 0) {
        this.throttleLeft--;
        this.attempts.push({ ...attempt, answer: 429 });
        res.writeHead(429, { 'Retry-After': '2' }).end('slow down');
      } else {
        this.attempts.push({ ...attempt, answer: 200 });
        res.writeHead(200).end('ok');
      }
    });
  }
}

async function counter(d: Daemon, result: string): Promise<number> {
  const text = await (await fetch(`${d.base}/metrics`)).text();
  // A result not seen yet has no series.
  return sample(text, 'keepwatch_notifications_total', `{notifier="hook",result="${result}"}`) || 0;
}

test('down, slow and 429: every event delivered once after recovery, in order; Retry-After honoured; failures counted', async () => {
  const tmp = tempDir();
  const receiver = new Receiver();
  let up = true;
  let target: TestServer | undefined;
  let daemon: Daemon | undefined;
  const started = Date.now();
  try {
    target = await startHttp((_req, res) => res.writeHead(up ? 200 : 503).end());
    await receiver.listen();
    const file = path.join(tmp.dir, 'keepwatch.yaml');
    fs.writeFileSync(file, [
      `agent: { name: receiver-test, listen: "127.0.0.1:0", dataDir: "${path.join(tmp.dir, 'data')}" }`,
      'incidents: { openAfter: 1, resolveAfter: 1, flapping: { enabled: false }, snapshots: false }',
      'notifications: { timeout: 1s }',
      'checks:',
      `  - { name: web, type: http, url: "${target.url}/", every: 1s, timeout: 500ms }`,
      'notifiers:',
      `  - { name: hook, type: webhook, url: "http://127.0.0.1:${receiver.port}/hook" }`,
    ].join('\n'));
    daemon = await startDaemon(['--config', file]);
    const d = daemon;
    const openIncidents = async () => ((await (await fetch(`${d.base}/api/v1/incidents?state=open`)).json()) as { incidents: unknown[] }).incidents.length;
    const delivered = (incident: number) => receiver.attempts.filter((a) => a.incident === incident && a.answer === 200).length === 2;
    const retryLines = () => d.logs.filter((l) => l.includes('"msg":"notification failed; will retry"'));
    const recovery: Record<string, number> = {};

    // 1. Down: connections refused while incident 1 opens and resolves; then back on its port.
    await receiver.down();
    up = false;
    await eventually(async () => retryLines().filter((l) => /ECONNREFUSED/.test(l)).length >= 2, 15_000, 'two refused attempts');
    up = true;
    await eventually(async () => (await openIncidents()) === 0, 10_000, 'incident 1 resolved');
    await receiver.listen(receiver.port);
    let back = Date.now();
    await eventually(async () => delivered(1), 20_000, 'incident 1 delivered');
    recovery.down = Date.now() - back;
    const refused = retryLines().filter((l) => /ECONNREFUSED/.test(l)).length;

    // 2. Slow: the receiver holds each request 30 s; the agent gives up after 1 s and retries.
    receiver.mode = 'slow';
    up = false;
    await eventually(async () => receiver.attempts.filter((a) => a.answer === 'slow').length >= 2, 15_000, 'two slow attempts');
    up = true;
    await eventually(async () => (await openIncidents()) === 0, 10_000, 'incident 2 resolved');
    receiver.mode = 'ok';
    back = Date.now();
    await eventually(async () => delivered(2), 20_000, 'incident 2 delivered');
    recovery.slow = Date.now() - back;
    const slow = receiver.attempts.filter((a) => a.answer === 'slow').length;
    expect(retryLines().filter((l) => l.includes("POST failed: timed out"))).toHaveLength(slow);

    // 3. Throttled: two 429s with Retry-After: 2, then accepted.
    receiver.mode = 'throttle';
    receiver.throttleLeft = 2;
    up = false;
    await eventually(async () => receiver.attempts.some((a) => a.answer === 429), 15_000, 'a 429');
    up = true;
    await eventually(async () => delivered(3), 20_000, 'incident 3 delivered');
    const throttled = receiver.attempts.filter((a) => a.answer === 429);
    expect(throttled).toHaveLength(2);

    // Retry-After is honoured: the attempt after a 429 comes at least 2 s later (backoff alone would be about 1 s).
    const gaps = throttled.map((t) => {
      const next = receiver.attempts.find((a) => a.key === t.key && a.at > t.at)!;
      return next.at - t.at;
    });
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1900);

    // Each event delivered (answered 2xx) exactly once, trigger before resolve, incident by incident.
    const ok = receiver.attempts.filter((a) => a.answer === 200);
    expect(ok.map((a) => [a.incident, a.event])).toEqual([[1, 'trigger'], [1, 'resolve'], [2, 'trigger'], [2, 'resolve'], [3, 'trigger'], [3, 'resolve']]);
    expect(new Set(ok.map((a) => a.key)).size).toBe(6);

    // The metrics show every failed attempt, and the deliveries.
    expect(await counter(d, 'delivered')).toBe(6);
    expect(await counter(d, 'retry')).toBe(retryLines().length);
    expect(retryLines().length).toBeGreaterThanOrEqual(refused + slow + throttled.length);
    expect(refused).toBeGreaterThanOrEqual(2);
    console.log(
      `reliability: receiver refused ${refused}, slow ${slow} (timed out at 1 s), 429 ${throttled.length} (Retry-After 2 s, next attempt after ${gaps.map((g) => `${(g / 1000).toFixed(1)} s`).join(', ')}); ` +
      `6 events delivered once each, in order; delivered after recovery in ${recovery.down} ms (down), ${recovery.slow} ms (slow); ` +
      `keepwatch_notifications_total retry ${await counter(d, 'retry')}, delivered 6; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await daemon?.stop('SIGKILL');
    await receiver.close();
    await target?.close();
    tmp.cleanup();
  }
});
