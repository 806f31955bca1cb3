import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { Channel, ChannelModel } from 'amqplib';
import { z } from 'zod';
import { classifyNetworkError, defineCheck, describeNetworkError, formatDuration, rootError, round, targetDown, type FieldSpec, type TargetFailure, type Value } from '../types';

/** How long closing may wait for the broker's CloseOk before the socket is destroyed. */
const CLOSE_WAIT_MS = 1000;

const management = z
  .strictObject({
    url: z.string().refine((u) => /^https?:\/\/[^/]/i.test(u), { message: 'must be an http:// or https:// URL' }).describe('Base URL of the management plugin, e.g. http://127.0.0.1:15672.'),
    user: z.string().min(1).default('guest').describe('Management API user.'),
    password: z.string().default('guest').describe('Management API password; write it as ${VAR} or ${file:/path}.'),
  });

const schema = z
  .strictObject({
    url: z.string().refine((u) => /^amqps?:\/\/[^/]/i.test(u), { message: 'must be an amqp:// or amqps:// URL' }).optional()
      .describe('Broker URL, amqp://host:port/vhost or amqps://… (instead of host, port, vhost and tls); put no password in it, use password.'),
    host: z.string().min(1).optional().describe('Broker host (default 127.0.0.1; not with url).'),
    port: z.number().int().min(1).max(65535).optional().describe('Broker port (default 5672, 5671 with tls; not with url).'),
    vhost: z.string().optional().describe('Virtual host (default /; not with url, where it is the path).'),
    user: z.string().min(1).default('guest').describe('User name.'),
    password: z.string().default('guest').describe('Password; write it as ${VAR} or ${file:/path}.'),
    tls: z.boolean().default(false).describe('Speak TLS (AMQPS); implied by an amqps:// url.'),
    insecure: z.boolean().default(false).describe('With TLS: skip certificate verification.'),
    serverName: z.string().min(1).optional().describe('With TLS: the name sent in SNI and verified against the certificate (default: the host).'),
    queues: z.array(z.string().min(1)).default([]).describe('Queues whose depth and consumers are reported as messages_<queue> and consumers_<queue>.'),
    management: management.optional().describe('Read queue figures from the management HTTP API ({ url, user, password }; adds message rates) instead of a passive declare.'),
  })
  .superRefine((s, ctx) => {
    if (s.url !== undefined) {
      for (const key of ['host', 'port', 'vhost'] as const) {
        if (s[key] !== undefined) ctx.addIssue({ code: 'custom', message: `${key} cannot be combined with url (put it in the url)`, path: [key] });
      }
      if (URL.canParse(s.url) && new URL(s.url).password) ctx.addIssue({ code: 'custom', message: 'put the password in the password key (as ${VAR}), not in the url', path: ['url'] });
    }
    const seen = new Map<string, string>();
    s.queues.forEach((q, i) => {
      const key = fieldSuffix(q);
      const other = seen.get(key);
      if (other !== undefined) ctx.addIssue({ code: 'custom', message: `queues "${other}" and "${q}" would both report as messages_${key}`, path: ['queues', i] });
      seen.set(key, q);
    });
  });

type RabbitSpec = z.output<typeof schema>;

