import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { eventually, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { closedPort } from '../helpers/servers';

/**
 * The API under random input, against the built daemon: methods, paths (traversal,
 * %-encoding, very long), headers, content types and bodies (malformed JSON, huge numbers,
 * deep nesting, wrong types), with and without the token. Never a 5xx, never a stack trace,
 * every error a JSON {error}, and the daemon alive afterwards; then a connection flood.
 */

const TOKEN = 'fuzz-admin-token-0123456789';
const READ_TOKEN = 'fuzz-read-token-9876543210';
const RUNS = 2500;
const SEED = 20_250_901;

let dir: ReturnType<typeof tempDir>;
let daemon: Daemon;

beforeAll(async () => {
  dir = tempDir();
  const file = path.join(dir.dir, 'keepwatch.yaml');
  const closed = await closedPort();
  fs.writeFileSync(file, [
    `agent: { name: fuzz, listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
    `api: { token: "${TOKEN}", readToken: "${READ_TOKEN}" }`,
    'incidents: { openAfter: 1, resolveAfter: 1 }',
    'checks:',
    `  - { name: dead, type: tcp, host: 127.0.0.1, port: ${closed}, every: 1h, timeout: 1s }`,
    '  - { name: disk, type: disk, mount: /, every: 1h }',
  ].join('\n'));
  daemon = await startDaemon(['--config', file]);
});

afterAll(async () => {
  agent.destroy();
  await daemon?.stop('SIGKILL');
  dir?.cleanup();
});

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** Sends one request as given (no normalisation of the path); rejects on a connection error. */
function send(port: number, r: Sent, timeoutMs = 15_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers: r.headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms (a hang)`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

const segment = fc.oneof(
  fc.constantFrom('api', 'v1', 'checks', 'incidents', 'silences', 'kpis', 'run', 'ack', 'resolve', 'metrics', 'healthz', 'readyz', '-', 'reload', 'dead', 'disk', '1', '0', '-1', '99999999999999999999'),
  fc.constantFrom('..', '.', '%2e%2e', '%2E%2E%2F', '..%2f..%2fetc%2fpasswd', '%00', '%', '%E0%A4%A', '%ZZ', '%ff%fe', '~root', ';', 'a b', '%20', '\u00e9', '%F0%9F%92%A9', ''),
  fc.stringMatching(/^[A-Za-z0-9_.~:@!$&'()*+,;=-]{1,20}$/),
  fc.integer({ min: -5, max: 1e12 }).map(String),
);

/** The routes, with the method each takes, so that most requests get past routing to the handlers. */
const route = fc.constantFrom<[string, string]>(
  ['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/metrics'], ['GET', '/api/v1/checks'], ['GET', '/api/v1/checks/dead'],
  ['POST', '/api/v1/checks/dead/run'], ['POST', '/api/v1/checks/disk%3A%2F/run'], ['GET', '/api/v1/incidents'], ['GET', '/api/v1/incidents/1'],
  ['POST', '/api/v1/incidents/1/ack'], ['POST', '/api/v1/incidents/1/resolve'], ['POST', '/api/v1/incidents/2/ack'], ['POST', '/api/v1/silences'],
  ['POST', '/api/v1/silences'], ['POST', '/api/v1/silences'], ['GET', '/api/v1/silences'], ['DELETE', '/api/v1/silences/x'], ['GET', '/api/v1/kpis'],
  ['POST', '/-/reload'],
);
const knownPath = route.map(([, p]) => p);

const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?state=open', '?state=closed', '?limit=0', '?limit=1e3', '?limit=99999999999999999999', '?limit=-1', '?limit=abc', '?all=true', '?check=%00', '?state=open&state=resolved', '?%zz=1', '?limit=5&check=dead'),
  fc.stringMatching(/^\?[A-Za-z0-9=&%._-]{0,40}$/),
);

const pathArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(knownPath, query).map(([p, q]) => p + q) },
  { weight: 3, arbitrary: fc.tuple(fc.array(segment, { minLength: 0, maxLength: 8 }), query).map(([s, q]) => `/${s.map((x) => encodeURI(x).replace(/%25/g, '%')).join('/')}${q}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 70_000 }).map((n) => `/api/v1/checks/${'a'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', '//api//v1//checks', '/api/v1/checks/', '/../../../../etc/passwd', '/api/v1/checks/..%2F..%2F..%2Fetc%2Fpasswd', 'http://evil.example/healthz', '/%2e%2e/%2e%2e/metrics') },
);

const nested = (depth: number, open: string, close: string) => open.repeat(depth) + close.repeat(depth);

const jsonValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER, -0, 0.1, 1e-320),
  fc.string({ maxLength: 50 }),
);

const silenceLike = fc.record(
  {
    check: fc.oneof(fc.constantFrom('dead', '*', 'd*', '', 'x'.repeat(3000)), jsonValue),
    checks: fc.oneof(fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), jsonValue),
    for: fc.oneof(fc.constantFrom('2h', '1ms', '0s', '999999999d', '1e308', 'soon', '-1h', '1h30m'), fc.double(), fc.integer()),
    startsAt: fc.oneof(fc.constantFrom('2024-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '9999-12-31T23:59:59Z', 'yesterday', '2024-13-45T99:99:99Z'), jsonValue),
    endsAt: fc.oneof(fc.constantFrom('2099-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '+275760-09-13T00:00:00.001Z'), jsonValue),
    comment: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('x'.repeat(2500)), jsonValue),
    createdBy: fc.oneof(fc.string({ maxLength: 10 }), jsonValue),
    labels: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }), jsonValue),
    by: fc.oneof(fc.string({ maxLength: 10 }), jsonValue),
  },
  { requiredKeys: [] },
);

/** Bodies a handler accepts, so that the fuzz also walks the paths that change state. */
const validBody = fc.oneof(
  fc.record({ check: fc.constantFrom('dead', 'd*', 'disk:/'), for: fc.constantFrom('1h', '2m', '90s', 1e308, '999999999d'), comment: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ by: fc.string({ minLength: 1, maxLength: 20 }), comment: fc.string({ maxLength: 20 }) }, { requiredKeys: [] }),
);

const bodyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: validBody.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n', 'null', '{}', '[]', '0', '"str"', 'true') },
  { weight: 5, arbitrary: silenceLike.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('{"by": ', '{"by":"a",}', "{'by':'a'}", '{"by":"\\ud800"}', '\u0000', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '1e999999', '-1e400', '123456789012345678901234567890', '{"for":1e999}') },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }).map((d) => nested(d, '[', ']')) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 50_000 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`) },
  { weight: 1, arbitrary: fc.constantFrom(1_000_000, 1_000_001, 1_500_000).map((n) => `"${'x'.repeat(n - 2)}"`) },
);

const contentType = fc.constantFrom(
  undefined, 'application/json', 'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=latin1', 'text/plain',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'application/problem+json', ';', 'a'.repeat(500),
);

const authorization = fc.constantFrom(
  undefined, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${READ_TOKEN}`, 'Bearer wrong', `bearer   ${TOKEN}  `, 'Bearer', 'Basic Og==',
  `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${'t'.repeat(8000)}`, 'Digest x',
);

const anyMethod = fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD', 'PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'BREW');

