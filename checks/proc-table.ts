import fs from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/**
 * The process table read from /proc, for the process check and the diagnostic snapshot.
 *
 * A machine may run thousands of processes, and reading two files of each at once took
 * seconds of main-thread CPU: every scheduled check waited behind it, and a run that ignored
 * its timeout kept reading after being abandoned. So reads are bounded (the first
 * {@link MAX_PROCESSES} pids), go in small batches that yield to the event loop between
 * them, stop at the next batch once nobody waits for them, and concurrent runs share one read.
 */

/** Most processes examined per reading; the rest are counted as skipped. */
export const MAX_PROCESSES = 10_000;

/** Files read at once; the event loop gets a turn between batches. */
export const PROC_BATCH = 32;

/**
 * A table read this recently (or still being read) serves another caller instead of a new
 * read: runs due at the same moment share one. Short, so a process started a moment ago is seen.
 * After that the table is let go, so its command lines are not kept between runs.
 */
export const PROC_TABLE_MAX_AGE_MS = 100;

/**
 * Longest command line read; longer ones are cut, so matching sees their first 4 KiB (what
 * /proc showed before Linux 4.2). A Java classpath can run to tens of KiB, and every
 * process's command line is read on every reading: 10,000 of them at 128 KiB were over 1 GiB.
 */
export const MAX_CMDLINE_BYTES = 4 * 1024;

/** One process as /proc/PID/stat (and cmdline) showed it. Zombies are never entries. */
export interface ProcEntry {
  pid: number;
  /** The kernel's name (`comm`, at most 15 characters). */
  comm: string;
  utime: number;
  stime: number;
  /** Clock ticks after boot when the process started: with the pid, its identity. */
  starttime: number;
  rssPages: number;
  /** NUL-separated arguments as in /proc/PID/cmdline; empty for kernel threads. Only when asked for. */
  cmdline?: string;
  /** performance.now() when this entry was read, for CPU use over the time between two readings. */
  at: number;
}

/** One reading of the process table. */
export interface ProcTable {
  entries: ReadonlyMap<number, ProcEntry>;
  /** Processes the machine runs (pids in /proc), including those skipped. */
  total: number;
  /** Pids not read because the table is capped (the highest ones). */
  skipped: number;
  /** performance.now() when the read started. */
  startedAt: number;
}

/** Where a table comes from: /proc, or a fake in tests. */
export interface ProcSource {
  listPids(): Promise<number[]>;
  /** The file's text, at most `maxBytes`; undefined when the process is gone or hidden from us. */
  read(pid: number, file: 'stat' | 'cmdline', maxBytes: number): Promise<string | undefined>;
}

/** Errors that mean "the process is gone or not ours to see" (hidepid): not a failure. */
const GONE = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM']);

/** The real /proc. */
export const procfs: ProcSource = {
  async listPids() {
    return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  },
  read: readSmall,
};

/**
 * Reads a small /proc file with open/read/close on libuv's pool: half the CPU of
 * fs.readFile, which also stats the file first (and /proc files all claim size 0).
 */
function readSmall(pid: number, file: string, maxBytes: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => (GONE.has(err.code ?? '') ? resolve(undefined) : reject(err));
    fs.open(`/proc/${pid}/${file}`, 'r', (err, fd) => {
      if (err) return fail(err);
      const chunks: Buffer[] = [];
      let got = 0;
      const done = (e: NodeJS.ErrnoException | null, text?: string) =>
        fs.close(fd, (closeErr) => (e ? fail(e) : closeErr ? reject(closeErr) : resolve(text)));
      const next = () => {
        const buf = Buffer.allocUnsafe(Math.min(4096, maxBytes - got));
        fs.read(fd, buf, 0, buf.length, null, (e, n) => {
          if (e) return done(e);
          chunks.push(buf.subarray(0, n));
          got += n;
          if (n === 0 || n < buf.length || got >= maxBytes) return done(null, Buffer.concat(chunks).toString('utf8'));
          next();
        });
      };
      next();
    });
  });
}

