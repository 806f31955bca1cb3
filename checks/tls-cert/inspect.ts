import type { X509Certificate } from 'node:crypto';
import { round, type Finding, type FindingSeverity } from '../types';

/** Days from `nowMs` until a certificate expires (negative once it has). */
export function daysUntil(cert: X509Certificate, nowMs: number): number {
  return round((Date.parse(cert.validTo) - nowMs) / 86_400_000, 2);
}

/**
 * Whether a negotiated protocol (`TLSv1.3`, as Node's getProtocol() names it) is one RFC 8996
 * deprecated: SSLv2, SSLv3, TLS 1.0 and 1.1. Unknown strings are not judged weak.
 */
export function isWeakProtocol(protocol: string): boolean {
  return /^(SSLv2|SSLv3|TLSv1|TLSv1\.1)$/i.test(protocol.trim());
}

// Signature algorithm OIDs (RFC 3279, 4055, 5758, 8410) by name; unknown ones are shown as the OID.
const SIGNATURE_OIDS: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10040.4.3': 'dsa-with-SHA1',
  '2.16.840.1.101.3.4.3.2': 'dsa-with-SHA256',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};

/** Whether a signature algorithm name uses a broken hash (MD2, MD5, SHA-1). */
export function isWeakSignature(algorithm: string): boolean {
  return /^(md2|md5|sha1)With|with-SHA1$/i.test(algorithm);
}

/**
 * The signature algorithm a certificate was signed with, read from its DER (Node 20's
 * X509Certificate does not expose it): Certificate ::= SEQUENCE { tbsCertificate,
 * signatureAlgorithm AlgorithmIdentifier, signature }. Undefined when the DER is not that shape.
 */
export function signatureAlgorithm(der: Buffer): string | undefined {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30) return undefined;
  const tbs = readTlv(der, outer.start);
  if (!tbs || tbs.tag !== 0x30) return undefined;
  const algId = readTlv(der, tbs.end);
  if (!algId || algId.tag !== 0x30) return undefined;
  const oid = readTlv(der, algId.start);
  if (!oid || oid.tag !== 0x06) return undefined;
  const text = decodeOid(der.subarray(oid.start, oid.end));
  return SIGNATURE_OIDS[text] ?? text;
}

function readTlv(buf: Buffer, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > buf.length) return undefined;
  const tag = buf[at];
  let len = buf[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  return start + len <= buf.length ? { tag, start, end: start + len } : undefined;
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  if (!parts.length) return '';
  const first = parts[0] < 80 ? Math.floor(parts[0] / 40) : 2;
  return [first, parts[0] - first * 40, ...parts.slice(1)].join('.');
}

// Curve sizes in bits by the names OpenSSL and Node use.
const CURVE_BITS: Record<string, number> = {
  prime192v1: 192, secp192k1: 192, secp224r1: 224, secp224k1: 224, prime256v1: 256, secp256k1: 256,
  secp384r1: 384, secp521r1: 521, brainpoolP256r1: 256, brainpoolP384r1: 384, brainpoolP512r1: 512,
};

/** A certificate's public key: its type (`rsa`, `ec`, `ed25519`, …) and size in bits (0 when unknown). */
export function publicKeyInfo(cert: X509Certificate): { type: string; bits: number } {
  const key = cert.publicKey;
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (d.modulusLength) return { type, bits: d.modulusLength };
  if (type === 'ec') return { type, bits: CURVE_BITS[d.namedCurve ?? ''] ?? 0 };
  if (type === 'ed25519' || type === 'x25519') return { type, bits: 256 };
  if (type === 'ed448' || type === 'x448') return { type, bits: 456 };
  return { type, bits: 0 };
}

/**
 * Whether a key is too weak to trust: RSA and DSA under 2048 bits, EC under 256 (NIST SP
 * 800-57 and the CA/Browser Forum baseline). Ed25519/Ed448 are fine.
 */
export function isWeakKey(type: string, bits: number): boolean {
  if (type === 'rsa' || type === 'rsa-pss' || type === 'dsa') return bits < 2048;
  if (type === 'ec') return bits < 256;
  return false;
}

/** The readable name of a certificate: its subject CN, else its whole subject. */
export function certName(cert: X509Certificate): string {
  const cn = /^CN=(.*)$/m.exec(cert.subject);
  return cn ? cn[1] : cert.subject.replace(/\n/g, ', ');
}

/** The outcome of building and checking a chain: valid, or the OpenSSL-style code of the first error. */
export interface ChainVerdict {
  valid: boolean;
  /** E.g. `CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`. */
  error?: string;
}

