import fs from 'node:fs';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { grpcCheck, decodeResponse, encodeRequest } from '../../checks/grpc';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { TestPki, type Issued } from '../helpers/pki';

// The health proto by hand, server side: HealthCheckRequest { string service = 1 },
// HealthCheckResponse { ServingStatus status = 1 }.
function decodeService(buf: Buffer): string {
  if (buf.length === 0) return '';
  if (buf[0] !== 0x0a) throw new Error('unexpected field');
  let len = 0, shift = 0, i = 1;
  for (;;) { const b = buf[i++]; len |= (b & 0x7f) << shift; shift += 7; if (b < 0x80) break; }
  return buf.subarray(i, i + len).toString('utf8');
}
const encodeStatus = (s: number): Buffer => (s === 0 ? Buffer.alloc(0) : Buffer.from([0x08, s]));

const HEALTH_SERVICE: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => ({ service: decodeService(b) }), // an object: grpc-js takes '' for no message
    responseSerialize: encodeStatus,
    responseDeserialize: (b: Buffer) => b,
  },
};

/** Serving statuses by service, as the reference health server keeps them. */
const STATUSES: Record<string, number> = { '': 1, 'shop.Cart': 1, 'shop.Down': 2, 'shop.Limbo': 0 };

const checkImpl: grpc.UntypedServiceImplementation = {
  Check(call: grpc.ServerUnaryCall<{ service: string }, number>, cb: grpc.sendUnaryData<number>) {
    const { service } = call.request;
    if (service === 'shop.Slow') return undefined; // never answers
    if (service === 'shop.Secret') {
      const auth = call.metadata.get('authorization')[0];
      if (auth !== 'Bearer s3cret') return cb({ code: grpc.status.UNAUTHENTICATED, details: 'bad token' });
      return cb(null, 1);
    }
    if (!(service in STATUSES)) return cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
    cb(null, STATUSES[service]);
  },
};

async function startServer(creds: grpc.ServerCredentials, withHealth = true): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  if (withHealth) server.addService(HEALTH_SERVICE, checkImpl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

/** Established TCP connections whose local end is `port` on this host (the server's side of each). */
function serverConnections(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[1].endsWith(`:${hex}`) && cols[3] === '01') n++;
    }
  }
  return n;
}

async function settledConnections(port: number, want: number, waitMs = 3000): Promise<number> {
  const end = Date.now() + waitMs;
  let n = serverConnections(port);
  while (n > want && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    n = serverConnections(port);
  }
  return n;
}

let plain: { server: grpc.Server; port: number };
let bare: { server: grpc.Server; port: number };
let secure: { server: grpc.Server; port: number };
let pki: TestPki;
let ca: Issued;
let hanging: net.Server;
let hangingPort: number;
const hangingSockets = new Set<net.Socket>();
let refusedPort: number;

beforeAll(async () => {
  plain = await startServer(grpc.ServerCredentials.createInsecure());
  bare = await startServer(grpc.ServerCredentials.createInsecure(), false);
  pki = new TestPki();
  ca = pki.issue({ cn: 'keepwatch grpc test root', notAfterDays: 3650, ca: true });
  const leaf = pki.issue({ cn: 'grpc.test', san: ['DNS:grpc.test', 'DNS:localhost', 'IP:127.0.0.1'], notAfterDays: 100 }, ca);
  secure = await startServer(grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(leaf.key), cert_chain: Buffer.from(leaf.cert) }]));
  // Accepts connections and never says a word: no HTTP/2 settings, no answer.
  hanging = net.createServer((s) => { hangingSockets.add(s); s.on('close', () => hangingSockets.delete(s)); s.on('error', () => undefined); });
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  hangingPort = (hanging.address() as net.AddressInfo).port;
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  refusedPort = (tmp.address() as net.AddressInfo).port;
  await new Promise((r) => tmp.close(r));
});

afterAll(async () => {
  for (const s of [plain, bare, secure]) s?.server.forceShutdown();
  for (const s of hangingSockets) s.destroy();
  await new Promise((r) => hanging?.close(r));
  pki?.remove();
});

