import { constants as fsConstants, type StatsFs } from 'node:fs';
import { open, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mem } from 'systeminformation/lib/memory';
import { z } from 'zod';
import {
  formatBytes, isSkippedMountPoint, isValidRegex, parseMountInfo, procTables, PSEUDO_FS_TYPES, round, type ProcTables,
} from '../../checks/types';
import { scrubAndCut } from '../secrets';
import { topProcesses, type ProcessList } from './top-processes';

export type { ProcessInfo, ProcessList } from './top-processes';

/** The pattern used when a `logs:` entry sets no `match`: error, fatal, panic or crit, any case. */
export const DEFAULT_LOG_MATCH = '(?i)error|fatal|panic|crit';

/** Most of a log file read: its last 1 MiB. Older lines are not looked at. */
export const LOG_TAIL_BYTES = 1 << 20;

/** Longest log line kept, in characters (after scrubbing secrets); longer lines end in `…`. */
const LOG_LINE_CHARS = 500;

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_CPU_SAMPLE_MS = 500;

/**
 * A leading `(?i)` (the Go/PCRE spelling people copy from other tools) makes a pattern
 * case-insensitive: JavaScript before Node 23 has no inline flags, so we turn it into the `i` flag.
 */
export function compileLogPattern(source: string): RegExp {
  const m = /^\(\?i\)/.exec(source);
  return m ? new RegExp(source.slice(m[0].length), 'i') : new RegExp(source);
}

const logSpecSchema = z.strictObject({
  path: z
    .string()
    .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path such as /var/log/nginx/error.log' })
    .describe('Log file to search when an incident opens; only its last 1 MiB is read.'),
  match: z
    .string()
    .min(1)
    .refine((s) => isValidRegex(s.replace(/^\(\?i\)/, '')), { message: 'invalid regular expression' })
    .default(DEFAULT_LOG_MATCH)
    .describe('Regular expression a line must match; case-sensitive unless it starts with (?i). Default: error, fatal, panic or crit in any case.'),
  lines: z.number().int().min(1).max(200).default(20).describe('How many of the last matching lines to keep (at most 200).'),
});

/** The `logs:` key of a check: files whose last matching lines go into the incident's diagnostic snapshot. */
export const logsSchema = z
  .array(logSpecSchema)
  .describe('Log files whose last matching lines are shown with an incident (the root-cause context on-call reads first).');

/** One `logs:` entry, parsed. */
export type LogSpec = z.output<typeof logSpecSchema>;

export interface DiskUsage {
  mount: string;
  fsType: string;
  /** Space used as df shows it: used / (used + available to users). */
  usedPercent: number;
  /** Space available to unprivileged users. */
  freeBytes: number;
  totalBytes: number;
}

export interface MemoryUsage {
  /** (total - available) / total: page cache is not counted as used. */
  usedPercent: number;
  availableBytes: number;
  totalBytes: number;
  /** 0 when there is no swap. */
  swapUsedPercent: number;
}

export interface LoadInfo {
  load1: number;
  load5: number;
  load15: number;
  cores: number;
  load1PerCore: number;
  load5PerCore: number;
  load15PerCore: number;
}

/** The last matching lines of one log file. */
export interface LogExcerpt {
  path: string;
  /** The pattern as configured. */
  match: string;
  /** The last `lines` matching lines, oldest first, ANSI stripped, each at most 500 characters. */
  lines: string[];
  /** How many lines matched in the part of the file read. */
  matched: number;
  /** Bytes read from the end of the file (at most 1 MiB). */
  bytesRead: number;
  fileBytes: number;
}

/**
 * What the machine looked like when an incident opened: the context on-call needs first.
 * A plain JSON-serialisable object; a part that failed or ran out of time is absent and
 * says why in `errors`.
 */
export interface Snapshot {
  /** When the snapshot started (ISO 8601). */
  takenAt: string;
  durationMs: number;
  processes?: ProcessList;
  disks?: DiskUsage[];
  memory?: MemoryUsage;
  load?: LoadInfo;
  /** One entry per `logs:` file that could be read, in config order. */
  logs?: LogExcerpt[];
  /** `part: what went wrong`, one per part that failed. */
  errors: string[];
}