const target = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(route, query).map(([[m, p], q]) => ({ method: m, path: p + q })) },
  { weight: 2, arbitrary: fc.record({ method: anyMethod, path: pathArb }) },
);

const toSent = ({ method, path: p, contentType: ct, authorization: auth, extra = {}, expect = null, body }: {
  method: string; path: string; contentType?: string; authorization?: string; extra?: Record<string, string>; expect?: string | null; body?: string;
}): Sent => {
  const headers: Record<string, string> = { ...extra };
  if (ct !== undefined) headers['Content-Type'] = ct;
  if (auth !== undefined) headers.Authorization = auth;
  if (expect !== null) headers.Expect = expect;
  if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
  return { method, path: p, headers, body };
};

/** Anything at all. */
const wild = fc
  .record({
    target,
    contentType,
    authorization,
    extra: fc.dictionary(fc.stringMatching(/^X-[A-Za-z-]{1,12}$/), fc.stringMatching(/^[ -~]{0,60}$/), { maxKeys: 3 }),
    expect: fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constant('teapot') }),
    body: bodyArb,
  })
  .map(({ target: t, ...rest }) => toSent({ ...t, ...rest }));

/** A real client's request (a route, the admin token, JSON) with a body anywhere from valid to hostile: reaches the handlers. */
const proper = fc
  .record({ route, query, body: fc.oneof(validBody.map((v) => JSON.stringify(v)), bodyArb) })
  .map(({ route: [method, p], query: q, body }) =>
    toSent({ method, path: p + q, contentType: 'application/json', authorization: `Bearer ${TOKEN}`, body: method === 'GET' ? undefined : body }),
  );

