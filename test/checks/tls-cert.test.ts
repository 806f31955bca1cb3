import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { parseCondition, judge, Status } from '../../agent/evaluate';
import { tlsCertCheck } from '../../checks/tls-cert';
import { isWeakKey, isWeakProtocol, isWeakSignature, keyModeSeverity, signatureAlgorithm } from '../../checks/tls-cert/inspect';
import type { Observation } from '../../checks/types';
import { fieldsOf, runCheck, startRun } from '../helpers/check';
import { TestPki, type Issued } from '../helpers/pki';
import { closedPort, startTcp, type TestServer } from '../helpers/servers';

let pki: TestPki;
let ca: Issued;
let inter: Issued;
/** A leaf for localhost/127.0.0.1 issued by `inter`, valid 90.5 days. */
let good: Issued;
const servers: Array<{ close(): Promise<void> }> = [];

beforeAll(() => {
  pki = new TestPki();
  ca = pki.issue({ cn: 'keepwatch test root', notAfterDays: 3650, ca: true });
  inter = pki.issue({ cn: 'keepwatch test intermediate', notAfterDays: 1000, ca: true }, ca);
  good = leaf({ notAfterDays: 90.5 }); // half a day off a whole number: the message's day count is steady
});
afterAll(() => pki.remove());
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function leaf(o: Partial<Parameters<TestPki['issue']>[0]> & { notAfterDays: number }, issuer: Issued | null = inter): Issued {
  return pki.issue({ cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'], ...o }, issuer ?? undefined);
}

function ids(o: Observation): string[] {
  return (o.findings ?? []).map((f) => f.id).sort();
}

function verdict(raw: Record<string, unknown>, o: Observation): Status {
  const spec = tlsCertCheck.schema.parse(raw);
  const fields = fieldsOf(tlsCertCheck, raw);
  const d = tlsCertCheck.defaults!;
  const t = typeof d === 'function' ? d(spec) : d;
  return judge(o, { warn: (t.warn ?? []).map((c) => parseCondition(c, fields)), crit: (t.crit ?? []).map((c) => parseCondition(c, fields)) }).status;
}

/** Serves `cert` (with `chain` after it) over TLS on 127.0.0.1:0. */
async function serveTls(cert: Issued, chain: Issued[] = [inter], opts: tls.TlsOptions = {}): Promise<TestServer> {
  const server = tls.createServer({ key: cert.key, cert: [cert.cert, ...chain.map((c) => c.cert)].join(''), ...opts }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => sockets.add(s));
  const port = (server.address() as net.AddressInfo).port;
  const s = {
    port,
    url: `tls://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => {
      for (const c of sockets) c.destroy();
      server.close(() => r());
    }),
  };
  servers.push(s);
  return s;
}

/**
 * A tiny SMTP server: 220 greeting, EHLO answered with a 250 list (STARTTLS in it unless
 * `offer` is false), STARTTLS answered 220, then the same socket is upgraded with TLSSocket.
 */
async function serveSmtp(cert: Issued, offer = true): Promise<TestServer & { said: string[] }> {
  const said: string[] = [];
  const secure = tls.createSecureContext({ key: cert.key, cert: cert.cert + inter.cert });
  const s = await startTcp((socket) => {
    socket.write('220 mx.test ESMTP ready\r\n');
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        said.push(line);
        if (/^EHLO /i.test(line)) socket.write(`250-mx.test\r\n250-PIPELINING\r\n${offer ? '250-STARTTLS\r\n' : ''}250 8BITMIME\r\n`);
        else if (/^STARTTLS$/i.test(line)) {
          socket.off('data', onData);
          socket.write('220 2.0.0 go ahead\r\n');
          const t = new tls.TLSSocket(socket, { isServer: true, secureContext: secure });
          t.on('error', () => undefined);
          t.on('secure', () => t.end());
        } else socket.write('502 5.5.2 unknown\r\n');
      }
    };
    socket.on('data', onData);
  });
  servers.push(s);
  return { ...s, said };
}

describe('classification (pure)', () => {
  test.each([
    ['TLSv1', true], ['TLSv1.1', true], ['SSLv3', true], ['TLSv1.2', false], ['TLSv1.3', false], ['unknown', false],
  ])('protocol %s weak: %s', (p, weak) => {
    expect(isWeakProtocol(p)).toBe(weak);
  });

  test.each([
    ['rsa', 1024, true], ['rsa', 2048, false], ['dsa', 1024, true], ['ec', 224, true], ['ec', 256, false], ['ed25519', 256, false],
  ])('%s key of %i bits weak: %s', (type, bits, weak) => {
    expect(isWeakKey(type, bits)).toBe(weak);
  });

  test.each([
    ['sha1WithRSAEncryption', true], ['md5WithRSAEncryption', true], ['ecdsa-with-SHA1', true],
    ['sha256WithRSAEncryption', false], ['ecdsa-with-SHA256', false], ['ED25519', false],
  ])('signature %s weak: %s', (alg, weak) => {
    expect(isWeakSignature(alg)).toBe(weak);
  });

  test.each([
    [0o600, undefined], [0o400, undefined], [0o640, 'medium'], [0o620, 'medium'], [0o644, 'high'], [0o604, 'high'],
  ])('key file mode %o: %s', (mode, severity) => {
    expect(keyModeSeverity(mode)).toBe(severity);
  });

  test('the signature algorithm is read from the DER of real certificates', () => {
    const sha1 = leaf({ notAfterDays: 30, md: 'sha1' });
    const ec = leaf({ notAfterDays: 30, key: 'ec:prime256v1' }, null);
    expect(signatureAlgorithm(new X509Certificate(good.cert).raw)).toBe('sha256WithRSAEncryption');
    expect(signatureAlgorithm(new X509Certificate(sha1.cert).raw)).toBe('sha1WithRSAEncryption');
    expect(signatureAlgorithm(new X509Certificate(ec.cert).raw)).toBe('ecdsa-with-SHA256');
    expect(signatureAlgorithm(Buffer.from([0x30, 0x03, 0x02, 0x01]))).toBeUndefined();
  });
});

describe('config', () => {
  test('exactly one of host and certFile', () => {
    expect(tlsCertCheck.schema.safeParse({}).success).toBe(false);
    expect(tlsCertCheck.schema.safeParse({ host: 'a', certFile: '/x.pem' }).success).toBe(false);
    expect(tlsCertCheck.schema.safeParse({ certFile: 'relative.pem' }).success).toBe(false);
    expect(tlsCertCheck.schema.safeParse({ certFile: '/x.pem', port: 443 }).success).toBe(false);
    expect(tlsCertCheck.schema.safeParse({ host: 'a', warnDays: 7, critDays: 7 }).success).toBe(false);
  });

  test('default thresholds follow warnDays and critDays; hostnameMatch only where a name is known', () => {
    const d = tlsCertCheck.defaults as (s: unknown) => { warn: string[]; crit: string[] };
    expect(d(tlsCertCheck.schema.parse({ host: 'a' }))).toEqual({
      warn: ['daysLeft < 21', 'chainDaysLeft < 21', 'high > 0', 'medium > 0'],
      crit: ['daysLeft < 7', 'chainDaysLeft < 7', 'chainValid == false', 'hostnameMatch == false'],
    });
    expect(d(tlsCertCheck.schema.parse({ certFile: '/c.pem', warnDays: 30, critDays: 10 })).crit)
      .toEqual(['daysLeft < 10', 'chainDaysLeft < 10', 'chainValid == false']);
    expect(Object.keys(fieldsOf(tlsCertCheck, { certFile: '/c.pem' }))).not.toContain('protocol');
  });
});

describe('PEM files on disk', () => {
  test('a good leaf with its chain file, against caFile: valid, matching, no findings, ok', async () => {
    const raw = { certFile: good.certFile, chainFile: inter.certFile, caFile: ca.certFile, serverName: 'localhost' };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values).toMatchObject({ chainValid: true, hostnameMatch: true, keyType: 'rsa', keyBits: 2048, signatureAlgorithm: 'sha256WithRSAEncryption', findings: 0 });
    expect(o.values.daysLeft).toBeGreaterThan(90.4);
    expect(o.values.daysLeft).toBeLessThanOrEqual(90.5);
    expect(o.values.chainDaysLeft).toBe(o.values.daysLeft);
    expect(o.values.chainError).toBeUndefined();
    expect(o.findings).toEqual([]);
    expect(o.message).toMatch(/^.*: localhost expires in 90 days, chain valid, rsa 2048 bits$/);
    expect(verdict(raw, o)).toBe(Status.Ok);
  });

  test('certificates bundled after the leaf in certFile count as its chain', async () => {
    const bundle = pki.write('bundle.pem', good.cert + inter.cert);
    const o = await runCheck(tlsCertCheck, { certFile: bundle, caFile: ca.certFile });
    expect(o.values.chainValid).toBe(true);
  });

  test('expiring in 15 days: a medium finding with the Lynis ref, warning', async () => {
    const c = leaf({ notAfterDays: 15 });
    const raw = { certFile: c.certFile, chainFile: inter.certFile, caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.findings).toEqual([expect.objectContaining({ id: 'tls-cert.expiring', severity: 'medium', refs: ['Lynis CRYP-7902'], subject: c.certFile })]);
    expect(o.values).toMatchObject({ chainValid: true, medium: 1, findings: 1 });
    expect(verdict(raw, o)).toBe(Status.Warning);
  });

  test('expiring in 5 days: high, critical', async () => {
    const c = leaf({ notAfterDays: 5.5 });
    const raw = { certFile: c.certFile, chainFile: inter.certFile, caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.findings).toEqual([expect.objectContaining({ id: 'tls-cert.expiring', severity: 'high', title: expect.stringMatching(/^The certificate expires in 5 days \(/) })]);
    expect(verdict(raw, o)).toBe(Status.Critical);
  });

  test('expired: a critical finding, chain invalid with CERT_HAS_EXPIRED, negative daysLeft', async () => {
    const c = leaf({ notBeforeDays: -60, notAfterDays: -3 });
    const raw = { certFile: c.certFile, chainFile: inter.certFile, caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values).toMatchObject({ chainValid: false, chainError: 'CERT_HAS_EXPIRED', critical: 1 });
    expect(o.values.daysLeft).toBeLessThan(-2);
    expect(ids(o)).toEqual(['tls-cert.expired']);
    expect(o.message).toContain('expired 3 days ago, chain invalid (CERT_HAS_EXPIRED)');
    expect(verdict(raw, o)).toBe(Status.Critical);
  });

  test('an intermediate expiring before the leaf: chainDaysLeft says so, with its own finding', async () => {
    const shortInter = pki.issue({ cn: 'short intermediate', notAfterDays: 10, ca: true }, ca);
    const c = leaf({ notAfterDays: 200 }, shortInter);
    const o = await runCheck(tlsCertCheck, { certFile: c.certFile, chainFile: shortInter.certFile, caFile: ca.certFile });
    expect(o.values.daysLeft).toBeGreaterThan(199);
    expect(o.values.chainDaysLeft).toBeLessThanOrEqual(10);
    expect(o.findings).toEqual([expect.objectContaining({ id: 'tls-cert.chain.expiring.1', severity: 'medium', subject: expect.stringContaining('short intermediate') })]);
  });

  test('self-signed: DEPTH_ZERO_SELF_SIGNED_CERT, trusted once it is the caFile', async () => {
    const self = leaf({ notAfterDays: 60 }, null);
    const o = await runCheck(tlsCertCheck, { certFile: self.certFile });
    expect(o.values).toMatchObject({ chainValid: false, chainError: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(o.findings).toEqual([expect.objectContaining({ id: 'tls-cert.chain.invalid', severity: 'high', title: expect.stringContaining('DEPTH_ZERO_SELF_SIGNED_CERT') })]);
    const trusted = await runCheck(tlsCertCheck, { certFile: self.certFile, caFile: self.certFile });
    expect(trusted.values.chainValid).toBe(true);
  });

  test('a missing intermediate, or the built-in store for a private CA: the chain does not verify', async () => {
    const noChain = await runCheck(tlsCertCheck, { certFile: good.certFile, caFile: ca.certFile });
    expect(noChain.values.chainError).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const builtIn = await runCheck(tlsCertCheck, { certFile: good.certFile, chainFile: inter.certFile });
    expect(builtIn.values.chainError).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  });

  test('a chain certificate without the CA flag cannot issue: INVALID_CA', async () => {
    const notCa = pki.issue({ cn: 'not a ca', notAfterDays: 100 }, ca);
    const c = leaf({ notAfterDays: 50 }, notCa);
    const o = await runCheck(tlsCertCheck, { certFile: c.certFile, chainFile: notCa.certFile, caFile: ca.certFile });
    expect(o.values.chainError).toBe('INVALID_CA');
  });

  test('wrong host: hostnameMatch false, a high finding, critical; an IP is matched against IP SANs', async () => {
    const raw = { certFile: good.certFile, chainFile: inter.certFile, caFile: ca.certFile, serverName: 'www.example.org' };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values.hostnameMatch).toBe(false);
    expect(o.findings).toEqual([expect.objectContaining({ id: 'tls-cert.hostname.mismatch', severity: 'high', title: expect.stringContaining('DNS:localhost') })]);
    expect(verdict(raw, o)).toBe(Status.Critical);
    const ip = await runCheck(tlsCertCheck, { ...raw, serverName: '127.0.0.1' });
    expect(ip.values.hostnameMatch).toBe(true);
    const otherIp = await runCheck(tlsCertCheck, { ...raw, serverName: '10.1.2.3' });
    expect(otherIp.values.hostnameMatch).toBe(false);
  });

  test('a 1024-bit RSA key signed with SHA-1: weak key and weak signature, warning', async () => {
    const c = leaf({ notAfterDays: 100, key: 'rsa:1024', md: 'sha1' });
    const raw = { certFile: c.certFile, chainFile: inter.certFile, caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values).toMatchObject({ keyBits: 1024, signatureAlgorithm: 'sha1WithRSAEncryption', high: 2, chainValid: true });
    expect(ids(o)).toEqual(['tls-cert.key.weak', 'tls-cert.signature.weak']);
    expect(verdict(raw, o)).toBe(Status.Warning);
  });

  test('an EC P-256 key is reported by its curve size and is not weak', async () => {
    const c = leaf({ notAfterDays: 100, key: 'ec:prime256v1' });
    const o = await runCheck(tlsCertCheck, { certFile: c.certFile, chainFile: inter.certFile, caFile: ca.certFile });
    expect(o.values).toMatchObject({ keyType: 'ec', keyBits: 256, findings: 0 });
  });

  test('key file mode and owner: readable by others is high, by the group medium, another owner medium', async () => {
    const key = pki.write('key.pem', good.key);
    const raw = { certFile: good.certFile, chainFile: inter.certFile, caFile: ca.certFile, keyFile: key };
    fs.chmodSync(key, 0o600);
    expect((await runCheck(tlsCertCheck, raw)).findings).toEqual([]);
    fs.chmodSync(key, 0o644);
    expect((await runCheck(tlsCertCheck, raw)).findings).toEqual([
      expect.objectContaining({ id: 'tls-cert.key-file.permissions', severity: 'high', title: expect.stringContaining('mode 0644'), subject: key }),
    ]);
    fs.chmodSync(key, 0o640);
    fs.chownSync(key, 4321, 0);
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.findings).toEqual([
      expect.objectContaining({ id: 'tls-cert.key-file.permissions', severity: 'medium' }),
      expect.objectContaining({ id: 'tls-cert.key-file.owner', severity: 'medium', title: expect.stringContaining('uid 4321') }),
    ]);
    expect(verdict(raw, o)).toBe(Status.Warning);
    const allowed = await runCheck(tlsCertCheck, { ...raw, keyOwners: [4321] });
    expect(ids(allowed)).toEqual(['tls-cert.key-file.permissions']);
  });

  test('a file that is not a certificate, or a key file that is missing: unknown, saying which', async () => {
    const junk = pki.write('junk.pem', 'not a certificate\n');
    await expect(runCheck(tlsCertCheck, { certFile: junk })).rejects.toThrow(`certFile ${junk} holds no PEM certificate`);
    await expect(runCheck(tlsCertCheck, { certFile: good.certFile, keyFile: `${pki.dir}/nope.key` })).rejects.toThrow(`cannot stat keyFile ${pki.dir}/nope.key: no such file`);
    await expect(runCheck(tlsCertCheck, { certFile: `${pki.dir}/nope.pem` })).rejects.toThrow(`cannot read certFile ${pki.dir}/nope.pem: no such file`);
  });

  test('run as nobody, an unreadable certFile and an unsearchable key directory are unknown with what it needs', async () => {
    // pki.dir is root's 0700 temp directory: uid 65534 can neither read nor stat inside it.
    const out = await asNobody([
      { certFile: good.certFile },
      { certFile: '/etc/hostname', keyFile: good.keyFile },
    ]);
    expect(out).toEqual([
      `tls-cert check: cannot read certFile ${good.certFile}: permission denied: the agent's user needs read access to it and search (x) access to its directories`,
      expect.stringContaining(`tls-cert check: cannot stat keyFile ${good.keyFile}: permission denied: the agent's user needs search (x) access to ${pki.dir}`),
    ]);
  });
});