/** Options of {@link takeSnapshot}. */
export interface SnapshotOptions {
  logs?: readonly LogSpec[];
  /** The whole snapshot is bounded by this (default 5000 ms); parts not done by then are reported in `errors`. */
  timeoutMs?: number;
  /** Stops waiting, like the timeout. */
  signal?: AbortSignal;
  /** How long CPU use is sampled (default 500 ms, at most half the timeout). */
  cpuSampleMs?: number;
  /** Where the process list comes from (default: the agent's shared /proc table; tests pass a fake). */
  procTables?: ProcTables;
  /**
   * How the CPU sample waits between its two readings (default: a timer). Tests pass one that
   * moves the fake clock of their `procTables`, so CPU shares are exact and no time passes.
   */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Takes a diagnostic snapshot: top processes by CPU and memory, disks, memory, load and the
 * last matching lines of the given log files, all at once. Never rejects: each part that fails
 * or is not done within `timeoutMs` (or when `signal` aborts) is left out and named in `errors`.
 */
export async function takeSnapshot(opts: SnapshotOptions = {}): Promise<Snapshot> {
  const started = Date.now();
  const t0 = performance.now();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const cpuSampleMs = Math.max(0, Math.min(opts.cpuSampleMs ?? DEFAULT_CPU_SAMPLE_MS, timeoutMs / 2));
  const snap: Snapshot = { takenAt: new Date(started).toISOString(), durationMs: 0, errors: [] };

  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error(`not done within ${timeoutMs} ms`)), timeoutMs);
  const onAbort = () => stop.abort(new Error('aborted'));
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const stopped = new Promise<never>((_, reject) => {
    const fail = () => reject(stop.signal.reason);
    if (stop.signal.aborted) fail();
    else stop.signal.addEventListener('abort', fail, { once: true });
  });
  stopped.catch(() => undefined);

  // Each part races the deadline; one that loses is abandoned (its late result is dropped).
  const part = async <T>(name: string, work: () => Promise<T>, keep: (v: T) => void) => {
    try {
      keep(await Promise.race([work(), stopped]));
    } catch (err) {
      snap.errors.push(`${name}: ${(err as Error)?.message ?? String(err)}`);
    }
  };

  const logs: Array<LogExcerpt | undefined> = [];
  await Promise.all([
    part('processes', () => topProcesses(opts.procTables ?? procTables, cpuSampleMs, stop.signal, opts.wait), (v) => (snap.processes = v)),
    part('disks', () => diskUsage(), (v) => (snap.disks = v)),
    part('memory', () => memoryUsage(), (v) => (snap.memory = v)),
    part('load', async () => loadInfo(), (v) => (snap.load = v)),
    ...(opts.logs ?? []).map((spec, i) => part(`log ${spec.path}`, () => readLogTail(spec), (v) => (logs[i] = v))),
  ]);
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  if (opts.logs?.length) snap.logs = logs.filter((l): l is LogExcerpt => l !== undefined);
  snap.durationMs = Math.round(performance.now() - t0);
  return snap;
}

/**
 * A few human lines for a notification's details: load, memory, the fullest disks, the top
 * processes and the log matches.
 */
export function summariseSnapshot(s: Snapshot): string {
  const lines: string[] = [];
  if (s.load) {
    lines.push(`load ${s.load.load1}/${s.load.load5}/${s.load.load15} on ${s.load.cores} core${s.load.cores === 1 ? '' : 's'}`);
  }
  if (s.memory) {
    let m = `memory ${s.memory.usedPercent}% used (${formatBytes(s.memory.availableBytes)} available)`;
    if (s.memory.swapUsedPercent > 0) m += `, swap ${s.memory.swapUsedPercent}% used`;
    lines.push(m);
  }
  if (s.disks?.length) {
    const fullest = [...s.disks].sort((a, b) => b.usedPercent - a.usedPercent).slice(0, 3);
    lines.push(fullest.map((d) => `${d.mount} ${d.usedPercent}% used (${formatBytes(d.freeBytes)} free)`).join(', '));
  }
  const cpu = s.processes?.byCpu[0];
  const mem = s.processes?.byMemory[0];
  if (cpu) lines.push(`top CPU: ${cpu.name} (pid ${cpu.pid}) ${cpu.cpuPercent}%`);
  if (mem) lines.push(`top memory: ${mem.name} (pid ${mem.pid}) ${formatBytes(mem.rssBytes)}`);
  if (s.processes?.skipped) lines.push(`${s.processes.skipped} processes not examined (only the first 10,000 by pid are)`);
  for (const l of s.logs ?? []) {
    const what = `${l.path}: ${l.matched} matching line${l.matched === 1 ? '' : 's'}`;
    const last = l.lines.at(-1);
    lines.push(last === undefined ? what : `${what}, last: ${scrubAndCut(last, 200)}`);
  }
  if (s.errors.length) lines.push(`not collected: ${s.errors.join('; ')}`);
  return lines.join('\n');
}

/**
 * statfs calls in flight, by mount: a snapshot taken meanwhile shares the answer. One still
 * out after HUNG_STATFS_MS (a dead network mount) is not waited for or asked again until it
 * returns: that mount is left out.
 */
