import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineCheck, duration, formatBytes, formatDuration, isValidRegex, readProcFile, round, sampleFitsTimeout, type FieldSpec } from '../types';

// Not `name`: that key is every check's own name, which the engine takes before the spec.
const SELECTORS = ['processName', 'match', 'pidfile'] as const;

const schema = z
  .strictObject({
    processName: z
      .string()
      .min(1)
      .refine((n) => !n.includes('/'), { message: 'processName is a name such as nginx, not a path; use match for paths or arguments' })
      .optional()
      .describe('Process name: equals /proc/PID/comm (the kernel name, cut to 15 characters) or the last part of argv[0].'),
    match: z
      .string()
      .min(1)
      .refine(isValidRegex, { message: 'invalid regular expression' })
      .optional()
      .describe('Regular expression tested against the full command line (arguments joined by spaces).'),
    pidfile: z
      .string()
      .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path such as /run/nginx.pid' })
      .optional()
      .describe('File holding the process id to watch; a missing file or a dead pid counts as not running.'),
    sample: duration({ min: 100, max: 60_000 })
      .default(500)
      .describe('Window over which CPU use is measured (e.g. 500ms). Keep it below the timeout.'),
  })
  .superRefine((s, ctx) => {
    const set = SELECTORS.filter((k) => s[k] !== undefined);
    if (set.length === 1) return;
    ctx.addIssue({
      code: 'custom',
      message: set.length === 0
        ? 'say which processes to watch: set one of processName, match or pidfile'
        : `set only one of processName, match or pidfile (this check sets ${set.join(' and ')})`,
      path: set.length === 0 ? [] : [set[1]],
    });
  });

type ProcessSpec = z.output<typeof schema>;

const fields: Record<string, FieldSpec> = {
  running: { type: 'number', unit: 'count', help: 'Matching processes alive (zombies are not counted)' },
  cpuPercent: { type: 'number', unit: 'percent', help: 'CPU used by the matches over the sample, summed; 100 is one core fully busy' },
  rssBytes: { type: 'number', unit: 'bytes', help: 'Resident memory of the matches, summed (shared pages count once per process)' },
  oldestSeconds: { type: 'number', unit: 'seconds', help: 'Age of the oldest match; absent when none runs' },
};

/** Watches that a process runs, and how much CPU and memory it uses. */
export const processCheck = defineCheck({
  type: 'process',
  category: 'health',
  summary: 'Finds processes by name, command line or pidfile and reports how many run, their CPU, memory and age (Linux).',
  schema,
  fields,
  defaults: { crit: ['running < 1'] },
  validate: sampleFitsTimeout,
  async run({ spec, signal }) {
    if (process.platform !== 'linux') {
      throw new Error(`the process check reads /proc and works on Linux only, not on ${process.platform}`);
    }
    const sys = await systemConstants();
    const found = await findProcesses(spec);
    signal.throwIfAborted();
    if (found.pids.length === 0) {
      return { values: { running: 0, cpuPercent: 0, rssBytes: 0 }, message: found.none };
    }
    const start = performance.now();
    const before = await readStats(found.pids);
    if (before.size > 0) await sleep(spec.sample, undefined, { signal });
    const elapsedS = (performance.now() - start) / 1000;
    const after = await readStats([...before.keys()]);
    const uptimeS = await readUptime();

    let ticks = 0;
    let rssPages = 0;
    let oldestS = 0;
    let running = 0;
    for (const [pid, now] of after) {
      const then = before.get(pid);
      // A different start time means the pid was reused by another process mid-sample.
      if (!then || then.starttime !== now.starttime) continue;
      running++;
      ticks += now.utime + now.stime - (then.utime + then.stime);
      rssPages += now.rssPages;
      oldestS = Math.max(oldestS, uptimeS - now.starttime / sys.clkTck);
    }
    if (running === 0) {
      return { values: { running: 0, cpuPercent: 0, rssBytes: 0 }, message: found.none };
    }
    const values = {
      running,
      cpuPercent: elapsedS > 0 ? round((ticks / sys.clkTck / elapsedS) * 100) : 0,
      rssBytes: rssPages * sys.pageSize,
      oldestSeconds: round(Math.max(0, oldestS)),
    };
    const what = running === 1 ? `1 process ${found.label}` : `${running} processes ${found.label}`;
    return {
      values,
      message: `${what}, ${values.cpuPercent}% CPU, ${formatBytes(values.rssBytes)} RSS, oldest up ${formatDuration(Math.round(values.oldestSeconds) * 1000)}`,
    };
  },
});

interface Found {
  pids: number[];
  /** How the matches are described: `named "nginx"`. */
  label: string;
  /** The message when nothing runs. */
  none: string;
}

