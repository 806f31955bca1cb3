import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import Database from 'better-sqlite3';
import { createLogger } from '../../agent/logger';
import { parseRetryAfter } from '../../agent/notifiers/outbound-http';
import { backoffMs, OutboxWorker, type NotifierInstance } from '../../agent/notifiers/outbox';
import { webhookNotifier } from '../../agent/notifiers/webhook';
import { Store } from '../../agent/store/store';
import { tempDir } from '../helpers/daemon';
import { sleep } from '../helpers/fake-checks';
import { startHttp, type TestServer } from '../helpers/servers';

let dir: ReturnType<typeof tempDir>;
let store: Store;
let receiver: TestServer;
let received: Array<{ at: number; body: any; key?: string }>;
let answers: number[];
const results: string[] = [];
const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });

beforeEach(async () => {
  dir = tempDir();
  store = Store.open(dir.dir);
  received = [];
  answers = [];
  results.length = 0;
  receiver = await startHttp((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      if (status === 200) received.push({ at: Date.now(), body: JSON.parse(body), key: req.headers['x-keepwatch-key'] as string });
      res.writeHead(status, status === 429 ? { 'Retry-After': '1' } : {}).end(status === 400 ? 'bad payload: missing routing key' : '');
    });
  });
});
afterEach(async () => {
  store.close();
  await receiver.close();
  dir.cleanup();
});

function worker(opts: Partial<ConstructorParameters<typeof OutboxWorker>[1]> = {}, url = `${receiver.url}/hook`) {
  const hook: NotifierInstance = { name: 'hook', def: webhookNotifier, spec: { url, headers: {} } };
  return new OutboxWorker(store, {
    notifiers: () => new Map([['hook', hook]]),
    log,
    retryBaseMs: 50,
    onResult: (n, r) => results.push(`${n}:${r}`),
    ...opts,
  });
}

