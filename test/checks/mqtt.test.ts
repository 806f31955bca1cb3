import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mqttCheck } from '../../checks/mqtt';
import { runCheck, startRun } from '../helpers/check';
import { serverSockets } from '../helpers/spawn-server';

// The Mosquitto broker this machine runs (anonymous on 127.0.0.1:1883). A missing broker fails loudly.
const URL_LOCAL = 'mqtt://127.0.0.1:1883';
jest.setTimeout(120_000);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('a QoS 1 message comes back on the private topic; latencyMs and connackMs are numbers', async () => {
  const o = await runCheck(mqttCheck, { url: URL_LOCAL });
  expect(o.up).not.toBe(false);
  expect(o.values).toEqual({ latencyMs: expect.any(Number), connackMs: expect.any(Number) });
  expect(o.message).toMatch(/^mqtt:\/\/127\.0\.0\.1:1883 round trip in [\d.]+ ms/);
});

test('a closed port is refused, an unknown host dns', async () => {
  const port = await freePort();
  expect(await runCheck(mqttCheck, { url: `mqtt://127.0.0.1:${port}` })).toMatchObject({ up: false, failure: 'refused' });
  expect(await runCheck(mqttCheck, { url: 'mqtt://kw-no-such-host.invalid:1883' })).toMatchObject({ up: false, failure: 'dns' });
});

test('a server that never answers is a timeout, and the socket is closed', async () => {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => { sockets.push(s); s.resume(); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const o = await runCheck(mqttCheck, { url: `mqtt://127.0.0.1:${port}` }, { timeoutMs: 500 });
  expect(o).toMatchObject({ up: false, failure: 'timeout' });
  expect(o.message).toContain('did not connect within 500ms');
  await new Promise((r) => setTimeout(r, 300));
  expect(sockets.length).toBe(1);
  expect(sockets[0].destroyed || sockets[0].readableEnded).toBe(true);
  srv.close();
});

describe('a broker that wants a password', () => {
  let dir: string;
  let broker: ChildProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kw-mqtt-'));
    port = await freePort();
    execFileSync('mosquitto_passwd', ['-b', '-c', path.join(dir, 'passwd'), 'kw', 'right-pass']);
    writeFileSync(path.join(dir, 'mosquitto.conf'), [
      `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${path.join(dir, 'passwd')}`, 'user root', 'persistence false', '',
    ].join('\n'));
    broker = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }).on('error', () => r(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the password-protected mosquitto did not start');
  });

  afterAll(() => {
    broker.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the right password round-trips', async () => {
    const o = await runCheck(mqttCheck, { url: `mqtt://127.0.0.1:${port}`, username: 'kw', password: 'right-pass' });
    expect(o.up).not.toBe(false);
  });

  test('a wrong password is auth (CONNACK 4 or 5), without the password in the message', async () => {
    const o = await runCheck(mqttCheck, { url: `mqtt://127.0.0.1:${port}`, username: 'kw', password: 'wrong-pass' });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toMatch(/auth: (bad username or password|not authorized) \(CONNACK [45]\)/);
    expect(o.message).not.toContain('wrong-pass');
  });

  test('no credentials at all is auth too', async () => {
    const o = await runCheck(mqttCheck, { url: `mqtt://127.0.0.1:${port}` });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toMatch(/auth: /);
  });
});

test('config: url scheme, no password in the url, password needs username', () => {
  expect(mqttCheck.schema.safeParse({ url: 'http://x' }).success).toBe(false);
  expect(mqttCheck.schema.safeParse({ url: 'mqtt://u:p@x' }).success).toBe(false);
  expect(mqttCheck.schema.safeParse({ url: 'mqtt://x', password: 'p' }).success).toBe(false);
  expect(mqttCheck.schema.safeParse({ url: 'ws://x:8080/mqtt' }).success).toBe(true);
});

test('500 runs leave no connection open on the broker', async () => {
  const before = serverSockets(1883);
  const started = Date.now();
  for (let i = 0; i < 500; i += 5) {
    const results = await Promise.all([0, 1, 2, 3, 4].map(async (j) => {
      if ((i + j) % 10 === 9) {
        const r = startRun(mqttCheck, { url: URL_LOCAL });
        setTimeout(() => r.abort(), (i + j) % 7);
        return r.run;
      }
      return runCheck(mqttCheck, { url: URL_LOCAL });
    }));
    for (const [j, o] of results.entries()) {
      if ((i + j) % 10 !== 9) expect([i + j, o.up]).toEqual([i + j, undefined]);
    }
  }
  let after = serverSockets(1883);
  for (let i = 0; i < 50 && after > before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = serverSockets(1883);
  }
  // eslint-disable-next-line no-console
  console.log(`mqtt 500 runs in ${Date.now() - started} ms: server sockets on 1883 ${before} -> ${after}`);
  expect(after).toBeLessThanOrEqual(before);
});
