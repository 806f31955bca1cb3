import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type net from 'node:net';
import type { ConnectionOptions, Msg, NatsConnection } from 'nats';
import { z } from 'zod';
import { classifyNetworkError, defineCheck, describeNetworkError, formatDuration, readConfiguredFile, round, targetDown, type Observation, type TargetFailure } from '../types';

/** Largest `caFile` read: a bundle of CA certificates. */
const MAX_CA_BYTES = 1024 * 1024;

/** How long closing the connection may take at the end of a run before the run returns anyway. */
const CLOSE_WAIT_MS = 1000;

/**
 * The sockets each run's client opened, found through Node's `net.client.socket` channel in the
 * run's async context. The client leaves a socket open when its connect times out before the
 * server's INFO (its transport's close skips a connection not yet made), so a hung server
 * would gain a connection per run; the run destroys whatever of its own is still open.
 */
const runSockets = new AsyncLocalStorage<Set<net.Socket>>();
let watchingSockets = false;
function watchSockets(): void {
  if (watchingSockets) return;
  watchingSockets = true;
  diagnostics.subscribe('net.client.socket', (message) => {
    runSockets.getStore()?.add((message as { socket: net.Socket }).socket);
  });
}

/** A server URL without a password in it: credentials come from `password`/`token` (`${VAR}`). */
const server = z
  .string()
  .min(1)
  .refine((s) => !/:\/\//.test(s) || !URL.canParse(s) || (new URL(s).password === '' && new URL(s).username === ''), {
    message: 'must not hold credentials: set user/password or token from ${VAR} or ${file:}',
  })
  .refine((s) => !/@/.test(s), { message: 'must not hold credentials: set user/password or token from ${VAR} or ${file:}' });

const schema = z
  .strictObject({
    servers: z
      .union([server, z.array(server).min(1)])
      .default('nats://127.0.0.1:4222')
      .describe('Server URL (nats://host:port, tls://host:port or host:port), or a list of them tried in order.'),
    user: z.string().min(1).optional().describe('User name, with password.'),
    password: z.string().min(1).optional().describe('Password for user; give it as ${VAR} or ${file:/path}, never inline.'),
    token: z.string().min(1).optional().describe('Authentication token (instead of user/password); give it as ${VAR} or ${file:/path}.'),
    tls: z.boolean().default(false).describe('Require TLS (a server that offers it is spoken to over TLS anyway).'),
    insecure: z.boolean().default(false).describe('With TLS: skip certificate verification.'),
    caFile: z.string().min(1).optional().describe('With TLS: PEM file of the CA certificates to trust instead of the system ones.'),
  })
  .superRefine((s, ctx) => {
    if ((s.user === undefined) !== (s.password === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'user and password go together', path: [s.user === undefined ? 'user' : 'password'] });
    }
    if (s.token !== undefined && s.user !== undefined) ctx.addIssue({ code: 'custom', message: 'token cannot be combined with user/password', path: ['token'] });
  });

type NatsSpec = z.output<typeof schema>;

/** Why a connect or round trip failed, as a failure reason and a word for the message. */
export function classifyNatsError(err: unknown): { failure: TargetFailure; what: string } {
  const e = err as { code?: string; message?: string; chainedError?: unknown } | undefined;
  const code = e?.code ?? '';
  if (['AUTHORIZATION_VIOLATION', 'AUTHENTICATION_EXPIRED', 'AUTHENTICATION_TIMEOUT', 'ACCOUNT_EXPIRED', 'BAD_AUTHENTICATION', 'BAD_CREDS'].includes(code) ||
      /authorization violation|authentication/i.test(e?.message ?? '')) {
    return { failure: 'error', what: 'authentication failed' };
  }
  if (code === 'PERMISSIONS_VIOLATION') return { failure: 'error', what: 'not permitted' };
  if (code === 'CONNECTION_REFUSED') return { failure: e?.chainedError ? classifyNetworkError(e.chainedError) : 'refused', what: 'connection failed' };
  if (code === 'TIMEOUT' || code === 'CONNECTION_TIMEOUT') return { failure: 'timeout', what: 'timed out' };
  if (code === 'TLS' || code === 'SERVER_OPT_NA' || /tls/i.test(e?.message ?? '')) return { failure: 'tls', what: 'TLS failed' };
  const failure = classifyNetworkError(e?.chainedError ?? err);
  return { failure, what: failure === 'error' ? 'failed' : 'connection failed' };
}

