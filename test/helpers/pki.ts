import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A certificate and its key, as PEM text and as files. */
export interface Issued {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** What a certificate should look like; dates are offsets from now in days (negative: past). */
export interface CertOptions {
  cn: string;
  /** subjectAltName entries, e.g. ['DNS:localhost', 'IP:127.0.0.1']; none when empty. */
  san?: string[];
  notBeforeDays?: number;
  notAfterDays: number;
  /** `rsa:2048` (default), `rsa:1024`, `ec:prime256v1`, … */
  key?: string;
  md?: 'sha256' | 'sha1';
  ca?: boolean;
}

/**
 * A throwaway PKI in a temp directory, driven by the openssl CLI: `openssl ca` is what sets
 * arbitrary validity dates (an expired certificate, one from the future) on OpenSSL 3.0.
 */
export class TestPki {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepwatch-pki-'));
  private n = 0;

  constructor() {
    fs.mkdirSync(path.join(this.dir, 'new'));
    fs.writeFileSync(path.join(this.dir, 'index.txt'), '');
    fs.writeFileSync(path.join(this.dir, 'serial'), '1000\n');
    fs.writeFileSync(path.join(this.dir, 'ca.cnf'), [
      '[ ca ]', 'default_ca = d',
      '[ d ]', `database = ${this.dir}/index.txt`, `new_certs_dir = ${this.dir}/new`, `serial = ${this.dir}/serial`,
      'default_md = sha256', 'policy = any', 'copy_extensions = copy', 'unique_subject = no', 'email_in_dn = no',
      '[ any ]', 'commonName = supplied',
      '[ leaf ]', 'basicConstraints = CA:FALSE', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid',
      '[ ca_ext ]', 'basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid',
      '',
    ].join('\n'));
  }

  /** Issues a certificate signed by `issuer`, or self-signed without one. */
  issue(o: CertOptions, issuer?: Issued): Issued {
    const base = path.join(this.dir, `c${++this.n}`);
    const keyFile = `${base}.key`;
    const certFile = `${base}.pem`;
    const [alg, param] = (o.key ?? 'rsa:2048').split(':');
    const keyArgs = alg === 'ec' ? ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${param}`] : ['-newkey', `rsa:${param}`];
    const san = o.san?.length ? ['-addext', `subjectAltName=${o.san.join(',')}`] : [];
    openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', keyFile, '-out', `${base}.csr`, '-subj', `/CN=${o.cn}`, ...san]);
    openssl([
      'ca', '-batch', '-config', path.join(this.dir, 'ca.cnf'), '-notext', '-in', `${base}.csr`, '-out', certFile,
      '-startdate', asn1Time(o.notBeforeDays ?? -1), '-enddate', asn1Time(o.notAfterDays), '-md', o.md ?? 'sha256',
      '-extensions', o.ca ? 'ca_ext' : 'leaf',
      ...(issuer ? ['-cert', issuer.certFile, '-keyfile', issuer.keyFile] : ['-selfsign', '-keyfile', keyFile]),
    ]);
    fs.chmodSync(keyFile, 0o600);
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile };
  }

  /** Writes `text` to a file in the PKI's directory and returns its path. */
  write(name: string, text: string): string {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** UTCTime (YYMMDDHHMMSSZ) `days` from now. */
function asn1Time(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}