describe('grpc check: schema', () => {
  it('needs only target, and validates it', () => {
    expect(grpcCheck.schema.parse({ target: '127.0.0.1:50051' })).toEqual({ target: '127.0.0.1:50051', service: '', tls: false, insecure: false, metadata: {} });
    expect(grpcCheck.schema.safeParse({ target: '[::1]:443' }).success).toBe(true);
    for (const target of ['localhost', 'localhost:0', 'localhost:70000', 'http://x:1', ':80']) {
      expect(grpcCheck.schema.safeParse({ target }).success).toBe(false);
    }
  });

  it('takes TLS options only with tls, and metadata keys gRPC accepts', () => {
    expect(grpcCheck.schema.safeParse({ target: 'a:1', caFile: '/x' }).success).toBe(false);
    expect(grpcCheck.schema.safeParse({ target: 'a:1', insecure: true }).success).toBe(false);
    expect(grpcCheck.schema.safeParse({ target: 'a:1', tls: true, caFile: '/x', serverName: 'a' }).success).toBe(true);
    expect(grpcCheck.schema.parse({ target: 'a:1', metadata: { Authorization: 'x' } }).metadata).toEqual({ authorization: 'x' });
    for (const key of ['grpc-timeout', 'x-bin', 'bad key']) {
      expect(grpcCheck.schema.safeParse({ target: 'a:1', metadata: { [key]: 'v' } }).success).toBe(false);
    }
  });

  it('declares its values and is critical when not serving by default', () => {
    expect(Object.keys(fieldsOf(grpcCheck, { target: 'a:1' })).sort()).toEqual(['latencyMs', 'serving', 'status', 'statusCode']);
    expect(grpcCheck.defaults).toEqual({ crit: ['serving == false'] });
  });

  it('encodes and decodes the two health messages', () => {
    expect(encodeRequest('')).toEqual(Buffer.alloc(0));
    expect(encodeRequest('a.B')).toEqual(Buffer.from([0x0a, 3, 0x61, 0x2e, 0x42]));
    expect(decodeService(encodeRequest('x'.repeat(200)))).toBe('x'.repeat(200));
    expect(decodeResponse(Buffer.alloc(0))).toBe(0);
    expect(decodeResponse(Buffer.from([0x08, 1]))).toBe(1);
    expect(decodeResponse(Buffer.from([0x12, 2, 0x61, 0x62, 0x08, 2]))).toBe(2); // an unknown field first is skipped
    expect(() => decodeResponse(Buffer.from([0x08]))).toThrow(/malformed/);
  });
});