/** Connects to NATS and round-trips a message through a private inbox subject. */
export const natsCheck = defineCheck({
  type: 'nats',
  category: 'health',
  summary: 'Connects to NATS (optionally with TLS and credentials), publishes to a private inbox subject and receives the message back; reports round-trip latency and the server RTT.',
  schema,
  fields: {
    connectMs: { type: 'number', unit: 'ms', help: 'Time to connect: TCP, TLS with tls, and the CONNECT handshake' },
    latencyMs: { type: 'number', unit: 'ms', help: 'Time from publishing a message on a private inbox subject to receiving it back' },
    rttMs: { type: 'number', unit: 'ms', help: 'Round trip of a PING/PONG to the server (flush)' },
  },
  async run({ spec, signal, timeoutMs }) {
    const servers = Array.isArray(spec.servers) ? spec.servers : [spec.servers];
    const where = servers.join(',');
    if (signal.aborted) return targetDown('timeout', `${where} was not tried: the run's time was up`);
    const ca = spec.caFile ? await readConfiguredFile('nats', 'caFile', spec.caFile, MAX_CA_BYTES) : undefined;
    const { connect, createInbox } = await import('nats');

    let rejectAbort: (err: Error) => void = () => {};
    const aborted = new Promise<never>((_, reject) => (rejectAbort = reject));
    aborted.catch(() => undefined);
    const onAbort = () => rejectAbort(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    signal.addEventListener('abort', onAbort, { once: true });

    let stage = 'connect';
    let nc: NatsConnection | undefined;
    const started = performance.now();
    watchSockets();
    const sockets = new Set<net.Socket>();
    const connecting = runSockets.run(sockets, () => connect(options(spec, servers, timeoutMs, ca)));
    try {
      nc = await Promise.race([connecting, aborted]);
      const connectMs = round(performance.now() - started, 3);

      stage = 'round trip';
      const subject = createInbox();
      const payload = `keepwatch ${randomUUID()}`;
      const received = new Promise<Msg>((resolve, reject) => {
        nc!.subscribe(subject, { max: 1, callback: (err, msg) => (err ? reject(err) : resolve(msg)) });
      });
      received.catch(() => undefined);
      const sent = performance.now();
      nc.publish(subject, payload);
      const msg = await Promise.race([received, aborted, closed(nc)]);
      const latencyMs = round(performance.now() - sent, 3);
      if (msg.string() !== payload) return targetDown('error', `${where} round trip returned a different message (${msg.data.length} bytes)`, { connectMs, latencyMs });

      stage = 'flush';
      const rttMs = round(await Promise.race([nc.rtt(), aborted]), 3);
      const server = nc.info ? `${nc.info.server_name || nc.info.host} (nats-server ${nc.info.version})` : where;
      return {
        values: { connectMs, latencyMs, rttMs },
        message: `${server} connected in ${connectMs} ms, message round trip ${latencyMs} ms, RTT ${rttMs} ms`,
      };
    } catch (err) {
      return failed(err, stage, where, signal.aborted, timeoutMs);
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (nc) await closeWithin(nc, CLOSE_WAIT_MS);
      // A connect still under way when the run was aborted: close it as soon as it is made.
      else connecting.then((c) => c.close(), () => undefined).catch(() => undefined);
      for (const socket of sockets) socket.destroy();
    }
  },
});

function options(spec: NatsSpec, servers: string[], timeoutMs: number, ca: string | undefined): ConnectionOptions {
  const tlsOn = spec.tls || spec.insecure || ca !== undefined || servers.some((s) => s.startsWith('tls://'));
  return {
    servers,
    user: spec.user,
    pass: spec.password,
    token: spec.token,
    tls: tlsOn ? { rejectUnauthorized: !spec.insecure, ...(ca ? { ca } : {}) } as ConnectionOptions['tls'] : undefined,
    name: 'keepwatch',
    // One connection per run that fails fast: no reconnect, no buffering for a server that is down.
    reconnect: false,
    maxReconnectAttempts: 0,
    waitOnFirstConnect: false,
    timeout: Math.max(1, timeoutMs),
    noEcho: false,
    pingInterval: 60 * 60 * 1000,
  };
}

/** Rejects when the connection closes before the message arrived (the server dropped it). */
function closed(nc: NatsConnection): Promise<never> {
  return nc.closed().then((err) => {
    throw err ?? Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' });
  });
}

async function closeWithin(nc: NatsConnection, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    nc.close().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

function failed(err: unknown, stage: string, where: string, aborted: boolean, timeoutMs: number): Observation {
  const { failure, what } = classifyNatsError(err);
  if (failure === 'error' && what !== 'failed') return targetDown('error', `${where} ${what}: ${describeNetworkError(err)}`);
  if (aborted || failure === 'timeout') return targetDown('timeout', `${where} did not complete the ${stage} within ${formatDuration(timeoutMs)}`);
  return targetDown(failure, `${where} ${stage} ${what}: ${describeNetworkError((err as { chainedError?: unknown })?.chainedError ?? err)}`);
}
