import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import {
  classifyNetworkError, defineCheck, describeNetworkError, duration, findingFields, findingValues, formatDuration, httpUrl, isSecretName,
  readConfiguredFile, requestParts, rootError, targetDown, type FieldSpec,
} from '../types';
import { judgeHeaders } from './headers';

const HOUR = 3_600_000;

/** Largest caFile read: a bundle of CA certificates (the whole Mozilla bundle is about 220 KB). */
export const CA_FILE_MAX_BYTES = 1024 * 1024;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const schema = z.strictObject({
  url: httpUrl().describe('The URL whose response headers to check (GET).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Request headers (values may use ${ENV} for secrets), e.g. a session cookie to see a logged-in page.'),
  followRedirects: z.boolean().default(false).describe('Follow redirects and check the final response (default: check the response the URL itself gives).'),
  maxRedirects: z.number().int().min(0).max(20).default(5).describe('With followRedirects: most redirects to follow.'),
  insecure: z.boolean().default(false).describe('Skip TLS certificate verification (a self-signed test server); tls-cert judges certificates.'),
  caFile: z.string().min(1).optional().describe('PEM file of CA certificates to trust instead of the built-in ones (at most 1 MiB).'),
  hstsMinAge: duration()
    .default(180 * 86_400_000)
    .describe('Least Strict-Transport-Security max-age accepted (default 180d).'),
});

const FIELDS: Record<string, FieldSpec> = {
  status: { type: 'number', unit: 'none', help: 'HTTP status of the response checked' },
  missing: { type: 'number', unit: 'count', help: 'Security headers missing or too weak (HSTS on https, CSP, X-Content-Type-Options, frame-ancestors/X-Frame-Options, Referrer-Policy)' },
  cookies: { type: 'number', unit: 'count', help: 'Cookies the response sets' },
  cookiesInsecure: { type: 'number', unit: 'count', help: 'Cookies lacking Secure (on https), HttpOnly or SameSite' },
  ...findingFields({
    findings: 'Findings of every severity (notes included)',
    medium: 'Medium findings (no HSTS, no CSP or one allowing inline scripts, no framing protection, a cookie without Secure)',
    low: 'Low findings (short HSTS, no nosniff, Referrer-Policy, cookies without HttpOnly or SameSite)',
    info: 'Notes (HSTS without includeSubDomains)',
  }),
};

/** Checks the security headers and cookie flags a URL answers with. */
export const httpHeadersCheck = defineCheck({
  type: 'http-headers',
  category: 'security',
  schedule: { every: HOUR }, // headers change with deploys
  summary: 'Checks a URL\'s security headers (HSTS, CSP, X-Content-Type-Options, frame-ancestors/X-Frame-Options, Referrer-Policy) and cookie flags.',
  schema,
  fields: FIELDS,
  // A missing header is a weakness to fix in working hours, never a page by itself.
  defaults: { warn: ['missing > 0', 'cookiesInsecure > 0'] },
  async run({ spec, signal, timeoutMs, holdsSecret }) {
    const ca = spec.caFile !== undefined ? await readConfiguredFile('http-headers', 'caFile', spec.caFile, CA_FILE_MAX_BYTES) : undefined;
    const first = requestParts(spec.url, spec.headers);
    let url = first.target;
    let headers: Record<string, string> = { 'User-Agent': 'keepwatch', ...first.headers };
    let res: IncomingMessage;
    for (let redirects = 0; ; redirects++) {
      try {
        res = await get(url, headers, { ca, insecure: spec.insecure }, signal);
      } catch (err) {
        if (signal.aborted) return targetDown('timeout', `${url}: no answer within ${formatDuration(timeoutMs)}`);
        return targetDown(classifyNetworkError(rootError(err)), `${url}: ${describeNetworkError(err)}`);
      }
      const location = res.headers.location;
      if (!spec.followRedirects || !REDIRECT_STATUSES.has(res.statusCode ?? 0) || typeof location !== 'string') break;
      if (redirects >= spec.maxRedirects) return targetDown('error', `more than ${spec.maxRedirects} redirects (last to ${location})`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return targetDown('error', `redirect to an invalid URL: ${location}`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return targetDown('error', `redirect to a non-HTTP URL: ${location}`);
      // As the http check does: what looks secret stays with the host it was configured for.
      if (next.host !== new URL(url).host) {
        headers = Object.fromEntries(Object.entries(headers).filter(([n, v]) => !isSecretName(n) && !holdsSecret(v)));
      }
      url = next.href;
    }
    const verdict = judgeHeaders({
      headers: res.headers,
      https: url.startsWith('https:'),
      hstsMinAgeSeconds: spec.hstsMinAge / 1000,
      subject: url,
    });
    const cookieNote = verdict.cookies ? `, ${verdict.cookiesInsecure} of ${verdict.cookies} cookies lack a flag` : '';
    const plain = url.startsWith('http:') ? ' (plain http: HSTS and Secure cookies not judged)' : '';
    return {
      values: {
        status: res.statusCode ?? 0,
        missing: verdict.missing,
        cookies: verdict.cookies,
        cookiesInsecure: verdict.cookiesInsecure,
        ...findingValues(verdict.findings),
      },
      message: `${url} ${res.statusCode}: ${verdict.missing ? `${verdict.missing} security header${verdict.missing === 1 ? '' : 's'} missing or weak` : 'security headers present'}${cookieNote}${plain}`,
      findings: verdict.findings,
    };
  },
});

/**
 * One GET on a fresh connection; resolves with the response once its headers are in, the
 * body discarded unread (headers are all this check judges).
 */
function get(url: string, headers: Record<string, string>, tlsOpts: { ca?: string; insecure: boolean }, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const opts = { method: 'GET', headers, signal, agent: false as const };
    const req = url.startsWith('https:')
      ? https.request(url, { ...opts, ca: tlsOpts.ca, rejectUnauthorized: !tlsOpts.insecure })
      : http.request(url, opts);
    req.once('response', (res) => {
      res.on('error', () => undefined); // the body is thrown away: a reset while draining changes nothing
      res.destroy();
      resolve(res);
    });
    req.once('error', reject);
    req.end();
  });
}
