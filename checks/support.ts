import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { z } from 'zod';
import { formatBytes, round } from './units';

export { round } from './units';

/** Whether `u` is an absolute http:// or https:// URL. */
export function isHttpUrl(u: string): boolean {
  return /^https?:\/\//i.test(u) && URL.canParse(u);
}

/** A config string that must be an absolute http:// or https:// URL (a new schema per use). */
export function httpUrl() {
  return z.string().refine(isHttpUrl, { message: 'expected an http:// or https:// URL' });
}

/**
 * One path name's glob (`*`, `?`, `[a-z]`, `[!x]`) as regular expression source, unanchored:
 * no wildcard matches `/`, and a `[` without its `]` is literal. Whether a wildcard may match a
 * leading dot is the caller's to say (glob(3) says no; a file watcher wants hidden files too).
 */
export function globNameSource(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = name.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = name.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return out;
}

/** Whether `source` compiles as a regular expression (for zod refinements). */
export function isValidRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * Days until the earliest certificate of the chain a TLS peer served expires (what
 * blackbox_exporter calls probe_ssl_earliest_cert_expiry), or undefined without one.
 */
export function certDaysLeft(socket: TLSSocket, nowMs: number): number | undefined {
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  let earliest = Infinity;
  const seen = new Set<string>();
  while (cert && cert.valid_to && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    earliest = Math.min(earliest, Date.parse(cert.valid_to));
    cert = cert.issuerCertificate;
  }
  return Number.isFinite(earliest) ? round((earliest - nowMs) / 86_400_000, 2) : undefined;
}

/**
 * The error a network call really failed with: a connect to a name with several addresses
 * fails with an AggregateError of one error per address.
 */
export function rootError(err: unknown): unknown {
  if (err instanceof AggregateError && !(err as { code?: string }).code && err.errors.length > 0) return err.errors[0];
  return err;
}

/** A one-line description of a network error: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`. */
export function describeNetworkError(err: unknown): string {
  const e = rootError(err) as { code?: string; message?: string; reason?: string };
  // OpenSSL errors carry a short `reason`; their message is a multi-line trace.
  const msg = (e.reason || e.message || String(err)).split('\n')[0].trim();
  return e.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
}

/**
 * The credentials of a URL's user-info (`https://user:pass@host/…`), decoded, with what an
 * HTTP client derives from them: the `Basic` Authorization value and its base64 part. Each is
 * a secret as much as the password (a receiver echoing the header must not leak it).
 */
export function urlCredentials(url: string): { username: string; password: string; basic: string; derived: string[] } | undefined {
  if (!URL.canParse(url)) return undefined;
  const u = new URL(url);
  if (!u.username && !u.password) return undefined;
  const username = safeDecode(u.username);
  const password = safeDecode(u.password);
  const b64 = Buffer.from(`${username}:${password}`).toString('base64');
  const derived = [`Basic ${b64}`, b64];
  if (password) derived.push(password);
  return { username, password, basic: `Basic ${b64}`, derived };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch (err) {
    // A stray % in a password is taken literally, as curl does.
    if (err instanceof URIError) return s;
    throw err;
  }
}

/**
 * The URL to request (user-info removed) and the headers to send: the configured ones, plus
 * `Authorization: Basic …` from the URL's credentials when none of them is an Authorization
 * header (any case). HTTP clients otherwise let the URL's credentials replace the configured
 * header.
 */
export function requestParts(url: string, configured: Record<string, string> = {}): { target: string; headers: Record<string, string> } {
  const creds = urlCredentials(url);
  if (!creds) return { target: url, headers: { ...configured } };
  const u = new URL(url);
  u.username = '';
  u.password = '';
  const hasAuth = Object.keys(configured).some((k) => k.toLowerCase() === 'authorization');
  return { target: u.href, headers: hasAuth ? { ...configured } : { ...configured, Authorization: creds.basic } };
}

/**
 * A file that is not a regular file, too large, or unreadable; `message` says which, without
 * the content. `code` is the system error's (`ENOENT`, `EACCES`, …), `ERR_NOT_REGULAR_FILE` or
 * `ERR_FS_FILE_TOO_LARGE` for a file refused, `EIO` when nothing more is known.
 */
export class FileReadError extends Error {
  readonly code: string;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'FileReadError';
    this.code = options.code ?? 'EIO';
  }
}

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever. The
// handle is then checked with fstat (not the path with stat: it could be swapped between the
// two) and only a regular file is read. The flag changes nothing for regular files.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);
const CHUNK = 64 * 1024;

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function checkStat(st: fs.Stats, maxBytes: number): void {
  if (!st.isFile()) throw new FileReadError(`not a regular file (${kindOf(st)})`, { code: 'ERR_NOT_REGULAR_FILE' });
  if (st.size > maxBytes) throw new FileReadError(`larger than the ${formatBytes(maxBytes, { iec: true })} limit (${st.size} bytes)`, { code: 'ERR_FS_FILE_TOO_LARGE' });
}

function tooLarge(maxBytes: number): FileReadError {
  return new FileReadError(`larger than the ${formatBytes(maxBytes, { iec: true })} limit`, { code: 'ERR_FS_FILE_TOO_LARGE' });
}