/** Most intermediates followed: public chains have one or two. */
const MAX_DEPTH = 10;

/**
 * Verifies a leaf certificate against intermediates and trust anchors, the way OpenSSL would
 * for a TLS client: issuer by name and key identifier, each signature, the CA flag of each
 * issuer, then the validity dates of the whole chain. Errors take OpenSSL's names (what a live
 * handshake reports as authorizationError), so both modes read alike.
 */
export function verifyChain(leaf: X509Certificate, intermediates: X509Certificate[], anchors: X509Certificate[], nowMs: number): ChainVerdict {
  const trusted = new Set(anchors.map((a) => a.fingerprint256));
  const chain = [leaf];
  let cur = leaf;
  for (let depth = 0; !trusted.has(cur.fingerprint256); depth++) {
    if (depth >= MAX_DEPTH) return { valid: false, error: 'CERT_CHAIN_TOO_LONG' };
    const named = (c: X509Certificate) => c !== cur && !chain.includes(c) && cur.checkIssued(c);
    const candidates = [...anchors.filter(named), ...intermediates.filter(named)];
    const issuer = candidates.find((c) => safeVerify(cur, c));
    if (!issuer) {
      if (candidates.length) return { valid: false, error: 'CERT_SIGNATURE_FAILURE' };
      if (cur.checkIssued(cur)) return { valid: false, error: depth === 0 ? 'DEPTH_ZERO_SELF_SIGNED_CERT' : 'SELF_SIGNED_CERT_IN_CHAIN' };
      return { valid: false, error: depth === 0 ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' };
    }
    if (!issuer.ca) return { valid: false, error: 'INVALID_CA' };
    chain.push(issuer);
    cur = issuer;
  }
  for (const c of chain) {
    if (Date.parse(c.validTo) < nowMs) return { valid: false, error: 'CERT_HAS_EXPIRED' };
    if (Date.parse(c.validFrom) > nowMs) return { valid: false, error: 'CERT_NOT_YET_VALID' };
  }
  return { valid: true };
}

function safeVerify(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    // A key type OpenSSL cannot verify with is no issuer we can vouch for.
    return false;
  }
}

/** Whether `cert` is valid for `name`: a DNS name (wildcards as TLS clients allow) or an IP address. */
export function matchesName(cert: X509Certificate, name: string, isIp: boolean): boolean {
  return isIp ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined;
}

/** What the assessment needs to know about one certificate set, however it was obtained. */
export interface Evidence {
  /** Leaf first, then the rest of the chain as served or found in the files. */
  chain: X509Certificate[];
  verdict: ChainVerdict;
  /** The name the leaf must be valid for, when one is known. */
  hostname?: { name: string; isIp: boolean };
  /** The protocol negotiated (live endpoints only). */
  protocol?: string;
  /** What the findings are about: `mail.example.com:25` or the certificate file. */
  subject: string;
}

/** The thresholds of the expiry findings, in days. */
export interface ExpiryDays {
  warnDays: number;
  critDays: number;
}

const EXPIRY_REFS = ['Lynis CRYP-7902'];