/**
 * Parses /proc/PID/stat. The name (field 2) is in parentheses and may hold spaces and
 * parentheses itself, so the fields are counted from the last `)`.
 */
export function parseStat(text: string): { comm: string; state: string; utime: number; stime: number; starttime: number; rssPages: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3]. Field 24 is the resident set in pages.
  const [utime, stime, starttime, rssPages] = [rest[11], rest[12], rest[19], rest[21]].map(Number);
  if (![utime, stime, starttime].every(Number.isFinite)) return undefined;
  return { comm: text.slice(open + 1, close), state: rest[0], utime, stime, starttime, rssPages: Number.isFinite(rssPages) ? rssPages : 0 };
}

interface Read {
  startedAt: number;
  promise: Promise<ProcTable>;
  stop: AbortController;
  waiters: number;
  settled: boolean;
}

/** Options of {@link ProcTables}; the defaults read the real /proc. */
export interface ProcTablesOptions {
  source?: ProcSource;
  maxProcesses?: number;
  batch?: number;
  maxAgeMs?: number;
  clock?: () => number;
}

/**
 * Shares process-table reads between concurrent callers: one read at a time serves every
 * caller that asks while it runs or within `maxAgeMs` after it started. A caller whose signal
 * aborts stops waiting at once; the read itself stops at its next batch when no caller is left.
 */
export class ProcTables {
  private readonly source: ProcSource;
  private readonly max: number;
  private readonly batch: number;
  private readonly maxAgeMs: number;
  private readonly clock: () => number;
  private current: Read | undefined;

  constructor(opts: ProcTablesOptions = {}) {
    this.source = opts.source ?? procfs;
    this.max = opts.maxProcesses ?? MAX_PROCESSES;
    this.batch = opts.batch ?? PROC_BATCH;
    this.maxAgeMs = opts.maxAgeMs ?? PROC_TABLE_MAX_AGE_MS;
    this.clock = opts.clock ?? (() => performance.now());
  }

  /**
   * A table with command lines, read no earlier than `notBefore` (default: `maxAgeMs` ago).
   * Rejects with the signal's reason as soon as `signal` aborts.
   */
  get(opts: { signal?: AbortSignal; notBefore?: number } = {}): Promise<ProcTable> {
    opts.signal?.throwIfAborted();
    const notBefore = opts.notBefore ?? this.clock() - this.maxAgeMs;
    let read = this.current;
    if (!read || read.startedAt < notBefore) {
      read = this.start();
      this.current = read;
    }
    return this.wait(read, opts.signal);
  }

  /** stat (and cmdline when asked) of the given pids, read in batches; gone and zombie processes are left out. */
  async entries(pids: readonly number[], signal: AbortSignal, cmdline = false): Promise<Map<number, ProcEntry>> {
    const out = new Map<number, ProcEntry>();
    for (let i = 0; i < pids.length; i += this.batch) {
      signal.throwIfAborted();
      if (i > 0) await yieldToLoop();
      signal.throwIfAborted();
      const batch = pids.slice(i, i + this.batch);
      const rows = await Promise.all(batch.map((pid) => this.entry(pid, cmdline)));
      for (const row of rows) if (row) out.set(row.pid, row);
    }
    return out;
  }

  private async entry(pid: number, cmdline: boolean): Promise<ProcEntry | undefined> {
    const [stat, cmd] = await Promise.all([
      this.source.read(pid, 'stat', 4096),
      cmdline ? this.source.read(pid, 'cmdline', MAX_CMDLINE_BYTES) : undefined,
    ]);
    const s = stat === undefined ? undefined : parseStat(stat);
    if (!s || s.state === 'Z' || s.state === 'X') return undefined;
    // A process that exited between the two reads has no command line: it is gone.
    if (cmdline && cmd === undefined) return undefined;
    return { pid, comm: s.comm, utime: s.utime, stime: s.stime, starttime: s.starttime, rssPages: s.rssPages, cmdline: cmd, at: this.clock() };
  }

