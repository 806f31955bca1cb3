import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { IncidentEvent } from '../../agent/notifiers/types';

/** A server listening on 127.0.0.1 at a free port. */
export interface TestServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** A self-signed certificate made for this test run. */
export interface TestCert {
  key: string;
  cert: string;
  certFile: string;
  dir: string;
}

/** Makes a self-signed certificate for `localhost`/127.0.0.1 valid for `days`, with openssl. */
export function makeCert(days = 30, cn = 'localhost'): TestCert {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepwatch-pki-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', String(days), '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`,
  ], { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile, dir };
}

function listen(server: net.Server, scheme: string): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        url: `${scheme}://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Starts an HTTP server on 127.0.0.1:0 with the given handler. */
export function startHttp(handler: http.RequestListener): Promise<TestServer> {
  return listen(http.createServer(handler), 'http');
}

/** One request a receiver got: its JSON body, as sent, and when it arrived. */
export interface Delivery<T> {
  body: T;
  raw: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

/** A webhook receiver: its server and the requests it got, in order of arrival. */
export interface Receiver<T = IncidentEvent> extends TestServer {
  readonly got: Delivery<T>[];
}

/**
 * Starts a receiver of JSON posts (an incident event each, by default) on 127.0.0.1:0. It
 * records each request, then answers 200, or as `answer` says.
 */
export async function startReceiver<T = IncidentEvent>(
  answer: (got: Delivery<T>, res: http.ServerResponse) => void = (_got, res) => res.writeHead(200).end(),
): Promise<Receiver<T>> {
  const got: Delivery<T>[] = [];
  const server = await startHttp((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const delivery = { body: JSON.parse(raw) as T, raw, path: req.url ?? '', headers: req.headers, at: Date.now() };
      got.push(delivery);
      answer(delivery, res);
    });
  });
  return { ...server, got };
}

/** Starts an HTTPS server on 127.0.0.1:0 with the given certificate and handler. */
export function startHttps(cert: TestCert, handler: http.RequestListener): Promise<TestServer> {
  return listen(https.createServer({ key: cert.key, cert: cert.cert }, handler), 'https');
}

/** Starts a raw TCP server on 127.0.0.1:0. */
export function startTcp(onConnection: (socket: net.Socket) => void): Promise<TestServer> {
  // A client that resets its connection (a check timing out, a probe closing early) must not
  // crash the test process with an unhandled 'error' event.
  return listen(net.createServer((socket) => {
    socket.on('error', () => undefined);
    onConnection(socket);
  }), 'tcp');
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = await startTcp(() => undefined);
  await s.close();
  return s.port;
}
