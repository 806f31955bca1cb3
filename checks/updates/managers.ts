import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FindingSeverity } from '../types';

/** The package managers the check knows, in the order `auto` looks for them. */
export const MANAGERS = ['apt', 'dnf', 'yum', 'apk'] as const;
export type Manager = (typeof MANAGERS)[number];

/** The program each manager is run as. */
export const PROGRAMS: Record<Manager, string> = { apt: 'apt-get', dnf: 'dnf', yum: 'yum', apk: 'apk' };

/** Where each keeps the package index whose age tells how fresh the counts are. */
export const INDEX_DIRS: Record<Manager, string> = { apt: '/var/lib/apt/lists', dnf: '/var/cache/dnf', yum: '/var/cache/yum', apk: '/var/cache/apk' };

/** One update waiting. */
export interface PendingPackage {
  name: string;
  /** The installed version, when the output says. */
  from?: string;
  to?: string;
  /** For a security update, how severe the advisory says it is (dnf and yum only). */
  severity?: FindingSeverity;
}

/** What a manager reported: every pending update, and those that fix security problems. */
export interface Pending {
  pending: PendingPackage[];
  /** Undefined when the manager has no security metadata (apk). */
  security?: PendingPackage[];
}

/**
 * Parses `apt-get -s dist-upgrade`: each `Inst` line is a package to install or upgrade, as
 * `Inst name [installed] (candidate origin:release/archive[, …] [arch])`. A package counts as
 * a security update when one of its origins is a security archive (`bookworm-security`,
 * `jammy-security`, `jammy-apps-security`) or a Security label (`Debian-Security:12/…`), as
 * Lynis PKGS-7392 and Ubuntu's apt-check count them.
 */
export function parseAptSimulation(text: string): Required<Pending> {
  const pending: PendingPackage[] = [];
  const security: PendingPackage[] = [];
  for (const line of text.split('\n')) {
    const m = /^Inst (\S+)(?: \[([^\]]*)\])? \((\S+) ([^)]*)\)/.exec(line);
    if (!m) continue;
    const pkg: PendingPackage = { name: m[1], ...(m[2] ? { from: m[2] } : {}), to: m[3] };
    pending.push(pkg);
    const origins = m[4].replace(/\s*\[[^\]]*\]\s*$/, '').split(',').map((s) => s.trim());
    if (origins.some((o) => /-security$/i.test(o.split('/')[1] ?? '') || /security/i.test(o.split(':')[0]))) security.push(pkg);
  }
  return { pending, security };
}

/**
 * Parses `dnf|yum check-update`: one `name.arch  version  repo` line per update, up to the
 * `Obsoleting Packages` section (those are listed again there). Other lines (metadata notes,
 * `Security: kernel-core-… is an installed security update`) do not have that shape.
 */
export function parseCheckUpdate(text: string): PendingPackage[] {
  const out: PendingPackage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^Obsoleting Packages/i.test(lines[i])) break;
    let f = lines[i].trim().split(/\s+/);
    // dnf 4 puts the version and repo of a long name on the next line.
    const next = lines[i + 1]?.trim().split(/\s+/) ?? [];
    if (f.length === 1 && next.length === 2 && /^\s/.test(lines[i + 1])) {
      f = [...f, ...next];
      i++;
    }
    if (f.length !== 3 || !/^[^\s.]+.*\.[A-Za-z0-9_]+$/.test(f[0]) || !/\d/.test(f[1])) continue;
    out.push({ name: f[0].slice(0, f[0].lastIndexOf('.')), to: f[1] });
  }
  return out;
}

const DNF_SEVERITY: Record<string, FindingSeverity> = { critical: 'critical', important: 'high', moderate: 'medium', low: 'low' };

/**
 * Parses `dnf|yum updateinfo list --security` (dnf 4, yum: `ADVISORY  Severity/Sec.  nevra`)
 * and dnf 5's `advisory list --security` (`ADVISORY  security  Severity  nevra  date`): one
 * entry per package, with the worst severity of its advisories.
 */