  private start(): Read {
    const stop = new AbortController();
    const startedAt = this.clock();
    const read: Read = { startedAt, stop, waiters: 0, settled: false, promise: undefined as never };
    read.promise = (async () => {
      const all = (await this.source.listPids()).sort((a, b) => a - b);
      const pids = all.slice(0, this.max);
      const entries = await this.entries(pids, stop.signal, true);
      return { entries, total: all.length, skipped: all.length - pids.length, startedAt };
    })();
    read.promise.then(
      () => {
        read.settled = true;
        // Let go of the table once it is too old to serve anyone, even if nobody asks again:
        // it holds every process's command line. Timers run on real time; an injected clock
        // only decides what counts as fresh.
        const release = () => {
          if (this.current === read) this.current = undefined;
        };
        setTimeout(release, Math.max(0, startedAt + this.maxAgeMs - this.clock())).unref();
      },
      () => {
        read.settled = true;
        if (this.current === read) this.current = undefined;
      },
    );
    return read;
  }

  private wait(read: Read, signal: AbortSignal | undefined): Promise<ProcTable> {
    read.waiters++;
    return new Promise<ProcTable>((resolve, reject) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        read.waiters--;
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        // The last caller gave up: stop reading, and don't let a later caller join a dead read.
        if (read.waiters === 0 && !read.settled) {
          read.stop.abort(signal!.reason);
          if (this.current === read) this.current = undefined;
        }
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      read.promise.then(
        (t) => leave() && resolve(t),
        (err) => leave() && reject(err),
      );
    });
  }
}

/** The agent's one shared table reader over /proc. */
export const procTables = new ProcTables();

/** The kernel's page size and clock tick, which /proc counts memory and CPU time in. */
export interface SystemConstants {
  pageSize: number;
  clkTck: number;
  /** Why the values are the usual ones assumed rather than read (auxv was unreadable); absent when read. */
  assumed?: string;
}

let constants: Promise<SystemConstants> | undefined;

/**
 * Reads AT_PAGESZ and AT_CLKTCK from our own ELF auxiliary vector, where sysconf() gets them,
 * so there is no shelling out to getconf. Both are the same for every process on the machine.
 * Falls back to 4096 and 100, the values on x86-64 and most arm64 kernels, if auxv is
 * unreadable, and says so in `assumed`: this module has no logger, so the caller reports it.
 */
export function systemConstants(): Promise<SystemConstants> {
  constants ??= readFile('/proc/self/auxv')
    .then((buf) => parseAuxv(buf, is32Bit() ? 4 : 8))
    .catch((err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      return { pageSize: 4096, clkTck: 100, assumed: `cannot read /proc/self/auxv: ${e.code ?? e.message}` };
    });
  return constants;
}

const AT_NULL = 0;
const AT_PAGESZ = 6;
const AT_CLKTCK = 17;

/** Reads page size and clock tick out of an auxv dump: native-endian (type, value) word pairs. */
export function parseAuxv(buf: Buffer, wordSize: 4 | 8): SystemConstants {
  const out: SystemConstants = { pageSize: 4096, clkTck: 100 };
  const le = os.endianness() === 'LE';
  const word = (at: number): number =>
    wordSize === 8
      ? Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at))
      : le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  for (let at = 0; at + 2 * wordSize <= buf.length; at += 2 * wordSize) {
    const type = word(at);
    if (type === AT_NULL) break;
    const value = word(at + wordSize);
    if (type === AT_PAGESZ && value >= 1024 && value <= 1 << 24 && (value & (value - 1)) === 0) out.pageSize = value;
    if (type === AT_CLKTCK && value > 0 && value <= 100_000) out.clkTck = value;
  }
  return out;
}

function is32Bit(): boolean {
  return ['arm', 'ia32', 'mips', 'mipsel', 'ppc', 's390'].includes(process.arch);
}