function enqueue(incidentId: number, seq: number, event = 'trigger', at = Date.now()) {
  while (!store.getIncident(incidentId)) {
    store.insertIncident({
      key: `a/check-${incidentId}`, agent: 'a', check: `check-${incidentId}`, type: 'http', severity: 'critical', state: 'open', tierIndex: 0,
      summary: 's', labels: {}, values: {}, flapping: false, openedAt: at, seq: 0, evidence: [], repeats: 0, coverage: '24x7',
      respondBreached: false, resolveBreached: false,
    });
  }
  store.enqueue({ key: `a:${incidentId}:${seq}`, notifier: 'hook', incidentId, event: event as never, payload: JSON.stringify({ event, key: `a:${incidentId}:${seq}` }), createdAt: at, notBefore: at });
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

test('delivers every queued event once, in order per incident', async () => {
  enqueue(1, 1, 'trigger');
  enqueue(2, 1, 'trigger');
  enqueue(1, 2, 'resolve');
  const w = worker();
  w.start();
  await until(() => received.length === 3);
  await w.stop();
  const keys = received.map((r) => r.body.key);
  expect(keys.indexOf('a:1:1')).toBeLessThan(keys.indexOf('a:1:2'));
  expect(store.pendingNotifications()).toBe(0);
  expect(store.notificationsOf(1).map((n) => [n.attempts, !!n.deliveredAt])).toEqual([[1, true], [1, true]]);
  expect(store.timeline(1).map((t) => t.message)).toEqual(['trigger delivered to hook', 'resolve delivered to hook']);
});

test('a receiver down for a while gets everything once, in order, when it is back', async () => {
  answers = [500, 502, 503];
  enqueue(1, 1, 'trigger');
  enqueue(1, 2, 'acknowledge');
  const w = worker();
  w.start();
  await until(() => received.length === 2);
  await w.stop();
  expect(received.map((r) => r.body.key)).toEqual(['a:1:1', 'a:1:2']);
  expect(results.filter((r) => r === 'hook:retry')).toHaveLength(3);
  expect(store.notificationsOf(1)[0]).toMatchObject({ attempts: 4 });
});

test('429 waits as long as Retry-After says', async () => {
  answers = [429];
  enqueue(1, 1);
  const w = worker();
  const t0 = Date.now();
  w.start();
  await until(() => received.length === 1);
  await w.stop();
  expect(received[0].at - t0).toBeGreaterThanOrEqual(950);
});

test('another 4xx is not retried; the error keeps the response body', async () => {
  answers = [400];
  enqueue(1, 1);
  const w = worker();
  w.start();
  await until(() => results.length === 1);
  await sleep(200);
  await w.stop();
  expect(results).toEqual(['hook:failed']);
  expect(store.notificationsOf(1)[0]).toMatchObject({ attempts: 1, lastError: 'HTTP 400: bad payload: missing routing key' });
  expect(store.timeline(1).map((t) => t.message)).toEqual(['trigger to hook refused: HTTP 400: bad payload: missing routing key']);
  expect(received).toEqual([]);
});

test('gives up after the maximum age and says so', async () => {
  answers = [500, 500, 500, 500, 500, 500];
  enqueue(1, 1, 'trigger', Date.now());
  const w = worker({ maxAgeMs: 300 });
  w.start();
  await until(() => results.includes('hook:expired'));
  await w.stop();
  expect(store.notificationsOf(1)[0].lastError).toMatch(/^expired: HTTP 500/);
});

test('pending notifications survive a restart and are delivered once after it', async () => {
  await receiver.close();
  enqueue(1, 1);
  const first = worker({ retryBaseMs: 100_000 });
  first.start();
  await until(() => results.includes('hook:retry'));
  await first.stop();
  store.close();
  receiver = await startHttp((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => (received.push({ at: Date.now(), body: JSON.parse(body) }), res.writeHead(200).end()));
  });
  // The retry was scheduled far ahead; a restarted agent keeps that schedule, so move it up.
  const db = new Database(path.join(dir.dir, 'keepwatch.db'));
  db.prepare('UPDATE outbox SET next_attempt_at = 0').run();
  db.close();
  store = Store.open(dir.dir);
  const second = worker();
  second.start();
  await until(() => received.length === 1);
  await sleep(200);
  await second.stop();
  expect(received).toHaveLength(1);
});

test('backoff doubles from 1 s to at most 5 min, with jitter; Retry-After parses seconds and dates', () => {
  expect(backoffMs(1, 1000, () => 0.5)).toBe(1000);
  expect(backoffMs(2, 1000, () => 0.5)).toBe(2000);
  expect(backoffMs(20, 1000, () => 0.5)).toBe(300_000);
  expect(backoffMs(1, 1000, () => 0)).toBe(800);
  expect(backoffMs(1, 1000, () => 1)).toBe(1200);
  expect(parseRetryAfter('30')).toBe(30_000);
  expect(parseRetryAfter('Fri, 27 Nov 2026 10:00:10 GMT', Date.parse('2026-11-27T10:00:00Z'))).toBe(10_000);
  expect(parseRetryAfter('soon')).toBeUndefined();
});

test('a chain whose head waits does not make the worker spin, nor hold back other incidents', async () => {
  const now = Date.now();
  // Incident 1: a page held for an hour (a closed coverage window), then a later one behind it.
  store.insertIncident({
    key: 'a/held', agent: 'a', check: 'held', type: 'http', severity: 'warning', state: 'open', tierIndex: 0,
    summary: 's', labels: {}, values: {}, flapping: false, openedAt: now, seq: 0, evidence: [], repeats: 0, coverage: '24x7',
    respondBreached: false, resolveBreached: false,
  });
  store.enqueue({ key: 'a:1:1', notifier: 'hook', incidentId: 1, event: 'trigger', payload: '{"key":"a:1:1"}', createdAt: now, notBefore: now + 3_600_000 });
  store.enqueue({ key: 'a:1:2', notifier: 'hook', incidentId: 1, event: 'severity_change', payload: '{"key":"a:1:2"}', createdAt: now, notBefore: now });
  enqueue(2, 1);
  let reads = 0;
  const due = store.dueNotifications.bind(store);
  store.dueNotifications = (...args) => (reads++, due(...args));
  const w = worker();
  w.start();
  await until(() => received.length === 1);
  await sleep(300);
  await w.stop();
  expect(received.map((r) => r.body.key)).toEqual(['a:2:1']);
  expect(reads).toBeLessThan(10);
});