/** A queue name as it appears in value names: conditions take letters, digits and `_` only. */
export function fieldSuffix(queue: string): string {
  return queue.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Checks a RabbitMQ broker: a message round trip through a private queue, and named queues' depth. */
export const rabbitmqCheck = defineCheck({
  type: 'rabbitmq',
  category: 'health',
  summary: 'Round-trips a message through a RabbitMQ broker (AMQP 0-9-1) and reports latency, and depth and consumers of named queues.',
  schema,
  fields(spec) {
    const fields: Record<string, FieldSpec> = {
      connectMs: { type: 'number', unit: 'ms', help: 'Time to open the connection: TCP, TLS with tls, and the AMQP handshake' },
      latencyMs: { type: 'number', unit: 'ms', help: 'Time from publishing a message to a private queue to receiving it back' },
    };
    if (spec.queues.length > 0) fields.missingQueues = { type: 'number', unit: 'count', help: 'Named queues that do not exist' };
    for (const q of spec.queues) {
      const k = fieldSuffix(q);
      fields[`messages_${k}`] = { type: 'number', unit: 'count', help: `Messages in queue ${q}` };
      fields[`consumers_${k}`] = { type: 'number', unit: 'count', help: `Consumers of queue ${q}` };
      if (spec.management) {
        fields[`publishRate_${k}`] = { type: 'number', unit: 'none', help: `Messages published to queue ${q} per second (management API, when it has rates)` };
        fields[`deliverRate_${k}`] = { type: 'number', unit: 'none', help: `Messages delivered from queue ${q} per second (management API, when it has rates)` };
      }
    }
    return fields;
  },
  defaults(spec) {
    return { warn: ['latencyMs > 1s'], crit: spec.queues.length > 0 ? ['missingQueues > 0'] : [] };
  },
  async run({ spec, signal, timeoutMs }) {
    const target = describeTarget(spec);
    const values: Record<string, Value> = {};
    const amqp = await import('amqplib');
    const started = performance.now();
    const opts = connectOptions(spec);
    // Node's net.connect with a signal that is already aborted reports the abort and then
    // connects anyway, leaving a socket nobody closes: give up before opening one.
    if (signal.aborted) return targetDown('timeout', `${target} did not connect within ${formatDuration(timeoutMs)}`);
    // Aborting destroys the socket, also while amqplib is still connecting (its promise cannot be
    // cancelled). tls.connect ignores `signal`, so with TLS it wraps a plain socket that takes it.
    const sockopts = {
      signal,
      ...(opts.protocol === 'amqps' ? { socket: net.connect({ host: opts.hostname, port: opts.port, signal }) } : {}),
      timeout: timeoutMs,
      servername: spec.serverName ?? (net.isIP(opts.hostname) ? undefined : opts.hostname),
      rejectUnauthorized: !spec.insecure,
      clientProperties: { connection_name: 'keepwatch' },
    };
    const connecting = amqp.connect(opts, sockopts);
    let conn: ChannelModel | undefined;
    try {
      conn = await untilAborted(connecting, signal);
      conn.on('error', () => {});
      values.connectMs = round(performance.now() - started, 3);

      const ch = await untilAborted(conn.createChannel(), signal);
      ch.on('error', () => {});
      values.latencyMs = await roundTrip(ch, signal);

      let missing: string[] = [];
      if (spec.queues.length > 0) {
        missing = spec.management
          ? await managementQueues(spec, opts.vhost, values, signal)
          : await passiveQueues(conn, spec.queues, values, signal);
        values.missingQueues = missing.length;
      }
      let message = `${target} round trip in ${values.latencyMs} ms (connected in ${values.connectMs} ms)`;
      if (spec.queues.length > 0) {
        const found = spec.queues.filter((q) => !missing.includes(q)).map((q) => `${q} ${values[`messages_${fieldSuffix(q)}`]} msgs/${values[`consumers_${fieldSuffix(q)}`]} consumers`);
        if (found.length > 0) message += `; ${found.join(', ')}`;
        if (missing.length > 0) message += `; queue not found: ${missing.join(', ')}`;
      }
      return { values, message };
    } catch (err) {
      if (signal.aborted) {
        const stage = values.connectMs === undefined ? 'did not connect' : 'connected but the message did not come back';
        return targetDown('timeout', `${target} ${stage} within ${formatDuration(timeoutMs)}`, values);
      }
      const { failure, text } = classifyAmqpError(err, values.connectMs === undefined);
      return targetDown(failure, `${target}: ${text}`, values);
    } finally {
      if (conn) await closeConnection(conn);
      // A connection that opens after the run gave up is closed as soon as it does.
      else connecting.then(closeConnection, () => {});
    }
  },
});

interface ConnectOptions {
  protocol: string;
  hostname: string;
  port: number;
  vhost: string;
  username: string;
  password: string;
  heartbeat: number;
}

function connectOptions(spec: RabbitSpec): ConnectOptions {
  const base = { username: spec.user, password: spec.password, heartbeat: 0 };
  if (spec.url !== undefined) {
    const u = new URL(spec.url);
    const tls = u.protocol === 'amqps:' || spec.tls;
    const path = u.pathname.replace(/^\//, '');
    return {
      ...base,
      protocol: tls ? 'amqps' : 'amqp',
      hostname: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: u.port ? Number(u.port) : tls ? 5671 : 5672,
      // amqp://host is vhost "/", amqp://host/ is "" in the spec; people mean "/" by both.
      vhost: path === '' ? '/' : decodeURIComponent(path),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    };
  }
  return {
    ...base,
    protocol: spec.tls ? 'amqps' : 'amqp',
    hostname: spec.host ?? '127.0.0.1',
    port: spec.port ?? (spec.tls ? 5671 : 5672),
    vhost: spec.vhost ?? '/',
  };
}

/** `amqp://host:port/vhost`, never the password. */
function describeTarget(spec: RabbitSpec): string {
  const o = connectOptions(spec);
  const host = net.isIPv6(o.hostname) ? `[${o.hostname}]` : o.hostname;
  return `${o.protocol}://${host}:${o.port}/${encodeURIComponent(o.vhost)}`;
}

/** Publishes to a fresh exclusive, auto-delete queue and waits for the message to come back. */
async function roundTrip(ch: Channel, signal: AbortSignal): Promise<number> {
  const queue = `keepwatch.${randomUUID()}`;
  await untilAborted(ch.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false }), signal);
  const id = randomUUID();
  let started = 0;
  const received = new Promise<number>((resolve) => {
    void ch.consume(queue, (msg) => {
      if (msg && msg.properties.correlationId === id) resolve(round(performance.now() - started, 3));
    }, { noAck: true }).catch(() => {});
  });
  started = performance.now();
  ch.sendToQueue(queue, Buffer.from('keepwatch'), { correlationId: id, expiration: '60000' });
  return untilAborted(received, signal);
}