function openError(err: unknown): FileReadError {
  const e = err as NodeJS.ErrnoException;
  return new FileReadError(e.code ?? e.message, { code: e.code, cause: err });
}

/**
 * Reads a regular file as UTF-8, at most `maxBytes` of it; FIFOs, devices, directories and
 * larger files are refused with a FileReadError. Files in /proc report size 0, so the read
 * runs to the end of the file rather than trusting the size.
 */
export function readTextFileSync(file: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    throw openError(err);
  }
  try {
    checkStat(fs.fstatSync(fd), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooLarge(maxBytes);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw openError(err);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Like readTextFileSync, off the event loop: a slow or hung file system stalls nothing else.
 * What a check reads from a path in its config goes through here (a pidfile, a CA file).
 */
export async function readTextFile(file: string, maxBytes: number): Promise<string> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, OPEN_FLAGS);
  } catch (err) {
    throw openError(err);
  }
  try {
    checkStat(await fh.stat(), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(maxBytes);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw openError(err);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a file named in a check's config (a CA bundle, a certificate) with readTextFile's
 * bounds. Throws an Error naming the check, the key, the file and why, so the run is unknown
 * with a message an operator can act on (which file the agent's user needs to read).
 */
export async function readConfiguredFile(check: string, key: string, file: string, maxBytes: number): Promise<string> {
  try {
    return await readTextFile(file, maxBytes);
  } catch (err) {
    const code = (err as FileReadError).code;
    const why =
      code === 'EACCES' || code === 'EPERM' ? `permission denied: the agent's user needs read access to it and search (x) access to its directories` :
      code === 'ENOENT' ? 'no such file' :
      (err as Error).message;
    throw new Error(`${check} check: cannot read ${key} ${file}: ${why}`, { cause: err });
  }
}

/** Cumulative CPU time over all CPUs, in whatever tick the source counts in. */
export interface CpuTimes {
  user: number;
  system: number;
  idle: number;
  iowait: number;
  steal: number;
  cores: number;
}

/**
 * The CPU time counters: from `<procRoot>/stat` on Linux (or wherever a procRoot other than
 * /proc is given: tests, containers), else from `os.cpus()`, which has no iowait or steal.
 */
export async function readCpuTimes(procRoot = '/proc'): Promise<CpuTimes> {
  if (process.platform === 'linux' || procRoot !== '/proc') {
    const file = path.join(procRoot, 'stat');
    const parsed = parseProcStat(await readFile(file, 'utf8'));
    if (parsed) return parsed;
    if (procRoot !== '/proc') throw new Error(`${file} has no aggregate cpu line`);
  }
  const cpus = os.cpus();
  const t: CpuTimes = { user: 0, system: 0, idle: 0, iowait: 0, steal: 0, cores: cpus.length || os.availableParallelism() };
  for (const { times } of cpus) {
    t.user += times.user + times.nice;
    t.system += times.sys + times.irq;
    t.idle += times.idle;
  }
  return t;
}

/**
 * Parses the aggregate `cpu` line of /proc/stat. Its columns are user nice system idle
 * iowait irq softirq steal guest guest_nice; guest time is already inside user (and
 * guest_nice inside nice), so adding the last two would count it twice.
 */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = /^cpu\s+(.*)$/m.exec(text);
  if (!line) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line[1].trim().split(/\s+/).map(Number);
  const cores = (text.match(/^cpu\d+\s/gm) ?? []).length;
  return { user: user + nice, system: system + irq + softirq, idle, iowait, steal, cores: cores || os.availableParallelism() };
}

/**
 * How the CPU time between two readings was spent, in percent of all of it: busy is user +
 * system + steal (idle and iowait are not busy). A window shorter than a clock tick, or a
 * counter that went backwards (CPU hotplug), says nothing about load: it reads as idle rather
 * than NaN or a negative share.
 */
export function cpuShares(before: CpuTimes, after: CpuTimes): { busy: number; user: number; system: number; iowait: number; steal: number } {
  const d = {
    user: after.user - before.user,
    system: after.system - before.system,
    idle: after.idle - before.idle,
    iowait: after.iowait - before.iowait,
    steal: after.steal - before.steal,
  };
  const total = d.user + d.system + d.idle + d.iowait + d.steal;
  const pct = (n: number) => (total > 0 ? round(Math.min(100, Math.max(0, (n / total) * 100))) : 0);
  return { busy: pct(d.user + d.system + d.steal), user: pct(d.user), system: pct(d.system), iowait: pct(d.iowait), steal: pct(d.steal) };
}

/**
 * Memory in use from /proc/meminfo's MemTotal and MemAvailable (kB): total minus *available*,
 * not minus free, since Linux fills free memory with page cache it hands back on demand.
 * Undefined when either line is missing (kernels before 3.14 have no MemAvailable).
 */
export function parseMemInfo(text: string): { totalBytes: number; availableBytes: number; usedPercent: number } | undefined {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  if (total === undefined || available === undefined || total <= 0) return undefined;
  return { totalBytes: total, availableBytes: available, usedPercent: round((Math.max(0, total - available) / total) * 100) };
}
