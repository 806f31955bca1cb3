import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { httpCheck } from '../../checks/http';
import { ContainsMatcher, MAX_BODY_BYTES, readBody, RegexMatcher } from '../../checks/http/body';
import { compileJsonPath } from '../../checks/http/json-path';
import { loadConfigText } from '../../agent/config/load';
import { ConfigError, formatProblem } from '../../agent/errors';
import { judge, parseCondition, Status } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { runCheckOnce } from '../../agent/runner';
import { setSecrets } from '../../agent/secrets';
import { fieldsOf, runCheck } from '../helpers/check';
import http from 'node:http';
import { closedPort, makeCert, startHttp, startHttps, type TestCert, type TestServer } from '../helpers/servers';

let server: TestServer;
let tlsServer: TestServer;
let cert: TestCert;
let hugeSent = 0;
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
          setTimeout(() => res.writeHead(200).end('late'), 3000).unref();
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
          res.on('close', () => (closed = true));
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
    const obs = await runCheck(httpCheck, raw);
    expect(obs.up).not.toBe(false);
    expect(obs.values.status).toBe(200);
    expect(obs.values.bodyBytes).toBe('all systems go'.length);
    expect(obs.values.latencyMs).toBeGreaterThan(0);
    expect(obs.values.latencyMs).toBeLessThan(2000);
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

  test('a server slower than the timeout gives a timeout, promptly', async () => {
    const t0 = Date.now();
    const obs = await runCheck(httpCheck, { url: `${server.url}/slow` }, { timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(1500);
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
    await new Promise((r) => setTimeout(r, 200));
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
});

/** A response of `bytes` bytes of 'x' from one reused 1 MiB buffer, with `needle` ending at `at`. */
function streamed(bytes: number, needle: string, at: number): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const x = Buffer.alloc(1 << 20, 'x');
    let sent = 0;
    let closed = false;
    res.on('close', () => (closed = true));
    const pump = () => {
      while (!closed && sent < bytes) {
        let chunk = x.subarray(0, Math.min(x.length, bytes - sent));
        const end = sent + chunk.length;
        if (at > sent && at - needle.length < end) {
          // The chunk that holds (part of) the needle is a copy; the rest reuse one buffer.
          chunk = Buffer.from(chunk);
          const from = at - needle.length - sent;
          Buffer.from(needle).copy(chunk, Math.max(0, from), Math.max(0, -from));
        }
        sent = end;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  };
}

describe('large bodies', () => {
  test('600 MiB: bodyContains and bodyRegex match over the stream; no giant string is built', async () => {
    const size = 600 * (1 << 20);
    const big = await startHttp(streamed(size, 'the-end-marker', size - 3));
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${big.url}/`, resolve).on('error', reject));
      const got = await readBody(res, Number.MAX_SAFE_INTEGER, { contains: 'the-end-marker', regex: /end-mark/, text: false }, new AbortController().signal);
      expect(got).toEqual({ bytes: size, truncated: false, contains: true, regex: true, text: undefined });
    } finally {
      await big.close();
    }
  });

  test('the check reads at most maxBodySize (64MiB at most) of a huge body and matches within it', async () => {
    const big = await startHttp(streamed(500 * (1 << 20), 'marker-at-60MiB', 60 * (1 << 20)));
    try {
      const raw = { url: `${big.url}/`, maxBodySize: '64MiB', bodyContains: 'marker-at-60MiB', bodyRegex: 'marker-at-\\d+MiB' };
      const obs = await runCheck(httpCheck, raw, { timeoutMs: 30_000 });
      expect(obs.values).toMatchObject({ status: 200, bodyBytes: MAX_BODY_BYTES, bodyTruncated: true, matches: true });
      const miss = await runCheck(httpCheck, { ...raw, maxBodySize: '50MiB' }, { timeoutMs: 30_000 });
      expect(miss.values).toMatchObject({ bodyBytes: 50 * (1 << 20), bodyTruncated: true, matches: false });
    } finally {
      await big.close();
    }
  });

  test('a match split across chunks is found wherever the split falls', () => {
    const body = Buffer.from('aaaa NEEDLE-é-123 bbbb');
    for (let cut = 0; cut <= body.length; cut++) {
      for (let cut2 = cut; cut2 <= body.length; cut2++) {
        const parts = [body.subarray(0, cut), body.subarray(cut, cut2), body.subarray(cut2)];
        const c = new ContainsMatcher('NEEDLE-é-123');
        const r = new RegexMatcher(/NEEDLE-é-\d+ b/);
        for (const part of parts) {
          c.push(part);
          r.push(part);
        }
        r.end();
        expect([cut, cut2, c.found, r.found]).toEqual([cut, cut2, true, true]);
      }
    }
    const miss = new ContainsMatcher('NEEDLE-x');
    for (const part of [body.subarray(0, 9), body.subarray(9)]) miss.push(part);
    expect(miss.found).toBe(false);
    expect(new ContainsMatcher('').found).toBe(true);
  });

  test('bodyRegex over windows: a body within one window is tested whole; beyond, windows overlap', () => {
    const run = (text: string, re: RegExp, chunk = 3) => {
      const m = new RegexMatcher(re, 16, 4);
      const buf = Buffer.from(text);
      for (let i = 0; i < buf.length; i += chunk) m.push(buf.subarray(i, i + chunk));
      m.end();
      return m.found;
    };
    expect(run('start of a body', /^start.*body$/)).toBe(true); // one window: exact semantics
    expect(run('', /^$/)).toBe(true);
    expect(run('0123456789abcdefXYZ', /efXY/)).toBe(true); // across the seam, within the overlap
    expect(run('0123456789abcdefghijklmnopqrstuvwxyz', /xyz$/)).toBe(true); // the last, short window
    expect(run('0123456789abcdefghijklmnopqrstuvwxyz', /9abcdefghijklmno/)).toBe(false); // longer than a window: documented miss
  });

  test('a stream that fails or an abort rejects; late stream errors after the answer are dropped', async () => {
    const failing = new PassThrough();
    const p = readBody(failing, 100, { text: false }, new AbortController().signal);
    failing.destroy(new Error('ECONNRESET'));
    await expect(p).rejects.toThrow('ECONNRESET');

    const slow = new PassThrough();
    const ac = new AbortController();
    const q = readBody(slow, 100, { contains: 'x', text: false }, ac.signal);
    ac.abort(new Error('timed out'));
    await expect(q).rejects.toThrow('timed out');

    const done = new PassThrough();
    const r = readBody(done, 4, { text: true }, new AbortController().signal);
    done.write('hello');
    await expect(r).resolves.toEqual({ bytes: 4, truncated: true, text: 'hell', contains: undefined, regex: undefined });
    done.emit('error', new Error('after the answer')); // no listener left would crash the process
    expect(Readable.prototype.listenerCount.call(done, 'error')).toBeGreaterThan(0);
  });
});

describe('secrets and redirects to another host', () => {
  let other: TestServer;
  let otherSeen: http.IncomingHttpHeaders | undefined;
  let first: TestServer;
  beforeAll(async () => {
    other = await startHttp((req, res) => {
      otherSeen = req.headers;
      res.writeHead(200).end('ok');
    });
    first = await startHttp((req, res) => {
      if (req.url === '/same') return void res.writeHead(302, { Location: `http://127.0.0.1:${first.port}/echo` }).end();
      if (req.url === '/echo') {
        otherSeen = req.headers;
        return void res.writeHead(200).end('ok');
      }
      res.writeHead(302, { Location: `http://localhost:${other.port}/landing` }).end();
    });
  });
  afterAll(async () => {
    await other.close();
    await first.close();
  });

  test('headers whose value holds a configured secret are dropped on a redirect to another host, whatever their name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-http-secret-'));
    const secretFile = path.join(dir, 'token');
    fs.writeFileSync(secretFile, 'file-secret-9f8e7d\n');
    const yaml = [
      'checks:',
      '  - name: redirecting',
      '    type: http',
      `    url: http://127.0.0.1:${first.port}/away`,
      '    headers:',
      '      X-Other: "${MY_DB_PASSWORD}"',
      `      X-File: "\${file:${secretFile}}"`,
      '      X-Mixed: "user=app;pw=${MY_DB_PASSWORD}"',
      '      X-Trace: visible',
    ].join('\n');
    const config = loadConfigText(yaml, 'kw.yaml', { env: { MY_DB_PASSWORD: 'db-pass-4b3c2a' } });
    setSecrets(config.secrets);
    const log = createLogger({ level: 'silent' });
    try {
      const [check] = config.checks;
      const away = await runCheckOnce(check, { log });
      expect(away).toMatchObject({ statusText: 'ok', values: { status: 200, redirects: 1 } });
      expect(otherSeen?.host).toBe(`localhost:${other.port}`);
      expect(otherSeen?.['x-trace']).toBe('visible');
      for (const h of ['x-other', 'x-file', 'x-mixed']) expect(otherSeen?.[h]).toBeUndefined();
      expect(JSON.stringify(otherSeen)).not.toMatch(/db-pass|file-secret/);

      // The same host gets them all.
      const same = await runCheckOnce({ ...check, spec: { ...check.spec, url: `http://127.0.0.1:${first.port}/same` } }, { log });
      expect(same.statusText).toBe('ok');
      expect(otherSeen).toMatchObject({ 'x-other': 'db-pass-4b3c2a', 'x-file': 'file-secret-9f8e7d', 'x-mixed': 'user=app;pw=db-pass-4b3c2a' });
    } finally {
      setSecrets([]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without the agent telling it which values are secret, only secret-looking names are dropped', async () => {
    await runCheck(httpCheck, { url: `http://127.0.0.1:${first.port}/away`, headers: { 'X-Other': 'plain', Authorization: 'Bearer t' } });
    expect(otherSeen?.['x-other']).toBe('plain');
    expect(otherSeen?.authorization).toBeUndefined();
    await runCheck(httpCheck, { url: `http://127.0.0.1:${first.port}/away`, headers: { 'X-Other': 'has s3cret inside' } }, { holdsSecret: (t) => t.includes('s3cret') });
    expect(otherSeen?.['x-other']).toBeUndefined();
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
