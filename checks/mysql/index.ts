import path from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { Connection, ConnectionOptions } from 'mysql2';
import { z } from 'zod';
import {
  classifyNetworkError, defineCheck, describeNetworkError, formatDuration, readConfiguredFile, rootError, round, targetDown,
  type FieldSpec, type Observation, type TargetFailure, type Value,
} from '../types';

/** The largest CA file read for verify-ca / verify-full. */
const PEM_MAX_BYTES = 1024 * 1024;
/** How long the goodbye (COM_QUIT) may take before the socket is destroyed. */
const END_WAIT_MS = 1000;

const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

const schema = z
  .strictObject({
    url: z
      .string()
      .refine((u) => /^(mysql|mariadb):\/\//i.test(u) && URL.canParse(u), { message: 'expected a mysql://user:${PASSWORD}@host:port/database URL' })
      .optional()
      .describe('mysql://user:${MYSQL_PASSWORD}@host:3306/database; instead of host, port, database, user and password. Put the password in through ${VAR} or ${file:}.'),
    host: z.string().min(1).optional().describe('Host name or IP address of the server (default 127.0.0.1).'),
    port: z.number().int().min(1).max(65535).optional().describe('TCP port (default 3306).'),
    database: z.string().min(1).optional().describe('Database to select on login (default none).'),
    user: z.string().min(1).optional().describe('User to log in as (default root).'),
    password: z.string().optional().describe('Password: write it as ${VAR} or ${file:/path}, never literally.'),
    sslmode: z
      .enum(SSL_MODES)
      .default('disable')
      .describe('disable (default), require (TLS, certificate not verified), verify-ca (TLS, chain verified against caFile), verify-full (chain and host name verified).'),
    caFile: z
      .string()
      .min(1)
      .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path to the CA file' })
      .optional()
      .describe('PEM file of the CA certificates for verify-ca / verify-full (verify-full defaults to the built-in CA store).'),
  })
  .superRefine((s, ctx) => {
    if (s.url !== undefined) {
      for (const key of ['host', 'port', 'database', 'user', 'password'] as const) {
        if (s[key] !== undefined) ctx.addIssue({ code: 'custom', message: `${key} cannot be combined with url (put it in the URL)`, path: [key] });
      }
    }
    if (s.caFile !== undefined && s.sslmode !== 'verify-ca' && s.sslmode !== 'verify-full') {
      ctx.addIssue({ code: 'custom', message: 'caFile applies only with sslmode verify-ca or verify-full', path: ['caFile'] });
    }
    if (s.sslmode === 'verify-ca' && s.caFile === undefined) {
      ctx.addIssue({ code: 'custom', message: 'sslmode verify-ca needs caFile (the CA to verify the chain against)', path: ['caFile'] });
    }
  });

export type MysqlSpec = z.output<typeof schema>;

const FIELDS: Record<string, FieldSpec> = {
  connectMs: { type: 'number', unit: 'ms', help: 'Time to connect and log in: TCP, TLS with sslmode, authentication' },
  latencyMs: { type: 'number', unit: 'ms', help: 'Round trip of SELECT 1 on the open connection' },
  connections: { type: 'number', unit: 'count', help: 'Threads_connected: client connections open on the server, this check\'s included' },
  maxConnections: { type: 'number', unit: 'count', help: 'The server\'s max_connections' },
  connectionsPercent: { type: 'number', unit: 'percent', help: 'connections as a percentage of max_connections' },
  uptimeSeconds: { type: 'number', unit: 'seconds', help: 'Server uptime (status variable Uptime)' },
  isReplica: { type: 'boolean', help: 'Whether SHOW REPLICA STATUS returns a row (absent when the user may not run it)' },
  replicaRunning: { type: 'boolean', help: 'On a replica: whether both the IO and the SQL thread run (absent on a primary)' },
  replicationLagSeconds: {
    type: 'number', unit: 'seconds',
    help: 'On a replica: Seconds_Behind_Source (MySQL 8.0.22+) or Seconds_Behind_Master (absent on a primary and while the SQL thread is stopped)',
  },
};

/** Where the check connects, resolved from url or the fields. */
export interface MysqlTarget {
  host: string;
  port: number;
  database?: string;
  user: string;
  password?: string;
}

export function mysqlTarget(spec: MysqlSpec): MysqlTarget {
  if (spec.url !== undefined) {
    const u = new URL(spec.url);
    const dec = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };
    const db = dec(u.pathname.replace(/^\//, ''));
    return {
      host: dec(u.hostname).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: u.port ? Number(u.port) : 3306,
      database: db || undefined,
      user: dec(u.username) || 'root',
      password: u.password ? dec(u.password) : undefined,
    };
  }
  return { host: spec.host ?? '127.0.0.1', port: spec.port ?? 3306, database: spec.database, user: spec.user ?? 'root', password: spec.password };
}

/**
 * The replica values of SHOW REPLICA STATUS's row (undefined: no row, not a replica). MySQL
 * 8.0.22+ names the columns Replica_… and …_Source; MariaDB and older MySQL Slave_… and …_Master.
 * A thread reads running only on `Yes` (`Connecting` is an IO thread that cannot reach its source).
 */
export function replicaValues(row: Record<string, unknown> | undefined): { values: Record<string, Value>; stopped: string[] } {
  if (!row) return { values: { isReplica: false }, stopped: [] };
  const pick = (...names: string[]) => names.map((n) => row[n]).find((v) => v !== undefined && v !== null);
  const io = String(pick('Replica_IO_Running', 'Slave_IO_Running') ?? '');
  const sql = String(pick('Replica_SQL_Running', 'Slave_SQL_Running') ?? '');
  const stopped: string[] = [];
  if (io !== 'Yes') stopped.push(`IO thread ${io || 'unknown'}`);
  if (sql !== 'Yes') stopped.push(`SQL thread ${sql || 'unknown'}`);
  const values: Record<string, Value> = { isReplica: true, replicaRunning: stopped.length === 0 };
  const lag = pick('Seconds_Behind_Source', 'Seconds_Behind_Master');
  const n = lag === undefined || lag === '' ? NaN : Number(lag);
  if (Number.isFinite(n)) values.replicationLagSeconds = Math.max(0, n);
  return { values, stopped };
}

/** The connection values from SHOW GLOBAL STATUS rows and max_connections. */
export function statusValues(status: Array<{ Variable_name: string; Value: unknown }>, maxConnections: unknown): Record<string, Value> {
  const values: Record<string, Value> = {};
  const get = (name: string) => {
    const r = status.find((s) => s.Variable_name.toLowerCase() === name.toLowerCase());
    const n = r ? Number(r.Value) : NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  const connections = get('Threads_connected');
  const max = Number(maxConnections);
  if (connections !== undefined) values.connections = connections;
  if (Number.isFinite(max)) values.maxConnections = max;
  if (connections !== undefined && Number.isFinite(max) && max > 0) values.connectionsPercent = round((connections / max) * 100, 1);
  const uptime = get('Uptime');
  if (uptime !== undefined) values.uptimeSeconds = uptime;
  return values;
}

/** MySQL error codes that mean the login was refused. */
const AUTH_CODES = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR', 'ER_NOT_SUPPORTED_AUTH_MODE', 'ER_HOST_NOT_PRIVILEGED', 'ER_ACCOUNT_HAS_BEEN_LOCKED', 'ER_MUST_CHANGE_PASSWORD_LOGIN']);

/** What failed, as the contract's reason plus the word the message starts with (auth, query, …). */
export function classifyMysqlError(err: unknown): { failure: TargetFailure; kind: string } {
  const e = rootError(err) as { code?: string; message?: string; name?: string; sqlState?: string } | undefined;
  const code = e?.code ?? '';
  const msg = e?.message ?? '';
  if (AUTH_CODES.has(code) || e?.sqlState === '28000') return { failure: 'error', kind: 'auth' };
  if (code === 'ER_BAD_DB_ERROR') return { failure: 'error', kind: 'database' };
  if (code === 'PROTOCOL_SEQUENCE_TIMEOUT' || code === 'ER_QUERY_TIMEOUT' || code === 'ER_STATEMENT_TIMEOUT' || e?.name === 'AbortError') {
    return { failure: 'timeout', kind: 'timeout' };
  }
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT' || /SSL|TLS|certificate/i.test(msg)) return { failure: 'tls', kind: 'tls' };
  const net = classifyNetworkError(e);
  if (net !== 'error') return { failure: net, kind: net === 'refused' ? 'connect' : net };
  if (code === 'PROTOCOL_CONNECTION_LOST' || code === 'ER_CON_COUNT_ERROR' || code === 'ER_HOST_IS_BLOCKED') return { failure: 'refused', kind: 'connect' };
  if (/^ER_/.test(code)) return { failure: 'error', kind: 'query' };
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

type Stream = { destroy(): void; destroyed?: boolean; once(event: 'close', fn: () => void): void };
const streamOf = (conn: Connection): Stream | undefined => (conn as unknown as { stream?: Stream }).stream;

/** Sends COM_QUIT and waits for the socket to close; destroys it when that does not come soon. */
async function closeConnection(conn: Connection, graceful: boolean): Promise<void> {
  const stream = streamOf(conn);
  if (graceful && stream && !stream.destroyed) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, END_WAIT_MS);
      stream.once('close', resolve);
      try {
        conn.end(() => undefined);
      } catch {
        resolve();
      }
    });
    clearTimeout(timer);
  }
  stream?.destroy();
}