async function findProcesses(spec: ProcessSpec): Promise<Found> {
  if (spec.pidfile !== undefined) return readPidfile(spec.pidfile);
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => pid !== process.pid);
  if (spec.processName !== undefined) {
    const name = spec.processName;
    const hits = await Promise.all(pids.map((pid) => hasName(pid, name)));
    return { pids: pids.filter((_, i) => hits[i]), label: `named "${name}"`, none: `no process named "${name}"` };
  }
  const re = new RegExp(spec.match!);
  const hits = await Promise.all(
    pids.map(async (pid) => {
      const cmd = await readProcText(pid, 'cmdline');
      // Kernel threads have no command line; a pattern such as ".*" should not count them.
      return cmd !== undefined && cmd !== '' && re.test(cmd.replace(/\0+$/, '').replaceAll('\0', ' '));
    }),
  );
  return { pids: pids.filter((_, i) => hits[i]), label: `matching /${spec.match}/`, none: `no process matches /${spec.match}/` };
}

/**
 * A name matches the kernel's process name, or argv[0]'s last part: the kernel cuts comm
 * to 15 characters and some launchers set argv[0] themselves. /proc/PID/exe would give the
 * real binary, but only for our own user's processes unless the agent runs as root.
 */
async function hasName(pid: number, name: string): Promise<boolean> {
  const comm = await readProcText(pid, 'comm');
  if (comm === undefined) return false;
  if (comm.replace(/\n$/, '') === name) return true;
  const cmdline = await readProcText(pid, 'cmdline');
  const argv0 = cmdline?.split('\0')[0];
  return !!argv0 && path.basename(argv0) === name;
}

async function readPidfile(file: string): Promise<Found> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Daemons remove their pidfile when they stop, so a missing one means "not running".
    if (code === 'ENOENT') return { pids: [], label: '', none: `pidfile ${file} does not exist` };
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message;
    throw new Error(`process check: cannot read pidfile ${file}: ${why}`, { cause: err });
  }
  const m = /^\s*(\d+)\s*(?:\n|$)/.exec(text);
  const pid = m ? Number(m[1]) : 0;
  if (!m || pid < 1 || !Number.isSafeInteger(pid)) {
    throw new Error(`process check: pidfile ${file} does not start with a process id (it holds ${JSON.stringify(text.slice(0, 40))})`);
  }
  return { pids: [pid], label: `from ${file}`, none: `pidfile ${file} names pid ${pid}, which is not running` };
}

interface ProcStat {
  utime: number;
  stime: number;
  starttime: number;
  rssPages: number;
}

/** stat and statm of each live, non-zombie pid; pids that are gone are left out. */
async function readStats(pids: number[]): Promise<Map<number, ProcStat>> {
  const stats = await Promise.all(pids.map((pid) => readStat(pid)));
  const out = new Map<number, ProcStat>();
  pids.forEach((pid, i) => {
    const s = stats[i];
    if (s) out.set(pid, s);
  });
  return out;
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  const [stat, statm] = await Promise.all([readProcText(pid, 'stat'), readProcText(pid, 'statm')]);
  if (stat === undefined || statm === undefined) return undefined;
  const parsed = parseStat(stat);
  if (!parsed || parsed.state === 'Z' || parsed.state === 'X') return undefined;
  return { utime: parsed.utime, stime: parsed.stime, starttime: parsed.starttime, rssPages: Number(statm.split(' ')[1]) || 0 };
}

/**
 * Parses /proc/PID/stat. The command name (field 2) sits in parentheses and may itself hold
 * spaces and parentheses, so the fields are counted from the last ")".
 */
export function parseStat(text: string): { comm: string; state: string; utime: number; stime: number; starttime: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const starttime = Number(rest[19]);
  if (![utime, stime, starttime].every(Number.isFinite)) return undefined;
  return { comm: text.slice(open + 1, close), state: rest[0], utime, stime, starttime };
}

/** A /proc/PID file's text, or undefined when the process is gone or hidden from us. */
async function readProcText(pid: number, file: string): Promise<string | undefined> {
  try {
    return await readProcFile(pid, file);
  } catch (err) {
    throw new Error(`process check: cannot read /proc/${pid}/${file}: ${(err as Error).message}`, { cause: err });
  }
}

async function readUptime(): Promise<number> {
  return Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
}

/** The kernel's page size and clock tick, which /proc counts memory and CPU time in. */
interface SystemConstants {
  pageSize: number;
  clkTck: number;
}

let constants: Promise<SystemConstants> | undefined;

/**
 * Reads AT_PAGESZ and AT_CLKTCK from our own ELF auxiliary vector, where sysconf() gets them,
 * so there is no shelling out to getconf. Both are the same for every process on the machine.
 * Falls back to 4096 and 100, the values on x86-64 and most arm64 kernels, if auxv is unreadable.
 */
function systemConstants(): Promise<SystemConstants> {
  constants ??= readFile('/proc/self/auxv')
    .then((buf) => parseAuxv(buf, is32Bit() ? 4 : 8))
    .catch(() => ({ pageSize: 4096, clkTck: 100 }));
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
