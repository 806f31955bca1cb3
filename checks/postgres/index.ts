import path from 'node:path';
import type { Client, ClientConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import {
  classifyNetworkError, defineCheck, describeNetworkError, formatBytes, formatDuration, readConfiguredFile, rootError, round, targetDown,
  type FieldSpec, type Observation, type TargetFailure, type Value,
} from '../types';

/** The largest CA file read for verify-ca / verify-full. */
const PEM_MAX_BYTES = 1024 * 1024;
/** How long the goodbye (Terminate) may take before the socket is destroyed. */
const END_WAIT_MS = 1000;

const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSL_MODES)[number];

const schema = z
  .strictObject({
    url: z
      .string()
      .refine((u) => /^postgres(ql)?:\/\//i.test(u) && URL.canParse(u), { message: 'expected a postgres://user:${PASSWORD}@host:port/database URL' })
      .optional()
      .describe('postgres://user:${PGPASSWORD}@host:5432/database (?sslmode= is honoured); instead of host, port, database, user and password. Put the password in through ${VAR} or ${file:}.'),
    host: z.string().min(1).optional().describe('Host name or IP address of the server (default 127.0.0.1).'),
    port: z.number().int().min(1).max(65535).optional().describe('TCP port (default 5432).'),
    database: z.string().min(1).optional().describe('Database to connect to; its size is reported (default postgres).'),
    user: z.string().min(1).optional().describe('Role to log in as (default postgres).'),
    password: z.string().optional().describe('Password: write it as ${VAR} or ${file:/path}, never literally.'),
    sslmode: z
      .enum(SSL_MODES)
      .optional()
      .describe('disable (default), require (TLS, certificate not verified), verify-ca (TLS, chain verified against caFile), verify-full (chain and host name verified).'),
    caFile: z
      .string()
      .min(1)
      .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path to the CA file' })
      .optional()
      .describe('PEM file of the CA certificates for verify-ca / verify-full (verify-full defaults to the built-in CA store).'),
    applicationName: z.string().min(1).max(63).default('keepwatch').describe('application_name the check connects with (how its sessions show in pg_stat_activity).'),
  })
  .superRefine((s, ctx) => {
    if (s.url !== undefined) {
      for (const key of ['host', 'port', 'database', 'user', 'password'] as const) {
        if (s[key] !== undefined) ctx.addIssue({ code: 'custom', message: `${key} cannot be combined with url (put it in the URL)`, path: [key] });
      }
      const mode = new URL(s.url).searchParams.get('sslmode');
      if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
        ctx.addIssue({ code: 'custom', message: `sslmode=${mode} in the URL: expected one of ${SSL_MODES.join(', ')}`, path: ['url'] });
      }
    }
    if (s.caFile !== undefined && s.sslmode !== undefined && s.sslmode !== 'verify-ca' && s.sslmode !== 'verify-full') {
      ctx.addIssue({ code: 'custom', message: 'caFile applies only with sslmode verify-ca or verify-full', path: ['caFile'] });
    }
    if (s.sslmode === 'verify-ca' && s.caFile === undefined) {
      ctx.addIssue({ code: 'custom', message: 'sslmode verify-ca needs caFile (the CA to verify the chain against)', path: ['caFile'] });
    }
  });

export type PostgresSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  connectMs: { type: 'number', unit: 'ms', help: 'Time to connect and log in: TCP, TLS with sslmode, authentication' },
  latencyMs: { type: 'number', unit: 'ms', help: 'Round trip of SELECT 1 on the open connection' },
  connections: { type: 'number', unit: 'count', help: 'Client connections open on the server (client backends in pg_stat_activity), this check\'s included' },
  maxConnections: { type: 'number', unit: 'count', help: 'The server\'s max_connections' },
  connectionsPercent: { type: 'number', unit: 'percent', help: 'connections as a percentage of max_connections' },
  isReplica: { type: 'boolean', help: 'Whether the server is a standby (pg_is_in_recovery())' },
  replicationLagSeconds: {
    type: 'number', unit: 'seconds',
    help: 'On a replica: now() - pg_last_xact_replay_timestamp() (absent on a primary, or before anything was replayed)',
  },
  longestTransactionSeconds: { type: 'number', unit: 'seconds', help: 'Age of the oldest open transaction of a non-idle backend other than the check\'s own (0 when none)' },
  databaseSizeBytes: { type: 'number', unit: 'bytes', help: 'pg_database_size of the connected database' },
};

/** Where the check connects, resolved from url or the fields. */
export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  sslmode: SslMode;
}

