import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { z } from 'zod';
import { certDaysLeft, classifyNetworkError, defineCheck, describeNetworkError, formatDuration, isValidRegex, rootError, round, targetDown, type FieldSpec, type Value } from '../types';

/** How much of the reply is read while looking for `expect`: banners and status lines are short. */
const MAX_REPLY_BYTES = 4096;

/**
 * How long a reply that does not match yet may pause before it is judged a mismatch.
 * Servers such as Redis answer and keep the connection open; without this a wrong answer
 * would only be known at the timeout.
 */
const REPLY_QUIET_MS = 1000;

const schema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('Host name or IP address to connect to.'),
    port: z.number().int().min(1).max(65535).describe('TCP port, 1 to 65535.'),
    send: z
      .string()
      .optional()
      .describe('Text written once connected (write "\\r\\n" in a double-quoted YAML string for line ends).'),
    expect: z
      .string()
      .min(1)
      .refine(isValidRegex, { message: 'invalid regular expression' })
      .optional()
      .describe('Regular expression the first bytes of the reply (up to 4 KiB) must match; sets the `matches` value.'),
    tls: z.boolean().default(false).describe('Speak TLS after connecting; latencyMs then includes the handshake.'),
    insecure: z.boolean().default(false).describe('With tls: skip certificate verification (certDaysLeft is still reported).'),
    serverName: z.string().min(1).optional().describe('With tls: the name sent in SNI and verified against the certificate (default: host, unless it is an IP address).'),
  })
  .superRefine((s, ctx) => {
    for (const key of ['insecure', 'serverName'] as const) {
      if (s[key] && !s.tls) ctx.addIssue({ code: 'custom', message: `${key} applies only with tls: true`, path: [key] });
    }
  });

type TcpSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  latencyMs: { type: 'number', unit: 'ms', help: 'Time to connect: name lookup and TCP handshake, plus the TLS handshake with tls' },
  matches: { type: 'boolean', help: 'Whether the reply matched expect (only when expect is set)', reason: 'body' },
  certDaysLeft: { type: 'number', unit: 'days', help: 'Days until the earliest certificate in the served chain expires (only with tls)' },
};

