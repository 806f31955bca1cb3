import net from 'node:net';
import { z } from 'zod';
import { defineCheck, round, targetDown, type FieldSpec, type TargetFailure, type Value } from '../types';

/** The longest `answer` value: enough for a round-robin set or a few TXT records, never a whole zone. */
export const MAX_ANSWER_CHARS = 1024;

export const RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'NS', 'PTR'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

/** `host`, `host:port`, `[v6]` or `[v6]:port`, with host an IP address (the resolver takes no names). */
export function parseServer(text: string): { host: string; port: number } | undefined {
  let host = text;
  let port = 53;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4 = /^([^:]+):(\d+)$/.exec(text);
  if (v6) {
    host = v6[1];
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (v4) {
    host = v4[1];
    port = Number(v4[2]);
  }
  if (!net.isIP(host) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

const schema = z
  .strictObject({
    query: z.string().min(1).describe('The name to resolve (for PTR: the IP address to look up, or its in-addr.arpa name).'),
    record: z.enum(RECORD_TYPES).default('A').describe('Record type: A, AAAA, CNAME, MX, TXT, SRV, NS or PTR.'),
    server: z
      .string()
      .refine((s) => parseServer(s) !== undefined, { message: 'expected an IP address with an optional port: 10.0.0.2, 10.0.0.2:5353, [2001:db8::53]:53' })
      .optional()
      .describe('DNS server to ask: IP address with an optional port (10.0.0.2:5353, [2001:db8::53]). Default: the system resolver (/etc/resolv.conf).'),
    expect: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('The answers expected, in the form `answer` shows them (order and case do not matter); sets the `matches` value.'),
  });

type DnsSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  latencyMs: { type: 'number', unit: 'ms', help: 'Time from sending the query to the answer (with retries over TCP when the answer was truncated)' },
  answers: { type: 'number', unit: 'count', help: 'Number of records in the answer' },
  answer: { type: 'string', help: `The answers, sorted and joined with ", " (at most ${MAX_ANSWER_CHARS} characters): A 10.0.0.1, MX "10 mail.example.com", SRV "priority weight port target"` },
  matches: { type: 'boolean', help: 'Whether the answers are exactly the expected ones (only with expect)', reason: 'body' },
};

/**
 * Node's resolver errors by code: the DNS rcode the server sent, or what happened instead.
 * `failure` is the bounded reason; `rcode` goes into the message.
 */
const ERRORS: Record<string, { failure: TargetFailure; rcode: string }> = {
  ENOTFOUND: { failure: 'dns', rcode: 'NXDOMAIN' },
  ESERVFAIL: { failure: 'dns', rcode: 'SERVFAIL' },
  EREFUSED: { failure: 'dns', rcode: 'REFUSED' },
  ENOTIMP: { failure: 'dns', rcode: 'NOTIMP' },
  EFORMERR: { failure: 'dns', rcode: 'FORMERR' },
  EBADRESP: { failure: 'dns', rcode: 'bad response' },
  EBADNAME: { failure: 'dns', rcode: 'bad name' },
  ETIMEOUT: { failure: 'timeout', rcode: 'timeout' },
  ECANCELLED: { failure: 'timeout', rcode: 'timeout' },
  ECONNREFUSED: { failure: 'refused', rcode: 'connection refused' },
};

/** Resolves one name through a chosen server or the system resolver; answers are values, failures results. */
export const dnsCheck = defineCheck({
  type: 'dns',
  category: 'health',
  summary: 'Resolves a name (A, AAAA, CNAME, MX, TXT, SRV, NS, PTR) through a chosen server or the system resolver; reports latency and the answers.',
  schema,
  fields(spec) {
    const { matches, ...rest } = FIELDS;
    return spec.expect !== undefined ? { ...rest, matches } : rest;
  },
  defaults(spec) {
    return { crit: spec.expect !== undefined ? ['answers == 0', 'matches == false'] : ['answers == 0'] };
  },
  async run({ spec, signal, timeoutMs }) {
    const where = spec.server ?? 'the system resolver';
    const what = `${spec.record} ${spec.query} via ${where}`;
    const o = await lookup(spec, signal, timeoutMs);
    if (o.error !== undefined) {
      const code = (o.error as { code?: string }).code ?? '';
      // NODATA: the name exists, with no record of this type. An answer, if an empty one.
      if (code === 'ENODATA') {
        return { values: { latencyMs: o.latencyMs, answers: 0, answer: '', ...(spec.expect ? { matches: false } : {}) }, message: `${what}: no ${spec.record} records (NOERROR, no data) in ${o.latencyMs} ms` };
      }
      const known = ERRORS[code];
      const values: Record<string, Value> = known?.failure === 'dns' ? { latencyMs: o.latencyMs } : {};
      if (known) return targetDown(known.failure, `${what}: ${known.rcode}${known.failure === 'timeout' ? ` after ${o.latencyMs} ms` : ''}`, values);
      return targetDown('error', `${what}: ${String((o.error as Error).message ?? o.error).slice(0, 200)}`);
    }
    const list = [...new Set(o.answers)].sort();
    const joined = list.join(', ');
    const values: Record<string, Value> = {
      latencyMs: o.latencyMs,
      answers: o.answers.length,
      answer: joined.length > MAX_ANSWER_CHARS ? `${joined.slice(0, MAX_ANSWER_CHARS - 1)}…` : joined,
    };
    let message = `${what}: ${o.answers.length} answer${o.answers.length === 1 ? '' : 's'} in ${o.latencyMs} ms: ${truncate(joined, 120)}`;
    if (spec.expect !== undefined) {
      const want = [...new Set(spec.expect.map(normalise))].sort();
      const got = [...new Set(o.answers.map(normalise))].sort();
      values.matches = want.length === got.length && want.every((w, i) => w === got[i]);
      if (!values.matches) {
        const missing = want.filter((w) => !got.includes(w));
        const extra = got.filter((g) => !want.includes(g));
        message += `; not as expected (${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unexpected ${extra.join(', ')}` : ''].filter(Boolean).join('; ')})`;
      }
    }
    return { values, message };
  },
});

function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** Names compare without case and without a trailing dot; quotes around TXT are not part of it. */
function normalise(answer: string): string {
  return answer.trim().replace(/\.$/, '').replace(/\.(\s|$)/g, '$1').toLowerCase();
}

/** One answer as text, the form `answer` shows and `expect` takes. */
export function formatRecord(record: RecordType, r: unknown): string {
  switch (record) {
    case 'MX': {
      const m = r as { priority: number; exchange: string };
      return `${m.priority} ${m.exchange}`;
    }
    case 'TXT':
      return (r as string[]).join('');
    case 'SRV': {
      const s = r as { priority: number; weight: number; port: number; name: string };
      return `${s.priority} ${s.weight} ${s.port} ${s.name}`;
    }
    default:
      return String(r);
  }
}

interface Outcome {
  latencyMs: number;
  answers: string[];
  error?: unknown;
}

/**
 * One query on a resolver of its own (node:dns, c-ares: UDP, TCP when the answer is truncated),
 * cancelled on abort; the resolver holds no socket once it has answered or been cancelled.
 */
async function lookup(spec: DnsSpec, signal: AbortSignal, timeoutMs: number): Promise<Outcome> {
  const { Resolver } = await import('node:dns/promises');
  // c-ares' own timeout, one try: the run's signal cancels it earlier if the run ends first.
  const resolver = new Resolver({ timeout: Math.max(1, Math.floor(timeoutMs)), tries: 1 });
  if (spec.server !== undefined) {
    const s = parseServer(spec.server)!;
    resolver.setServers([net.isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`]);
  }
  const started = performance.now();
  const elapsed = () => round(performance.now() - started, 3);
  const onAbort = () => resolver.cancel();
  if (signal.aborted) return { latencyMs: 0, answers: [], error: Object.assign(new Error('cancelled'), { code: 'ECANCELLED' }) };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const raw = await resolve(resolver, spec);
    return { latencyMs: elapsed(), answers: (raw as unknown[]).map((r) => formatRecord(spec.record, r)) };
  } catch (error) {
    return { latencyMs: elapsed(), answers: [], error };
  } finally {
    signal.removeEventListener('abort', onAbort);
    resolver.cancel();
  }
}

function resolve(resolver: import('node:dns/promises').Resolver, spec: DnsSpec): Promise<unknown[]> {
  switch (spec.record) {
    case 'A': return resolver.resolve4(spec.query);
    case 'AAAA': return resolver.resolve6(spec.query);
    case 'CNAME': return resolver.resolveCname(spec.query);
    case 'MX': return resolver.resolveMx(spec.query);
    case 'TXT': return resolver.resolveTxt(spec.query);
    case 'SRV': return resolver.resolveSrv(spec.query);
    case 'NS': return resolver.resolveNs(spec.query);
    case 'PTR':
      // An address is looked up by its reverse name; a name is taken as one already.
      return net.isIP(spec.query) ? resolver.reverse(spec.query) : resolver.resolvePtr(spec.query);
  }
}
