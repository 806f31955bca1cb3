import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseCondition } from '../../agent/evaluate';
import { infoValues, isAuthError, parseInfo, redisCheck } from '../../checks/redis';
import type { Thresholds } from '../../checks/types';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { freePort, selfSignedCert, spawnServer, type SpawnedServer } from '../helpers/spawn-server';

/** The machine's own Redis (no password). */
const PORT = 6379;

const spawned: SpawnedServer[] = [];
const dirs: string[] = [];

/** Starts a private redis-server on a free port with `args`, no persistence, removed after the test. */
async function redisServer(args: string[] = []): Promise<SpawnedServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-redis-'));
  dirs.push(dir);
  const s = await spawnServer('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], port);
  spawned.push(s);
  return s;
}

function cli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
}

/** Connections the server has open now (CLIENT LIST, one line each, redis-cli's own included). */
function clientCount(port: number): number {
  return cli(port, 'client', 'list').split('\n').filter((l) => l.startsWith('id=')).length;
}

/** The check's own connections open now (it names them `keepwatch`). */
function checkConnections(port: number): number {
  return cli(port, 'client', 'list').split('\n').filter((l) => / name=keepwatch /.test(l)).length;
}

function totalConnections(port: number): number {
  return Number(/total_connections_received:(\d+)/.exec(cli(port, 'info', 'stats'))![1]);
}

const defaults = redisCheck.defaults as Thresholds;
function fires(cond: string, values: Record<string, unknown>): boolean | undefined {
  return parseCondition(cond, fieldsOf(redisCheck, {})).test(values as never);
}

