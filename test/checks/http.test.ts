import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CA_FILE_MAX_BYTES, httpCheck } from '../../checks/http';
import { MAX_BODY_BYTES } from '../../checks/http/body';
import { compileJsonPath } from '../../checks/http/json-path';
import { loadConfigText } from '../../agent/config/load';
import { ConfigError, formatProblem } from '../../agent/errors';
import { judge, parseCondition, Status } from '../../agent/evaluate';
import { fieldsOf, runCheck, settlesAtOnce, startRun } from '../helpers/check';
import { closedPort, makeCert, startHttp, startHttps, type TestCert, type TestServer } from '../helpers/servers';

let server: TestServer;
let tlsServer: TestServer;
let cert: TestCert;
let hugeSent = 0;
/** Settles when the server sees the client hang up on the /huge response. */
let hugeHungUp: Promise<void> = Promise.resolve();
/** Called when /slow has a request, which it never answers. */
let slowHeld = () => undefined as void;
const seen: { method?: string; headers?: Record<string, unknown>; body?: string } = {};

beforeAll(async () => {
  server = await startHttp((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      switch (url.pathname) {
        case '/ok':
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end('all systems go');
          return;
        case '/echo':
          Object.assign(seen, { method: req.method, headers: req.headers, body });
          res.writeHead(201).end('created');
          return;
        case '/fail':
          res.writeHead(500).end('boom');
          return;
        case '/slow':
          slowHeld(); // never answered: the server's sockets are destroyed when it closes
          return;
        case '/redirect':
          res.writeHead(302, { Location: '/ok' }).end();
          return;
        case '/to-echo':
          res.writeHead(302, { Location: '/echo' }).end();
          return;
        case '/see-other':
          res.writeHead(303, { Location: '/echo' }).end();
          return;
        case '/to-other-host':
          res.writeHead(302, { Location: `http://localhost:${server.port}/echo` }).end();
          return;
        case '/loop':
          res.writeHead(302, { Location: '/loop' }).end();
          return;
        case '/json':
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(
            JSON.stringify({ status: 'UP', db: { connections: 7, ok: true }, items: [{ id: 'a' }, { id: 'b' }] }),
          );
          return;
        case '/huge': {
          // 20 MB in 64 KB chunks: far more than the cap; the check must stop reading early.
          res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
          const chunk = Buffer.alloc(64 * 1024, 'x');
          hugeSent = 0;
          let closed = false;
          const pump = () => {
            while (!closed && hugeSent < 320) {
              hugeSent++;
              if (!res.write(chunk)) return void res.once('drain', pump);
            }
            res.end();
          };
          hugeHungUp = new Promise((resolve) => res.on('close', () => {
            closed = true;
            resolve();
          }));
          pump();
          return;
        }
        default:
          res.writeHead(404).end('not found');
      }
    });
  });
  cert = makeCert(30);
  tlsServer = await startHttps(cert, (_req, res) => res.writeHead(200).end('secure hello'));
});

afterAll(async () => {
  await server.close();
  await tlsServer.close();
  fs.rmSync(cert.dir, { recursive: true, force: true });
});

function rules(raw: Record<string, unknown>, warn: string[] = [], crit?: string[]) {
  const fields = fieldsOf(httpCheck, raw);
  const spec = httpCheck.schema.parse(raw);
  const defaults = typeof httpCheck.defaults === 'function' ? httpCheck.defaults(spec) : httpCheck.defaults!;
  return {
    warn: warn.map((c) => parseCondition(c, fields)),
    crit: (crit ?? defaults.crit ?? []).map((c) => parseCondition(c, fields)),
  };
}

