import { request, requestSecrets, retryableStatus } from '../../../agent/notifiers/outbound-http';
import type http from 'node:http';
import { closedPort, startHttp, type TestServer } from '../../helpers/servers';

// The one outbound HTTP client (notifiers and remediation's http actions): what it sends,
// what it reads of the answer, and how it gives up. The notifiers' and remediation's own
// tests cover how each maps the answer.

/** What the receiver got, in order. */
let got: Array<{ path: string; headers: http.IncomingHttpHeaders; raw: string }> = [];
/** How the receiver answers the next request. */
let answer: (res: http.ServerResponse) => void = (res) => res.writeHead(200).end();
let receiver: TestServer;
beforeAll(async () => {
  receiver = await startHttp((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, raw });
      answer(res);
    });
  });
});
afterAll(() => receiver.close());
beforeEach(() => {
  got = [];
  answer = (res) => res.writeHead(200).end();
});

test.each([
  [200, false], [204, false], [400, false], [401, false], [404, false], [409, false], [429, true], [500, true], [502, true], [503, true],
])('status %i: retryable %s', (status, retryable) => {
  expect(retryableStatus(status)).toBe(retryable);
});

test('a mapping or list goes as JSON unless a Content-Type says otherwise; text goes as is; the User-Agent is keepwatch', async () => {
  await request({ url: `${receiver.url}/a`, method: 'PUT', body: { a: 1 } });
  await request({ url: `${receiver.url}/b`, method: 'POST', body: '"text"', headers: { 'content-type': 'text/plain' } });
  const [a, b] = got;
  expect([a.headers['content-type'], a.raw, a.headers['user-agent']]).toEqual(['application/json', '{"a":1}', 'keepwatch']);
  expect([b.headers['content-type'], b.raw]).toEqual(['text/plain', '"text"']);
});

test('a redirect is an answer, not followed', async () => {
  answer = (res) => res.writeHead(302, { Location: '/elsewhere' }).end();
  const res = await request({ url: `${receiver.url}/old`, method: 'POST', body: {} });
  expect(res).toEqual({ status: 302 });
  expect(got.map((g) => g.path)).toEqual(['/old']);
});

test('reads at most the limit of the body, and nothing unless asked', async () => {
  answer = (res) => res.writeHead(500, { 'Retry-After': '7' }).end('x'.repeat(100_000));
  const chunks: Buffer[] = [];
  const res = await request({ url: receiver.url, method: 'POST', body: {}, read: () => ({ limit: 1000, onData: (c) => chunks.push(c) }) });
  expect(res).toEqual({ status: 500, retryAfterMs: 7000 });
  expect(Buffer.concat(chunks).length).toBe(1000);
  expect(await request({ url: receiver.url, method: 'POST', body: {} })).toEqual({ status: 500, retryAfterMs: 7000 });
});

test('gives up at its timeout, the body included, keeping the status', async () => {
  answer = (res) => res.writeHead(200).write('started');
  const t0 = Date.now();
  const res = await request({ url: receiver.url, method: 'GET', timeoutMs: 200, read: () => ({ limit: 1 << 20, onData: () => undefined }) });
  expect(res).toMatchObject({ status: 200, failure: { kind: 'timeout', message: 'timed out' } });
  expect(Date.now() - t0).toBeLessThan(2000);
});

test('an abort says why: a deadline reads as timed out', async () => {
  answer = () => undefined;
  const deadline = new AbortController();
  setTimeout(() => deadline.abort(new DOMException('The operation timed out.', 'TimeoutError')), 100);
  expect(await request({ url: receiver.url, method: 'POST', signal: deadline.signal })).toMatchObject({ failure: { kind: 'aborted', message: 'timed out' } });
  const stop = new AbortController();
  stop.abort(new Error('agent stopping'));
  expect(await request({ url: receiver.url, method: 'POST', signal: stop.signal })).toMatchObject({ failure: { kind: 'aborted', message: 'agent stopping' } });
});

test('no answer is a network failure, its message free of the request\'s secrets', async () => {
  const res = await request({ url: `http://alice:pw-secret-42@127.0.0.1:${await closedPort()}/x?token=tok-secret-42`, method: 'POST' });
  expect(res.status).toBeUndefined();
  expect(res.failure).toMatchObject({ kind: 'network', message: expect.stringMatching(/ECONNREFUSED/) });
  expect(res.failure?.message).not.toMatch(/secret-42/);
});

test('the request\'s own secrets: URL credentials and what is made of them, secret-looking headers and query values', () => {
  const b64 = Buffer.from('alice:pw 1').toString('base64');
  expect(requestSecrets('https://alice:pw%201@h/x?token=t0k&page=2', { Authorization: 'Bearer b', 'X-Team': 'ops', 'X-Api-Key': 'k3y' })).toEqual([
    `Basic ${b64}`, b64, 'pw 1', 'Bearer b', 'k3y', 't0k',
  ]);
  expect(requestSecrets('http://h/')).toEqual([]);
});
