import net from 'node:net';
import { z } from 'zod';
import { classifyNetworkError, defineCheck, describeNetworkError, formatBytes, formatDuration, readConfiguredFile, round, targetDown, type FieldSpec, type Observation, type Value } from '../types';

/** The first stage of a run: TCP, TLS, AUTH and CLIENT SETNAME (its name in messages). */
const HANDSHAKE = 'the connection handshake';

/** Largest `caFile` read: a bundle of CA certificates. */
const MAX_CA_BYTES = 1024 * 1024;

const schema = z
  .strictObject({
    url: z
      .string()
      .refine((u) => URL.canParse(u) && /^rediss?:$/.test(new URL(u).protocol), { message: 'must be a redis:// or rediss:// URL' })
      .refine((u) => !URL.canParse(u) || new URL(u).password === '', { message: 'must not hold a password: set `password` from ${VAR} or ${file:}' })
      .optional()
      .describe('Server as a URL instead of host and port: redis://[user@]host[:port][/db], rediss:// for TLS. No password in it: use `password`.'),
    host: z.string().min(1).optional().describe('Host name or IP address of the server (default 127.0.0.1; not with url).'),
    port: z.number().int().min(1).max(65535).optional().describe('TCP port, 1 to 65535 (default 6379; not with url).'),
    username: z.string().min(1).optional().describe('ACL user name (Redis 6+); without it the password authenticates the default user.'),
    password: z.string().min(1).optional().describe('Password (AUTH); give it as ${VAR} or ${file:/path}, never inline.'),
    db: z.number().int().min(0).optional().describe('Database number to SELECT (default 0, or the url path).'),
    tls: z.boolean().optional().describe('Speak TLS (default: true for a rediss:// url, else false).'),
    insecure: z.boolean().default(false).describe('With TLS: skip certificate verification.'),
    serverName: z.string().min(1).optional().describe('With TLS: the name sent in SNI and verified against the certificate (default: host, unless it is an IP address).'),
    caFile: z.string().min(1).optional().describe('With TLS: PEM file of the CA certificates to trust instead of the system ones.'),
  })
  .superRefine((s, ctx) => {
    if (s.url !== undefined) {
      for (const key of ['host', 'port'] as const) {
        if (s[key] !== undefined) ctx.addIssue({ code: 'custom', message: `${key} cannot be combined with url`, path: [key] });
      }
    }
    const tlsOn = s.tls ?? (s.url !== undefined && URL.canParse(s.url) && new URL(s.url).protocol === 'rediss:');
    for (const key of ['insecure', 'serverName', 'caFile'] as const) {
      if (s[key] && !tlsOn) ctx.addIssue({ code: 'custom', message: `${key} applies only with TLS (tls: true or a rediss:// url)`, path: [key] });
    }
  });

type RedisSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  latencyMs: { type: 'number', unit: 'ms', help: 'Round trip of a PING on the open connection' },
  usedMemory: { type: 'number', unit: 'bytes', help: 'Memory Redis has allocated for its data (used_memory)' },
  maxMemory: { type: 'number', unit: 'bytes', help: 'The maxmemory limit; 0 means no limit' },
  memoryPercent: { type: 'number', unit: 'percent', help: 'usedMemory as a percentage of maxMemory (only when a maxmemory limit is set)' },
  connectedClients: { type: 'number', unit: 'count', help: 'Client connections open, this one included (connected_clients)' },
  blockedClients: { type: 'number', unit: 'count', help: 'Clients waiting in a blocking call such as BLPOP (blocked_clients)' },
  rejectedConnections: { type: 'number', unit: 'count', help: 'Connections refused for maxclients since the server started (rejected_connections)' },
  role: { type: 'string', help: 'Replication role as INFO reports it: master, or slave for a replica' },
  masterLinkUp: { type: 'boolean', help: 'On a replica: whether the link to its master is up (master_link_status)' },
  masterLastIoSecondsAgo: { type: 'number', unit: 'seconds', help: 'On a replica with its link up: seconds since the last interaction with the master' },
  lastSaveOk: { type: 'boolean', help: 'Whether the last RDB background save succeeded (rdb_last_bgsave_status)' },
};