describe('http check against a real local server', () => {
  test('200: status, latency and body size; ok by default thresholds', async () => {
    const raw = { url: `${server.url}/ok` };
    const t0 = performance.now();
    const obs = await runCheck(httpCheck, raw);
    const elapsedMs = performance.now() - t0;
    expect(obs.up).not.toBe(false);
    expect(obs.values.status).toBe(200);
    expect(obs.values.bodyBytes).toBe('all systems go'.length);
    // Milliseconds, measured within the run.
    expect(obs.values.latencyMs).toBeGreaterThan(0);
    expect(obs.values.latencyMs).toBeLessThanOrEqual(elapsedMs);
    expect(obs.values.certDaysLeft).toBeUndefined();
    expect(judge(obs, rules(raw)).status).toBe(Status.Ok);
  });

  test('500 is critical with reason status', async () => {
    const raw = { url: `${server.url}/fail` };
    const obs = await runCheck(httpCheck, raw);
    expect(obs.values.status).toBe(500);
    expect(judge(obs, rules(raw))).toEqual({ status: Status.Critical, reason: 'status', condition: 'status >= 400' });
  });

  test('method, headers and a JSON body are sent as configured', async () => {
    const obs = await runCheck(httpCheck, {
      url: `${server.url}/echo`,
      method: 'POST',
      headers: { 'X-Probe': 'yes' },
      body: { hello: 'world' },
    });
    expect(obs.values.status).toBe(201);
    expect(seen.method).toBe('POST');
    expect(seen.headers?.['x-probe']).toBe('yes');
    expect(seen.headers?.['content-type']).toBe('application/json');
    expect(JSON.parse(seen.body ?? '')).toEqual({ hello: 'world' });
  });

  test('a configured Authorization header wins over credentials in the URL; alone, they become Basic', async () => {
    const withCreds = `http://probe:s3cret-pass@127.0.0.1:${server.port}/echo`;
    await runCheck(httpCheck, { url: withCreds, headers: { authorization: 'Bearer configured-token' } });
    expect(seen.headers?.authorization).toBe('Bearer configured-token');
    await runCheck(httpCheck, { url: withCreds });
    expect(seen.headers?.authorization).toBe(`Basic ${Buffer.from('probe:s3cret-pass').toString('base64')}`);
  });

  test('a server slower than the timeout gives a timeout, promptly', async () => {
    const held = new Promise<void>((resolve) => (slowHeld = resolve));
    const { run, abort } = startRun(httpCheck, { url: `${server.url}/slow` }, { timeoutMs: 300 });
    await held; // the request is in, and the server sits on it
    abort(); // the timeout
    expect(await settlesAtOnce(run)).toBe(true);
    const obs = await run;
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('timeout');
  });

  test('connection refused is a down target with reason refused', async () => {
    const port = await closedPort();
    const obs = await runCheck(httpCheck, { url: `http://127.0.0.1:${port}/` });
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('refused');
    expect(obs.message).toMatch(/ECONNREFUSED/);
  });

  test('redirects are followed and counted, or not followed when disabled', async () => {
    const followed = await runCheck(httpCheck, { url: `${server.url}/redirect` });
    expect(followed.values.status).toBe(200);
    expect(followed.values.redirects).toBe(1);
    const notFollowed = await runCheck(httpCheck, { url: `${server.url}/redirect`, followRedirects: false });
    expect(notFollowed.values.status).toBe(302);
    expect(notFollowed.values.redirects).toBe(0);
    const loop = await runCheck(httpCheck, { url: `${server.url}/loop`, maxRedirects: 3 });
    expect(loop.up).toBe(false);
    expect(loop.message).toMatch(/redirect/i);
  });

  test('a 303 after a POST continues as a GET without the body', async () => {
    const obs = await runCheck(httpCheck, { url: `${server.url}/see-other`, method: 'POST', body: { a: 1 } });
    expect(obs.values).toMatchObject({ status: 201, redirects: 1 });
    expect(seen.method).toBe('GET');
    expect(seen.body).toBe('');
    expect(seen.headers?.['content-type']).toBeUndefined();
  });

  test('secret headers follow a redirect on the same host but not to another host', async () => {
    const headers = { 'X-Api-Key': 'k-123', 'Private-Token': 't-456', 'X-Trace': 'visible' };
    await runCheck(httpCheck, { url: `${server.url}/to-echo`, headers });
    expect(seen.headers).toMatchObject({ 'x-api-key': 'k-123', 'private-token': 't-456', 'x-trace': 'visible' });
    await runCheck(httpCheck, { url: `${server.url}/to-other-host`, headers });
    expect(seen.headers?.host).toBe(`localhost:${server.port}`);
    expect(seen.headers?.['x-trace']).toBe('visible');
    expect(seen.headers?.['x-api-key']).toBeUndefined();
    expect(seen.headers?.['private-token']).toBeUndefined();
  });

  test('https spoken to a plain http port fails with reason tls and a one-line message', async () => {
    const obs = await runCheck(httpCheck, { url: server.url.replace('http:', 'https:') + '/ok' });
    expect(obs).toMatchObject({ up: false, failure: 'tls' });
    expect(obs.message).not.toContain('\n');
  });

  test('a huge body is read only up to maxBodySize and flagged truncated', async () => {
    const raw = { url: `${server.url}/huge`, maxBodySize: '256KB', bodyContains: 'xxxx' };
    const obs = await runCheck(httpCheck, raw);
    expect(obs.values.status).toBe(200);
    expect(obs.values.bodyBytes).toBe(256_000);
    expect(obs.values.bodyTruncated).toBe(true);
    expect(obs.values.matches).toBe(true);
    // The check hung up: the server got nowhere near writing all 20 MB.
    await hugeHungUp;
    expect(hugeSent).toBeLessThan(100);
  });

  test('bodyContains and bodyRegex set matches; a miss is critical with reason body', async () => {
    const hit = { url: `${server.url}/ok`, bodyContains: 'systems', bodyRegex: '^all .* go$' };
    const hitObs = await runCheck(httpCheck, hit);
    expect(hitObs.values.matches).toBe(true);
    expect(judge(hitObs, rules(hit)).status).toBe(Status.Ok);
    const miss = { url: `${server.url}/ok`, bodyContains: 'degraded' };
    const missObs = await runCheck(httpCheck, miss);
    expect(missObs.values.matches).toBe(false);
    expect(judge(missObs, rules(miss))).toMatchObject({ status: Status.Critical, reason: 'body' });
  });

  test('json paths become values that conditions can judge', async () => {
    const raw = { url: `${server.url}/json`, json: { state: '$.status', conns: 'db.connections', dbOk: '$.db.ok', second: 'items[1].id', n: 'items.length', gone: '$.nope' } };
    const obs = await runCheck(httpCheck, raw);
    expect(obs.values).toMatchObject({ state: 'UP', conns: 7, dbOk: true, second: 'b', n: 2 });
    expect(obs.values.gone).toBeUndefined();
    expect(judge(obs, rules(raw, ['conns > 5'], ['state != UP'])).status).toBe(Status.Warning);
    expect(judge(obs, rules(raw, [], ['state != "UP"', 'dbOk == false'])).status).toBe(Status.Ok);
  });

  test('https: certDaysLeft from the served certificate with insecure: true', async () => {
    const obs = await runCheck(httpCheck, { url: tlsServer.url, insecure: true });
    expect(obs.values.status).toBe(200);
    expect(obs.values.certDaysLeft).toBeGreaterThan(29);
    expect(obs.values.certDaysLeft).toBeLessThanOrEqual(30);
    expect(judge(obs, rules({ url: tlsServer.url }, [], ['certDaysLeft < 14d'])).status).toBe(Status.Ok);
    expect(judge(obs, rules({ url: tlsServer.url }, [], ['certDaysLeft < 60d'])).status).toBe(Status.Critical);
  });

  test('https: an untrusted certificate fails with reason tls unless trusted via caFile', async () => {
    const bad = await runCheck(httpCheck, { url: tlsServer.url });
    expect(bad.up).toBe(false);
    expect(bad.failure).toBe('tls');
    const trusted = await runCheck(httpCheck, { url: tlsServer.url, caFile: cert.certFile });
    expect(trusted.values.status).toBe(200);
  });

  // readFileSync on the event loop would freeze the whole agent on the FIFO (waiting for a
  // writer) and read /dev/zero until memory ran out; these must be a prompt, clear unknown.
  test('a caFile that is a FIFO, a device or too large makes the run fail at once with the reason', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-ca-'));
    try {
      const fifo = path.join(dir, 'ca.fifo');
      execFileSync('mkfifo', [fifo]);
      const big = path.join(dir, 'big.pem');
      fs.writeFileSync(big, Buffer.alloc(CA_FILE_MAX_BYTES + 1, 'A'));
      // Opening the FIFO would wait for a writer forever: that these settle at all is the point.
      await expect(runCheck(httpCheck, { url: tlsServer.url, caFile: fifo })).rejects.toThrow(`http check: cannot read caFile ${fifo}: not a regular file (a FIFO)`);
      await expect(runCheck(httpCheck, { url: tlsServer.url, caFile: '/dev/zero' })).rejects.toThrow('cannot read caFile /dev/zero: not a regular file (a character device)');
      await expect(runCheck(httpCheck, { url: tlsServer.url, caFile: big })).rejects.toThrow(`cannot read caFile ${big}: larger than the 1 MiB limit (1048577 bytes)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('http check config', () => {
  test('maxBodySize is at most 64MiB: above it is a located config error', () => {
    expect(httpCheck.schema.parse({ url: 'http://x', maxBodySize: '64MiB' }).maxBodySize).toBe(MAX_BODY_BYTES);
    expect(httpCheck.schema.safeParse({ url: 'http://x', maxBodySize: '1GB' }).error?.issues[0].message).toBe('must be at most 64MiB (67108864 bytes)');
    let problems: string[] = [];
    try {
      loadConfigText('checks:\n  - name: big\n    type: http\n    url: http://x/\n    maxBodySize: 1GB\n    bodyContains: ok\n', 'kw.yaml', { env: {} });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems.map(formatProblem);
    }
    expect(problems).toEqual(['kw.yaml:5:18: checks[0].maxBodySize: must be at most 64MiB (67108864 bytes)']);
  });

  test('rejects non-http URLs, bad regexes, bad JSON paths and json names that shadow built-ins', () => {
    expect(httpCheck.schema.safeParse({ url: 'ftp://x' }).success).toBe(false);
    expect(httpCheck.schema.safeParse({ url: 'http://x', bodyRegex: '(' }).success).toBe(false);
    expect(httpCheck.schema.safeParse({ url: 'http://x', json: { a: 'a..b' } }).success).toBe(false);
    expect(httpCheck.schema.safeParse({ url: 'http://x', json: { status: '$.s' } }).success).toBe(false);
    expect(httpCheck.schema.safeParse({ url: 'https://x', caFile: '/no/such/ca.pem' }).error?.issues[0].message).toBe('file not found or not readable');
    expect(httpCheck.schema.parse({ url: 'http://x', maxBodySize: '2MiB' }).maxBodySize).toBe(2 * 1024 * 1024);
  });

  test('json values are fields conditions may name', () => {
    const fields = fieldsOf(httpCheck, { url: 'http://x', json: { state: '$.status' } });
    expect(() => parseCondition('state == UP', fields)).not.toThrow();
    expect(() => parseCondition('stat == UP', fields)).toThrow(/did you mean "state"/);
  });
});

describe('json path', () => {
  test.each([
    ['$.a.b', { a: { b: 1 } }, 1],
    ['a.b', { a: { b: 1 } }, 1],
    ['$["odd key"]', { 'odd key': 'v' }, 'v'],
    ['list[-1]', { list: [1, 2, 3] }, 3],
    ['list.length', { list: [1, 2, 3] }, 3],
    ['$.missing.deeper', { a: 1 }, undefined],
    ['$[0].id', [{ id: 'x' }], 'x'],
  ])('%s', (path, doc, expected) => {
    expect(compileJsonPath(path)(doc)).toEqual(expected);
  });

  test('malformed paths throw', () => {
    expect(() => compileJsonPath('a..b')).toThrow(/bad JSON path/);
    expect(() => compileJsonPath('a[x]')).toThrow(/bad JSON path/);
  });
});
