import net from 'node:net';
import { Writable } from 'node:stream';
import { Agent } from '../../agent/agent';
import { httpLimitsSchema } from '../../agent/config/schema';
import type { ConnectionLimits } from '../../agent/connections';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { AgentServer } from '../../agent/server';
import { checkConfig, makeConfig, sleep } from '../helpers/fake-checks';
import { sample } from '../helpers/metrics';

const TOKEN = 'admin-token-123';
const hourly = { kind: 'every', everyMs: 3_600_000 } as const;
/** Long enough that a test passing within jest's timeout was not helped by it. */
const LONG = 600_000;

interface Started {
  agent: Agent;
  server: AgentServer;
  port: number;
  stop(): Promise<void>;
}

async function start(http: Partial<ConnectionLimits>): Promise<Started> {
  const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
  const base = makeConfig([]);
  const config = makeConfig(
    [
      checkConfig('web', async () => ({ values: { value: 0 }, message: 'fine' }), { schedule: hourly }),
      checkConfig('slow', async ({ signal }) => {
        await sleep(60_000, signal);
        return { values: { value: 0 }, message: 'slow' };
      }, { schedule: hourly, timeoutMs: 60_000 }),
    ],
    {
      agent: {
        ...base.agent,
        http: { maxConnections: 256, maxConnectionsPerAddress: 32, headersTimeout: LONG, requestTimeout: LONG, keepAliveTimeout: LONG, ...http },
      },
      api: { token: TOKEN, metrics: { auth: 'none' } },
    },
  );
  const agent = await Agent.create(config, { log, metrics: new Metrics({ version: 't', defaultMetrics: false }), initialSpreadMs: 3_600_000 });
  const server = new AgentServer(agent, log);
  const { port } = await server.listen('127.0.0.1', 0);
  return {
    agent,
    server,
    port,
    stop: async () => {
      server.server.closeAllConnections();
      await server.close(0);
      await agent.stop();
    },
  };
}

/** A raw client socket: what it received, and a promise of its closing. */
interface Client {
  socket: net.Socket;
  received(): string;
  closed: Promise<void>;
}

function connect(port: number, localAddress = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => undefined); // a reset is one way of being closed
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

/** Resolves once the server counts `n` connections open (and `busy` of them with a request in flight). */
async function settle(s: Started, n: number, busy = 0): Promise<void> {
  while (s.server.connections.size !== n || s.server.connections.busy !== busy) await new Promise((r) => setImmediate(r));
}

async function closedCount(s: Started, reason: string): Promise<number> {
  const text = (await s.agent.metrics.expose()).body.toString();
  return sample(text, 'keepwatch_http_connections_closed_total', `{reason="${reason}"}`);
}

async function gauge(s: Started): Promise<number> {
  const text = (await s.agent.metrics.expose()).body.toString();
  return sample(text, 'keepwatch_http_connections');
}

