import fs from 'node:fs';
import type http from 'node:http';
import { judge, parseCondition, Status } from '../../agent/evaluate';
import { httpHeadersCheck } from '../../checks/http-headers';
import { judgeHeaders, parseCsp, parseHsts, parseSetCookie } from '../../checks/http-headers/headers';
import type { Observation } from '../../checks/types';
import { runCheckAsNobody } from '../helpers/as-nobody';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { makeCert, startHttp, startHttps, type TestCert, type TestServer } from '../helpers/servers';

/** Headers a careful site sends. */
const GOOD: http.OutgoingHttpHeaders = {
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Set-Cookie': ['sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax'],
};

const ids = (o: { findings?: Array<{ id: string }> }) => (o.findings ?? []).map((f) => f.id).sort();

function judgeOf(headers: Record<string, string | string[]>, https = true) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return judgeHeaders({ headers: lower, https, hstsMinAgeSeconds: 180 * 86_400, subject: 'https://x/' });
}

function verdict(raw: Record<string, unknown>, o: Observation): Status {
  const fields = fieldsOf(httpHeadersCheck, raw);
  const d = httpHeadersCheck.defaults as { warn: string[] };
  return judge(o, { warn: d.warn.map((c) => parseCondition(c, fields)), crit: [] }).status;
}

describe('header rules (pure)', () => {
  const good = GOOD as Record<string, string | string[]>;

  test('a careful response has no findings', () => {
    expect(judgeOf(good)).toEqual({ findings: [], missing: 0, cookies: 1, cookiesInsecure: 0 });
  });

  test('nothing at all over https: every header is missing', () => {
    const v = judgeOf({});
    expect(v.findings.map((f) => [f.id, f.severity])).toEqual([
      ['http-headers.hsts.missing', 'medium'],
      ['http-headers.csp.missing', 'medium'],
      ['http-headers.x-content-type-options.missing', 'low'],
      ['http-headers.frame-ancestors.missing', 'medium'],
      ['http-headers.referrer-policy.missing', 'low'],
    ]);
    expect(v.missing).toBe(5);
    expect(v.findings[0]).toMatchObject({ refs: ['OWASP ASVS 14.4.5'], subject: 'https://x/', fix: expect.stringContaining('max-age=31536000') });
  });

  test('over plain http, HSTS and Secure are not judged', () => {
    const { 'Strict-Transport-Security': _hsts, ...noHsts } = good;
    const v = judgeOf({ ...noHsts, 'Set-Cookie': ['a=1; HttpOnly; SameSite=Strict'] }, false);
    expect(v.findings).toEqual([]);
  });

  test.each([
    ['max-age=100', ['http-headers.hsts.include-subdomains', 'http-headers.hsts.max-age'], 1],
    ['max-age=15552000', ['http-headers.hsts.include-subdomains'], 0],
    ['max-age="31536000"; includeSubDomains; preload', [], 0],
    ['includeSubDomains', ['http-headers.hsts.max-age'], 1],
    ['max-age=31536000; includeSubDomains, max-age=0', [], 0],
  ])('HSTS %s', (value, expected, missing) => {
    const v = judgeOf({ ...good, 'Strict-Transport-Security': value });
    expect(ids(v)).toEqual(expected);
    expect(v.missing).toBe(missing);
  });

  test.each([
    ["script-src 'self' 'unsafe-inline'", ['http-headers.csp.unsafe-inline', 'http-headers.frame-ancestors.missing']],
    ["default-src 'self' 'unsafe-inline'; frame-ancestors 'self'", ['http-headers.csp.unsafe-inline']],
    ["script-src 'self' 'unsafe-inline' 'nonce-r4nd0m'; frame-ancestors 'self'", []],
    ["script-src 'unsafe-inline' 'sha256-abc='; frame-ancestors 'self'", []],
    ["default-src 'unsafe-inline'; script-src 'self'; frame-ancestors 'self'", []],
    // Two policies: an inline script must pass both, and the second forbids it.
    ["script-src 'unsafe-inline', script-src 'self'; frame-ancestors 'none'", []],
    ['', ['http-headers.csp.missing', 'http-headers.frame-ancestors.missing']],
  ])('CSP %j', (value, expected) => {
    expect(ids(judgeOf({ ...good, 'Content-Security-Policy': value }))).toEqual(expected);
  });

  test.each([
    ['DENY', []], ['sameorigin', []], ['ALLOW-FROM https://a.example', ['http-headers.frame-ancestors.missing']],
  ])('X-Frame-Options %s without frame-ancestors', (value, expected) => {
    expect(ids(judgeOf({ ...good, 'Content-Security-Policy': "default-src 'self'", 'X-Frame-Options': value }))).toEqual(expected);
  });

  test.each([
    ['no-referrer', []], ['no-referrer, strict-origin-when-cross-origin', []],
    ['unsafe-url', ['http-headers.referrer-policy.weak']], ['no-referrer-when-downgrade', ['http-headers.referrer-policy.weak']],
    ['bogus', ['http-headers.referrer-policy.missing']],
  ])('Referrer-Policy %s', (value, expected) => {
    expect(ids(judgeOf({ ...good, 'Referrer-Policy': value }))).toEqual(expected);
  });

  test('X-Content-Type-Options must be nosniff', () => {
    expect(ids(judgeOf({ ...good, 'X-Content-Type-Options': 'sniff-away' }))).toEqual(['http-headers.x-content-type-options.missing']);
  });

  test('each cookie is judged on its own flags, with its name in the id', () => {
    const v = judgeOf({ ...good, 'Set-Cookie': ['ok=1; Secure; HttpOnly; SameSite=Strict', 'track=2; SameSite=None', 'pref=3; Secure; samesite=lax'] });
    expect(ids(v)).toEqual([
      'http-headers.cookie.httponly.pref', 'http-headers.cookie.httponly.track', 'http-headers.cookie.secure.track',
    ]);
    expect(v).toMatchObject({ cookies: 3, cookiesInsecure: 2, missing: 0 });
    expect(v.findings.find((f) => f.id === 'http-headers.cookie.secure.track')).toMatchObject({ severity: 'medium', refs: ['OWASP ASVS 3.4.1'], subject: 'https://x/ cookie track' });
  });

  test('parsers', () => {
    expect(parseHsts('MAX-AGE=5;INCLUDESUBDOMAINS')).toEqual({ maxAge: 5, includeSubDomains: true });
    expect(parseSetCookie('a=b=c; HttpOnly; SameSite=Lax; secure')).toEqual({ name: 'a', secure: true, httpOnly: true, sameSite: 'lax' });
    expect(parseCsp("Script-Src 'self'; script-src *").map((p) => Object.fromEntries(p))).toEqual([{ 'script-src': ["'self'"] }]);
  });
});

