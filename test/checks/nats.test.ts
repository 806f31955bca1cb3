import net from 'node:net';
import { classifyNatsError, natsCheck } from '../../checks/nats';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { establishedTo, freePort, selfSignedCert, spawnServer, type SpawnedServer } from '../helpers/spawn-server';

/** The machine's own NATS (no auth). */
const PORT = 4222;

const spawned: SpawnedServer[] = [];

async function natsServer(args: string[]): Promise<SpawnedServer> {
  const port = await freePort();
  const s = await spawnServer('nats-server', ['-a', '127.0.0.1', '-p', String(port), ...args], port);
  spawned.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(spawned.splice(0).map((s) => s.stop()));
});

describe('nats check schema and errors', () => {
  it('needs no keys; refuses credentials in a server URL and half a user/password pair', () => {
    expect(natsCheck.schema.parse({})).toMatchObject({ servers: 'nats://127.0.0.1:4222', tls: false });
    expect(natsCheck.schema.parse({ servers: ['a:4222', 'nats://b:4222'] }).servers).toHaveLength(2);
    expect(() => natsCheck.schema.parse({ servers: 'nats://u:p@h:4222' })).toThrow(/credentials/);
    expect(() => natsCheck.schema.parse({ servers: 'tok@h:4222' })).toThrow(/credentials/);
    expect(() => natsCheck.schema.parse({ user: 'u' })).toThrow(/together/);
    expect(() => natsCheck.schema.parse({ token: 't', user: 'u', password: 'p' })).toThrow(/token/);
  });

  it('classifies the client\'s errors', () => {
    expect(classifyNatsError({ code: 'AUTHORIZATION_VIOLATION' })).toEqual({ failure: 'error', what: 'authentication failed' });
    expect(classifyNatsError({ code: 'CONNECTION_REFUSED' }).failure).toBe('refused');
    expect(classifyNatsError({ code: 'TIMEOUT' }).failure).toBe('timeout');
    expect(classifyNatsError({ code: 'SERVER_OPT_NA', message: 'tls' }).failure).toBe('tls');
    expect(classifyNatsError(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })).failure).toBe('dns');
    expect(classifyNatsError({ code: 'PERMISSIONS_VIOLATION' })).toEqual({ failure: 'error', what: 'not permitted' });
  });
});

