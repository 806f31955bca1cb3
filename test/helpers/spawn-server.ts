import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A port of 127.0.0.1 free right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A server process the test started; `stop()` kills it (by its own pid) and waits for it. */
export interface SpawnedServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `command args` and waits until 127.0.0.1:`port` accepts connections (up to `waitMs`).
 * Fails loudly when the program is missing or exits first: a test never skips over it.
 */
export async function spawnServer(command: string, args: string[], port: number, waitMs = 10_000): Promise<SpawnedServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  let exited: string | undefined;
  child.on('error', (err) => (exited = `${command} could not start: ${err.message}`));
  child.on('exit', (code, sig) => (exited ??= `${command} exited (${code ?? sig}) before listening: ${stderr.slice(0, 500)}`));
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (exited) throw new Error(exited);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} did not listen on ${port} within ${waitMs} ms: ${stderr.slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A self-signed certificate for `localhost` and 127.0.0.1 (openssl), in a temp dir removed by `cleanup`. */
export function selfSignedCert(): { dir: string; cert: string; key: string; certPem: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kw-cert-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { dir, cert, key, certPem: readFileSync(cert, 'utf8'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** TCP sockets whose local port is `port` (server side) and whose state `counts`, from /proc/net/tcp and tcp6. */
function socketsOnPort(port: number, counts: (state: string) => boolean): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[1].endsWith(`:${hex}`) && counts(f[3])) n++;
    }
  }
  return n;
}

/** Established TCP connections whose local port is `port` (server side). */
export function establishedTo(port: number): number {
  return socketsOnPort(port, (state) => state === '01');
}

/** Sockets on `port` (server side) in any state but LISTEN and TIME_WAIT: connections not yet fully closed. */
export function serverSockets(port: number): number {
  return socketsOnPort(port, (state) => state !== '0A' && state !== '06');
}