describe('grpc check: against a local server', () => {
  it('reports SERVING for the server as a whole and for a service', async () => {
    for (const service of [undefined, 'shop.Cart']) {
      const o = await runCheck(grpcCheck, { target: `127.0.0.1:${plain.port}`, ...(service ? { service } : {}) });
      expect(o.message).toMatch(/SERVING/);
      expect(o.up).toBeUndefined();
      expect(o.values).toMatchObject({ status: 'SERVING', serving: true, statusCode: 1 });
      expect(o.values.latencyMs).toEqual(expect.any(Number));
      expect(o.message).toMatch(/SERVING in [\d.]+ ms/);
    }
  });

  it('reports NOT_SERVING, UNKNOWN and an unknown service as answers that are not serving', async () => {
    const cases: Array<[string, string, number]> = [['shop.Down', 'NOT_SERVING', 2], ['shop.Limbo', 'UNKNOWN', 0], ['shop.Nope', 'SERVICE_UNKNOWN', 3]];
    for (const [service, status, statusCode] of cases) {
      const o = await runCheck(grpcCheck, { target: `127.0.0.1:${plain.port}`, service });
      expect(o.up).toBeUndefined();
      expect(o.values).toMatchObject({ status, serving: false, statusCode });
      expect(o.message).toContain(`service "${service}" ${status}`);
    }
  });

  it('sends metadata, and an auth refusal is a failure that says so', async () => {
    const target = `127.0.0.1:${plain.port}`;
    const ok = await runCheck(grpcCheck, { target, service: 'shop.Secret', metadata: { authorization: 'Bearer s3cret' } });
    expect(ok.values.serving).toBe(true);
    const bad = await runCheck(grpcCheck, { target, service: 'shop.Secret', metadata: { authorization: 'Bearer wrong' } });
    expect(bad).toMatchObject({ up: false, failure: 'error' });
    expect(bad.message).toMatch(/auth: UNAUTHENTICATED: bad token/);
  });

  it('says when the server has no health service', async () => {
    const o = await runCheck(grpcCheck, { target: `127.0.0.1:${bare.port}` });
    expect(o).toMatchObject({ up: false, failure: 'error' });
    expect(o.message).toMatch(/has no health service/);
  });

  it('is refused on a closed port and fails DNS on a name that does not resolve', async () => {
    const o = await runCheck(grpcCheck, { target: `127.0.0.1:${refusedPort}` });
    expect(o).toMatchObject({ up: false, failure: 'refused' });
    expect(o.message).toMatch(/ECONNREFUSED/);
    const d = await runCheck(grpcCheck, { target: 'no-such-host.invalid:50051' });
    expect(d).toMatchObject({ up: false, failure: 'dns' });
  });

  it('times out on a server that never answers, and closes its connection', async () => {
    const before = serverConnections(hangingPort);
    const o = await runCheck(grpcCheck, { target: `127.0.0.1:${hangingPort}` }, { timeoutMs: 400 });
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    expect(o.message).toMatch(/no answer within 400ms/);
    expect(await settledConnections(hangingPort, before)).toBe(before);
  });

  it('times out on a service whose answer never comes, and closes its connection', async () => {
    for (const [srv, extra] of [[plain, {}], [secure, { tls: true, caFile: ca.certFile }]] as const) {
      const before = serverConnections(srv.port);
      for (let i = 0; i < 20; i++) {
        const o = await runCheck(grpcCheck, { target: `127.0.0.1:${srv.port}`, service: 'shop.Slow', ...extra }, { timeoutMs: 100 });
        expect(o).toMatchObject({ up: false, failure: 'timeout' });
      }
      expect(await settledConnections(srv.port, before)).toBe(before);
    }
  });

  it('ends at once when the run is aborted, closing the channel', async () => {
    const before = serverConnections(hangingPort);
    const r = startRun(grpcCheck, { target: `127.0.0.1:${hangingPort}` }, { timeoutMs: 60_000 });
    await new Promise((res) => setTimeout(res, 150));
    const t = Date.now();
    r.abort();
    const o = await r.run;
    expect(Date.now() - t).toBeLessThan(1000);
    expect(o).toMatchObject({ up: false, failure: 'timeout' });
    expect(await settledConnections(hangingPort, before)).toBe(before);
  });

  it('speaks TLS with caFile, insecure and serverName, and fails TLS without trust or on a wrong name', async () => {
    const target = `127.0.0.1:${secure.port}`;
    const ok = await runCheck(grpcCheck, { target, tls: true, caFile: ca.certFile });
    expect(ok.values).toMatchObject({ status: 'SERVING', serving: true });
    const named = await runCheck(grpcCheck, { target, tls: true, caFile: ca.certFile, serverName: 'grpc.test', service: 'shop.Down' });
    expect(named.values).toMatchObject({ status: 'NOT_SERVING', serving: false });
    const insecure = await runCheck(grpcCheck, { target, tls: true, insecure: true });
    expect(insecure.values.serving).toBe(true);
    const untrusted = await runCheck(grpcCheck, { target, tls: true });
    expect(untrusted).toMatchObject({ up: false, failure: 'tls' });
    const wrongName = await runCheck(grpcCheck, { target, tls: true, caFile: ca.certFile, serverName: 'other.test' });
    expect(wrongName).toMatchObject({ up: false, failure: 'tls' });
    const plainToTls = await runCheck(grpcCheck, { target }, { timeoutMs: 1000 });
    expect(plainToTls.up).toBe(false);
  });

  it('throws (unknown) when caFile cannot be read', async () => {
    await expect(runCheck(grpcCheck, { target: 'a:1', tls: true, caFile: `${pki.dir}/nope.pem` })).rejects.toThrow(/cannot read caFile .*no such file/);
  });

  it('counts the server-side connections it is about to watch', async () => {
    // The control for the 500-run test: a connection held open is seen, and goes when closed.
    const before = serverConnections(plain.port);
    const held = new grpc.Client(`127.0.0.1:${plain.port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    await new Promise<void>((resolve, reject) => held.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())));
    expect(serverConnections(plain.port)).toBe(before + 1);
    held.close();
    expect(await settledConnections(plain.port, before)).toBe(before);
  });

  it('leaves no connection behind over 500 runs', async () => {
    for (const [srv, extra] of [[plain, {}], [secure, { tls: true, caFile: ca.certFile }]] as const) {
      const target = `127.0.0.1:${srv.port}`;
      const before = serverConnections(srv.port);
      let peak = 0;
      for (let i = 0; i < 100; i++) {
        const batch = await Promise.all(Array.from({ length: 5 }, () => runCheck(grpcCheck, { target, ...extra })));
        for (const o of batch) expect(o.values.serving).toBe(true);
        peak = Math.max(peak, serverConnections(srv.port));
      }
      const after = await settledConnections(srv.port, before);
      // eslint-disable-next-line no-console
      console.log(`grpc ${'tls' in extra ? 'TLS' : 'plain'} 500 runs: server connections before ${before}, peak ${peak}, after ${after}`);
      expect(after).toBe(before);
      expect(peak).toBeLessThanOrEqual(before + 10);
    }
  }, 120_000);
});