describe('against real local servers', () => {
  let cert: TestCert;
  let plain: TestServer;
  let tls: TestServer;
  const seen: http.IncomingHttpHeaders[] = [];
  /** Called when /hang has a request, which it never answers. */
  let hangHeld = () => undefined as void;

  beforeAll(async () => {
    cert = makeCert(30);
    const handler: http.RequestListener = (req, res) => {
      seen.push(req.headers);
      switch (req.url) {
        case '/good':
          res.writeHead(200, GOOD).end('<html>hello</html>');
          return;
        case '/bare':
          res.writeHead(200, { 'Set-Cookie': ['session=xyz; Path=/'] }).end('bare');
          return;
        case '/moved':
          res.writeHead(301, { Location: '/good' }).end();
          return;
        case '/elsewhere':
          res.writeHead(302, { Location: `http://localhost:${plain.port}/good` }).end();
          return;
        case '/loop':
          res.writeHead(302, { Location: '/loop' }).end();
          return;
        case '/hang':
          hangHeld(); // never answered; closed with the server
          return;
        default:
          res.writeHead(404).end();
      }
    };
    plain = await startHttp(handler);
    tls = await startHttps(cert, handler);
  });
  afterAll(async () => {
    await Promise.all([plain.close(), tls.close()]);
    fs.rmSync(cert.dir, { recursive: true, force: true });
  });

  test('https with every header, trusted through caFile: no findings, ok', async () => {
    const raw = { url: `${tls.url}/good`, caFile: cert.certFile };
    const o = await runCheck(httpHeadersCheck, raw);
    expect(o.values).toEqual({ status: 200, missing: 0, cookies: 1, cookiesInsecure: 0, findings: 0, critical: 0, high: 0, medium: 0, low: 0, info: 0 });
    expect(o.message).toBe(`${tls.url}/good 200: security headers present, 0 of 1 cookies lack a flag`);
    expect(verdict(raw, o)).toBe(Status.Ok);
  });

  test('https with no headers and a bare cookie: a finding each, warning', async () => {
    const raw = { url: `${tls.url}/bare`, insecure: true };
    const o = await runCheck(httpHeadersCheck, raw);
    expect(ids(o)).toEqual([
      'http-headers.cookie.httponly.session', 'http-headers.cookie.samesite.session', 'http-headers.cookie.secure.session',
      'http-headers.csp.missing', 'http-headers.frame-ancestors.missing', 'http-headers.hsts.missing',
      'http-headers.referrer-policy.missing', 'http-headers.x-content-type-options.missing',
    ]);
    expect(o.values).toMatchObject({ missing: 5, cookiesInsecure: 1, medium: 4, low: 4 });
    expect(o.message).toBe(`${tls.url}/bare 200: 5 security headers missing or weak, 1 of 1 cookies lack a flag`);
    expect(verdict(raw, o)).toBe(Status.Warning);
  });

  test('plain http: HSTS and Secure are not judged, and the message says so', async () => {
    const o = await runCheck(httpHeadersCheck, { url: `${plain.url}/bare` });
    expect(ids(o)).not.toContain('http-headers.hsts.missing');
    expect(ids(o)).not.toContain('http-headers.cookie.secure.session');
    expect(o.values.missing).toBe(4);
    expect(o.message).toContain('(plain http: HSTS and Secure cookies not judged)');
  });

  test('a self-signed certificate without caFile or insecure is a tls failure', async () => {
    expect(await runCheck(httpHeadersCheck, { url: `${tls.url}/good` })).toMatchObject({ up: false, failure: 'tls' });
  });

  test('redirects: the redirect itself is judged by default; followRedirects judges the final page', async () => {
    const own = await runCheck(httpHeadersCheck, { url: `${tls.url}/moved`, insecure: true });
    expect(own.values).toMatchObject({ status: 301, missing: 5 });
    const followed = await runCheck(httpHeadersCheck, { url: `${tls.url}/moved`, insecure: true, followRedirects: true });
    expect(followed.values).toMatchObject({ status: 200, missing: 0 });
    expect(followed.message).toMatch(/\/good 200/);
    const loop = await runCheck(httpHeadersCheck, { url: `${plain.url}/loop`, followRedirects: true, maxRedirects: 2 });
    expect(loop).toMatchObject({ up: false, failure: 'error', message: 'more than 2 redirects (last to /loop)' });
  });

  test('URL credentials become Basic auth, and secret headers stay behind on a redirect to another host', async () => {
    seen.length = 0;
    const url = `http://probe:s3cret@127.0.0.1:${plain.port}/elsewhere`;
    await runCheck(httpHeadersCheck, { url, followRedirects: true, headers: { 'X-Api-Key': 'k', 'X-Trace': 't' } });
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ authorization: `Basic ${Buffer.from('probe:s3cret').toString('base64')}`, 'x-api-key': 'k', 'x-trace': 't' });
    expect(seen[1].authorization).toBeUndefined();
    expect(seen[1]['x-api-key']).toBeUndefined();
    expect(seen[1]['x-trace']).toBe('t');
  });

  test('no answer before the run is aborted is a timeout', async () => {
    const held = new Promise<void>((resolve) => (hangHeld = resolve));
    const { run, abort } = startRun(httpHeadersCheck, { url: `${plain.url}/hang` }, { timeoutMs: 2000 });
    await held;
    abort();
    expect(await run).toMatchObject({ up: false, failure: 'timeout', message: `${plain.url}/hang: no answer within 2s` });
  });

  test('a caFile that is missing, or unreadable to the agent\'s user, is unknown saying which', async () => {
    await expect(runCheck(httpHeadersCheck, { url: `${tls.url}/good`, caFile: `${cert.dir}/none.pem` }))
      .rejects.toThrow(`http-headers check: cannot read caFile ${cert.dir}/none.pem: no such file`);
    // cert.dir is root's 0700 temp directory: uid 65534 cannot read inside it.
    const { error } = await runCheckAsNobody('http-headers', { url: `${tls.url}/good`, caFile: cert.certFile });
    expect(error).toBe(`http-headers check: cannot read caFile ${cert.certFile}: permission denied: the agent's user needs read access to it and search (x) access to its directories`);
  });
});