test('a delivery the store cannot record is not sent again; it is recorded once the store works', async () => {
  enqueue(1, 1, 'trigger');
  const mark = store.markDelivered.bind(store);
  let failing = true;
  store.markDelivered = (...args) => {
    if (failing) throw new Error('SQLITE_FULL: database or disk is full');
    return mark(...args);
  };
  const w = worker();
  w.start();
  await until(() => received.length === 1);
  await sleep(1000);
  expect(received).toHaveLength(1); // not re-sent in a loop while the mark fails
  expect(store.notificationsOf(1)[0].deliveredAt).toBeUndefined();
  failing = false;
  await until(() => store.notificationsOf(1)[0].deliveredAt !== undefined, 8000);
  await w.stop();
  expect(received).toHaveLength(1);
  expect(results).toEqual(['hook:delivered']);
}, 15_000);

test('a re-send and a queued message of the same incident never overlap: the resolve goes after the re-send is answered', async () => {
  const events: string[] = [];
  const slow = await startHttp((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = JSON.parse(body).key as string;
      events.push(`start ${key}`);
      setTimeout(() => {
        events.push(`end ${key}`);
        res.writeHead(200).end();
      }, key.endsWith('resend') ? 300 : 0);
    });
  });
  try {
    const hook: NotifierInstance = { name: 'hook', def: webhookNotifier, spec: { url: `${slow.url}/hook`, headers: {} } };
    const w = worker({ notifiers: () => new Map([['hook', hook]]) });
    w.start();
    w.resend('hook', { event: 'trigger', key: 'a:1:resend', incident: { id: 1 } } as never);
    await until(() => events.length === 1);
    enqueue(1, 2, 'resolve');
    w.kick();
    // A second re-send while one is on the wire is dropped, not queued behind it.
    w.resend('hook', { event: 'trigger', key: 'a:1:resend', incident: { id: 1 } } as never);
    await until(() => events.length === 4);
    await w.stop();
    expect(events).toEqual(['start a:1:resend', 'end a:1:resend', 'start a:1:2', 'end a:1:2']);
    expect(results).toEqual(['hook:resent', 'hook:delivered']);
  } finally {
    await slow.close();
  }
});

test('maxAge is read at each use, so a reload applies it', async () => {
  let maxAgeMs = 86_400_000;
  answers = [500, 500, 500, 500, 500, 500];
  enqueue(1, 1, 'trigger', Date.now() - 60_000);
  const w = worker({ maxAgeMs: () => maxAgeMs });
  w.start();
  await until(() => results.includes('hook:retry'));
  maxAgeMs = 1000;
  await until(() => results.includes('hook:expired'));
  await w.stop();
  expect(store.notificationsOf(1)[0].lastError).toMatch(/^expired: /);
});

test('the queue gauge counts due messages; messages held for later (coverage, snapshot) count apart', async () => {
  const queue: Array<[number, number]> = [];
  const now = Date.now();
  enqueue(1, 1, 'trigger');
  // Held back for a minute, like a page outside its tier's coverage window.
  store.enqueue({ key: 'a:2:1', notifier: 'hook', incidentId: 1, event: 'trigger', payload: '{}', createdAt: now, notBefore: now + 60_000 });
  answers.push(503);
  const w = worker({ onQueue: (due, held) => queue.push([due, held]) });
  w.start();
  // The due message is retrying: due 1; the held one never counts as due.
  await until(() => results.includes('hook:retry'));
  await until(() => received.length === 1);
  // Once delivered, nothing is due; the held message still waits.
  await until(() => queue.at(-1)![0] === 0);
  await w.stop();
  expect(queue[0]).toEqual([1, 1]);
  expect(queue.every(([, held]) => held === 1)).toBe(true);
  expect(store.queuedNotifications(now + 60_000)).toEqual({ due: 1, held: 0 });
});

