import fs from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import axios, { type AxiosResponse } from 'axios';
import { z } from 'zod';
import {
  certDaysLeft, classifyNetworkError, defineCheck, describeNetworkError, FileReadError, httpUrl, isSecretName, isValidRegex, readTextFile,
  requestParts, rootError, round, size, targetDown, type FieldSpec, type Value,
} from '../types';
import { MAX_BODY_BYTES, readBody, type BodyRead } from './body';
import { compileJsonPath, type JsonPath } from './json-path';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const FIELD_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const schema = z
  .strictObject({
    url: httpUrl()
      .describe('The URL to request.'),
    method: z.enum(METHODS).default('GET').describe('HTTP method.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Request headers (values may use ${ENV} for secrets).'),
    body: z
      .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
      .optional()
      .describe('Request body: text as is, or a mapping/list sent as JSON.'),
    followRedirects: z.boolean().default(true).describe('Follow redirects (up to maxRedirects).'),
    maxRedirects: z.number().int().min(0).max(20).default(5).describe('Most redirects to follow.'),
    insecure: z.boolean().default(false).describe('Skip TLS certificate verification (certDaysLeft is still reported).'),
    caFile: z
      .string()
      .refine((f) => { try { fs.accessSync(f, fs.constants.R_OK); return true; } catch { return false; } }, { message: 'file not found or not readable' })
      .optional()
      .describe('PEM file of CA certificates to trust instead of the system ones (a regular file of at most 1 MiB).'),
    bodyContains: z.string().optional().describe('Text the body must contain; sets the `matches` value.'),
    bodyRegex: z
      .string()
      .refine(isValidRegex, { message: 'invalid regular expression' })
      .optional()
      .describe('Regular expression the body must match; sets the `matches` value.'),
    json: z
      .record(
        z.string().regex(FIELD_NAME_RE, { message: 'value names are letters, digits and _' }),
        z.string().refine((p) => { try { compileJsonPath(p); return true; } catch { return false; } }, {
          message: 'expected a JSON path such as $.status or data.items[0].state',
        }),
      )
      .optional()
      .describe('Values taken from a JSON body: {name: path}, path like `$.data.items[0].state`.'),
    maxBodySize: size()
      .refine((n) => n <= MAX_BODY_BYTES, { message: `must be at most 64MiB (${MAX_BODY_BYTES} bytes)` })
      .default(1_000_000)
      .describe('Read at most this much of the body (e.g. 1MB, at most 64MiB); the rest is not downloaded.'),
  })
  .refine((s) => !(s.json && Object.keys(s.json).some((k) => k in BASE_FIELDS)), {
    message: `json value names must not reuse built-in value names (${'status, latencyMs, bodyBytes, bodyTruncated, certDaysLeft, redirects, matches'})`,
    path: ['json'],
  });

type HttpSpec = z.output<typeof schema>;

const BASE_FIELDS: Record<string, FieldSpec> = {
  status: { type: 'number', unit: 'none', help: 'HTTP status code of the final response', reason: 'status' },
  latencyMs: { type: 'number', unit: 'ms', help: 'Time from sending the request to the end of the body (or the size cap)' },
  bodyBytes: { type: 'number', unit: 'bytes', help: 'Body bytes read (at most maxBodySize)' },
  bodyTruncated: { type: 'boolean', help: 'True when the body was larger than maxBodySize' },
  redirects: { type: 'number', unit: 'count', help: 'Redirects followed' },
  certDaysLeft: { type: 'number', unit: 'days', help: 'Days until the earliest certificate in the served chain expires (https only)' },
  matches: { type: 'boolean', help: 'Whether the body contains bodyContains and matches bodyRegex (only when one is set)', reason: 'body' },
};

/** Largest `caFile` read: a bundle of CA certificates (the whole Mozilla bundle is about 220 KB). */
export const CA_FILE_MAX_BYTES = 1024 * 1024;

// One agent per TLS trust setting, without keep-alive: every probe opens a fresh
// connection, as a new client would, so connect and TLS failures are seen.
const agents = new Map<string, { version: string; agent: https.Agent }>();
const plainAgent = new http.Agent({ keepAlive: false });

/**
 * The agent for a trust setting. The CA file is read off the event loop, only if it is a
 * regular file of at most CA_FILE_MAX_BYTES (a FIFO would block, /dev/zero fill memory), and
 * again when its mtime or size changes, so a rotated CA is picked up without a restart.
 * Throws when the file cannot be read: the run is unknown, and says why.
 */
async function httpsAgent(insecure: boolean, caFile?: string): Promise<https.Agent> {
  const key = `${insecure}:${caFile ?? ''}`;
  const cached = agents.get(key);
  let version = '';
  let ca: string | undefined;
  if (caFile) {
    try {
      const st = await stat(caFile);
      version = `${st.mtimeMs}:${st.size}`;
      if (cached?.version === version) return cached.agent;
      ca = await readTextFile(caFile, CA_FILE_MAX_BYTES);
    } catch (err) {
      const why = err instanceof FileReadError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err));
      throw new Error(`http check: cannot read caFile ${caFile}: ${why}`, { cause: err });
    }
  } else if (cached) {
    return cached.agent;
  }
  const agent = new https.Agent({ keepAlive: false, rejectUnauthorized: !insecure, ca });
  agents.set(key, { version, agent });
  return agent;
}

const compiled = new WeakMap<HttpSpec, { paths: [string, JsonPath][]; regex?: RegExp; body?: string; headers: Record<string, string>; url: string }>();

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The headers a redirect to another host may carry: none that look secret by name
 * (`X-Api-Key`, `Authorization`, cookies), and none whose value holds a configured secret
 * (`X-Other: ${DB_PASSWORD}`, `X-File: ${file:/run/secrets/x}`).
 */