/** The fields of `INFO` (`key:value` lines under `# Section` headers), flat. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** The check's values from parsed INFO fields (numbers only where INFO has them). */
export function infoValues(info: Record<string, string>): Record<string, Value> {
  const values: Record<string, Value> = {};
  const num = (key: string): number | undefined => {
    const v = info[key];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const set = (name: string, v: Value | undefined) => {
    if (v !== undefined) values[name] = v;
  };
  const used = num('used_memory');
  const max = num('maxmemory');
  set('usedMemory', used);
  set('maxMemory', max);
  if (used !== undefined && max !== undefined && max > 0) values.memoryPercent = round((used / max) * 100, 2);
  set('connectedClients', num('connected_clients'));
  set('blockedClients', num('blocked_clients'));
  set('rejectedConnections', num('rejected_connections'));
  set('role', info.role);
  if (info.master_link_status !== undefined) values.masterLinkUp = info.master_link_status === 'up';
  // -1 while the link is down: no age to report.
  const lastIo = num('master_last_io_seconds_ago');
  if (lastIo !== undefined && lastIo >= 0) values.masterLastIoSecondsAgo = lastIo;
  if (info.rdb_last_bgsave_status !== undefined) values.lastSaveOk = info.rdb_last_bgsave_status === 'ok';
  return values;
}

/** Where the check connects: the url's parts, or host/port/db. */
function target(spec: RedisSpec): { host: string; port: number; db: number; username?: string; tls: boolean } {
  if (spec.url !== undefined) {
    const u = new URL(spec.url);
    const dbPath = u.pathname.replace(/^\//, '');
    return {
      host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      db: spec.db ?? (dbPath && /^\d+$/.test(dbPath) ? Number(dbPath) : 0),
      username: spec.username ?? (u.username ? decodeURIComponent(u.username) : undefined),
      tls: spec.tls ?? u.protocol === 'rediss:',
    };
  }
  return { host: spec.host ?? '127.0.0.1', port: spec.port ?? 6379, db: spec.db ?? 0, username: spec.username, tls: spec.tls ?? false };
}

/** A reply saying the credentials were missing or wrong (NOAUTH, WRONGPASS, pre-6 `invalid password`). */
export function isAuthError(err: unknown): boolean {
  const msg = (err as { message?: string } | undefined)?.message ?? '';
  return /^(NOAUTH|WRONGPASS)\b|invalid password|invalid username-password|called without any password configured|Client sent AUTH, but no password is set/i.test(msg);
}

/** Checks a Redis server: PING latency, memory against maxmemory, clients, replication and persistence. */
export const redisCheck = defineCheck({
  type: 'redis',
  category: 'health',
  summary: 'Connects to Redis (optionally with TLS and AUTH); reports PING latency, memory vs maxmemory, clients, replication role and link, last RDB save.',
  schema,
  fields: FIELDS,
  defaults: { warn: ['memoryPercent > 90', 'lastSaveOk == false'], crit: ['masterLinkUp == false'] },
  async run({ spec, signal, timeoutMs }) {
    const t = target(spec);
    const where = `${net.isIPv6(t.host) ? `[${t.host}]` : t.host}:${t.port}`;
    if (signal.aborted) return targetDown('timeout', `${where} was not tried: the run's time was up`);
    const ca = t.tls && spec.caFile ? await readConfiguredFile('redis', 'caFile', spec.caFile, MAX_CA_BYTES) : undefined;
    const { Redis } = await import('ioredis');
    const client = new Redis({
      host: t.host,
      port: t.port,
      username: t.username,
      password: spec.password,
      // SELECT is sent by the run itself, so that a db the server lacks fails the run.
      db: 0,
      tls: t.tls
        ? { servername: spec.serverName ?? (net.isIP(t.host) ? undefined : t.host), rejectUnauthorized: !spec.insecure, ...(ca ? { ca } : {}) }
        : undefined,
      connectionName: 'keepwatch',
      // One connection per run that fails fast: no reconnect, no queue waiting for a server that is down.
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      reconnectOnError: () => false,
      autoResubscribe: false,
      connectTimeout: Math.max(1, timeoutMs),
    });
    // The socket's own error (ECONNREFUSED, ENOTFOUND, a TLS alert): connect() only says "Connection is closed".
    let socketError: unknown;
    client.on('error', (err) => {
      socketError ??= err;
    });
    // ioredis settles a pending command some seconds after a disconnect: the run does not wait for it.
    let rejectAbort: (err: Error) => void = () => {};
    const aborted = new Promise<never>((_, reject) => (rejectAbort = reject));
    aborted.catch(() => undefined);
    const onAbort = () => {
      rejectAbort(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      close(client);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const step = <T>(p: Promise<T>): Promise<T> => {
      p.catch(() => undefined);
      return Promise.race([p, aborted]);
    };
    let stage = HANDSHAKE;
    try {
      await step(client.connect());
      if (t.db !== 0) {
        stage = 'SELECT';
        await step(client.select(t.db));
      }
      // AUTH goes out first on the connection; a refused password fails the PING.
      stage = 'PING';
      const started = performance.now();
      await step(client.ping());
      const latencyMs = round(performance.now() - started, 3);
      stage = 'INFO';
      const info = parseInfo(await step(client.info()));
      const values: Record<string, Value> = { latencyMs, ...infoValues(info) };
      return { values, message: `${where} ${describe(values)}` };
    } catch (err) {
      return failed(err, socketError, stage, where, signal.aborted, timeoutMs);
    } finally {
      signal.removeEventListener('abort', onAbort);
      close(client);
    }
  },
});

/** Closes the connection at once: no QUIT round trip, and the socket destroyed, not only ended. */
function close(client: { disconnect(): void; stream?: { destroy(): void } }): void {
  client.disconnect();
  client.stream?.destroy();
}

/** The down result of a run that failed at `stage`. */
function failed(err: unknown, socketError: unknown, stage: string, where: string, aborted: boolean, timeoutMs: number): Observation {
  if (isAuthError(err) || isAuthError(socketError)) {
    return targetDown('error', `${where} authentication failed: ${oneLine(isAuthError(err) ? err : socketError)}`);
  }
  if (aborted) return targetDown('timeout', `${where} did not answer ${stage} within ${formatDuration(timeoutMs)}`);
  const cause = socketError ?? err;
  const kind = classifyNetworkError(cause);
  // A reply error (a renamed INFO, a busy or loading server) is the query's failure, not the connection's.
  if ((err as { name?: string }).name === 'ReplyError') return targetDown('error', `${where} ${stage} failed: ${oneLine(err)}`);
  const at = stage === HANDSHAKE ? '' : ` during ${stage}`;
  return targetDown(kind, `${where}${at}: ${describeNetworkError(cause)}`);
}

function oneLine(err: unknown): string {
  return ((err as { message?: string })?.message ?? String(err)).split('\n')[0].slice(0, 200);
}

function describe(v: Record<string, Value>): string {
  const parts = [`PONG in ${v.latencyMs} ms`, String(v.role ?? 'unknown role')];
  if (typeof v.usedMemory === 'number') {
    parts.push(typeof v.maxMemory === 'number' && v.maxMemory > 0
      ? `${formatBytes(v.usedMemory)} of ${formatBytes(v.maxMemory)} used (${v.memoryPercent}%)`
      : `${formatBytes(v.usedMemory)} used (no maxmemory)`);
  }
  if (v.connectedClients !== undefined) parts.push(`${v.connectedClients} clients (${v.blockedClients ?? 0} blocked)`);
  if (v.masterLinkUp !== undefined) parts.push(`master link ${v.masterLinkUp ? 'up' : 'down'}`);
  if (v.lastSaveOk === false) parts.push('last RDB save failed');
  return parts.join(', ');
}