test('a 2xx is recorded as soon as its status line arrives, while the body is still coming', async () => {
  // The shorter the time between the receiver answering and the mark, the fewer repeats a crash causes.
  const open: Array<() => void> = [];
  const slow = await startHttp((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200).write('accepted, still writing…');
      open.push(() => res.end());
    });
  });
  try {
    enqueue(1, 1);
    const w = worker({}, `${slow.url}/hook`);
    w.start();
    await until(() => store.notificationsOf(1)[0].deliveredAt !== undefined);
    expect(open).toHaveLength(1); // the response has not ended
    expect(results).toEqual(['hook:delivered']);
    await w.stop();
  } finally {
    for (const end of open) end();
    await slow.close();
  }
});

test('an event re-sent after a crash between the 2xx and the record carries the same key', async () => {
  enqueue(1, 1, 'trigger');
  enqueue(1, 2, 'resolve');
  // The store as a SIGKILL right after the receiver's 2xx would leave it: nothing recorded yet.
  store.maintain(Date.now(), true); // the WAL checkpointed into the file, which is then copied
  const crashed = tempDir();
  fs.copyFileSync(path.join(dir.dir, 'keepwatch.db'), path.join(crashed.dir, 'keepwatch.db'));
  try {
    const w = worker();
    w.start();
    await until(() => received.length === 2);
    await w.stop();
    store.close();
    store = Store.open(crashed.dir); // the restart (afterEach closes it)
    const again = worker();
    again.start();
    await until(() => received.length === 4);
    await again.stop();
    expect(received.map((r) => [r.key, r.body.key])).toEqual([
      ['a:1:1', 'a:1:1'], ['a:1:2', 'a:1:2'],
      ['a:1:1', 'a:1:1'], ['a:1:2', 'a:1:2'],
    ]);
    expect(store.pendingNotifications()).toBe(0);
  } finally {
    crashed.cleanup();
  }
});

test('an attempt past the timeout is abandoned and retried, and the error says it timed out; the timeout is read at each use', async () => {
  const held: Array<() => void> = [];
  const slow = await startHttp((req, res) => {
    req.resume();
    held.push(() => res.destroy());
  });
  try {
    enqueue(1, 1);
    let timeoutMs = 200;
    const w = worker({ timeoutMs: () => timeoutMs, retryBaseMs: 60_000 }, `${slow.url}/hook`);
    const t0 = Date.now();
    w.start();
    await until(() => results.includes('hook:retry'));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(store.notificationsOf(1)[0].lastError).toBe('POST failed: timed out');
    timeoutMs = 30_000;
    await w.stop();
  } finally {
    for (const end of held) end();
    await slow.close();
  }
});

test('attempt timeouts fire even after garbage collection (no attempt hangs on a silent receiver)', async () => {
  // AbortSignal.any([…, AbortSignal.timeout()]) loses its timeout to the collector on Node 20.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const held: Array<() => void> = [];
  const silent = await startHttp((req, res) => {
    req.resume();
    held.push(() => res.destroy());
  });
  try {
    for (let i = 1; i <= 30; i++) enqueue(i, 1);
    const w = worker({ timeoutMs: 300, retryBaseMs: 60_000, concurrency: 30 }, `${silent.url}/hook`);
    w.start();
    await until(() => held.length === 30);
    for (let i = 0; i < 5; i++) {
      gc();
      await sleep(50);
    }
    await until(() => results.length === 30, 3000);
    expect(results.every((r) => r === 'hook:retry')).toBe(true);
    await w.stop();
  } finally {
    for (const end of held) end();
    await silent.close();
  }
});
