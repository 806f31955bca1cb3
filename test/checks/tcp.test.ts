import { execFileSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { parseCondition } from '../../agent/evaluate';
import { tcpCheck } from '../../checks/tcp';
import type { Thresholds } from '../../checks/types';
import { fieldsOf, runCheck, settlesAtOnce, startRun } from '../helpers/check';

const HOST = '127.0.0.1';
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/** Listens on a free port of 127.0.0.1 with the given connection handler; closed after each test. */
async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as net.AddressInfo).port;
}

/**
 * The next client socket opened in this process (the check's own), from Node's
 * net.client.socket channel: the test can wait for it to connect or to get data.
 */
function nextClientSocket(): Promise<net.Socket> {
  return new Promise((resolve) => {
    const onSocket = (message: unknown) => {
      diagnostics.unsubscribe('net.client.socket', onSocket);
      resolve((message as { socket: net.Socket }).socket);
    };
    diagnostics.subscribe('net.client.socket', onSocket);
  });
}

/** The socket of the check's next tls.connect() (which publishes on no channel). */
function nextTlsSocket(): Promise<tls.TLSSocket> {
  const real = tls.connect;
  return new Promise((resolve) => {
    const spy = jest.spyOn(tls, 'connect').mockImplementation(((...args: unknown[]) => {
      spy.mockRestore();
      const socket = (real as (...a: unknown[]) => tls.TLSSocket)(...args);
      resolve(socket);
      return socket;
    }) as typeof tls.connect);
  });
}

afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('tcp check', () => {
  it('connects to an open port and reports the latency', async () => {
    const port = await listen(net.createServer());
    const t0 = performance.now();
    const obs = await runCheck(tcpCheck, { port });
    const elapsedMs = performance.now() - t0;
    expect(obs.up).toBeUndefined();
    expect(Object.keys(obs.values)).toEqual(['latencyMs']);
    // Milliseconds, measured within the run.
    expect(obs.values.latencyMs).toBeGreaterThan(0);
    expect(obs.values.latencyMs).toBeLessThanOrEqual(elapsedMs);
    expect(obs.message).toMatch(new RegExp(`^${HOST}:${port} connected in [\\d.]+ ms$`));
  });

  it('matches a banner the server sends', async () => {
    const port = await listen(net.createServer((s) => s.write('SSH-2.0-OpenSSH_9.6\r\n')));
    const obs = await runCheck(tcpCheck, { port, expect: '^SSH-2\\.0-' });
    expect(obs.values.matches).toBe(true);
    expect(obs.message).toContain('reply matches /^SSH-2\\.0-/');
  });

  it('reports a banner that does not match, and the default condition fires on it', async () => {
    const port = await listen(net.createServer((s) => s.end('220 mail.example.com ESMTP\r\n')));
    const raw = { port, expect: '^SSH-' };
    const obs = await runCheck(tcpCheck, raw);
    expect(obs.up).toBeUndefined();
    expect(obs.values.matches).toBe(false);
    expect(obs.message).toContain('reply does not match /^SSH-/: "220 mail.example.com ESMTP\\r\\n"');
    const d = (tcpCheck.defaults as (s: unknown) => Thresholds)(tcpCheck.schema.parse(raw));
    expect(parseCondition(d.crit![0], fieldsOf(tcpCheck, raw)).test(obs.values)).toBe(true);
  });

  it('sends text and matches the reply to it', async () => {
    const port = await listen(
      net.createServer((s) => {
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          if (d === 'PING\r\n') s.write('+PONG\r\n');
          else s.write('-ERR unknown command\r\n');
        });
      }),
    );
    expect((await runCheck(tcpCheck, { port, send: 'PING\r\n', expect: '^\\+PONG' })).values.matches).toBe(true);
    // The server answers and keeps the connection open: a pause in the reply settles it.
    // No timeout plays here (the run's signal never aborts), so nothing else could; the
    // pause is a timer, so fake timers make it pass at once.
    const socket = nextClientSocket();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'Date', 'performance', 'hrtime'] });
    let wrong;
    try {
      const { run } = startRun(tcpCheck, { port, send: 'HELLO\r\n', expect: '^\\+PONG' });
      await once(await socket, 'data');
      expect(await settlesAtOnce(run)).toBe(false); // more of the reply may come
      jest.advanceTimersByTime(60_000);
      wrong = await run;
    } finally {
      jest.useRealTimers();
    }
    expect(wrong.up).toBeUndefined();
    expect(wrong.values.matches).toBe(false);
    expect(wrong.message).toContain('reply does not match /^\\+PONG/: "-ERR unknown command\\r\\n"');
  });

  it('judges a wrong reply as a mismatch, not a timeout, when the timeout comes first', async () => {
    const port = await listen(net.createServer((s) => s.write('220 ')));
    const socket = nextClientSocket();
    const { run, abort } = startRun(tcpCheck, { port, expect: '^SSH-' }, { timeoutMs: 300 });
    await once(await socket, 'data'); // some of a reply is in, and it is no match yet
    abort(); // the timeout, before the reply's pause would settle it
    const obs = await run;
    expect(obs.up).toBeUndefined();
    expect(obs.values.matches).toBe(false);
  });

  it('sends text without waiting for a reply when nothing is expected', async () => {
    let received = '';
    let closed!: () => void;
    const done = new Promise<void>((resolve) => (closed = resolve));
    const port = await listen(
      net.createServer((s) => {
        s.setEncoding('utf8');
        s.on('data', (d: string) => (received += d));
        s.on('close', () => closed());
      }),
    );
    const obs = await runCheck(tcpCheck, { port, send: 'QUIT\n' });
    expect(obs.values).toEqual({ latencyMs: expect.any(Number) });
    await done;
    expect(received).toBe('QUIT\n');
  });

  it('stops reading at 4 KiB and judges what it has', async () => {
    const port = await listen(net.createServer((s) => s.write('x'.repeat(10_000))));
    const obs = await runCheck(tcpCheck, { port, expect: 'y' }, { timeoutMs: 3000 });
    expect(obs.values.matches).toBe(false);
    expect(obs.up).toBeUndefined();
  });

  it('reports a closed port as refused', async () => {
    const server = net.createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const obs = await runCheck(tcpCheck, { port });
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('refused');
    expect(obs.message).toContain('ECONNREFUSED');
    expect(obs.values).toEqual({});
  });

  it('times out on a server that never answers', async () => {
    const port = await listen(net.createServer(() => {}));
    const socket = nextClientSocket();
    const { run, abort } = startRun(tcpCheck, { port, expect: '^OK' }, { timeoutMs: 300 });
    await once(await socket, 'connect');
    abort(); // the timeout: the run answers it at once
    expect(await settlesAtOnce(run)).toBe(true);
    const obs = await run;
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('timeout');
    expect(obs.values.latencyMs).toBeGreaterThan(0);
    expect(obs.message).toMatch(/connected in [\d.]+ ms but sent no reply within 300ms$/);
  });

  it('times out on a TLS handshake that never comes', async () => {
    const port = await listen(net.createServer(() => {}));
    const socket = nextTlsSocket();
    const { run, abort } = startRun(tcpCheck, { port, tls: true }, { timeoutMs: 300 });
    await once(await socket, 'connect'); // connected; the server never starts the handshake
    abort(); // the timeout
    const obs = await run;
    expect(obs.failure).toBe('timeout');
    expect(obs.message).toBe(`${HOST}:${port} did not complete the TLS handshake within 300ms`);
  });

  it('reports a server that hangs up during the TLS handshake as refused', async () => {
    const port = await listen(net.createServer((s) => s.destroy()));
    const obs = await runCheck(tcpCheck, { port, tls: true });
    expect(obs.up).toBe(false);
    expect(obs.failure).toBe('refused');
  });

  describe('with TLS', () => {
    let dir: string;
    let key: Buffer;
    let cert: Buffer;

    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'kw-tcp-'));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '30',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
      key = readFileSync(path.join(dir, 'key.pem'));
      cert = readFileSync(path.join(dir, 'cert.pem'));
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reports days left on the certificate when verification is off', async () => {
      const port = await listen(tls.createServer({ key, cert }, (s) => s.write('* OK IMAP ready\r\n')));
      const obs = await runCheck(tcpCheck, { port, tls: true, insecure: true, serverName: 'localhost', expect: '^\\* OK' });
      expect(obs.up).toBeUndefined();
      expect(obs.values.certDaysLeft).toBeGreaterThan(29.9);
      expect(obs.values.certDaysLeft).toBeLessThanOrEqual(30);
      expect(obs.values.matches).toBe(true);
      expect(obs.message).toMatch(/certificate expires in [\d.]+ days, reply matches/);
    });

    it('reports a certificate it cannot verify as a TLS failure', async () => {
      const port = await listen(tls.createServer({ key, cert }));
      const obs = await runCheck(tcpCheck, { port, tls: true, serverName: 'localhost' });
      expect(obs.up).toBe(false);
      expect(obs.failure).toBe('tls');
      expect(obs.message).toBe(`${HOST}:${port}: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate`);
    });

    it('reports a plain-text server spoken to with TLS as down', async () => {
      const port = await listen(net.createServer((s) => s.end('220 hello\r\n')));
      const obs = await runCheck(tcpCheck, { port, tls: true });
      expect(obs.up).toBe(false);
      expect(obs.failure).toBe('tls');
      expect(obs.message).toMatch(new RegExp(`^${HOST}:${port}: ERR_SSL_\\w+: [^\\n]+$`));
    });
  });
});

