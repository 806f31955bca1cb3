import type { Finding } from '../types';

/** What the header checks need from a response. */
export interface HeaderInput {
  /** Lower-case names; a repeated header joined with ', ' as Node does (set-cookie kept as a list). */
  headers: Record<string, string | string[] | undefined>;
  https: boolean;
  /** Least HSTS max-age, in seconds. */
  hstsMinAgeSeconds: number;
  /** Where: the URL, for the findings' subject. */
  subject: string;
}

/** The findings about one response's security headers and cookies, with the counts the check returns. */
export interface HeaderVerdict {
  findings: Finding[];
  /** Headers missing or too weak (notes such as HSTS without includeSubDomains do not count). */
  missing: number;
  cookies: number;
  /** Cookies with at least one missing flag. */
  cookiesInsecure: number;
}

const ASVS = (n: string) => [`OWASP ASVS ${n}`];

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** A CSP header value as policies (comma-separated) of directives: name → source list (lower case). */
export function parseCsp(value: string): Array<Map<string, string[]>> {
  return value.split(',').map((policy) => {
    const directives = new Map<string, string[]>();
    for (const part of policy.split(';')) {
      const [name, ...sources] = part.trim().split(/\s+/);
      // The first occurrence of a directive wins (CSP3 §2.2.1).
      if (name && !directives.has(name.toLowerCase())) directives.set(name.toLowerCase(), sources.map((s) => s.toLowerCase()));
    }
    return directives;
  }).filter((p) => p.size > 0);
}

/**
 * Whether a policy lets inline scripts run: its script-src (else default-src) lists
 * 'unsafe-inline' with no nonce, hash or 'strict-dynamic', which make browsers ignore it.
 */
function allowsInlineScript(policy: Map<string, string[]>): boolean | undefined {
  const src = policy.get('script-src') ?? policy.get('default-src');
  if (!src) return undefined;
  if (!src.includes("'unsafe-inline'")) return false;
  return !src.some((s) => /^'(nonce-|sha256-|sha384-|sha512-|strict-dynamic')/.test(s));
}

