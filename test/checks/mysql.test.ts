import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { loadConfigText } from '../../agent/config/load';
import { classifyMysqlError, mysqlCheck, mysqlTarget, replicaValues, statusValues } from '../../checks/mysql';
import { runCheck, startRun } from '../helpers/check';

/**
 * Against this machine's MariaDB (127.0.0.1:3306, root without a password). The tests make
 * their own user with a password (dropped at the end). A server that is not running fails
 * these tests: they never skip.
 */
const HOST = '127.0.0.1';
const PORT = 3306;
const USER = `kw_my_${process.pid}`;
const PASSWORD = `pw-${process.pid}-${Date.now()}`;

function sql(text: string): string {
  return execFileSync('mysql', ['-h', HOST, '-P', String(PORT), '-uroot', '-N', '-B', '-e', text], { encoding: 'utf8' }).trim();
}

/** Connections of the test's user (information_schema.PROCESSLIST). */
const userConnections = () => Number(sql(`SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = '${USER}'`));
const threadsConnected = () => Number(sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'").split(/\s+/)[1]);

beforeAll(() => {
  sql(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'; CREATE USER '${USER}'@'localhost' IDENTIFIED BY '${PASSWORD}'`);
});

const servers: net.Server[] = [];
afterAll(async () => {
  sql(`DROP USER IF EXISTS '${USER}'@'%'; DROP USER IF EXISTS '${USER}'@'localhost'`);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server that accepts and never answers; counts its open sockets. */
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

describe('mysql schema', () => {
  const parse = (raw: Record<string, unknown>) => mysqlCheck.schema.safeParse(raw);

  it('validates with no keys, with a URL, and refuses fields beside a URL', () => {
    expect(parse({}).success).toBe(true);
    expect(parse({ url: 'mysql://app:pw@db:3307/shop' }).success).toBe(true);
    expect(parse({ url: 'mariadb://db' }).success).toBe(true);
    expect(parse({ url: 'postgres://db' }).success).toBe(false);
    expect(parse({ url: 'mysql://db', user: 'x' }).success).toBe(false);
  });

  it('needs caFile for verify-ca and refuses it without verification', () => {
    expect(parse({ sslmode: 'verify-ca' }).success).toBe(false);
    expect(parse({ sslmode: 'verify-ca', caFile: '/etc/ssl/ca.pem' }).success).toBe(true);
    expect(parse({ caFile: '/etc/ssl/ca.pem' }).success).toBe(false);
  });

  it('takes the target from the URL (decoded) or the fields', () => {
    expect(mysqlTarget(mysqlCheck.schema.parse({ url: 'mysql://app:p%40ss@db.example.com:3307/shop' }))).toEqual({
      host: 'db.example.com', port: 3307, database: 'shop', user: 'app', password: 'p@ss',
    });
    expect(mysqlTarget(mysqlCheck.schema.parse({}))).toEqual({ host: '127.0.0.1', port: 3306, database: undefined, user: 'root', password: undefined });
  });
});

describe('mysql result mapping', () => {
  it.each<[string, Record<string, unknown> | undefined, Record<string, unknown>, number]>([
    ['no row: not a replica, no lag', undefined, { isReplica: false, replicaRunning: undefined, replicationLagSeconds: undefined }, 0],
    ['MariaDB replica (Slave_/Master names)', { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Seconds_Behind_Master: 3 },
      { isReplica: true, replicaRunning: true, replicationLagSeconds: 3 }, 0],
    ['MySQL 8.0.22+ replica (Replica_/Source names)', { Replica_IO_Running: 'Yes', Replica_SQL_Running: 'Yes', Seconds_Behind_Source: '42' },
      { isReplica: true, replicaRunning: true, replicationLagSeconds: 42 }, 0],
    ['SQL thread stopped: lag NULL, not running', { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No', Seconds_Behind_Master: null },
      { isReplica: true, replicaRunning: false, replicationLagSeconds: undefined }, 1],
    ['IO thread connecting: not running', { Replica_IO_Running: 'Connecting', Replica_SQL_Running: 'Yes', Seconds_Behind_Source: 0 },
      { isReplica: true, replicaRunning: false, replicationLagSeconds: 0 }, 1],
  ])('%s', (_name, row, expected, stoppedCount) => {
    const { values, stopped } = replicaValues(row);
    for (const [k, v] of Object.entries(expected)) expect(values[k]).toBe(v);
    expect(stopped).toHaveLength(stoppedCount);
  });

  it('reads Threads_connected, Uptime and max_connections as numbers', () => {
    expect(statusValues([{ Variable_name: 'Threads_connected', Value: '81' }, { Variable_name: 'Uptime', Value: '3600' }], 100)).toEqual({
      connections: 81, maxConnections: 100, connectionsPercent: 81, uptimeSeconds: 3600,
    });
  });

  it('the default crit covers a stopped replica', () => {
    const d = mysqlCheck.defaults as { crit: string[] };
    expect(d.crit).toContain('replicaRunning == false');
  });

  it.each<[string, unknown, string, string]>([
    ['wrong password', { code: 'ER_ACCESS_DENIED_ERROR', sqlState: '28000' }, 'error', 'auth'],
    ['no such database', { code: 'ER_BAD_DB_ERROR', sqlState: '42000' }, 'error', 'database'],
    ['query timeout', { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }, 'timeout', 'timeout'],
    ['connect timeout', { code: 'ETIMEDOUT' }, 'timeout', 'timeout'],
    ['no TLS on the server', { code: 'HANDSHAKE_NO_SSL_SUPPORT', message: 'Server does not support secure connection' }, 'tls', 'tls'],
    ['refused', { code: 'ECONNREFUSED' }, 'refused', 'connect'],
    ['dns', { code: 'ENOTFOUND' }, 'dns', 'dns'],
    ['too many connections', { code: 'ER_CON_COUNT_ERROR' }, 'refused', 'connect'],
    ['a query error', { code: 'ER_NO_SUCH_TABLE' }, 'error', 'query'],
  ])('classifies %s', (_name, err, failure, kind) => {
    expect(classifyMysqlError(err)).toEqual({ failure, kind });
  });
});

describe('mysql against the local MariaDB', () => {
  it('reports latency, connections, uptime, and a primary without replica values', async () => {
    const o = await runCheck(mysqlCheck, { user: 'root' });
    expect(o.up).not.toBe(false);
    const v = o.values;
    expect(v.latencyMs).toEqual(expect.any(Number));
    expect(v.connectMs).toEqual(expect.any(Number));
    expect(v.connections as number).toBeGreaterThanOrEqual(1);
    expect(v.maxConnections).toBe(Number(sql('SELECT @@GLOBAL.max_connections')));
    expect(v.connectionsPercent).toBeCloseTo(((v.connections as number) / (v.maxConnections as number)) * 100, 1);
    expect(v.uptimeSeconds as number).toBeGreaterThan(0);
    expect(v.isReplica).toBe(false);
    expect(v).not.toHaveProperty('replicationLagSeconds');
    expect(v).not.toHaveProperty('replicaRunning');
    expect(o.message).toMatch(/^127\.0\.0\.1:3306: SELECT 1 in [\d.]+ ms, \d+\/\d+ connections \([\d.]+%\), up .*, not a replica$/);
    for (const x of Object.values(v)) expect(['number', 'boolean']).toContain(typeof x);
  });

  it('a user without REPLICATION CLIENT gets the other figures and no replica values', async () => {
    const o = await runCheck(mysqlCheck, { user: USER, password: PASSWORD });
    expect(o.up).not.toBe(false);
    expect(o.values.connections as number).toBeGreaterThanOrEqual(1);
    expect(o.values).not.toHaveProperty('isReplica');
    expect(o.message).toMatch(/replica status not readable/);
  });

  it('takes its password from ${VAR} (scrubbed as a secret)', async () => {
    const config = loadConfigText(
      [
        'checks:',
        `  - { name: db, type: mysql, user: ${USER}, password: "\${KW_MY_PASSWORD}" }`,
        '  - { name: db-url, type: mysql, url: "${KW_MY_URL}" }',
      ].join('\n'),
      'kw.yaml',
      { env: { KW_MY_PASSWORD: PASSWORD, KW_MY_URL: `mysql://${USER}:${encodeURIComponent(PASSWORD)}@${HOST}:${PORT}` } },
    );
    expect(config.secrets).toContain(PASSWORD);
    for (const c of config.checks) {
      const o = await runCheck(mysqlCheck, c.spec);
      expect(o.up).not.toBe(false);
      expect(o.message).not.toContain(PASSWORD);
    }
  });

  it('a wrong password is an auth failure (1045), critical with a bounded reason', async () => {
    const o = await runCheck(mysqlCheck, { user: USER, password: 'wrong' });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toMatch(new RegExp(`^127\\.0\\.0\\.1:3306: auth \\(1045\\): Access denied for user '${USER}'`));
  });

  it('a database that does not exist is 1049', async () => {
    const o = await runCheck(mysqlCheck, { database: `kw_no_such_db_${process.pid}` });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toMatch(/: database \(1049\): Unknown database/);
  });

  it('sslmode require against a server without TLS is a tls failure', async () => {
    const o = await runCheck(mysqlCheck, { sslmode: 'require' });
    expect(o).toMatchObject({ up: false, failure: 'tls' });
  });

  it('a closed port is refused, an unknown host is dns', async () => {
    const refused = await runCheck(mysqlCheck, { port: await freePort() });
    expect(refused).toMatchObject({ up: false, failure: 'refused' });
    expect(refused.message).toMatch(/: connect: .*ECONNREFUSED/);
    const dns = await runCheck(mysqlCheck, { host: 'kw-no-such-host.invalid' });
    expect(dns).toMatchObject({ up: false, failure: 'dns' });
  });

  it('a server that never answers is a timeout, and its socket is closed', async () => {
    const srv = await silentServer();
    const started = Date.now();
    const o = await runCheck(mysqlCheck, { port: srv.port }, { timeoutMs: 400 });
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2500);
    await waitFor(() => srv.open() === 0);
    expect(srv.accepted()).toBe(1);
    expect(srv.open()).toBe(0);
  });

  it('an abort settles the run at once and destroys the socket', async () => {
    const srv = await silentServer();
    const { run, abort } = startRun(mysqlCheck, { port: srv.port }, { timeoutMs: 60_000 });
    await waitFor(() => srv.accepted() === 1);
    const t0 = Date.now();
    abort();
    const o = await run;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    await waitFor(() => srv.open() === 0);
    expect(srv.open()).toBe(0);
  });

  it('500 runs leave no connection behind (PROCESSLIST of its user, Threads_connected)', async () => {
    const before = { mine: userConnections(), threads: threadsConnected() };
    let ok = 0;
    for (let i = 0; i < 500; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => runCheck(mysqlCheck, { user: USER, password: PASSWORD })));
      ok += batch.filter((o) => o.up !== false).length;
    }
    await waitFor(() => userConnections() === 0);
    const after = { mine: userConnections(), threads: threadsConnected() };
    console.log(`mysql 500 runs: ${ok} ok; connections of the check's user before ${before.mine}, after ${after.mine}; Threads_connected before ${before.threads}, after ${after.threads}`);
    expect(ok).toBe(500);
    expect(before.mine).toBe(0);
    expect(after.mine).toBe(0);
  }, 120_000);
});