/** The values and findings for one certificate set: pure, so it is tested on tables. */
export function assess(ev: Evidence, days: ExpiryDays, nowMs: number): { values: Record<string, number | string | boolean>; findings: Finding[] } {
  const findings: Finding[] = [];
  const [leaf] = ev.chain;
  const leafDays = daysUntil(leaf, nowMs);
  const chainDays = Math.min(...ev.chain.map((c) => daysUntil(c, nowMs)));
  const key = publicKeyInfo(leaf);
  const sigAlg = signatureAlgorithm(leaf.raw) ?? 'unknown';
  const values: Record<string, number | string | boolean> = {
    daysLeft: leafDays,
    chainDaysLeft: chainDays,
    chainValid: ev.verdict.valid,
    keyType: key.type,
    keyBits: key.bits,
    signatureAlgorithm: sigAlg,
  };
  if (!ev.verdict.valid) values.chainError = ev.verdict.error ?? 'UNKNOWN';

  ev.chain.forEach((cert, depth) => {
    const d = daysUntil(cert, nowMs);
    const what = depth === 0 ? 'certificate' : `chain certificate ${certName(cert)} (depth ${depth})`;
    const id = depth === 0 ? 'tls-cert' : `tls-cert.chain`;
    const suffix = depth === 0 ? '' : `.${depth}`;
    const subject = depth === 0 ? ev.subject : `${ev.subject} depth ${depth}: ${certName(cert)}`;
    if (d < 0) {
      findings.push({
        id: `${id}.expired${suffix}`, severity: 'critical', subject, refs: EXPIRY_REFS,
        title: `The ${what} expired ${-Math.ceil(d)} days ago (${cert.validTo})`,
        fix: 'Renew the certificate and reload the service that serves it.',
      });
    } else if (d < days.warnDays) {
      findings.push({
        id: `${id}.expiring${suffix}`, severity: d < days.critDays ? 'high' : 'medium', subject, refs: EXPIRY_REFS,
        title: `The ${what} expires in ${Math.floor(d)} days (${cert.validTo})`,
        fix: 'Renew the certificate (check that automatic renewal, e.g. certbot or cert-manager, works) and reload the service.',
      });
    }
    if (Date.parse(cert.validFrom) > nowMs) {
      findings.push({
        id: `${id}.not-yet-valid${suffix}`, severity: 'high', subject,
        title: `The ${what} is not valid before ${cert.validFrom}`,
        fix: 'Check the clock of this host and of the issuing CA; serve a certificate that is valid now.',
      });
    }
    // A self-signed certificate above the leaf is a trust anchor: nobody checks its signature.
    const anchor = depth > 0 && cert.checkIssued(cert);
    const alg = signatureAlgorithm(cert.raw);
    if (!anchor && alg && isWeakSignature(alg)) {
      findings.push({
        id: `tls-cert.signature.weak${suffix}`, severity: 'high', subject,
        title: `The ${what} is signed with ${alg} (a broken hash)`,
        fix: 'Reissue it with a SHA-256 (or stronger) signature.',
      });
    }
    const k = depth === 0 ? key : publicKeyInfo(cert);
    if (isWeakKey(k.type, k.bits)) {
      findings.push({
        id: `tls-cert.key.weak${suffix}`, severity: 'high', subject,
        title: `The ${what} has a ${k.bits}-bit ${k.type.toUpperCase()} key (minimum ${k.type === 'ec' ? 256 : 2048})`,
        fix: 'Generate a new key (RSA 2048 bits or more, or EC P-256 or more) and reissue the certificate.',
      });
    }
  });

  // Dates already have their findings; the chain finding is for what else is wrong with it.
  if (!ev.verdict.valid && !/^CERT_(HAS_EXPIRED|NOT_YET_VALID)$/.test(ev.verdict.error ?? '')) {
    findings.push({
      id: 'tls-cert.chain.invalid', severity: 'high', subject: ev.subject,
      title: `The certificate chain does not verify: ${ev.verdict.error}`,
      fix: chainFix(ev.verdict.error),
    });
  }
  if (ev.hostname) {
    const ok = matchesName(leaf, ev.hostname.name, ev.hostname.isIp);
    values.hostnameMatch = ok;
    if (!ok) {
      findings.push({
        id: 'tls-cert.hostname.mismatch', severity: 'high', subject: ev.subject,
        title: `The certificate is not valid for ${ev.hostname.name} (${leaf.subjectAltName ?? leaf.subject.replace(/\n/g, ', ')})`,
        fix: `Serve a certificate whose subjectAltName includes ${ev.hostname.name}.`,
      });
    }
  }
  if (ev.protocol !== undefined) {
    values.protocol = ev.protocol;
    if (isWeakProtocol(ev.protocol)) {
      findings.push({
        id: 'tls-cert.protocol.weak', severity: /^SSL/i.test(ev.protocol) ? 'high' : 'medium', subject: ev.subject, refs: ['RFC 8996'],
        title: `The server negotiated ${ev.protocol}, a deprecated protocol version`,
        fix: 'Allow only TLS 1.2 and 1.3 in the server configuration (e.g. ssl_protocols TLSv1.2 TLSv1.3).',
      });
    }
  }
  return { values, findings };
}

function chainFix(code?: string): string {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'Serve a certificate from a trusted CA, or set caFile to the self-signed certificate if it is meant to be trusted.';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'Serve the intermediate certificates with the leaf (the full chain), or set caFile to the private CA.';
    default:
      return 'Serve a chain that verifies to a trusted CA (or set caFile to the private CA that issued it).';
  }
}

/** Severity of a private key file's mode: others may read it (high), or the group may (medium). */
export function keyModeSeverity(mode: number): FindingSeverity | undefined {
  if (mode & 0o007) return 'high';
  if (mode & 0o070) return 'medium';
  return undefined;
}