describe('nats check against the real servers', () => {
  it('round-trips a message through the machine\'s NATS and reports latency and RTT', async () => {
    const obs = await runCheck(natsCheck, {});
    expect(obs.up).toBeUndefined();
    expect(Object.keys(obs.values).sort()).toEqual(Object.keys(fieldsOf(natsCheck, {})).sort());
    for (const k of ['connectMs', 'latencyMs', 'rttMs']) {
      expect(typeof obs.values[k]).toBe('number');
      expect(obs.values[k]).toBeGreaterThanOrEqual(0);
    }
    expect(obs.values.latencyMs).toBeGreaterThan(0);
    expect(obs.message).toMatch(/nats-server [\d.]+\) connected in [\d.]+ ms, message round trip [\d.]+ ms, RTT [\d.]+ ms$/);
  });

  it('authenticates with user/password or a token; a wrong or missing one is a critical auth failure', async () => {
    const userSrv = await natsServer(['--user', 'watcher', '--pass', 'pw-1234']);
    const servers = `127.0.0.1:${userSrv.port}`;
    expect((await runCheck(natsCheck, { servers, user: 'watcher', password: 'pw-1234' })).up).toBeUndefined();
    const wrong = await runCheck(natsCheck, { servers, user: 'watcher', password: 'nope' });
    expect(wrong).toMatchObject({ up: false, failure: 'error' });
    expect(wrong.message).toMatch(/authentication failed: .*Authorization Violation/i);
    expect(wrong.message).not.toContain('nope');
    const none = await runCheck(natsCheck, { servers });
    expect(none).toMatchObject({ up: false, failure: 'error' });
    expect(none.message).toMatch(/authentication failed/);

    const tokenSrv = await natsServer(['--auth', 'tok-5678']);
    expect((await runCheck(natsCheck, { servers: `nats://127.0.0.1:${tokenSrv.port}`, token: 'tok-5678' })).up).toBeUndefined();
    expect((await runCheck(natsCheck, { servers: `nats://127.0.0.1:${tokenSrv.port}`, token: 'x' })).message).toMatch(/authentication failed/);
  });

  it('speaks TLS: verified with caFile, refused when the certificate is not trusted, insecure skips it; tls against a plain server fails', async () => {
    const c = selfSignedCert();
    try {
      const s = await natsServer(['--tls', '--tlscert', c.cert, '--tlskey', c.key]);
      const servers = `tls://localhost:${s.port}`;
      expect((await runCheck(natsCheck, { servers, caFile: c.cert })).up).toBeUndefined();
      expect((await runCheck(natsCheck, { servers: `127.0.0.1:${s.port}`, tls: true, insecure: true })).up).toBeUndefined();
      const untrusted = await runCheck(natsCheck, { servers, tls: true });
      expect(untrusted).toMatchObject({ up: false, failure: 'tls' });
      expect(untrusted.message).toMatch(/self.signed/i);
      const plain = await runCheck(natsCheck, { servers: `127.0.0.1:${PORT}`, tls: true });
      expect(plain).toMatchObject({ up: false, failure: 'tls' });
    } finally {
      c.cleanup();
    }
  });

  it('a refused port, an unknown host and a silent server are critical with their reason; the connection is closed', async () => {
    const refused = await runCheck(natsCheck, { servers: '127.0.0.1:1' });
    expect(refused).toMatchObject({ up: false, failure: 'refused' });
    const dns = await runCheck(natsCheck, { servers: 'no-such-host.invalid:4222' });
    expect(dns).toMatchObject({ up: false, failure: 'dns' });

    // Accepts and never sends INFO: the run's timeout ends it, and the connection is closed.
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
      const obs = await runCheck(natsCheck, { servers: `127.0.0.1:${port}` }, { timeoutMs: 500 });
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(obs).toMatchObject({ up: false, failure: 'timeout' });
      expect(obs.message).toMatch(/did not complete the connect within 500ms/);
      await new Promise((r) => setTimeout(r, 200));
      expect(sockets).toHaveLength(1);
      expect(closed.has(sockets[0])).toBe(true);

      // Aborted (agent stopping) mid-connect: returns at once, connection closed.
      const { run, abort } = startRun(natsCheck, { servers: `127.0.0.1:${port}` }, { timeoutMs: 3000 });
      await new Promise((r) => setTimeout(r, 100));
      const t1 = Date.now();
      abort();
      expect(await run).toMatchObject({ up: false, failure: 'timeout' });
      expect(Date.now() - t1).toBeLessThan(500);
      for (let i = 0; i < 50 && !closed.has(sockets[1]); i++) await new Promise((r) => setTimeout(r, 100));
      expect(closed.has(sockets[1])).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('500 runs leave no connection open on the server', async () => {
    // The count sees a connection to the server (a sanity check of reading /proc/net/tcp).
    const probe = net.connect({ host: '127.0.0.1', port: PORT });
    await new Promise((r) => probe.once('connect', r));
    const withProbe = establishedTo(PORT);
    probe.destroy();
    for (let i = 0; i < 40 && establishedTo(PORT) >= withProbe; i++) await new Promise((r) => setTimeout(r, 50));
    const before = establishedTo(PORT);
    expect(withProbe).toBe(before + 1);
    for (let i = 0; i < 500; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => runCheck(natsCheck, { servers: `127.0.0.1:${PORT}` })));
      for (const o of batch) expect(o.up).toBeUndefined();
    }
    let after = establishedTo(PORT);
    for (let i = 0; i < 40 && after > before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = establishedTo(PORT);
    }
    console.log(`nats 500 runs: ESTABLISHED connections to :${PORT} (server side, /proc/net/tcp) ${before} before, ${after} after`);
    expect(after).toBeLessThanOrEqual(before);
  }, 120_000);
});