function query<T>(conn: Connection, sql: string, timeout: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    conn.query({ sql, timeout }, (err: unknown, rows: unknown) => (err ? reject(err) : resolve(rows as T)));
  });
}

async function tlsOptions(spec: MysqlSpec): Promise<ConnectionOptions['ssl']> {
  if (spec.sslmode === 'disable') return undefined;
  if (spec.sslmode === 'require') return { rejectUnauthorized: false };
  const ca = spec.caFile !== undefined ? await readConfiguredFile('mysql', 'caFile', spec.caFile, PEM_MAX_BYTES) : undefined;
  const opts: TlsOptions = { rejectUnauthorized: true, ...(ca !== undefined ? { ca } : {}) };
  if (spec.sslmode === 'verify-ca') opts.checkServerIdentity = () => undefined;
  return opts as ConnectionOptions['ssl'];
}

/** Checks a MySQL or MariaDB server: login, SELECT 1 latency, connections, uptime, replica state and lag. */
export const mysqlCheck = defineCheck({
  type: 'mysql',
  category: 'health',
  summary: 'Logs in to MySQL or MariaDB and reports SELECT 1 latency, Threads_connected vs max_connections, uptime, replica threads and lag.',
  schema,
  fields: FIELDS,
  defaults: {
    warn: ['connectionsPercent > 80', 'replicationLagSeconds > 60'],
    crit: ['connectionsPercent > 95', 'replicationLagSeconds > 300', 'replicaRunning == false'],
  },
  async run({ spec, signal, timeoutMs }): Promise<Observation> {
    const target = mysqlTarget(spec);
    const where = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}${target.database ? `/${target.database}` : ''}`;
    const started = performance.now();
    const remaining = () => Math.max(1, Math.floor(timeoutMs - (performance.now() - started)));
    const ssl = await tlsOptions(spec);
    // Loaded here, not at the top: an agent without a mysql check never loads mysql2.
    const mysql = await import('mysql2');
    const createConnection = (mysql as unknown as { default?: typeof mysql }).default?.createConnection ?? mysql.createConnection;
    if (signal.aborted) return targetDown('timeout', `${where} did not connect and log in within ${formatDuration(timeoutMs)}`);
    const conn = createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password ?? '',
      database: target.database,
      ssl,
      connectTimeout: remaining(),
      enableKeepAlive: false,
      supportBigNumbers: true,
      bigNumberStrings: false,
    });
    // Errors after the run settled (or without a pending command) must not be uncaught events.
    conn.on('error', () => undefined);
    const onAbort = () => streamOf(conn)?.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    const values: Record<string, Value> = {};
    let connected = false;
    let graceful = false;
    let stopped: string[] = [];
    let replicaHidden = false;
    try {
      await unlessAborted(new Promise<void>((resolve, reject) => {
        conn.once('connect', () => resolve());
        conn.once('error', reject);
      }), signal);
      connected = true;
      values.connectMs = round(performance.now() - started, 3);
      const t0 = performance.now();
      await unlessAborted(query(conn, 'SELECT 1', remaining()), signal);
      values.latencyMs = round(performance.now() - t0, 3);
      const status = await unlessAborted(
        query<Array<{ Variable_name: string; Value: unknown }>>(conn, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Uptime')", remaining()),
        signal,
      );
      const max = await unlessAborted(query<Array<{ max_connections: unknown }>>(conn, 'SELECT @@GLOBAL.max_connections AS max_connections', remaining()), signal);
      Object.assign(values, statusValues(status, max[0]?.max_connections));
      let rows: Array<Record<string, unknown>> | undefined;
      try {
        rows = await unlessAborted(query<Array<Record<string, unknown>>>(conn, 'SHOW REPLICA STATUS', remaining()), signal);
      } catch (err) {
        const code = (err as { code?: string }).code;
        // Before MySQL 8.0.22 and MariaDB 10.5.1 only the old name exists.
        if (code === 'ER_PARSE_ERROR') rows = await unlessAborted(query<Array<Record<string, unknown>>>(conn, 'SHOW SLAVE STATUS', remaining()), signal);
        // Without REPLICATION CLIENT (MariaDB: SLAVE MONITOR / REPLICA MONITOR) the replica figures are left out.
        else if (code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_ERROR') replicaHidden = true;
        else throw err;
      }
      if (!replicaHidden) {
        const r = replicaValues(rows?.[0]);
        Object.assign(values, r.values);
        stopped = r.stopped;
      }
      graceful = true;
    } catch (err) {
      if (signal.aborted) {
        const stage = connected ? 'did not answer its queries' : 'did not connect and log in';
        return targetDown('timeout', `${where} ${stage} within ${formatDuration(timeoutMs)}`, values);
      }
      const { failure, kind } = classifyMysqlError(err);
      const e = rootError(err) as { errno?: number; sqlMessage?: string; code?: string };
      const errno = e.sqlMessage !== undefined && e.errno !== undefined ? ` (${e.errno})` : '';
      const detail = e.sqlMessage ?? describeNetworkError(err);
      return targetDown(failure, `${where}${connected ? ' after login' : ''}: ${kind}${errno}: ${detail}`, values);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await closeConnection(conn, graceful && !signal.aborted);
    }
    return { values, message: describe(where, values, stopped, replicaHidden) };
  },
});

function describe(where: string, v: Record<string, Value>, stopped: string[], replicaHidden: boolean): string {
  const parts = [`${where}: SELECT 1 in ${v.latencyMs} ms`];
  if (v.connections !== undefined) {
    parts.push(`${v.connections}/${v.maxConnections} connections${v.connectionsPercent !== undefined ? ` (${v.connectionsPercent}%)` : ''}`);
  }
  if (v.uptimeSeconds !== undefined) parts.push(`up ${formatDuration((v.uptimeSeconds as number) * 1000)}`);
  if (replicaHidden) parts.push('replica status not readable (grant REPLICATION CLIENT, on MariaDB SLAVE MONITOR)');
  else if (!v.isReplica) parts.push('not a replica');
  else if (stopped.length > 0) parts.push(`replica stopped: ${stopped.join(', ')}`);
  else parts.push(v.replicationLagSeconds !== undefined ? `replica ${v.replicationLagSeconds} s behind` : 'replica, lag unknown');
  return parts.join(', ');
}