describe('tcp check config', () => {
  it.each([
    [{}, 'expected number'],
    [{ port: 0 }, 'Too small'],
    [{ port: 70000 }, 'Too big'],
    [{ port: 22, expect: '[' }, 'invalid regular expression'],
    [{ port: 22, insecure: true }, 'insecure applies only with tls: true'],
    [{ port: 22, serverName: 'x' }, 'serverName applies only with tls: true'],
    [{ port: 22, hostname: 'x' }, 'Unrecognized key'],
  ])('rejects %j', (raw, message) => {
    const r = tcpCheck.schema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join('; ')).toContain(message);
  });

  it('declares matches and certDaysLeft only when they can be returned', () => {
    expect(Object.keys(fieldsOf(tcpCheck, { port: 22 }))).toEqual(['latencyMs']);
    expect(Object.keys(fieldsOf(tcpCheck, { port: 22, expect: 'x', tls: true }))).toEqual(['latencyMs', 'matches', 'certDaysLeft']);
  });

  it('defaults to crit on a mismatch only when expect is set, and the condition parses', () => {
    const defaults = tcpCheck.defaults as (s: unknown) => Thresholds;
    expect(defaults(tcpCheck.schema.parse({ port: 22 }))).toEqual({});
    const withExpect = { port: 22, expect: '^SSH-' };
    const d = defaults(tcpCheck.schema.parse(withExpect));
    expect(d).toEqual({ crit: ['matches == false'] });
    expect(parseCondition(d.crit![0], fieldsOf(tcpCheck, withExpect)).test({ matches: true })).toBe(false);
  });
});
