import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { ChannelModel } from 'amqplib';
import { parseCondition } from '../../agent/evaluate';
import { rabbitmqCheck } from '../../checks/rabbitmq';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { serverSockets } from '../helpers/spawn-server';

// The RabbitMQ broker this machine runs (guest/guest from 127.0.0.1). A missing broker fails loudly.
const URL_LOCAL = 'amqp://127.0.0.1:5672';
jest.setTimeout(120_000);

let admin: ChannelModel;
const queues: string[] = [];

beforeAll(async () => {
  const amqp = await import('amqplib');
  admin = await amqp.connect(URL_LOCAL);
  admin.on('error', () => {});
});

afterAll(async () => {
  const ch = await admin.createChannel();
  for (const q of queues) await ch.deleteQueue(q);
  await admin.close();
  // close() ends the socket but does not wait for it: destroy it, so no handle outlives the file
  // (jest runs the files in one process on a 2-core machine; one socket kept it from exiting).
  (admin.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
});

/** Declares a durable queue with a unique name holding `messages` messages; deleted after the tests. */
async function makeQueue(messages: number): Promise<string> {
  const q = `kw-test.${randomUUID()}`;
  queues.push(q);
  const ch = await admin.createConfirmChannel();
  await ch.assertQueue(q, { durable: false });
  for (let i = 0; i < messages; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
  await ch.waitForConfirms();
  await ch.close();
  return q;
}

/** Connections the broker itself lists (rabbitmqctl), the check's test connection excluded. */
function brokerConnections(): number {
  const out = execFileSync('rabbitmqctl', ['list_connections', '-q', 'client_properties'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('keepwatch')).length;
}

describe('round trip against the local broker', () => {
  test('a message comes back through a private queue; latencyMs and connectMs are numbers', async () => {
    const o = await runCheck(rabbitmqCheck, { url: URL_LOCAL });
    expect(o.up).not.toBe(false);
    expect(o.values.latencyMs).toEqual(expect.any(Number));
    expect(o.values.connectMs).toEqual(expect.any(Number));
    expect(o.message).toMatch(/^amqp:\/\/127\.0\.0\.1:5672\/%2F round trip in [\d.]+ ms/);
  });

  test('fields instead of a url, with user and password', async () => {
    const o = await runCheck(rabbitmqCheck, { host: '127.0.0.1', port: 5672, vhost: '/', user: 'guest', password: 'guest' });
    expect(o.up).not.toBe(false);
  });

  test('named queues: depth and consumers by passive declare; a missing queue counts and is named', async () => {
    const q = await makeQueue(3);
    const missing = `kw-test.missing.${randomUUID()}`;
    const o = await runCheck(rabbitmqCheck, { url: URL_LOCAL, queues: [q, missing] });
    const k = q.replace(/[^A-Za-z0-9_]/g, '_');
    expect(o.up).not.toBe(false);
    expect(o.values[`messages_${k}`]).toBe(3);
    expect(o.values[`consumers_${k}`]).toBe(0);
    expect(o.values.missingQueues).toBe(1);
    expect(o.message).toContain(`queue not found: ${missing}`);
    // The default crit fires on the missing queue; the value names parse in conditions.
    const fields = fieldsOf(rabbitmqCheck, { queues: [q, missing] });
    const crit = rabbitmqCheck.defaults && typeof rabbitmqCheck.defaults === 'function' ? rabbitmqCheck.defaults(rabbitmqCheck.schema.parse({ queues: [q] })) : {};
    expect(crit.crit).toEqual(['missingQueues > 0']);
    expect(parseCondition('missingQueues > 0', fields).test(o.values)).toBe(true);
    expect(parseCondition(`messages_${k} > 2`, fields).test(o.values)).toBe(true);
  });
});

describe('failures are critical results with a bounded reason', () => {
  test('a wrong password is auth (ACCESS_REFUSED 403)', async () => {
    const o = await runCheck(rabbitmqCheck, { url: URL_LOCAL, password: 'not-the-password' });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toContain('auth: user or password refused (ACCESS_REFUSED 403)');
    expect(o.message).not.toContain('not-the-password');
  });

  test('an unknown virtual host is auth (NOT_ALLOWED)', async () => {
    const o = await runCheck(rabbitmqCheck, { url: `${URL_LOCAL}/kw-no-such-vhost` });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toContain('virtual host');
  });

  test('a closed port is refused', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const o = await runCheck(rabbitmqCheck, { host: '127.0.0.1', port });
    expect(o).toMatchObject({ up: false, failure: 'refused' });
    expect(o.message).toContain('ECONNREFUSED');
  });

  test('an unknown host is dns', async () => {
    const o = await runCheck(rabbitmqCheck, { url: 'amqp://kw-no-such-host.invalid' });
    expect(o).toMatchObject({ up: false, failure: 'dns' });
  });

  test('amqps to the plain port is tls', async () => {
    const o = await runCheck(rabbitmqCheck, { url: 'amqps://127.0.0.1:5672' });
    expect(o).toMatchObject({ up: false, failure: 'tls' });
  });

  test('amqps to a closed port is refused, to an unknown host dns', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    expect(await runCheck(rabbitmqCheck, { url: `amqps://127.0.0.1:${port}` })).toMatchObject({ up: false, failure: 'refused' });
    expect(await runCheck(rabbitmqCheck, { url: 'amqps://kw-no-such-host.invalid' })).toMatchObject({ up: false, failure: 'dns' });
  });

  test.each([['amqp', false], ['amqps', true]])('%s: a server that never answers is a timeout, and the socket is closed', async (_, tls) => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => { sockets.push(s); s.resume(); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const o = await runCheck(rabbitmqCheck, { host: '127.0.0.1', port, tls }, { timeoutMs: 500 });
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    expect(o.message).toContain('did not connect within 500ms');
    await new Promise((r) => setTimeout(r, 300));
    expect(sockets.length).toBe(1);
    expect(sockets[0].destroyed || sockets[0].readableEnded).toBe(true);
    srv.close();
  });

  test('an abort mid-run ends it at once and closes the broker connection', async () => {
    const before = brokerConnections();
    const { run, abort } = startRun(rabbitmqCheck, { url: URL_LOCAL, queues: [] });
    abort();
    const o = await run;
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    // Aborted before or after the connection opened: either way none stays open.
    for (let i = 0; i < 50 && brokerConnections() > before; i++) await new Promise((r) => setTimeout(r, 100));
    expect(brokerConnections()).toBe(before);
  });
});

test('a run aborted before it connects opens no socket (Node connects despite an aborted signal)', async () => {
  const sockets = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
    .filter((h) => h instanceof net.Socket && (h as net.Socket).remotePort === 5672).length;
  const before = sockets();
  const { run, abort } = startRun(rabbitmqCheck, { url: URL_LOCAL, queues: [] });
  abort();
  expect(await run).toMatchObject({ up: false, failure: 'timeout' });
  await new Promise((r) => setTimeout(r, 500));
  expect(sockets()).toBe(before);
});

describe('management API', () => {
  /** A local server answering GET /api/queues/{vhost}/{name} as RabbitMQ's management plugin does. */
  async function managementServer(): Promise<{ url: string; requests: string[]; auth: string[]; close(): Promise<void> }> {
    const requests: string[] = [];
    const auth: string[] = [];
    const srv = http.createServer((req, res) => {
      requests.push(req.url!);
      auth.push(req.headers.authorization ?? '');
      if (req.headers.authorization !== `Basic ${Buffer.from('monitor:s3cret').toString('base64')}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"not_authorised","reason":"Login failed"}');
        return;
      }
      if (req.url === '/api/queues/%2F/orders') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          arguments: {}, auto_delete: false, consumer_capacity: 1, consumer_utilisation: 1, consumers: 2, durable: true, exclusive: false,
          memory: 55584, message_bytes: 420, messages: 42, messages_ready: 40, messages_unacknowledged: 2,
          message_stats: { ack: 100, ack_details: { rate: 1.2 }, deliver_get: 110, deliver_get_details: { rate: 1.4 }, publish: 152, publish_details: { rate: 2.5 } },
          name: 'orders', node: 'rabbit@localhost', state: 'running', type: 'classic', vhost: '/',
        }));
      } else if (req.url === '/api/queues/%2F/emails.out') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ consumers: 0, messages: 0, name: 'emails.out', vhost: '/', state: 'running' }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Object Not Found","reason":"Not Found"}');
      }
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    return { url: `http://127.0.0.1:${port}/`, requests, auth, close: () => new Promise((r) => srv.close(() => r())) };
  }

  test('queue depth, consumers and rates come from GET /api/queues/{vhost}/{name}', async () => {
    const m = await managementServer();
    try {
      const o = await runCheck(rabbitmqCheck, { url: URL_LOCAL, queues: ['orders', 'emails.out', 'gone'], management: { url: m.url, user: 'monitor', password: 's3cret' } });
      expect(m.requests).toEqual(['/api/queues/%2F/orders', '/api/queues/%2F/emails.out', '/api/queues/%2F/gone']);
      expect(o.up).not.toBe(false);
      expect(o.values).toMatchObject({
        messages_orders: 42, consumers_orders: 2, publishRate_orders: 2.5, deliverRate_orders: 1.4,
        messages_emails_out: 0, consumers_emails_out: 0, missingQueues: 1,
      });
      expect(o.values).not.toHaveProperty('publishRate_emails_out');
      expect(o.message).toContain('queue not found: gone');
      const fields = fieldsOf(rabbitmqCheck, { queues: ['orders', 'emails.out'], management: { url: m.url } });
      expect(Object.keys(fields).sort()).toEqual(['connectMs', 'consumers_emails_out', 'consumers_orders', 'deliverRate_emails_out', 'deliverRate_orders', 'latencyMs',
        'messages_emails_out', 'messages_orders', 'missingQueues', 'publishRate_emails_out', 'publishRate_orders']);
    } finally {
      await m.close();
    }
  });

  test('a refused management login is critical and says so', async () => {
    const m = await managementServer();
    try {
      const o = await runCheck(rabbitmqCheck, { url: URL_LOCAL, queues: ['orders'], management: { url: m.url, user: 'monitor', password: 'wrong' } });
      expect(o).toMatchObject({ up: false, failure: 'error' });
      expect(o.message).toContain('management API answered HTTP 401 for queue orders (user or password refused)');
      expect(o.values.latencyMs).toEqual(expect.any(Number));
    } finally {
      await m.close();
    }
  });
});

describe('config', () => {
  test('queue names that map to the same value name are rejected', () => {
    const r = rabbitmqCheck.schema.safeParse({ queues: ['a.b', 'a-b'] });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('would both report as messages_a_b');
  });

  test('url excludes host, port and vhost, and holds no password', () => {
    expect(rabbitmqCheck.schema.safeParse({ url: URL_LOCAL, host: 'x' }).success).toBe(false);
    expect(rabbitmqCheck.schema.safeParse({ url: 'amqp://guest:guest@127.0.0.1' }).success).toBe(false);
    expect(rabbitmqCheck.schema.safeParse({ url: 'http://127.0.0.1' }).success).toBe(false);
  });
});

test('500 runs leave no connection open on the broker', async () => {
  const q = await makeQueue(1);
  const beforeBroker = brokerConnections();
  const beforeSockets = serverSockets(5672);
  const started = Date.now();
  // A few at a time, and every tenth one aborted at once.
  for (let i = 0; i < 500; i += 5) {
    const runs = [0, 1, 2, 3, 4].map(async (j) => {
      if ((i + j) % 10 === 9) {
        const r = startRun(rabbitmqCheck, { url: URL_LOCAL, queues: [q] });
        setTimeout(() => r.abort(), (i + j) % 7);
        return r.run;
      }
      return runCheck(rabbitmqCheck, { url: URL_LOCAL, queues: [q] });
    });
    const results = await Promise.all(runs);
    for (const [j, o] of results.entries()) {
      if ((i + j) % 10 !== 9) expect([i + j, o.up, o.values.missingQueues]).toEqual([i + j, undefined, 0]);
    }
  }
  // Aborted connects that opened late close as soon as they do.
  let afterBroker = brokerConnections();
  for (let i = 0; i < 50 && afterBroker > beforeBroker; i++) {
    await new Promise((r) => setTimeout(r, 100));
    afterBroker = brokerConnections();
  }
  const afterSockets = serverSockets(5672);
  // eslint-disable-next-line no-console
  console.log(`rabbitmq 500 runs in ${Date.now() - started} ms: broker connections (keepwatch) ${beforeBroker} -> ${afterBroker}, server sockets on 5672 ${beforeSockets} -> ${afterSockets}`);
  expect(afterBroker).toBe(beforeBroker);
  expect(afterSockets).toBeLessThanOrEqual(beforeSockets);
});