afterEach(async () => {
  await Promise.all(spawned.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('redis INFO parsing', () => {
  const INFO = [
    '# Server', 'redis_version:7.0.15', '', '# Clients', 'connected_clients:3', 'blocked_clients:1',
    '# Memory', 'used_memory:1048576', 'maxmemory:4194304', '# Stats', 'rejected_connections:2',
    '# Replication', 'role:slave', 'master_link_status:down', 'master_link_down_since_seconds:12',
    '# Persistence', 'rdb_last_bgsave_status:err', '',
  ].join('\r\n');

  it('returns the figures as numbers and booleans', () => {
    expect(infoValues(parseInfo(INFO))).toEqual({
      usedMemory: 1048576, maxMemory: 4194304, memoryPercent: 25, connectedClients: 3, blockedClients: 1,
      rejectedConnections: 2, role: 'slave', masterLinkUp: false, lastSaveOk: false,
    });
  });

  it('gives no memoryPercent without a maxmemory limit, and no link fields on a master', () => {
    const v = infoValues(parseInfo('used_memory:100\r\nmaxmemory:0\r\nrole:master\r\nrdb_last_bgsave_status:ok\r\nmaster_last_io_seconds_ago:3\r\n'));
    expect(v).toEqual({ usedMemory: 100, maxMemory: 0, role: 'master', lastSaveOk: true, masterLastIoSecondsAgo: 3 });
  });

  it('default thresholds: link down is critical, a failed save and memory over 90% warn, absent fields do not fire', () => {
    expect(defaults.crit).toEqual(['masterLinkUp == false']);
    expect(fires('masterLinkUp == false', { masterLinkUp: false })).toBe(true);
    expect(fires('masterLinkUp == false', { role: 'master' })).toBeUndefined();
    expect(fires('lastSaveOk == false', { lastSaveOk: false })).toBe(true);
    expect(fires('memoryPercent > 90', { memoryPercent: 95 })).toBe(true);
    expect(fires('memoryPercent > 90', { maxMemory: 0 })).toBeUndefined();
    expect(defaults.warn).toEqual(expect.arrayContaining(['lastSaveOk == false', 'memoryPercent > 90']));
  });

  it('knows the auth replies', () => {
    for (const m of ['NOAUTH Authentication required.', 'WRONGPASS invalid username-password pair or user is disabled.', 'ERR invalid password',
      'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?']) {
      expect(isAuthError(new Error(m))).toBe(true);
    }
    expect(isAuthError(new Error("ERR unknown command 'INFO'"))).toBe(false);
  });
});

describe('redis check schema', () => {
  it('needs no keys and refuses a password in the url, host with url, TLS options without TLS', () => {
    expect(redisCheck.schema.parse({})).toMatchObject({ insecure: false });
    expect(() => redisCheck.schema.parse({ url: 'redis://:secret@127.0.0.1:6379' })).toThrow(/password/);
    expect(() => redisCheck.schema.parse({ url: 'http://127.0.0.1' })).toThrow(/redis:\/\//);
    expect(() => redisCheck.schema.parse({ url: 'redis://127.0.0.1', port: 6379 })).toThrow(/url/);
    expect(() => redisCheck.schema.parse({ insecure: true })).toThrow(/TLS/);
    expect(redisCheck.schema.parse({ url: 'rediss://h:6380', insecure: true }).insecure).toBe(true);
    expect(redisCheck.schema.parse({ password: 'x' })).toBeTruthy();
  });
});

describe('redis check against the real servers', () => {
  it('reports latency, memory, clients, role and save status of the machine\'s Redis', async () => {
    const obs = await runCheck(redisCheck, {});
    expect(obs.up).toBeUndefined();
    const v = obs.values;
    expect(v.latencyMs).toBeGreaterThan(0);
    expect(v.usedMemory).toBeGreaterThan(0);
    expect(typeof v.maxMemory).toBe('number');
    expect(v.connectedClients).toBeGreaterThanOrEqual(1);
    expect(typeof v.blockedClients).toBe('number');
    expect(typeof v.rejectedConnections).toBe('number');
    expect(v.role).toBe('master');
    expect(typeof v.lastSaveOk).toBe('boolean');
    expect(v.masterLinkUp).toBeUndefined();
    for (const k of Object.keys(v)) expect(Object.keys(fieldsOf(redisCheck, {}))).toContain(k);
    expect(obs.message).toMatch(/^127\.0\.0\.1:6379 PONG in [\d.]+ ms, master, /);
  });

  it('connects through a url with a db, and reports memoryPercent against maxmemory', async () => {
    const s = await redisServer(['--maxmemory', '64mb']);
    const obs = await runCheck(redisCheck, { url: `redis://127.0.0.1:${s.port}/3` });
    expect(obs.up).toBeUndefined();
    expect(obs.values.maxMemory).toBe(64 * 1024 * 1024);
    expect(obs.values.memoryPercent).toBeGreaterThan(0);
    expect(obs.values.memoryPercent).toBeLessThan(100);
    expect(obs.message).toMatch(/ of .* used \([\d.]+%\)/);
    // The db is SELECTed: one the server does not have fails the run.
    const bad = await runCheck(redisCheck, { url: `redis://127.0.0.1:${s.port}/99` });
    expect(bad.up).toBe(false);
    expect(bad.message).toMatch(/DB index is out of range|invalid DB index/i);
  });

  it('authenticates with a password, and a missing or wrong one is a critical auth failure', async () => {
    const s = await redisServer(['--requirepass', 'letmein-42']);
    expect((await runCheck(redisCheck, { port: s.port, password: 'letmein-42' })).up).toBeUndefined();
    const none = await runCheck(redisCheck, { port: s.port });
    expect(none).toMatchObject({ up: false, failure: 'error' });
    expect(none.message).toMatch(/authentication failed: NOAUTH/);
    const wrong = await runCheck(redisCheck, { port: s.port, password: 'nope' });
    expect(wrong).toMatchObject({ up: false, failure: 'error' });
    expect(wrong.message).toMatch(/authentication failed: WRONGPASS/);
    expect(wrong.message).not.toContain('nope');
    // ACL user names (Redis 6+).
    cli(s.port, '-a', 'letmein-42', '--no-auth-warning', 'acl', 'setuser', 'watcher', 'on', '>watch-pw', '+ping', '+info', '+client|setname', '+select');
    expect((await runCheck(redisCheck, { port: s.port, username: 'watcher', password: 'watch-pw' })).up).toBeUndefined();
    expect((await runCheck(redisCheck, { port: s.port, username: 'watcher', password: 'x' })).message).toMatch(/authentication failed/);
  });

  it('reports a replica: role, link up with last I/O age, and link down as critical', async () => {
    const primary = await redisServer();
    const replica = await redisServer(['--replicaof', '127.0.0.1', String(primary.port)]);
    let obs = await runCheck(redisCheck, { port: replica.port });
    for (let i = 0; i < 300 && obs.values.masterLinkUp !== true; i++) {
      await new Promise((r) => setTimeout(r, 100));
      obs = await runCheck(redisCheck, { port: replica.port });
    }
    expect(obs.values).toMatchObject({ role: 'slave', masterLinkUp: true });
    expect(obs.values.masterLastIoSecondsAgo).toBeGreaterThanOrEqual(0);
    expect(fires(defaults.crit![0], obs.values)).toBe(false);

    await primary.stop();
    obs = await runCheck(redisCheck, { port: replica.port });
    for (let i = 0; i < 300 && obs.values.masterLinkUp !== false; i++) {
      await new Promise((r) => setTimeout(r, 100));
      obs = await runCheck(redisCheck, { port: replica.port });
    }
    expect(obs.values).toMatchObject({ role: 'slave', masterLinkUp: false });
    expect(obs.values.masterLastIoSecondsAgo).toBeUndefined();
    expect(obs.message).toContain('master link down');
    expect(fires(defaults.crit![0], obs.values)).toBe(true);
  }, 90_000);

  it('a command the server refuses is a query failure (INFO renamed away)', async () => {
    const s = await redisServer(['--rename-command', 'INFO', '']);
    const obs = await runCheck(redisCheck, { port: s.port });
    expect(obs).toMatchObject({ up: false, failure: 'error' });
    expect(obs.message).toMatch(/INFO failed: ERR unknown command/);
  });

  it('speaks TLS: verified with caFile and serverName, refused when the certificate is not trusted, insecure skips it', async () => {
    const c = selfSignedCert();
    try {
      const port = await freePort();
      const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-redis-'));
      dirs.push(dir);
      spawned.push(await spawnServer('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', c.cert,
        '--tls-key-file', c.key, '--tls-ca-cert-file', c.cert, '--tls-auth-clients', 'no', '--save', '', '--dir', dir], port));
      const ok = await runCheck(redisCheck, { url: `rediss://127.0.0.1:${port}`, caFile: c.cert, serverName: 'localhost' });
      expect(ok.up).toBeUndefined();
      expect(ok.values.role).toBe('master');
      expect((await runCheck(redisCheck, { port, tls: true, insecure: true })).up).toBeUndefined();
      const untrusted = await runCheck(redisCheck, { port, tls: true });
      expect(untrusted).toMatchObject({ up: false, failure: 'tls' });
      expect(untrusted.message).toMatch(/self.signed/i);
    } finally {
      c.cleanup();
    }
  });

  it('a refused port, an unknown host and a silent server are critical with their reason, fast', async () => {
    const refused = await runCheck(redisCheck, { port: 1 });
    expect(refused).toMatchObject({ up: false, failure: 'refused' });
    expect(refused.message).toMatch(/ECONNREFUSED/);
    const dns = await runCheck(redisCheck, { host: 'no-such-host.invalid' });
    expect(dns).toMatchObject({ up: false, failure: 'dns' });

    // Accepts and never answers: the run's timeout ends it, and the connection is closed.
    const sockets: net.Socket[] = [];
    const closed = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.push(s);
      s.resume();
      s.on('close', () => closed.add(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const t0 = Date.now();
      const obs = await runCheck(redisCheck, { port }, { timeoutMs: 500 });
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(obs).toMatchObject({ up: false, failure: 'timeout' });
      expect(obs.message).toMatch(/did not answer the connection handshake within 500ms/);
      await new Promise((r) => setTimeout(r, 100));
      expect(sockets).toHaveLength(1);
      expect(closed.has(sockets[0])).toBe(true);

      // Aborted (agent stopping) mid-run: returns at once, connection closed.
      const { run, abort } = startRun(redisCheck, { port }, { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 100));
      abort();
      expect(await run).toMatchObject({ up: false, failure: 'timeout' });
      await new Promise((r) => setTimeout(r, 100));
      expect(sockets).toHaveLength(2);
      expect(closed.has(sockets[1])).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('500 runs leave no connection open on the server', async () => {
    const before = clientCount(PORT);
    expect(checkConnections(PORT)).toBe(0);
    const totalBefore = totalConnections(PORT);
    for (let i = 0; i < 500; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => runCheck(redisCheck, { port: PORT })));
      for (const o of batch) expect(o.up).toBeUndefined();
    }
    // Each run opened its own connection...
    expect(totalConnections(PORT) - totalBefore).toBeGreaterThanOrEqual(500);
    // ...and closed it: the server's client list is back where it was (it sees closes within ms).
    let after = clientCount(PORT);
    for (let i = 0; i < 40 && after > before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = clientCount(PORT);
    }
    console.log(`redis 500 runs: CLIENT LIST ${before} before, ${after} after; ${totalConnections(PORT) - totalBefore} connections received`);
    expect(after).toBeLessThanOrEqual(before);
    expect(checkConnections(PORT)).toBe(0);
  }, 120_000);
});