const requestArb = fc.oneof(wild, proper);

/** What may end in a closed connection instead of an answer: the server answers early and closes while the client still sends. */
const mayBeCut = (r: Sent) => r.path.length > 16_000 || Buffer.byteLength(r.body ?? '') > 1_000_000 || Buffer.byteLength(r.headers.Authorization ?? '') > 8_000;

const STACK = /\n\s+at .+\(.*:\d+:\d+\)|\bat [\w.<>]+ \(\/|node:internal|\.ts:\d+:\d+|\.js:\d+:\d+/;

test('a few thousand random requests: never a 5xx, never a stack trace, every error JSON {error}; the daemon lives', async () => {
  const statuses = new Map<number, number>();
  let cut = 0;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(requestArb, async (r) => {
      let a: Answer;
      try {
        a = await send(daemon.port, r);
      } catch (err) {
        if (mayBeCut(r) && /ECONNRESET|EPIPE|socket hang up/.test(String(err))) {
          cut++;
          return;
        }
        throw err;
      }
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      expect(a.status).toBeGreaterThanOrEqual(200);
      expect(a.status).toBeLessThan(500);
      expect(a.body).not.toMatch(STACK);
      if (a.status >= 400 && r.method !== 'HEAD') {
        expect(a.headers['content-type']).toMatch(/^application\/json/);
        expect(JSON.parse(a.body)).toEqual(expect.objectContaining({ error: expect.any(String) }));
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  const seconds = (Date.now() - started) / 1000;
  expect(daemon.child.exitCode).toBeNull();
  expect((await send(daemon.port, { method: 'GET', path: '/healthz', headers: {} })).status).toBe(200);
  expect(daemon.logs.filter((l) => /request failed|uncaught|unhandled/.test(l))).toEqual([]);
  const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
  const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([s, c]) => `${s}:${c}`).join(' ');
  console.log(`reliability: api-fuzz ${RUNS} requests (seed ${SEED}) in ${seconds.toFixed(1)} s, ${fivexx} 5xx, 0 stack traces, ${cut} cut while sending an oversized request; statuses ${byStatus}`);
});

test('a flood of silent sockets: /healthz and /metrics still answer and the open connections stay capped', async () => {
  const FLOOD = 600;
  const fds = () => fs.readdirSync(`/proc/${daemon.child.pid}/fd`).length;
  const fdsBefore = fds();
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < FLOOD; i++) {
      const s = net.connect({ port: daemon.port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 20)}` });
      s.on('error', () => undefined); // evicted sockets may see a reset
      await new Promise((r) => s.once('connect', r).once('close', r));
      sockets.push(s);
    }
    const started = Date.now();
    const health = await send(daemon.port, { method: 'GET', path: '/healthz', headers: {} });
    const healthMs = Date.now() - started;
    expect(health.status).toBe(200);
    const metrics = await send(daemon.port, { method: 'GET', path: '/metrics', headers: {} });
    expect(metrics.status).toBe(200);
    const open = Number(/^keepwatch_http_connections (\d+)$/m.exec(metrics.body)?.[1]);
    const evicted = Number(/^keepwatch_http_connections_closed_total\{reason="evicted"\} (\d+)$/m.exec(metrics.body)?.[1]);
    expect(open).toBeLessThanOrEqual(256);
    expect(evicted).toBeGreaterThanOrEqual(FLOOD - 256);
    const fdsDuring = fds();
    expect(fdsDuring - fdsBefore).toBeLessThanOrEqual(256 + 8);
    console.log(`reliability: connection flood ${FLOOD} silent sockets from 20 addresses: /healthz 200 in ${healthMs} ms, ${open} open (cap 256), ${evicted} evicted, daemon fds ${fdsBefore} -> ${fdsDuring}`);
  } finally {
    for (const s of sockets) s.destroy();
  }
  await eventually(async () => (await send(daemon.port, { method: 'GET', path: '/healthz', headers: {} })).status === 200, 10_000, '/healthz after the flood');
});