/** HSTS directives: max-age in seconds (undefined when absent or malformed) and includeSubDomains. */
export function parseHsts(value: string): { maxAge?: number; includeSubDomains: boolean } {
  // A host that sends the header twice: browsers use the first (RFC 6797 §8.1).
  const first = value.split(',')[0];
  let maxAge: number | undefined;
  let includeSubDomains = false;
  for (const part of first.split(';')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (/^max-age$/i.test(k) && v !== undefined && /^"?\d+"?$/.test(v)) maxAge = Number(v.replace(/"/g, ''));
    if (/^includesubdomains$/i.test(k)) includeSubDomains = true;
  }
  return { maxAge, includeSubDomains };
}

/** One Set-Cookie line: its name and the flags that matter. */
export function parseSetCookie(line: string): { name: string; secure: boolean; httpOnly: boolean; sameSite?: string } {
  const [pair, ...attrs] = line.split(';');
  const eq = pair.indexOf('=');
  const name = (eq >= 0 ? pair.slice(0, eq) : pair).trim();
  let secure = false;
  let httpOnly = false;
  let sameSite: string | undefined;
  for (const a of attrs) {
    const [k, v] = a.split('=').map((s) => s.trim());
    const key = k.toLowerCase();
    if (key === 'secure') secure = true;
    else if (key === 'httponly') httpOnly = true;
    else if (key === 'samesite' && v) sameSite = v.toLowerCase();
  }
  return { name, secure, httpOnly, sameSite };
}

/** Referrer policies that send the full URL to other origins. */
const LEAKY_REFERRER = new Set(['unsafe-url', 'no-referrer-when-downgrade']);
const REFERRER_POLICIES = new Set([
  'no-referrer', 'no-referrer-when-downgrade', 'same-origin', 'origin', 'strict-origin', 'origin-when-cross-origin',
  'strict-origin-when-cross-origin', 'unsafe-url',
]);

/** Judges a response's security headers and cookies: pure, tested on tables. */
export function judgeHeaders(input: HeaderInput): HeaderVerdict {
  const h = input.headers;
  const subject = input.subject;
  const findings: Finding[] = [];
  let missing = 0;
  const header = (f: Omit<Finding, 'subject'>) => {
    findings.push({ ...f, subject });
    if (f.severity !== 'info') missing++;
  };

  if (input.https) {
    const hsts = one(h['strict-transport-security']);
    const minDays = Math.round(input.hstsMinAgeSeconds / 86_400);
    if (hsts === undefined) {
      header({
        id: 'http-headers.hsts.missing', severity: 'medium', refs: ASVS('14.4.5'),
        title: 'No Strict-Transport-Security header: browsers may be downgraded to plain HTTP',
        fix: `Send Strict-Transport-Security: max-age=31536000; includeSubDomains (at least ${minDays} days).`,
      });
    } else {
      const { maxAge, includeSubDomains } = parseHsts(hsts);
      if (maxAge === undefined || maxAge < input.hstsMinAgeSeconds) {
        header({
          id: 'http-headers.hsts.max-age', severity: 'low', refs: ASVS('14.4.5'),
          title: maxAge === undefined
            ? `Strict-Transport-Security has no valid max-age: ${JSON.stringify(hsts.slice(0, 80))}`
            : `Strict-Transport-Security max-age is ${maxAge} s (${Math.floor(maxAge / 86_400)} days), under ${minDays} days`,
          fix: 'Raise max-age to a year (31536000) once HTTPS works on every page.',
        });
      }
      if (!includeSubDomains) {
        header({
          id: 'http-headers.hsts.include-subdomains', severity: 'info',
          title: 'Strict-Transport-Security does not cover subdomains (no includeSubDomains)',
          fix: 'Add includeSubDomains when every subdomain serves HTTPS.',
        });
      }
    }
  }

  const csp = one(h['content-security-policy']);
  const policies = csp !== undefined ? parseCsp(csp) : [];
  if (!policies.length) {
    header({
      id: 'http-headers.csp.missing', severity: 'medium', refs: ASVS('14.4.3'),
      title: csp === undefined ? 'No Content-Security-Policy header' : 'The Content-Security-Policy header is empty',
      fix: "Send a Content-Security-Policy, starting from default-src 'self'; object-src 'none'; frame-ancestors 'self'.",
    });
  } else {
    // Several policies all apply: an inline script runs only if every one that governs scripts allows it.
    const verdicts = policies.map(allowsInlineScript).filter((v): v is boolean => v !== undefined);
    if (verdicts.length && verdicts.every(Boolean)) {
      header({
        id: 'http-headers.csp.unsafe-inline', severity: 'medium', refs: ASVS('14.4.3'),
        title: "The Content-Security-Policy allows inline scripts ('unsafe-inline' in script-src)",
        fix: "Move inline scripts to files, or allow them by nonce or hash, and drop 'unsafe-inline'.",
      });
    }
  }

  const xcto = one(h['x-content-type-options']);
  if (xcto?.split(',')[0].trim().toLowerCase() !== 'nosniff') {
    header({
      id: 'http-headers.x-content-type-options.missing', severity: 'low', refs: ASVS('14.4.4'),
      title: xcto === undefined ? 'No X-Content-Type-Options header' : `X-Content-Type-Options is ${JSON.stringify(xcto)}, not nosniff`,
      fix: 'Send X-Content-Type-Options: nosniff.',
    });
  }

  const xfo = one(h['x-frame-options'])?.split(',')[0].trim().toLowerCase();
  const frameAncestors = policies.some((p) => p.has('frame-ancestors'));
  if (!frameAncestors && xfo !== 'deny' && xfo !== 'sameorigin') {
    header({
      id: 'http-headers.frame-ancestors.missing', severity: 'medium', refs: ASVS('14.4.7'),
      title: xfo === undefined
        ? 'Neither CSP frame-ancestors nor X-Frame-Options: other sites may frame the page (clickjacking)'
        : `X-Frame-Options is ${JSON.stringify(xfo)} (not DENY or SAMEORIGIN) and CSP has no frame-ancestors`,
      fix: "Add frame-ancestors 'self' (or 'none') to the CSP, or send X-Frame-Options: DENY.",
    });
  }

  const referrer = one(h['referrer-policy']);
  // A list names fallbacks: browsers use the last policy they know.
  const policy = referrer?.split(',').map((s) => s.trim().toLowerCase()).filter((p) => REFERRER_POLICIES.has(p)).pop();
  if (policy === undefined) {
    header({
      id: 'http-headers.referrer-policy.missing', severity: 'low', refs: ASVS('14.4.6'),
      title: referrer === undefined ? 'No Referrer-Policy header' : `Referrer-Policy ${JSON.stringify(referrer)} names no known policy`,
      fix: 'Send Referrer-Policy: strict-origin-when-cross-origin (or no-referrer).',
    });
  } else if (LEAKY_REFERRER.has(policy)) {
    header({
      id: 'http-headers.referrer-policy.weak', severity: 'low', refs: ASVS('14.4.6'),
      title: `Referrer-Policy ${policy} sends full URLs (paths, query strings) to other sites`,
      fix: 'Use strict-origin-when-cross-origin or stricter.',
    });
  }

  const setCookie = h['set-cookie'];
  const lines = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  let cookiesInsecure = 0;
  for (const line of lines) {
    const c = parseSetCookie(line);
    const name = c.name.slice(0, 64) || '(unnamed)';
    const at = `${subject} cookie ${name}`;
    const before = findings.length;
    if (input.https && !c.secure) {
      findings.push({
        id: `http-headers.cookie.secure.${name}`, severity: 'medium', subject: at, refs: ASVS('3.4.1'),
        title: `Cookie ${name} lacks Secure: it is also sent over plain HTTP`,
        fix: 'Set the Secure attribute on the cookie.',
      });
    }
    if (!c.httpOnly) {
      findings.push({
        id: `http-headers.cookie.httponly.${name}`, severity: 'low', subject: at, refs: ASVS('3.4.2'),
        title: `Cookie ${name} lacks HttpOnly: scripts on the page can read it`,
        fix: 'Set HttpOnly unless scripts must read this cookie.',
      });
    }
    if (!c.sameSite || !['strict', 'lax', 'none'].includes(c.sameSite)) {
      findings.push({
        id: `http-headers.cookie.samesite.${name}`, severity: 'low', subject: at, refs: ASVS('3.4.3'),
        title: `Cookie ${name} has no valid SameSite attribute`,
        fix: 'Set SameSite=Lax (or Strict); None only for cookies meant for other sites, with Secure.',
      });
    }
    if (findings.length > before) cookiesInsecure++;
  }
  return { findings, missing, cookies: lines.length, cookiesInsecure };
}
