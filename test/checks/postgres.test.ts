import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { loadConfigText } from '../../agent/config/load';
import { postgresCheck, pgStatsValues, pgTarget, classifyPgError, type PgStatsRow } from '../../checks/postgres';
import { isSecretName } from '../../checks/types';
import { runCheck, startRun } from '../helpers/check';

/**
 * Against this machine's PostgreSQL (127.0.0.1:5432, trust authentication). Trust accepts any
 * password, so a wrong password cannot be shown here: authentication failure is a role that
 * does not exist (SQLSTATE 28000), and a database that does not exist is 3D000.
 * A server that is not running fails these tests: they never skip.
 */
const HOST = '127.0.0.1';
const PORT = 5432;
const APP = `kw_pgtest_${process.pid}_${Date.now()}`;

function psql(sql: string, db = 'postgres'): string {
  return execFileSync('psql', ['-h', HOST, '-p', String(PORT), '-U', 'postgres', '-d', db, '-Atqc', sql], { encoding: 'utf8' }).trim();
}

/** Sessions on the server with the given application_name (the check's own connections). */
function sessions(app: string): number {
  return Number(psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = '${app}'`));
}

const servers: net.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server that accepts and never answers; resolves its port, counts its open sockets. */
async function silentServer(): Promise<{ port: number; open: () => number; accepted: () => number }> {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    open.add(s);
    s.resume(); // read, so that the client's FIN is seen and the socket closes
    s.on('error', () => undefined);
    s.on('close', () => open.delete(s));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return { port: (server.address() as net.AddressInfo).port, open: () => open.size, accepted: () => accepted };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe('postgres schema', () => {
  const parse = (raw: Record<string, unknown>) => postgresCheck.schema.safeParse(raw);

  it('validates with no keys at all, and with a URL', () => {
    expect(parse({}).success).toBe(true);
    expect(parse({ url: 'postgres://app:pw@db.example.com:6432/shop?sslmode=require' }).success).toBe(true);
    expect(parse({ url: 'postgresql://db/shop' }).success).toBe(true);
  });

  it('refuses a URL of another scheme, fields beside a URL, and a bad sslmode in the URL', () => {
    expect(parse({ url: 'mysql://db/shop' }).success).toBe(false);
    expect(parse({ url: 'postgres://db/shop', host: 'x' }).success).toBe(false);
    expect(parse({ url: 'postgres://db/shop', password: 'x' }).success).toBe(false);
    expect(parse({ url: 'postgres://db/shop?sslmode=sometimes' }).success).toBe(false);
  });

  it('needs caFile for verify-ca and refuses it without verification', () => {
    expect(parse({ sslmode: 'verify-ca' }).success).toBe(false);
    expect(parse({ sslmode: 'verify-ca', caFile: '/etc/ssl/ca.pem' }).success).toBe(true);
    expect(parse({ sslmode: 'verify-full' }).success).toBe(true);
    expect(parse({ sslmode: 'require', caFile: '/etc/ssl/ca.pem' }).success).toBe(false);
    expect(parse({ sslmode: 'verify-full', caFile: 'ca.pem' }).success).toBe(false);
  });

  it('names the password key so that it is scrubbed as a secret', () => {
    expect(isSecretName('password')).toBe(true);
  });

  it('takes the target from the URL (decoded) or from the fields with their defaults', () => {
    expect(pgTarget(postgresCheck.schema.parse({ url: 'postgres://app%40x:p%2Fw@db.example.com:6432/shop?sslmode=verify-full' }))).toEqual({
      host: 'db.example.com', port: 6432, database: 'shop', user: 'app@x', password: 'p/w', sslmode: 'verify-full',
    });
    expect(pgTarget(postgresCheck.schema.parse({ url: 'postgres://[::1]/' }))).toEqual({
      host: '::1', port: 5432, database: 'postgres', user: 'postgres', password: undefined, sslmode: 'disable',
    });
    expect(pgTarget(postgresCheck.schema.parse({ database: 'shop' }))).toEqual({
      host: '127.0.0.1', port: 5432, database: 'shop', user: 'postgres', password: undefined, sslmode: 'disable',
    });
  });
});

describe('postgres statistics mapping', () => {
  const base: PgStatsRow = { connections: '7', max_connections: 100, in_recovery: false, lag_seconds: null, longest_tx_seconds: null, size_bytes: '7700000' };

  it.each<[string, Partial<PgStatsRow>, Record<string, unknown>]>([
    ['a primary: no lag value, even if one came back', { lag_seconds: '12' }, { isReplica: false, replicationLagSeconds: undefined }],
    ['a replica with lag (numeric as text)', { in_recovery: true, lag_seconds: '12.3456' }, { isReplica: true, replicationLagSeconds: 12.346 }],
    ['a replica that replayed nothing yet', { in_recovery: true, lag_seconds: null }, { isReplica: true, replicationLagSeconds: undefined }],
    ['a replica whose clock is ahead: lag 0, not negative', { in_recovery: true, lag_seconds: -0.5 }, { isReplica: true, replicationLagSeconds: 0 }],
    ['no open transaction: 0 s', {}, { longestTransactionSeconds: 0 }],
    ['a long transaction', { longest_tx_seconds: '301.5' }, { longestTransactionSeconds: 301.5 }],
    ['connections as a percentage', { connections: 95, max_connections: '100' }, { connections: 95, maxConnections: 100, connectionsPercent: 95 }],
    ['bigint size as text', {}, { databaseSizeBytes: 7700000 }],
  ])('%s', (_name, patch, expected) => {
    const values = pgStatsValues({ ...base, ...patch });
    for (const [k, v] of Object.entries(expected)) expect(values[k]).toBe(v);
    for (const v of Object.values(values)) expect(['number', 'boolean']).toContain(typeof v);
  });
});

describe('postgres error classification', () => {
  it.each<[string, unknown, string, string]>([
    ['wrong password', { code: '28P01', message: 'password authentication failed' }, 'error', 'auth'],
    ['no such role', { code: '28000', message: 'role "x" does not exist' }, 'error', 'auth'],
    ['no such database', { code: '3D000', message: 'database "x" does not exist' }, 'error', 'database'],
    ['statement_timeout', { code: '57014', message: 'canceling statement due to statement timeout' }, 'timeout', 'timeout'],
    ['connect timeout', new Error('Connection terminated due to connection timeout'), 'timeout', 'timeout'],
    ['query read timeout', new Error('Query read timeout'), 'timeout', 'timeout'],
    ['no TLS on the server', new Error('The server does not support SSL connections'), 'tls', 'tls'],
    ['certificate', { code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }, 'tls', 'tls'],
    ['refused', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'refused', 'connect'],
    ['dns', { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' }, 'dns', 'dns'],
    ['a query error', { code: '42P01', message: 'relation does not exist' }, 'error', 'query'],
    ['connection lost', new Error('Connection terminated unexpectedly'), 'refused', 'connect'],
  ])('%s', (_name, err, failure, kind) => {
    expect(classifyPgError(err)).toEqual({ failure, kind });
  });
});

describe('postgres against the local server', () => {
  it('reports latency, connections, primary without lag, longest transaction and size', async () => {
    const o = await runCheck(postgresCheck, { host: HOST, port: PORT, user: 'postgres', database: 'postgres', applicationName: APP });
    expect(o.up).not.toBe(false);
    const v = o.values;
    expect(v.latencyMs).toEqual(expect.any(Number));
    expect(v.connectMs).toEqual(expect.any(Number));
    expect(v.connections as number).toBeGreaterThanOrEqual(1);
    expect(v.maxConnections).toBe(Number(psql('SHOW max_connections')));
    expect(v.connectionsPercent).toBeCloseTo(((v.connections as number) / (v.maxConnections as number)) * 100, 1);
    expect(v.isReplica).toBe(false);
    expect(v).not.toHaveProperty('replicationLagSeconds');
    expect(v.longestTransactionSeconds as number).toBeGreaterThanOrEqual(0);
    expect(v.databaseSizeBytes).toBe(Number(psql(`SELECT pg_database_size('postgres')`)));
    expect(o.message).toMatch(/^127\.0\.0\.1:5432\/postgres: SELECT 1 in [\d.]+ ms, \d+\/\d+ connections \([\d.]+%\), primary, longest transaction/);
    for (const x of Object.values(v)) expect(['number', 'boolean']).toContain(typeof x);
  });

  it('sees a transaction another session keeps open', async () => {
    const { Client } = await import('pg');
    const other = new Client({ host: HOST, port: PORT, user: 'postgres', database: 'postgres' });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT txid_current()');
      // The session is then "idle in transaction", not idle: it counts.
      await new Promise((r) => setTimeout(r, 1200));
      const o = await runCheck(postgresCheck, { applicationName: APP });
      expect(o.values.longestTransactionSeconds as number).toBeGreaterThanOrEqual(1);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
  });

  it('takes its credentials from ${VAR} in a URL or in password (scrubbed as secrets)', async () => {
    const env = { KW_PG_PASSWORD: 's3cret-pg-test', KW_PG_URL: `postgres://postgres:s3cret-pg-url@${HOST}:${PORT}/postgres` };
    const config = loadConfigText(
      [
        'checks:',
        '  - { name: pg-fields, type: postgres, host: 127.0.0.1, user: postgres, password: "${KW_PG_PASSWORD}" }',
        '  - { name: pg-url, type: postgres, url: "${KW_PG_URL}" }',
      ].join('\n'),
      'kw.yaml',
      { env },
    );
    expect(config.secrets).toEqual(expect.arrayContaining(['s3cret-pg-test', 's3cret-pg-url']));
    for (const c of config.checks) {
      const o = await runCheck(postgresCheck, { ...c.spec, applicationName: APP });
      expect(o.up).not.toBe(false);
      expect(o.message).not.toMatch(/s3cret/);
    }
  });

  it('a role that does not exist is an auth failure (28000), critical with a bounded reason', async () => {
    const o = await runCheck(postgresCheck, { user: `kw_no_such_role_${process.pid}` });
    expect(o.up).toBe(false);
    expect(o.failure).toBe('error');
    expect(o.message).toMatch(/^127\.0\.0\.1:5432\/postgres: auth \(28000\): role "kw_no_such_role_\d+" does not exist/);
  });

  it('a database that does not exist is 3D000', async () => {
    const o = await runCheck(postgresCheck, { url: `postgres://postgres@${HOST}:${PORT}/kw_no_such_db_${process.pid}` });
    expect(o.up).toBe(false);
    expect(o.failure).toBe('error');
    expect(o.message).toMatch(/: database \(3D000\): database "kw_no_such_db_\d+" does not exist/);
  });

  it('sslmode require against a server without TLS is a tls failure', async () => {
    expect(psql('SHOW ssl')).toBe('off');
    const o = await runCheck(postgresCheck, { sslmode: 'require' });
    expect(o).toMatchObject({ up: false, failure: 'tls' });
    expect(o.message).toMatch(/tls: The server does not support SSL connections/);
  });

  it('a closed port is refused, an unknown host is dns', async () => {
    const refused = await runCheck(postgresCheck, { port: await freePort() });
    expect(refused).toMatchObject({ up: false, failure: 'refused' });
    expect(refused.message).toMatch(/: connect: .*ECONNREFUSED/);
    const dns = await runCheck(postgresCheck, { host: 'kw-no-such-host.invalid' });
    expect(dns).toMatchObject({ up: false, failure: 'dns' });
  });

  it('a server that never answers is a timeout, and its socket is closed', async () => {
    const srv = await silentServer();
    const started = Date.now();
    const o = await runCheck(postgresCheck, { port: srv.port }, { timeoutMs: 400 });
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2500);
    await waitFor(() => srv.open() === 0);
    expect(srv.accepted()).toBe(1);
    expect(srv.open()).toBe(0);
  });

  it('an abort settles the run at once and destroys the socket', async () => {
    const srv = await silentServer();
    const { run, abort } = startRun(postgresCheck, { port: srv.port }, { timeoutMs: 60_000 });
    await waitFor(() => srv.accepted() === 1);
    const t0 = Date.now();
    abort();
    const o = await run;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    await waitFor(() => srv.open() === 0);
    expect(srv.open()).toBe(0);
  });

  it('500 runs leave no connection behind (pg_stat_activity before and after)', async () => {
    const app = `${APP}_500`;
    // All client backends are logged too, for the record: other suites may use the server meanwhile.
    const clientBackends = () => Number(psql(`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name <> 'psql'`));
    const before = { mine: sessions(app), all: clientBackends() };
    let ok = 0;
    for (let i = 0; i < 500; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => runCheck(postgresCheck, { applicationName: app })));
      ok += batch.filter((o) => o.up !== false).length;
    }
    // Backends exit just after the client's Terminate; give the last ones a moment.
    await waitFor(() => sessions(app) === 0);
    const after = { mine: sessions(app), all: clientBackends() };
    console.log(`postgres 500 runs: ${ok} ok; sessions of the check before ${before.mine}, after ${after.mine}; client backends before ${before.all}, after ${after.all}`);
    expect(ok).toBe(500);
    expect(before.mine).toBe(0);
    expect(after.mine).toBe(0);
  }, 120_000);
});