function withoutSecrets(headers: Record<string, string>, holdsSecret: (text: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => !isSecretName(name) && !holdsSecret(value)));
}

function prepare(spec: HttpSpec) {
  let c = compiled.get(spec);
  if (!c) {
    // Credentials in the URL become a Basic Authorization header unless one is configured:
    // configured headers win (axios would let the URL's user-info replace them).
    const { target, headers: withAuth } = requestParts(spec.url, spec.headers);
    const headers: Record<string, string> = { 'User-Agent': 'keepwatch', ...withAuth };
    let body: string | undefined;
    if (typeof spec.body === 'string') body = spec.body;
    else if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
    }
    c = {
      paths: Object.entries(spec.json ?? {}).map(([name, p]) => [name, compileJsonPath(p)]),
      regex: spec.bodyRegex ? new RegExp(spec.bodyRegex) : undefined,
      body,
      headers,
      url: target,
    };
    compiled.set(spec, c);
  }
  return c;
}

/** Checks an HTTP(S) endpoint: status, latency, body, certificate expiry and JSON values. */
export const httpCheck = defineCheck({
  type: 'http',
  category: 'health',
  summary: 'Requests a URL and reports status, latency, body matches, JSON values and certificate expiry.',
  schema,
  fields(spec) {
    const fields: Record<string, FieldSpec> = { ...BASE_FIELDS };
    for (const name of Object.keys(spec.json ?? {})) {
      fields[name] = { type: 'any', help: `JSON value at ${spec.json![name]}`, reason: 'body' };
    }
    return fields;
  },
  defaults(spec) {
    const crit = ['status >= 400'];
    if (spec.bodyContains !== undefined || spec.bodyRegex !== undefined) crit.push('matches == false');
    return { crit };
  },
  async run({ spec, signal, now, holdsSecret }) {
    const prep = prepare(spec);
    const why = (err: unknown) => (signal.aborted ? 'timed out' : describeNetworkError(err));
    const started = performance.now();
    const elapsed = () => round(performance.now() - started, 3);
    // Redirects are followed here rather than by axios (follow-redirects): it costs about
    // 15% more CPU per request, and we decide what a redirect to another host may carry.
    let url = prep.url;
    let method: string = spec.method;
    let data = prep.body;
    let headers = prep.headers;
    let redirects = 0;
    let res: AxiosResponse<Readable>;
    for (;;) {
      const tlsAgent = url.startsWith('https:') ? await httpsAgent(spec.insecure, spec.caFile) : undefined;
      try {
        res = await axios.request<Readable>({
          url,
          method,
          headers,
          data,
          responseType: 'stream',
          decompress: true,
          validateStatus: () => true,
          maxRedirects: 0,
          httpAgent: plainAgent,
          httpsAgent: tlsAgent,
          signal,
          proxy: false,
          transitional: { clarifyTimeoutError: true },
        });
      } catch (err) {
        const failure = signal.aborted ? 'timeout' : classifyNetworkError(rootError(err));
        return targetDown(failure, why(err), { latencyMs: elapsed(), redirects });
      }
      const location = res.headers.location;
      if (!spec.followRedirects || !REDIRECT_STATUSES.has(res.status) || typeof location !== 'string') break;
      res.data.destroy();
      if (redirects >= spec.maxRedirects) {
        return targetDown('error', `more than ${spec.maxRedirects} redirects (last to ${location})`, { latencyMs: elapsed(), redirects });
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return targetDown('error', `redirect to an invalid URL: ${location}`, { latencyMs: elapsed(), redirects });
      }
      if (next.host !== new URL(url).host) headers = withoutSecrets(headers, holdsSecret);
      // As browsers do: 303, and 301/302 after a POST, continue with a GET and no body.
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        data = undefined;
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-(type|length)$/i.test(k)));
      }
      url = next.href;
      redirects++;
    }

    const socket = (res.request?.socket ?? res.request?.res?.socket) as TLSSocket | undefined;
    const daysLeft = socket && url.startsWith('https:') ? certDaysLeft(socket, now()) : undefined;
    let body: BodyRead;
    try {
      body = await readBody(res.data, spec.maxBodySize, { contains: spec.bodyContains, regex: prep.regex, text: prep.paths.length > 0 }, signal);
    } catch (err) {
      return targetDown(signal.aborted ? 'timeout' : classifyNetworkError(err), `reading body: ${why(err)}`, {
        latencyMs: elapsed(),
        status: res.status,
      });
    }
    const latencyMs = elapsed();

    const values: Record<string, Value> = {
      status: res.status,
      latencyMs,
      bodyBytes: body.bytes,
      bodyTruncated: body.truncated,
      redirects,
    };
    if (daysLeft !== undefined) values.certDaysLeft = daysLeft;
    let note = '';
    if (body.contains !== undefined || body.regex !== undefined) {
      values.matches = body.contains !== false && body.regex !== false;
      if (!values.matches) note = ', body does not match';
    }
    if (body.text !== undefined) {
      if (prep.paths.length) {
        let doc: unknown;
        try {
          doc = JSON.parse(body.text);
        } catch {
          note += body.truncated ? ', body truncated: JSON not read' : ', body is not JSON';
        }
        if (doc !== undefined) {
          for (const [name, path] of prep.paths) {
            const v = path(doc);
            if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') values[name] = v;
            else if (v === null) values[name] = 'null';
          }
        }
      }
    }
    const statusText = res.statusText ? ` ${res.statusText}` : '';
    return {
      values,
      message: `${res.status}${statusText} in ${Math.round(latencyMs)} ms, ${body.bytes} bytes${body.truncated ? ' (truncated)' : ''}${note}`,
    };
  },
});