/** The connection parameters of a spec: the URL's, else the fields with their defaults. */
export function pgTarget(spec: PostgresSpec): PgTarget {
  if (spec.url !== undefined) {
    const u = new URL(spec.url);
    const dec = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };
    const mode = u.searchParams.get('sslmode');
    return {
      host: dec(u.hostname).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: u.port ? Number(u.port) : 5432,
      database: dec(u.pathname.replace(/^\//, '')) || 'postgres',
      user: dec(u.username) || 'postgres',
      password: u.password ? dec(u.password) : undefined,
      sslmode: spec.sslmode ?? ((mode ?? 'disable') as SslMode),
    };
  }
  return {
    host: spec.host ?? '127.0.0.1',
    port: spec.port ?? 5432,
    database: spec.database ?? 'postgres',
    user: spec.user ?? 'postgres',
    password: spec.password,
    sslmode: spec.sslmode ?? 'disable',
  };
}

/** The one row the statistics query returns, as pg gives it (bigint and numeric as strings). */
export interface PgStatsRow {
  connections: number | string | null;
  max_connections: number | string | null;
  in_recovery: boolean | null;
  lag_seconds: number | string | null;
  longest_tx_seconds: number | string | null;
  size_bytes: number | string | null;
}

/**
 * One query for every figure but the latency. Connections count client backends only: the
 * background workers PostgreSQL 10+ lists in pg_stat_activity do not use max_connections slots.
 * Without superuser or pg_read_all_stats, other roles' xact_start reads null: the longest
 * transaction is then that of the check's role's sessions.
 */
export const STATS_SQL = `SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
  current_setting('max_connections')::int AS max_connections,
  pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_is_in_recovery() THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag_seconds,
  (SELECT EXTRACT(EPOCH FROM max(now() - xact_start)) FROM pg_stat_activity
     WHERE state IS DISTINCT FROM 'idle' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()) AS longest_tx_seconds,
  pg_database_size(current_database()) AS size_bytes`;

const num = (v: number | string | null | undefined): number | undefined => {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

/** The values of a statistics row: replica lag only on a replica that replayed something; never negative. */
export function pgStatsValues(row: PgStatsRow): Record<string, Value> {
  const values: Record<string, Value> = {};
  const connections = num(row.connections);
  const max = num(row.max_connections);
  if (connections !== undefined) values.connections = connections;
  if (max !== undefined) values.maxConnections = max;
  if (connections !== undefined && max !== undefined && max > 0) values.connectionsPercent = round((connections / max) * 100, 1);
  values.isReplica = row.in_recovery === true;
  const lag = num(row.lag_seconds);
  if (row.in_recovery === true && lag !== undefined) values.replicationLagSeconds = round(Math.max(0, lag), 3);
  values.longestTransactionSeconds = round(Math.max(0, num(row.longest_tx_seconds) ?? 0), 3);
  const size = num(row.size_bytes);
  if (size !== undefined) values.databaseSizeBytes = size;
  return values;
}

/** What failed, as the contract's reason plus the word the message starts with (auth, query, …). */
export function classifyPgError(err: unknown): { failure: TargetFailure; kind: string } {
  const e = rootError(err) as { code?: string; message?: string; name?: string } | undefined;
  const code = e?.code ?? '';
  const msg = e?.message ?? '';
  if (code === '28P01' || code === '28000') return { failure: 'error', kind: 'auth' };
  if (code === '3D000') return { failure: 'error', kind: 'database' };
  // 57014: canceled by statement_timeout; the others are pg's own client-side timers.
  if (code === '57014' || /timeout|timed out/i.test(msg) || e?.name === 'AbortError') return { failure: 'timeout', kind: 'timeout' };
  if (/does not support SSL|SSL|TLS|certificate/i.test(msg)) return { failure: 'tls', kind: 'tls' };
  const net = classifyNetworkError(e);
  if (net !== 'error') return { failure: net, kind: net === 'refused' ? 'connect' : net };
  if (/^[0-9A-Z]{5}$/.test(code)) return { failure: 'error', kind: 'query' };
  if (/Connection terminated/i.test(msg)) return { failure: 'refused', kind: 'connect' };
  return { failure: 'error', kind: 'error' };
}

function abortError(): Error {
  return Object.assign(new Error('aborted by the run\'s timeout'), { name: 'AbortError' });
}

/** `p`, or a rejection as soon as the run is aborted (the caller then destroys the socket). */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** The socket under a pg client (pg keeps it on its connection). */
function socketOf(client: Client): { destroy(): void } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
}

/** Closes the client: a Terminate and wait for the close, or the socket destroyed when that does not come. */
async function closeClient(client: Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, END_WAIT_MS); }),
    ]);
  } finally {
    clearTimeout(timer);
    socketOf(client)?.destroy();
  }
}

