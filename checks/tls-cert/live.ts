import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import tls, { type DetailedPeerCertificate, type TLSSocket } from 'node:tls';

/** What a TLS handshake with an endpoint showed. */
export interface Handshake {
  protocol: string;
  /** Whether the chain verified against the trust store (the hostname is judged apart). */
  authorized: boolean;
  /** OpenSSL's code when it did not, e.g. `CERT_HAS_EXPIRED`. */
  authorizationError?: string;
  /** Leaf first, as OpenSSL built the chain (the served one when it could not verify it). */
  chain: X509Certificate[];
  socket: TLSSocket;
}

/** A failure before the certificate was seen, and at which stage: `connect`, `smtp` or `tls`. */
export class ProbeError extends Error {
  constructor(readonly stage: 'connect' | 'smtp' | 'tls', message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ProbeError';
  }
}

/** What `handshake` needs. */
export interface Target {
  host: string;
  port: number;
  /** SNI; undefined for an IP address. */
  servername?: string;
  starttls?: 'smtp';
  /** PEM trust anchors to use instead of Node's bundled CA store. */
  ca?: string;
}

/** Largest SMTP reply read before STARTTLS: EHLO lists a few dozen short lines. */
const MAX_SMTP_BYTES = 16 * 1024;

// The probe offers every protocol version and cipher OpenSSL still has (SECLEVEL=0), so it can
// see what a server accepts rather than fail on it: a TLS 1.0-only server or a 1024-bit key is
// reported, not mistaken for a down target. Verification still runs (rejectUnauthorized false
// only keeps the connection open to look), and the hostname is checked by the caller.
const PROBE_OPTIONS = {
  rejectUnauthorized: false,
  minVersion: 'TLSv1' as const,
  ciphers: 'DEFAULT@SECLEVEL=0',
  checkServerIdentity: () => undefined,
};

/**
 * Connects (plain, then SMTP `EHLO`/`STARTTLS` with `starttls: smtp`), completes a TLS
 * handshake and returns what it showed. The caller destroys `socket`; on failure this does.
 * Rejects with a ProbeError, or with the signal's reason once it aborts.
 */
export async function handshake(t: Target, signal: AbortSignal): Promise<Handshake> {
  signal.throwIfAborted();
  let plain: net.Socket | undefined;
  let secure: TLSSocket | undefined;
  const onAbort = () => {
    plain?.destroy();
    secure?.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (t.starttls === 'smtp') {
      plain = await connectPlain(t.host, t.port, signal);
      await smtpStartTls(plain, signal);
    }
    const s = tls.connect({ ...PROBE_OPTIONS, host: t.host, port: t.port, socket: plain, servername: t.servername, ca: t.ca });
    secure = s;
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', (err) => reject(new ProbeError(plain ? 'tls' : stageOf(err), err.message, err)));
      s.once('close', () => reject(new ProbeError('tls', 'connection closed during the TLS handshake')));
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    return {
      protocol: s.getProtocol() ?? 'unknown',
      authorized: s.authorized,
      // Typed as an Error, but Node sets OpenSSL's code as a string.
      authorizationError: s.authorizationError ? String((s.authorizationError as { code?: string }).code ?? s.authorizationError) : undefined,
      chain: peerChain(s),
      socket: s,
    };
  } catch (err) {
    onAbort();
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Errors of the TCP connection itself, before any TLS byte. */
function stageOf(err: NodeJS.ErrnoException): 'connect' | 'tls' {
  return err.code && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EADDRNOTAVAIL)$/.test(err.code) ? 'connect' : 'tls';
}

/** The chain a TLS peer presented (or OpenSSL built), leaf first, each certificate once. */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

function connectPlain(host: string, port: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const fail = (err: Error) => {
      s.destroy();
      reject(new ProbeError('connect', err.message, err));
    };
    s.once('connect', () => {
      s.off('error', fail);
      resolve(s);
    });
    s.once('error', fail);
    signal.addEventListener('abort', () => fail(new Error('aborted')), { once: true });
  });
}

/**
 * The SMTP dialogue up to the TLS handshake (RFC 3207): the 220 greeting, EHLO, a 250 reply
 * that lists STARTTLS, STARTTLS, a 220. A server that sends anything after that 220 and
 * before the handshake is refused: those bytes would be read as if they came over TLS
 * (the STARTTLS command injection of CVE-2011-0411).
 */
function smtpStartTls(socket: net.Socket, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let lines: string[] = [];
    let step: 'greeting' | 'ehlo' | 'starttls' = 'greeting';
    let settled = false;
    const done = (err?: Error) => {
      settled = true;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const fail = (message: string) => done(new ProbeError('smtp', message));
    const onError = (err: Error) => done(new ProbeError('connect', err.message, err));
    const onClose = () => fail(`the server closed the connection before STARTTLS (at ${step})`);
    const onAbort = () => done(signal.reason as Error);
    const onReply = (code: number, reply: string[]) => {
      const last = reply[reply.length - 1];
      if (step === 'greeting') {
        if (code !== 220) return fail(`unexpected SMTP greeting: ${last}`);
        step = 'ehlo';
        socket.write(`EHLO ${os.hostname() || 'keepwatch'}\r\n`);
      } else if (step === 'ehlo') {
        if (code !== 250) return fail(`EHLO refused: ${last}`);
        if (!reply.some((l) => /^250[- ]STARTTLS\s*$/i.test(l))) return fail('the SMTP server does not offer STARTTLS');
        step = 'starttls';
        socket.write('STARTTLS\r\n');
      } else {
        if (code !== 220) return fail(`STARTTLS refused: ${last}`);
        if (buf.length) return fail('the SMTP server sent data after its STARTTLS reply, before the handshake');
        done();
      }
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      if (buf.length > MAX_SMTP_BYTES) return fail(`SMTP reply longer than ${MAX_SMTP_BYTES} bytes`);
      for (let i = buf.indexOf('\n'); i >= 0 && !settled; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        lines.push(line);
        if (!/^\d{3}(?: |$)/.test(line)) {
          if (/^\d{3}-/.test(line)) continue;
          return fail(`not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}`);
        }
        const reply = lines;
        lines = [];
        onReply(Number(line.slice(0, 3)), reply);
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