/** Queue figures by passive declare; a missing queue closes the channel, so each gets its own. */
async function passiveQueues(conn: ChannelModel, queues: string[], values: Record<string, Value>, signal: AbortSignal): Promise<string[]> {
  const missing: string[] = [];
  for (const q of queues) {
    const ch = await untilAborted(conn.createChannel(), signal);
    ch.on('error', () => {});
    try {
      const r = await untilAborted(ch.checkQueue(q), signal);
      values[`messages_${fieldSuffix(q)}`] = r.messageCount;
      values[`consumers_${fieldSuffix(q)}`] = r.consumerCount;
      await ch.close().catch(() => {});
    } catch (err) {
      if ((err as { code?: number }).code === 404) missing.push(q);
      else throw err;
    }
  }
  return missing;
}

interface ManagementQueue {
  messages?: number;
  consumers?: number;
  message_stats?: { publish_details?: { rate?: number }; deliver_get_details?: { rate?: number } };
}

/** Queue figures from the management API: GET /api/queues/{vhost}/{name}. */
async function managementQueues(spec: RabbitSpec, vhost: string, values: Record<string, Value>, signal: AbortSignal): Promise<string[]> {
  const m = spec.management!;
  const base = m.url.replace(/\/+$/, '');
  const auth = `Basic ${Buffer.from(`${m.user}:${m.password}`).toString('base64')}`;
  const missing: string[] = [];
  for (const q of spec.queues) {
    const res = await fetch(`${base}/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(q)}`, { headers: { authorization: auth }, signal });
    if (res.status === 404) {
      await res.body?.cancel();
      missing.push(q);
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw Object.assign(new Error(`management API answered HTTP ${res.status} for queue ${q}${res.status === 401 ? ' (user or password refused)' : ''}`), { managementStatus: res.status });
    }
    const body = (await res.json()) as ManagementQueue;
    const k = fieldSuffix(q);
    values[`messages_${k}`] = num(body.messages);
    values[`consumers_${k}`] = num(body.consumers);
    const pub = body.message_stats?.publish_details?.rate;
    const del = body.message_stats?.deliver_get_details?.rate;
    if (typeof pub === 'number') values[`publishRate_${k}`] = pub;
    if (typeof del === 'number') values[`deliverRate_${k}`] = del;
  }
  return missing;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The failure reason and a one-line text for an error of amqplib (or of the management API). */
export function classifyAmqpError(err: unknown, connecting: boolean): { failure: TargetFailure; text: string } {
  const e = rootError(err) as { code?: unknown; message?: string; managementStatus?: number };
  const msg = String(e?.message ?? err).split('\n')[0];
  if (/ACCESS.REFUSED|\b403\b/.test(msg)) return { failure: 'error', text: `auth: user or password refused (ACCESS_REFUSED 403)` };
  if (connecting && /Expected ConnectionOpenOk|NOT.ALLOWED|\b530\b/.test(msg)) return { failure: 'error', text: 'auth: virtual host missing or not allowed for this user (NOT_ALLOWED 530)' };
  if (e?.managementStatus !== undefined) return { failure: 'error', text: msg };
  if (typeof e?.code === 'string') {
    const failure = classifyNetworkError(e);
    return { failure, text: describeNetworkError(e) };
  }
  if (/Socket closed abruptly|Connection closed/i.test(msg)) return { failure: 'refused', text: msg };
  return { failure: 'error', text: msg };
}

/** Rejects with an AbortError when `signal` fires first; the promise itself is left to settle. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(abortError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

function abortError(): Error {
  return Object.assign(new Error('aborted'), { name: 'AbortError' });
}

/** Closes the connection (and its channels), then destroys the socket whether or not the broker answered. */
async function closeConnection(conn: ChannelModel): Promise<void> {
  conn.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    conn.close().catch(() => {}),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS); }),
  ]);
  clearTimeout(timer);
  (conn.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
}
