import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { z } from 'zod';
import {
  classifyNetworkError, defineCheck, describeNetworkError, findingFields, findingValues, formatDuration, readConfiguredFile, rootError, targetDown,
  type FieldSpec, type Finding, type Value,
} from '../types';
import { assess, certName, keyModeSeverity, verifyChain, type Evidence } from './inspect';
import { handshake, ProbeError } from './live';

const HOUR = 3_600_000;

/** Largest PEM file read (certificate, chain or CA bundle): the whole Mozilla bundle is about 220 KB. */
export const PEM_MAX_BYTES = 1024 * 1024;

const absolute = (what: string) =>
  z.string().min(1).refine((p) => path.isAbsolute(p), { message: `expected an absolute path to the ${what}` });

const schema = z
  .strictObject({
    host: z.string().min(1).optional().describe('Live endpoint: host name or IP address to connect to (or use certFile).'),
    port: z.number().int().min(1).max(65535).optional().describe('Live endpoint: TCP port (default 443, or 25 with starttls: smtp).'),
    starttls: z.enum(['smtp']).optional().describe('Live endpoint: speak SMTP first (EHLO, STARTTLS), then TLS, as mail servers on 25 and 587 do.'),
    serverName: z
      .string()
      .min(1)
      .optional()
      .describe('The name the certificate must be valid for, also sent as SNI (default: host; an IP address is matched against IP SANs).'),
    certFile: absolute('certificate')
      .optional()
      .describe('PEM files on disk: the certificate file (leaf first; certificates after it count as its chain), instead of host.'),
    chainFile: absolute('chain file').optional().describe('With certFile: PEM file of the intermediate certificates.'),
    keyFile: absolute('private key')
      .optional()
      .describe('The private key file: its mode and owner are checked (it is never read).'),
    keyOwners: z
      .array(z.number().int().min(0))
      .min(1)
      .optional()
      .describe('With keyFile: the uids that may own it (default: root and the agent\'s own user).'),
    caFile: absolute('CA file')
      .optional()
      .describe('PEM file of CA certificates to verify against instead of the built-in (Mozilla) CA store.'),
    warnDays: z.number().positive().default(21).describe('Days before expiry from which a certificate is reported expiring (medium finding, default warn threshold).'),
    critDays: z.number().nonnegative().default(7).describe('Days before expiry from which expiring is a high finding and the default threshold is crit.'),
  })
  .superRefine((s, ctx) => {
    if ((s.host === undefined) === (s.certFile === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set host (a live endpoint) or certFile (PEM files), one of them', path: ['host'] });
    }
    for (const key of ['port', 'starttls'] as const) {
      if (s[key] !== undefined && s.host === undefined) ctx.addIssue({ code: 'custom', message: `${key} applies only with host`, path: [key] });
    }
    if (s.chainFile !== undefined && s.certFile === undefined) ctx.addIssue({ code: 'custom', message: 'chainFile applies only with certFile', path: ['chainFile'] });
    if (s.keyOwners !== undefined && s.keyFile === undefined) ctx.addIssue({ code: 'custom', message: 'keyOwners applies only with keyFile', path: ['keyOwners'] });
    if (s.critDays >= s.warnDays) ctx.addIssue({ code: 'custom', message: `critDays (${s.critDays}) must be less than warnDays (${s.warnDays})`, path: ['critDays'] });
  });

type TlsCertSpec = z.output<typeof schema>;


const FIELDS: Record<string, FieldSpec> = {
  daysLeft: { type: 'number', unit: 'days', help: 'Days until the leaf certificate expires (negative once expired)' },
  chainDaysLeft: { type: 'number', unit: 'days', help: 'Days until the soonest-expiring certificate of the chain expires, the leaf included' },
  chainValid: { type: 'boolean', help: 'Whether the chain verifies against the trust store (or caFile), dates included' },
  chainError: { type: 'string', help: 'Why the chain does not verify, as OpenSSL names it (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, …); only when chainValid is false' },
  hostnameMatch: { type: 'boolean', help: 'Whether the leaf is valid for serverName (or host)' },
  protocol: { type: 'string', help: 'TLS version negotiated: TLSv1.3, TLSv1.2, TLSv1.1, TLSv1 (live endpoints)' },
  keyType: { type: 'string', help: 'Public key type of the leaf: rsa, ec, ed25519, …' },
  keyBits: { type: 'number', unit: 'none', help: 'Public key size of the leaf in bits (EC: the curve size)' },
  signatureAlgorithm: { type: 'string', help: 'Signature algorithm of the leaf, e.g. sha256WithRSAEncryption' },
  ...findingFields({
    critical: 'Critical findings (an expired certificate)',
    high: 'High findings (expiring within critDays, invalid chain, hostname mismatch, weak key or signature, key file readable by others)',
    medium: 'Medium findings (expiring within warnDays, TLS 1.0/1.1, key file readable by its group or owned by another user)',
  }),
};

/** Watches a TLS certificate, on a live endpoint or in PEM files: expiry, chain, name, protocol, key. */
export const tlsCertCheck = defineCheck({
  type: 'tls-cert',
  category: 'security',
  schedule: { every: 6 * HOUR }, // certificates change rarely; expiry counts in days
  summary: 'Checks a TLS certificate (live endpoint, STARTTLS for SMTP, or PEM files): days left, chain, hostname, protocol, key and signature strength, key file permissions.',
  schema,
  fields(spec) {
    const { protocol, hostnameMatch, ...fields } = FIELDS;
    return {
      ...fields,
      ...(spec.host !== undefined || spec.serverName !== undefined ? { hostnameMatch } : {}),
      ...(spec.host !== undefined ? { protocol } : {}),
    };
  },
  // Certificates expire on a date everyone knows weeks ahead: warn with time to renew, page
  // only when it is days away, already broken (chain, name), or clients already refuse it.
  defaults(spec) {
    const crit = [`daysLeft < ${spec.critDays}`, `chainDaysLeft < ${spec.critDays}`, 'chainValid == false'];
    if (spec.host !== undefined || spec.serverName !== undefined) crit.push('hostnameMatch == false');
    return { warn: [`daysLeft < ${spec.warnDays}`, `chainDaysLeft < ${spec.warnDays}`, 'high > 0', 'medium > 0'], crit };
  },
  async run({ spec, signal, timeoutMs, now }) {
    const keyFindings = spec.keyFile !== undefined ? await keyFileFindings(spec.keyFile, spec.keyOwners) : [];
    const caText = spec.caFile !== undefined ? await readConfiguredFile('tls-cert', 'caFile', spec.caFile, PEM_MAX_BYTES) : undefined;
    let ev: Evidence;
    if (spec.host !== undefined) {
      const live = await fromEndpoint(spec, spec.host, caText, signal, timeoutMs);
      if ('down' in live) return live.down;
      ev = live.ev;
    } else {
      ev = await fromFiles(spec, spec.certFile!, caText, now());
    }
    const { values, findings } = assess(ev, spec, now());
    findings.push(...keyFindings);
    const all: Record<string, Value> = { ...values, ...findingValues(findings) };
    return { values: all, message: describe(ev, values, findings), findings };
  },
});

/** One line: which certificate, its expiry, the chain, the protocol, and how many findings. */
function describe(ev: Evidence, v: Record<string, Value>, findings: Finding[]): string {
  const leaf = ev.chain[0];
  const days = v.daysLeft as number;
  const parts = [
    `${ev.subject}: ${certName(leaf)} ${days < 0 ? `expired ${-Math.ceil(days)} days ago` : `expires in ${Math.floor(days)} days`}`,
    v.chainValid ? 'chain valid' : `chain invalid (${v.chainError})`,
  ];
  if (v.hostnameMatch === false) parts.push(`not valid for ${ev.hostname?.name}`);
  if (v.protocol !== undefined) parts.push(String(v.protocol));
  parts.push(`${v.keyType} ${v.keyBits} bits`);
  if (findings.length) parts.push(`${findings.length} finding${findings.length === 1 ? '' : 's'}`);
  return parts.join(', ');
}

async function fromEndpoint(
  spec: TlsCertSpec, host: string, ca: string | undefined, signal: AbortSignal, timeoutMs: number,
): Promise<{ ev: Evidence } | { down: ReturnType<typeof targetDown> }> {
  const port = spec.port ?? (spec.starttls === 'smtp' ? 25 : 443);
  const target = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const name = spec.serverName ?? host;
  const isIp = net.isIP(name) !== 0;
  let hs;
  try {
    // SNI carries names only; Node warns when given an IP address.
    hs = await handshake({ host, port, servername: isIp ? undefined : name, starttls: spec.starttls, ca }, signal);
  } catch (err) {
    if (signal.aborted) return { down: targetDown('timeout', `${target}: no TLS handshake within ${formatDuration(timeoutMs)}`) };
    if (!(err instanceof ProbeError)) throw err;
    const failure = err.stage === 'connect' ? classifyNetworkError(rootError(err.cause)) : err.stage === 'smtp' ? 'error' : 'tls';
    return { down: targetDown(failure, `${target}: ${err.cause ? describeNetworkError(err.cause) : err.message}`) };
  }
  try {
    if (!hs.chain.length) return { down: targetDown('tls', `${target}: the server presented no certificate`) };
    return {
      ev: {
        chain: hs.chain,
        verdict: { valid: hs.authorized, error: hs.authorizationError },
        hostname: { name, isIp },
        protocol: hs.protocol,
        subject: spec.starttls ? `${target} (STARTTLS)` : target,
      },
    };
  } finally {
    hs.socket.destroy();
  }
}

let builtInAnchors: X509Certificate[] | undefined;

/** Node's built-in CA store (Mozilla's), what a live handshake verifies against without caFile. */
function defaultAnchors(): X509Certificate[] {
  builtInAnchors ??= tls.rootCertificates.map((pem) => new X509Certificate(pem));
  return builtInAnchors;
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificates of a PEM text, in order; throws (the run is unknown) when there is none or one does not parse. */
export function parsePemCertificates(text: string, key: string, file: string): X509Certificate[] {
  const blocks = text.match(PEM_CERT_RE) ?? [];
  if (!blocks.length) throw new Error(`tls-cert check: ${key} ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`tls-cert check: ${key} ${file}: certificate ${i + 1} does not parse: ${(err as Error).message}`, { cause: err });
    }
  });
}

async function fromFiles(spec: TlsCertSpec, certFile: string, caText: string | undefined, nowMs: number): Promise<Evidence> {
  const [leaf, ...bundled] = parsePemCertificates(await readConfiguredFile('tls-cert', 'certFile', certFile, PEM_MAX_BYTES), 'certFile', certFile);
  const chained = spec.chainFile !== undefined
    ? parsePemCertificates(await readConfiguredFile('tls-cert', 'chainFile', spec.chainFile, PEM_MAX_BYTES), 'chainFile', spec.chainFile)
    : [];
  const anchors = caText !== undefined ? parsePemCertificates(caText, 'caFile', spec.caFile!) : defaultAnchors();
  const seen = new Set([leaf.fingerprint256]);
  const intermediates = [...bundled, ...chained].filter((c) => !seen.has(c.fingerprint256) && seen.add(c.fingerprint256));
  return {
    chain: [leaf, ...intermediates],
    verdict: verifyChain(leaf, intermediates, anchors, nowMs),
    hostname: spec.serverName !== undefined ? { name: spec.serverName, isIp: net.isIP(spec.serverName) !== 0 } : undefined,
    subject: certFile,
  };
}

/**
 * Findings about the private key file: its mode (group or others may read or write it) and
 * its owner. Only stat is needed, never the key itself: an agent that cannot read the key is
 * as it should be. One it cannot even stat (a directory it may not search) is unknown.
 */
async function keyFileFindings(file: string, owners: readonly number[] | undefined): Promise<Finding[]> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM'
      ? `permission denied: the agent's user needs search (x) access to ${path.dirname(file)} (and the directories above it) to stat it`
      : code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new Error(`tls-cert check: cannot stat keyFile ${file}: ${why}`, { cause: err });
  }
  if (!st.isFile()) throw new Error(`tls-cert check: keyFile ${file} is not a regular file`);
  const findings: Finding[] = [];
  const mode = st.mode & 0o777;
  const severity = keyModeSeverity(mode);
  if (severity) {
    findings.push({
      id: 'tls-cert.key-file.permissions', severity, subject: file,
      title: `The private key file has mode ${mode.toString(8).padStart(4, '0')}: ${severity === 'high' ? 'other users' : 'its group'} may read or change it`,
      fix: `chmod 600 ${file} (or 640 with a group only the TLS service is in, then list the finding as accepted)`,
    });
  }
  const allowed = owners ?? [0, process.getuid?.() ?? 0];
  if (!allowed.includes(st.uid)) {
    findings.push({
      id: 'tls-cert.key-file.owner', severity: 'medium', subject: file,
      title: `The private key file is owned by uid ${st.uid}, not ${allowed.join(' or ')}`,
      fix: `chown root ${file} (or list the service's uid in keyOwners)`,
    });
  }
  return findings;
}