async function tlsOptions(spec: PostgresSpec, target: PgTarget): Promise<ClientConfig['ssl']> {
  if (target.sslmode === 'disable') return false;
  if (target.sslmode === 'require') return { rejectUnauthorized: false };
  const ca = spec.caFile !== undefined ? await readConfiguredFile('postgres', 'caFile', spec.caFile, PEM_MAX_BYTES) : undefined;
  const opts: ConnectionOptions = { rejectUnauthorized: true, ...(ca !== undefined ? { ca } : {}) };
  // verify-ca checks the chain only, as libpq does.
  if (target.sslmode === 'verify-ca') opts.checkServerIdentity = () => undefined;
  return opts;
}

/** Checks a PostgreSQL server: login, SELECT 1 latency, connections, replication lag, longest transaction, database size. */
export const postgresCheck = defineCheck({
  type: 'postgres',
  category: 'health',
  summary: 'Logs in to PostgreSQL and reports SELECT 1 latency, connections vs max_connections, replica lag, the longest transaction and the database size.',
  schema,
  fields: FIELDS,
  defaults: { warn: ['connectionsPercent > 80', 'replicationLagSeconds > 60'], crit: ['connectionsPercent > 95', 'replicationLagSeconds > 300'] },
  async run({ spec, signal, timeoutMs }): Promise<Observation> {
    const target = pgTarget(spec);
    const where = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/${target.database}`;
    const started = performance.now();
    const ssl = await tlsOptions(spec, target);
    // Loaded here, not at the top: an agent without a postgres check never loads pg.
    const pg = await import('pg');
    const ClientCtor = (pg as unknown as { default?: typeof pg }).default?.Client ?? pg.Client;
    const remaining = () => Math.max(1, Math.floor(timeoutMs - (performance.now() - started)));
    const client = new ClientCtor({
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.user,
      password: target.password ?? '',
      ssl,
      application_name: spec.applicationName,
      connectionTimeoutMillis: remaining(),
      statement_timeout: remaining(),
      query_timeout: remaining(),
      keepAlive: false,
    });
    // A socket error after the run settled must not become an uncaught 'error' event.
    client.on('error', () => undefined);
    const onAbort = () => socketOf(client)?.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    let connectMs: number | undefined;
    const values: Record<string, Value> = {};
    try {
      await unlessAborted(client.connect(), signal);
      connectMs = round(performance.now() - started, 3);
      values.connectMs = connectMs;
      const t0 = performance.now();
      await unlessAborted(client.query('SELECT 1'), signal);
      values.latencyMs = round(performance.now() - t0, 3);
      const stats = await unlessAborted(client.query<PgStatsRow>(STATS_SQL), signal);
      Object.assign(values, pgStatsValues(stats.rows[0]));
    } catch (err) {
      if (signal.aborted) {
        const stage = connectMs === undefined ? 'did not connect and log in' : 'did not answer its queries';
        return targetDown('timeout', `${where} ${stage} within ${formatDuration(timeoutMs)}`, values);
      }
      const { failure, kind } = classifyPgError(err);
      const code = (rootError(err) as { code?: string }).code;
      const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) ? ` (${code})` : '';
      const stage = connectMs === undefined ? '' : ' after login';
      const detail = sqlstate ? (rootError(err) as Error).message : describeNetworkError(err);
      return targetDown(failure, `${where}${stage}: ${kind}${sqlstate}: ${detail}`, values);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await closeClient(client);
    }
    return { values, message: describe(where, values) };
  },
});

function describe(where: string, v: Record<string, Value>): string {
  const parts = [`${where}: SELECT 1 in ${v.latencyMs} ms`];
  if (v.connections !== undefined) {
    parts.push(`${v.connections}/${v.maxConnections} connections${v.connectionsPercent !== undefined ? ` (${v.connectionsPercent}%)` : ''}`);
  }
  if (v.isReplica) parts.push(v.replicationLagSeconds !== undefined ? `replica ${v.replicationLagSeconds} s behind` : 'replica, nothing replayed yet');
  else parts.push('primary');
  parts.push(`longest transaction ${v.longestTransactionSeconds} s`);
  if (typeof v.databaseSizeBytes === 'number') parts.push(`database ${formatBytes(v.databaseSizeBytes)}`);
  return parts.join(', ');
}