/** Runs the built check as uid 65534 on each config, resolving the error message of each run (or 'ok'). */
async function asNobody(raws: Array<Record<string, unknown>>): Promise<string[]> {
  const script = `
    const { tlsCertCheck } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/checks/tls-cert'))});
    const raws = ${JSON.stringify(raws)};
    (async () => {
      const out = [];
      for (const raw of raws) {
        const ctx = { name: 't', spec: tlsCertCheck.schema.parse(raw), signal: new AbortController().signal, timeoutMs: 5000, now: Date.now };
        out.push(await tlsCertCheck.run(ctx).then(() => 'ok', (e) => e.message));
      }
      console.log(JSON.stringify(out));
    })();`;
  const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  const [code] = await once(child, 'exit');
  expect(code).toBe(0);
  return JSON.parse(out) as string[];
}

describe('live endpoints', () => {
  test('a good chain over TLS 1.3: valid, matching, protocol, no findings, ok', async () => {
    const s = await serveTls(good);
    const raw = { host: '127.0.0.1', port: s.port, serverName: 'localhost', caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.up).not.toBe(false);
    expect(o.values).toMatchObject({ chainValid: true, hostnameMatch: true, protocol: 'TLSv1.3', keyBits: 2048, findings: 0 });
    expect(o.values.daysLeft).toBeGreaterThan(90.4);
    // The chain OpenSSL built runs up to the root (3650 days): the leaf is the soonest.
    expect(o.values.chainDaysLeft).toBe(o.values.daysLeft);
    expect(o.message).toBe(`127.0.0.1:${s.port}: localhost expires in 90 days, chain valid, TLSv1.3, rsa 2048 bits`);
    expect(verdict(raw, o)).toBe(Status.Ok);
  });

  test('the IP address itself is matched when no serverName is given', async () => {
    const s = await serveTls(good);
    const o = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: s.port, caFile: ca.certFile });
    expect(o.values.hostnameMatch).toBe(true);
  });

  test('an expired certificate: CERT_HAS_EXPIRED from the handshake, critical finding', async () => {
    const s = await serveTls(leaf({ notBeforeDays: -30, notAfterDays: -1 }));
    const raw = { host: '127.0.0.1', port: s.port, caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values).toMatchObject({ chainValid: false, chainError: 'CERT_HAS_EXPIRED', critical: 1 });
    expect(ids(o)).toEqual(['tls-cert.expired']);
    expect(verdict(raw, o)).toBe(Status.Critical);
  });

  test('expiring in 5 days and in 15 days: high and medium', async () => {
    const five = await serveTls(leaf({ notAfterDays: 5 }));
    const fifteen = await serveTls(leaf({ notAfterDays: 15 }));
    const a = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: five.port, caFile: ca.certFile });
    const b = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: fifteen.port, caFile: ca.certFile });
    expect(a.findings).toEqual([expect.objectContaining({ id: 'tls-cert.expiring', severity: 'high' })]);
    expect(b.findings).toEqual([expect.objectContaining({ id: 'tls-cert.expiring', severity: 'medium' })]);
  });

  test('self-signed, verified against the built-in store: chain invalid with OpenSSL\'s code', async () => {
    const s = await serveTls(leaf({ notAfterDays: 60 }, null), []);
    const raw = { host: '127.0.0.1', port: s.port };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values).toMatchObject({ chainValid: false, chainError: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(ids(o)).toEqual(['tls-cert.chain.invalid']);
    expect(verdict(raw, o)).toBe(Status.Critical);
  });

  test('wrong host: the chain is valid, the name is not', async () => {
    const s = await serveTls(good);
    const o = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: s.port, serverName: 'mail.example.net', caFile: ca.certFile });
    expect(o.values).toMatchObject({ chainValid: true, hostnameMatch: false });
    expect(ids(o)).toEqual(['tls-cert.hostname.mismatch']);
  });

  test('a 1024-bit SHA-1 certificate is seen, not refused: both weaknesses are findings', async () => {
    const s = await serveTls(leaf({ notAfterDays: 60, key: 'rsa:1024', md: 'sha1' }), [inter], { ciphers: 'DEFAULT@SECLEVEL=0' });
    const o = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: s.port, caFile: ca.certFile });
    expect(o.values).toMatchObject({ keyBits: 1024, signatureAlgorithm: 'sha1WithRSAEncryption' });
    expect(ids(o)).toEqual(['tls-cert.key.weak', 'tls-cert.signature.weak']);
  });

  test('a TLS 1.0-only server: protocol TLSv1 and a medium finding (RFC 8996)', async () => {
    const s = await serveTls(good, [inter], { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
    const raw = { host: '127.0.0.1', port: s.port, serverName: 'localhost', caFile: ca.certFile };
    const o = await runCheck(tlsCertCheck, raw);
    expect(o.values.protocol).toBe('TLSv1');
    expect(o.findings).toEqual([expect.objectContaining({ id: 'tls-cert.protocol.weak', severity: 'medium', refs: ['RFC 8996'] })]);
    expect(verdict(raw, o)).toBe(Status.Warning);
  });

  test('STARTTLS on a local SMTP server: EHLO, STARTTLS, then the certificate', async () => {
    const s = await serveSmtp(good);
    const o = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: s.port, starttls: 'smtp', serverName: 'localhost', caFile: ca.certFile });
    expect(o.values).toMatchObject({ chainValid: true, hostnameMatch: true, findings: 0 });
    expect(o.message).toMatch(/^127\.0\.0\.1:\d+ \(STARTTLS\): localhost expires in 90 days/);
    expect(s.said).toEqual([expect.stringMatching(/^EHLO \S+$/), 'STARTTLS']);
  });

  test('an SMTP server that does not offer STARTTLS is a failed run that says so', async () => {
    const s = await serveSmtp(good, false);
    const o = await runCheck(tlsCertCheck, { host: '127.0.0.1', port: s.port, starttls: 'smtp' });
    expect(o).toMatchObject({ up: false, failure: 'error', message: `127.0.0.1:${s.port}: the SMTP server does not offer STARTTLS` });
  });

  test('a closed port is down (refused); plain text where TLS was expected is a tls failure', async () => {
    const port = await closedPort();
    expect(await runCheck(tlsCertCheck, { host: '127.0.0.1', port })).toMatchObject({ up: false, failure: 'refused' });
    const plain = await startTcp((sock) => sock.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
    servers.push(plain);
    expect(await runCheck(tlsCertCheck, { host: '127.0.0.1', port: plain.port })).toMatchObject({ up: false, failure: 'tls' });
  });

  test('a server that never completes the handshake times out when the run is aborted', async () => {
    let accepted!: () => void;
    const seen = new Promise<void>((r) => (accepted = r));
    const mute = await startTcp(() => accepted());
    servers.push(mute);
    const { run, abort } = startRun(tlsCertCheck, { host: '127.0.0.1', port: mute.port }, { timeoutMs: 1000 });
    await seen;
    abort();
    expect(await run).toMatchObject({ up: false, failure: 'timeout', message: `127.0.0.1:${mute.port}: no TLS handshake within 1s` });
  });
});