describe('timeouts', () => {
  let s: Started;
  afterEach(() => s.stop());

  test('a silent socket and one that stops halfway through its headers are closed at headersTimeout, with a JSON 408', async () => {
    s = await start({ headersTimeout: 150, requestTimeout: 10_000 });
    const silent = await connect(s.port);
    const partial = await connect(s.port);
    partial.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await Promise.all([silent.closed, partial.closed]);
    for (const c of [silent, partial]) {
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(JSON.parse(c.received().split('\r\n\r\n')[1])).toEqual({ error: 'request headers not received in time (agent.http.headersTimeout)' });
    }
    expect(await closedCount(s, 'header_timeout')).toBe(2);
    expect(await gauge(s)).toBe(0);
  });

  test('a body that trickles in is cut at requestTimeout', async () => {
    // The headers come in the first write; a header timeout as long as the request timeout
    // keeps a stall between accepting and parsing from counting as a header timeout.
    s = await start({ headersTimeout: 400, requestTimeout: 400 });
    const c = await connect(s.port);
    c.socket.write(`POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    const drip = setInterval(() => c.socket.write(' '), 50);
    await c.closed;
    clearInterval(drip);
    expect(await closedCount(s, 'request_timeout')).toBe(1);
    expect(await closedCount(s, 'header_timeout')).toBe(0);
  });

  test('a kept-alive connection is closed once idle for keepAliveTimeout', async () => {
    s = await start({ keepAliveTimeout: 100 });
    const c = await connect(s.port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\{"status":"ok"\}\n$/);
    expect(await closedCount(s, 'idle')).toBe(1);
  });
});

describe('bodies still arriving after an early answer', () => {
  let s: Started;
  beforeAll(async () => (s = await start({})));
  afterAll(() => s.stop());

  test.each([
    ['401 (no token)', '', 'application/json', 401],
    ['415 (not JSON)', `Authorization: Bearer ${TOKEN}\r\n`, 'text/plain', 415],
    ['413 (too large)', `Authorization: Bearer ${TOKEN}\r\n`, 'application/json', 413],
  ])('after a %s the connection is closed at once, not left open for the rest', async (_name, auth, type, status) => {
    const before = await closedCount(s, 'unread_body');
    const c = await connect(s.port);
    const length = status === 413 ? 5_000_000 : 100_000;
    c.socket.write(`POST /api/v1/silences HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n{"a":`);
    const drip = setInterval(() => c.socket.writable && c.socket.write('1'), 20);
    await c.closed; // the request and header timeouts are ten minutes: only the early close ends it
    clearInterval(drip);
    expect(c.received()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [^]*\\r\\nConnection: close\\r\\n`));
    expect(JSON.parse(c.received().split('\r\n\r\n')[1]).error).toEqual(expect.any(String));
    expect(await closedCount(s, 'unread_body')).toBe(before + 1);
  });

  test('a client still uploading gets its answer and a clean close, not a reset: the agent half-closes and drains for a moment', async () => {
    const socket = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let failure: Error | undefined;
    socket.setEncoding('utf8').on('data', (d: string) => (received += d));
    socket.on('error', (err) => (failure = err));
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n`);
    let answered = false;
    void ended.then(() => (answered = true));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    // Keep sending, as a client uploading a large body does, until the answer is in and a while after.
    for (let after = 0; after < 16 && !failure; ) {
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r));
      if (answered) after++;
    }
    socket.end();
    await closed;
    expect(failure).toBeUndefined();
    expect(received).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n[^]*\{"error":"missing or wrong bearer token \(api\.token\)"\}\n$/);
    expect(received).toMatch(/\r\nConnection: close\r\n/);
  });

  test('a 413 found while reading (no Content-Length) is answered, then the connection closed', async () => {
    const c = await connect(s.port);
    c.socket.write(`POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = 'x'.repeat(64 * 1024);
    const drip = setInterval(() => c.socket.writable && c.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`), 5);
    await c.closed;
    clearInterval(drip);
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(JSON.parse(c.received().split('\r\n\r\n')[1])).toEqual({ error: 'request body larger than 1000000 bytes' });
  });
});

describe('connection caps', () => {
  let s: Started;
  afterEach(() => s.stop());

  test('300 idle sockets with a cap of 100 do not keep /healthz or /metrics from answering', async () => {
    s = await start({ maxConnections: 100, maxConnectionsPerAddress: 100 });
    const idle: Client[] = [];
    for (let i = 0; i < 300; i++) idle.push(await connect(s.port));
    await settle(s, 100);
    let opened = 0; // connections fetch opens (it may reuse one for both requests)
    s.server.server.on('connection', () => opened++);
    const health = await fetch(`http://127.0.0.1:${s.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`http://127.0.0.1:${s.port}/metrics`)).status).toBe(200);
    // The oldest 200 idle sockets made room, then one more for each connection fetch opened.
    expect(opened).toBeGreaterThanOrEqual(1);
    await Promise.all(idle.slice(0, 200 + opened).map((c) => c.closed));
    expect(idle.slice(200 + opened).map((c) => c.socket.destroyed)).not.toContain(true);
    expect(await closedCount(s, 'evicted')).toBe(200 + opened);
    expect(await closedCount(s, 'limit')).toBe(0);
    expect(await gauge(s)).toBeLessThanOrEqual(100);
    for (const c of idle) c.socket.destroy();
  });

  test('one address at its cap pushes out only its own idle connections', async () => {
    s = await start({ maxConnections: 100, maxConnectionsPerAddress: 5 });
    const other = [await connect(s.port, '127.0.0.3'), await connect(s.port, '127.0.0.3')];
    const flood: Client[] = [];
    for (let i = 0; i < 20; i++) flood.push(await connect(s.port, '127.0.0.2'));
    await settle(s, 7);
    await Promise.all(flood.slice(0, 15).map((c) => c.closed));
    expect(other.map((c) => c.socket.destroyed)).toEqual([false, false]);
    expect(await closedCount(s, 'evicted')).toBe(15);
    for (const c of [...other, ...flood]) c.socket.destroy();
  });

  test('when every connection is busy, a new one is refused and counted', async () => {
    s = await start({ maxConnections: 3, maxConnectionsPerAddress: 2 });
    // Requests in flight: bodies that have not finished arriving.
    const busy = async (localAddress: string) => {
      const c = await connect(s.port, localAddress);
      c.socket.write(`POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
      return c;
    };
    const a = [await busy('127.0.0.2'), await busy('127.0.0.2')];
    await settle(s, 2, 2);
    const third = await connect(s.port, '127.0.0.2');
    await third.closed;
    expect(await closedCount(s, 'per_address_limit')).toBe(1);
    const b = await busy('127.0.0.3');
    await settle(s, 3, 3);
    const fourth = await connect(s.port, '127.0.0.4');
    await fourth.closed;
    expect(await closedCount(s, 'limit')).toBe(1);
    expect(await closedCount(s, 'evicted')).toBe(0);
    expect([...a, b].map((c) => c.socket.destroyed)).toEqual([false, false, false]);
    for (const c of [...a, b]) c.socket.destroy();
  });
});

describe('requests Node refuses itself', () => {
  let s: Started;
  beforeAll(async () => (s = await start({})));
  afterAll(() => s.stop());

  test.each([
    ['malformed request line', 'NOT HTTP AT ALL\r\n\r\n', 400],
    ['65 KB URL', `GET /${'a'.repeat(65 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
    ['CONNECT (Node would drop it without an answer)', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405],
  ])('%s: a JSON error, then the connection closed', async (_name, request, status) => {
    const c = await connect(s.port);
    c.socket.write(request);
    await c.closed;
    expect(c.received()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(JSON.parse(c.received().split('\r\n\r\n')[1]).error).toEqual(expect.any(String));
  });

  test('a HEAD Node refuses gets the status without a body', async () => {
    const c = await connect(s.port);
    c.socket.write(`HEAD /${'a'.repeat(65 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 431 [^]*\r\nContent-Length: 0\r\n[^]*\r\n\r\n$/);
  });
});

test('agent.http: defaults, and limits that contradict each other are refused', () => {
  expect(httpLimitsSchema.parse({})).toEqual({ maxConnections: 256, maxConnectionsPerAddress: 32, headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 });
  const r = httpLimitsSchema.safeParse({ maxConnections: 10, maxConnectionsPerAddress: 20, headersTimeout: '1m', requestTimeout: '30s' });
  expect(r.success).toBe(false);
  expect(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
    'maxConnectionsPerAddress: must not exceed maxConnections',
    'headersTimeout: must not exceed requestTimeout (the headers are part of the request)',
  ]);
});