/** Checks that a TCP port accepts connections, optionally speaking TLS and checking a reply. */
export const tcpCheck = defineCheck({
  type: 'tcp',
  category: 'health',
  summary: 'Connects to a TCP port (optionally with TLS), can send text and match the reply; reports latency and certificate expiry.',
  schema,
  fields(spec) {
    const fields: Record<string, FieldSpec> = { latencyMs: FIELDS.latencyMs };
    if (spec.expect !== undefined) fields.matches = FIELDS.matches;
    if (spec.tls) fields.certDaysLeft = FIELDS.certDaysLeft;
    return fields;
  },
  defaults(spec) {
    return spec.expect !== undefined ? { crit: ['matches == false'] } : {};
  },
  async run({ spec, signal, timeoutMs, now }) {
    const target = net.isIPv6(spec.host) ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`;
    const o = await probe(spec, signal, now);
    const values: Record<string, Value> = {};
    if (o.latencyMs !== undefined) values.latencyMs = o.latencyMs;
    if (o.certDaysLeft !== undefined) values.certDaysLeft = o.certDaysLeft;

    if (o.error !== undefined || o.timedOut) {
      if (o.timedOut) {
        const within = formatDuration(timeoutMs);
        const what =
          !o.connected ? `did not connect within ${within}` :
          o.latencyMs === undefined ? `did not complete the TLS handshake within ${within}` :
          spec.expect !== undefined ? `connected in ${o.latencyMs} ms but sent no reply within ${within}` :
          `connected in ${o.latencyMs} ms but did not take the data sent within ${within}`;
        return targetDown('timeout', `${target} ${what}`, values);
      }
      const stage = o.latencyMs === undefined ? '' : ' after connecting';
      return targetDown(classifyNetworkError(rootError(o.error)), `${target}${stage}: ${describeNetworkError(o.error)}`, values);
    }

    let message = `${target} connected in ${o.latencyMs} ms`;
    if (o.certDaysLeft !== undefined) message += `, certificate expires in ${o.certDaysLeft} days`;
    if (o.matches !== undefined) {
      values.matches = o.matches;
      message += o.matches
        ? `, reply matches /${spec.expect}/`
        : `, reply does not match /${spec.expect}/: ${JSON.stringify(o.reply.slice(0, 60))}`;
    }
    return { values, message };
  },
});

interface Outcome {
  /** The TCP connection was made (with tls, the handshake may still have failed). */
  connected?: boolean;
  latencyMs?: number;
  certDaysLeft?: number;
  matches?: boolean;
  reply: string;
  error?: unknown;
  timedOut: boolean;
}

/** Connects, sends, reads; always settles (never rejects) and always destroys the socket. */
function probe(spec: TcpSpec, signal: AbortSignal, now: () => number): Promise<Outcome> {
  if (signal.aborted) return Promise.resolve({ reply: '', timedOut: true });
  const expect = spec.expect !== undefined ? new RegExp(spec.expect) : undefined;
  return new Promise((resolve) => {
    const started = performance.now();
    const out: Outcome = { reply: '', timedOut: false };
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;

    const socket: net.Socket = spec.tls
      ? tls.connect({
          host: spec.host,
          port: spec.port,
          // SNI carries names only; Node warns when given an IP address.
          servername: spec.serverName ?? (net.isIP(spec.host) ? undefined : spec.host),
          rejectUnauthorized: !spec.insecure,
        })
      : net.connect({ host: spec.host, port: spec.port });

    let quiet: NodeJS.Timeout | undefined;
    const finish = (patch: Partial<Outcome> = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(quiet);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ...out, ...patch });
    };
    // A target that answered, only not as expected, is up with matches false, not timed out.
    const onAbort = () => finish(bytes > 0 ? { matches: false } : { timedOut: true });
    signal.addEventListener('abort', onAbort, { once: true });

    // A match ends the wait at once; a miss is final at the byte cap, when the peer closes,
    // or when the reply pauses.
    const judgeReply = (final: boolean) => {
      out.reply = Buffer.concat(chunks).toString('utf8');
      clearTimeout(quiet);
      if (expect!.test(out.reply)) finish({ matches: true });
      else if (final || bytes >= MAX_REPLY_BYTES) finish({ matches: false });
      else quiet = setTimeout(() => finish({ matches: false }), REPLY_QUIET_MS);
    };

    socket.once('connect', () => {
      out.connected = true;
    });
    socket.once(spec.tls ? 'secureConnect' : 'connect', () => {
      out.latencyMs = round(performance.now() - started, 3);
      if (spec.tls) out.certDaysLeft = certDaysLeft(socket as TLSSocket, now());
      if (spec.send !== undefined) {
        socket.write(spec.send, (err) => {
          if (err) finish({ error: err });
          else if (!expect) finish();
        });
      } else if (!expect) {
        finish();
      }
    });
    socket.on('data', (chunk: Buffer) => {
      if (!expect || settled) return;
      const room = MAX_REPLY_BYTES - bytes;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      bytes += Math.min(chunk.length, room);
      judgeReply(false);
    });
    socket.on('end', () => {
      if (out.latencyMs === undefined) finish({ error: closedEarly() });
      if (expect) judgeReply(true);
      finish();
    });
    socket.on('error', (err) => finish({ error: err }));
    socket.on('close', () => finish(out.latencyMs === undefined ? { error: closedEarly() } : {}));
  });
}

/** The earliest expiry in the served chain, in days from `nowMs`; an intermediate can lapse before the leaf. */
/** The peer hung up before the connection (or TLS session) was up: it would not talk, as with a reset. */
function closedEarly(): Error {
  return Object.assign(new Error('connection closed before it was established'), { code: 'ECONNRESET' });
}

/** Happy-eyeballs connects fail with an AggregateError of one error per address; the first says why. */