export function parseUpdateinfo(text: string): PendingPackage[] {
  const worst = new Map<string, PendingPackage>();
  const rank = (s?: FindingSeverity) => (s ? ['info', 'low', 'medium', 'high', 'critical'].indexOf(s) : -1);
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || !/^[A-Z][A-Za-z0-9]*-[\w:.-]+$/.test(f[0])) continue;
    const nevra = f.find((x, i) => i > 0 && /^\S+-[^-]+-[^-]+\.[A-Za-z0-9_]+$/.test(x));
    if (!nevra) continue;
    const word = f.slice(1).map((x) => x.replace(/\/Sec\.?$/i, '').toLowerCase()).find((x) => x in DNF_SEVERITY);
    const severity = word ? DNF_SEVERITY[word] : 'medium';
    const name = nevra.replace(/-[^-]+-[^-]+\.[A-Za-z0-9_]+$/, '');
    const to = nevra.slice(name.length + 1).replace(/\.[A-Za-z0-9_]+$/, '');
    const had = worst.get(name);
    if (!had || rank(severity) > rank(had.severity)) worst.set(name, { name, to, severity });
  }
  return [...worst.values()];
}

/** Parses `apk version -l '<'`: `name-version-rN  <  newversion` per upgradable package. */
export function parseApkVersion(text: string): PendingPackage[] {
  const out: PendingPackage[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+?)-(\d[^\s-]*-r\d+)\s+<\s+(\S+)/.exec(line.trim());
    if (m) out.push({ name: m[1], from: m[2], to: m[3] });
  }
  return out;
}

/** Directories searched besides PATH: a service's PATH often lacks the sbin ones (apk lives in /sbin). */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The path of an executable program, or undefined. */
export async function findProgram(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => path.isAbsolute(d)), ...SYSTEM_DIRS];
  for (const dir of new Set(dirs)) {
    const p = path.join(dir, name);
    try {
      await access(p, constants.X_OK);
      if ((await stat(p)).isFile()) return p;
    } catch {
      // not here: try the next directory
    }
  }
  return undefined;
}

/** What a command printed and how it ended. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Most output kept from a command: apt's simulation of a large upgrade is a few hundred KiB. */
const MAX_STDOUT = 32 * 1024 * 1024;
const MAX_STDERR = 64 * 1024;

/**
 * Runs a program without a shell, in the C locale (the parsers read English), and collects its
 * output. The child is killed (SIGTERM) as soon as `signal` aborts, and the promise rejects
 * with the signal's reason then; output beyond the limits is dropped.
 */
export function runCommand(file: string, args: readonly string[], signal: AbortSignal): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', LANGUAGE: 'C' },
      signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (outBytes < MAX_STDOUT) out.push(d);
      outBytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (errBytes < MAX_STDERR) err.push(d);
      errBytes += d.length;
    });
    child.on('error', (e) => reject(signal.aborted ? signal.reason : e));
    child.on('close', (code) => {
      if (signal.aborted) return reject(signal.reason);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/**
 * The newest modification time (ms) of the index files under `dir`, looking `depth` levels
 * down; undefined when there are none (the index was never fetched or was cleaned away, as in
 * most container images). Lock files and apt's partial downloads do not count.
 */
export async function newestIndexFile(dir: string, depth = 3): Promise<number | undefined> {
  let newest: number | undefined;
  const walk = async (d: string, left: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw new Error(`cannot list ${d} (${code ?? (err as Error).message}): the updates check reads the package index's age there`, { cause: err });
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (left > 0 && e.name !== 'partial') await walk(p, left - 1);
      } else if (e.isFile() && e.name !== 'lock' && !e.name.endsWith('.lock')) {
        let t: number;
        try {
          t = (await stat(p)).mtimeMs;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // replaced meanwhile
          throw err;
        }
        if (newest === undefined || t > newest) newest = t;
      }
    }
  };
  await walk(dir, depth);
  return newest;
}