const pendingStatfs = new Map<string, { since: number; answer: Promise<StatsFs | undefined> }>();
const HUNG_STATFS_MS = 1000;

/**
 * Space on every real filesystem, one entry per device (bind mounts of it are left out).
 * `/` is always included, even when it is an overlay, as in a container.
 */
async function diskUsage(): Promise<DiskUsage[]> {
  let mounts: Array<{ mount: string; fsType: string }> = [];
  if (process.platform === 'linux') {
    const seen = new Set<string>();
    for (const { device, mountPoint: mount, fsType } of parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'))) {
      const real = mount === '/' || (!PSEUDO_FS_TYPES.has(fsType) && !isSkippedMountPoint(mount));
      // Mountinfo lists parents first, so the first mount of a device is its shortest path.
      if (!real || seen.has(device)) continue;
      seen.add(device);
      mounts.push({ mount, fsType });
    }
  }
  if (!mounts.some((m) => m.mount === '/')) mounts = [{ mount: '/', fsType: '' }, ...mounts];
  const rows = await Promise.all(
    mounts.map(async ({ mount, fsType }): Promise<DiskUsage | undefined> => {
      let call = pendingStatfs.get(mount);
      if (call && Date.now() - call.since >= HUNG_STATFS_MS) return undefined;
      if (!call) {
        // Unmounted meanwhile, or not ours to read: no answer.
        const answer = statfs(mount).catch(() => undefined).finally(() => pendingStatfs.delete(mount));
        call = { since: Date.now(), answer };
        pendingStatfs.set(mount, call);
      }
      const s = await call.answer;
      if (!s || s.blocks === 0) return undefined; // FUSE helpers and the like report no size
      const used = (s.blocks - s.bfree) * s.bsize;
      const free = s.bavail * s.bsize;
      return {
        mount,
        fsType,
        usedPercent: used + free > 0 ? round((used / (used + free)) * 100) : 0,
        freeBytes: free,
        totalBytes: s.blocks * s.bsize,
      };
    }),
  );
  return rows.filter((r): r is DiskUsage => r !== undefined);
}

async function memoryUsage(): Promise<MemoryUsage> {
  const m = await mem();
  // Total minus *available*, not minus free: page cache is handed back on demand.
  const used = Math.max(0, m.total - m.available);
  return {
    usedPercent: m.total > 0 ? round((used / m.total) * 100) : 0,
    availableBytes: m.available,
    totalBytes: m.total,
    swapUsedPercent: m.swaptotal > 0 ? round((m.swapused / m.swaptotal) * 100) : 0,
  };
}

function loadInfo(): LoadInfo {
  const [load1, load5, load15] = os.loadavg();
  const cores = Math.max(1, os.availableParallelism());
  return {
    load1: round(load1, 2),
    load5: round(load5, 2),
    load15: round(load15, 2),
    cores,
    load1PerCore: round(load1 / cores, 2),
    load5PerCore: round(load5 / cores, 2),
    load15PerCore: round(load15 / cores, 2),
  };
}

// CSI and OSC sequences and two-character escapes, then the other control characters but tab.
const ANSI_RE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/g;

/**
 * The last matching lines of a log file, from its last {@link LOG_TAIL_BYTES} only: a log
 * may be gigabytes, and the lines that matter when an incident opens are the newest.
 */
export async function readLogTail(spec: LogSpec): Promise<LogExcerpt> {
  const re = compileLogPattern(spec.match);
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO that nobody writes to would otherwise hang a thread forever.
    fh = await open(spec.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new Error(describeFileError(err), { cause: err });
  }
  let buf: Buffer;
  let fileBytes: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    fileBytes = st.size;
    const start = Math.max(0, fileBytes - LOG_TAIL_BYTES);
    buf = Buffer.alloc(fileBytes - start);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
      if (bytesRead === 0) break; // truncated (rotated) while we read
      got += bytesRead;
    }
    buf = buf.subarray(0, got);
    // Started mid-file: the first line is a fragment.
    if (start > 0) {
      const nl = buf.indexOf(0x0a);
      buf = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
    }
  } finally {
    await fh.close();
  }

  const kept: string[] = [];
  let matched = 0;
  for (const raw of buf.toString('utf8').split('\n')) {
    const line = raw.replace(ANSI_RE, '').replace(CONTROL_RE, '').trimEnd();
    if (line === '' || !re.test(line)) continue;
    matched++;
    kept.push(scrubAndCut(line, LOG_LINE_CHARS));
    if (kept.length > spec.lines) kept.shift();
  }
  return { path: spec.path, match: spec.match, lines: kept, matched, bytesRead: buf.length, fileBytes };
}

function describeFileError(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (err as Error).message ?? String(err);
}
