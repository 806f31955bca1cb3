import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  defineCheck, duration, FileReadError, formatBytes, formatDuration, isValidRegex, MAX_PROCESSES, procTables, readTextFile, round,
  sampleFitsTimeout, sampleWindow, systemConstants, type CheckLogger, type FieldSpec, type ProcEntry,
} from '../types';

/** The sample window when none is set (and the timeout leaves room for it). */
const SAMPLE_MS = 500;

/** Largest pidfile read: it holds a number, so anything bigger is not a pidfile. */
export const PIDFILE_MAX_BYTES = 4 * 1024;

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
      .describe('Regular expression tested against the command line (arguments joined by spaces; its first 4 KiB).'),
    pidfile: z
      .string()
      .refine((p) => path.isAbsolute(p), { message: 'expected an absolute path such as /run/nginx.pid' })
      .optional()
      .describe('File holding the process id to watch (a regular file of at most 4 KiB); a missing file or a dead pid counts as not running.'),
    sample: duration({ min: 100, max: 60_000 })
      .optional()
      .describe(`Window over which CPU use is measured (e.g. 1s; default ${formatDuration(SAMPLE_MS)}, or half the timeout when that is shorter). Must be shorter than the timeout.`),
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
  skipped: {
    type: 'number',
    unit: 'count',
    help: `Processes not examined because the machine runs more than ${MAX_PROCESSES} (the highest pids are skipped); absent for a pidfile`,
  },
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
  async run({ spec, signal, timeoutMs, log }) {
    if (process.platform !== 'linux') {
      throw new Error(`the process check reads /proc and works on Linux only, not on ${process.platform}`);
    }
    const sys = await systemConstants();
    if (sys.assumed) warnAssumedOnce(log, sys);
    const found = await findProcesses(spec, signal);
    const extra: Record<string, number> = found.skipped === undefined ? {} : { skipped: found.skipped };
    const skippedNote = found.skipped ? `; ${found.skipped} of ${found.total} processes not examined (only the first ${MAX_PROCESSES} by pid are)` : '';
    if (found.before.size === 0) {
      return { values: { running: 0, cpuPercent: 0, rssBytes: 0, ...extra }, message: found.none + skippedNote };
    }
    await sleep(sampleWindow(spec, timeoutMs, SAMPLE_MS), undefined, { signal });
    const after = await procTables.entries([...found.before.keys()], signal);
    const uptimeS = await readUptime();

    let cpuPercent = 0;
    let rssPages = 0;
    let oldestS = 0;
    let running = 0;
    for (const [pid, now] of after) {
      const then = found.before.get(pid);
      // A different start time means the pid was reused by another process mid-sample.
      if (!then || then.starttime !== now.starttime) continue;
      running++;
      // Each process over its own window: a batched read takes a while on a busy machine.
      const elapsedS = (now.at - then.at) / 1000;
      const ticks = now.utime + now.stime - (then.utime + then.stime);
      if (elapsedS > 0) cpuPercent += (ticks / sys.clkTck / elapsedS) * 100;
      rssPages += now.rssPages;
      oldestS = Math.max(oldestS, uptimeS - now.starttime / sys.clkTck);
    }
    if (running === 0) {
      return { values: { running: 0, cpuPercent: 0, rssBytes: 0, ...extra }, message: found.none + skippedNote };
    }
    const values = {
      running,
      cpuPercent: round(cpuPercent),
      rssBytes: rssPages * sys.pageSize,
      oldestSeconds: round(Math.max(0, oldestS)),
      ...extra,
    };
    const what = running === 1 ? `1 process ${found.label}` : `${running} processes ${found.label}`;
    return {
      values,
      message: `${what}, ${values.cpuPercent}% CPU, ${formatBytes(values.rssBytes)} RSS, oldest up ${formatDuration(Math.round(values.oldestSeconds) * 1000)}${skippedNote}`,
    };
  },
});

interface Found {
  /** The matches' first reading. */
  before: Map<number, ProcEntry>;
  /** How the matches are described: `named "nginx"`. */
  label: string;
  /** The message when nothing runs. */
  none: string;
  /** Processes on the machine and those not examined (the table's cap); absent for a pidfile. */
  total?: number;
  skipped?: number;
}

/**
 * The matching processes, read from the shared process table (one read serves every process
 * check due at the same time; it is capped and yields to the event loop between batches).
 */
async function findProcesses(spec: ProcessSpec, signal: AbortSignal): Promise<Found> {
  if (spec.pidfile !== undefined) {
    const { pid, label, none } = await readPidfile(spec.pidfile);
    return { before: pid === undefined ? new Map() : await procTables.entries([pid], signal), label, none };
  }
  const table = await procTables.get({ signal });
  const select = (test: (e: ProcEntry) => boolean) => {
    const before = new Map<number, ProcEntry>();
    for (const [pid, e] of table.entries) if (pid !== process.pid && test(e)) before.set(pid, e);
    return before;
  };
  const counts = { total: table.total, skipped: table.skipped };
  if (spec.processName !== undefined) {
    const name = spec.processName;
    return { before: select((e) => hasName(e, name)), label: `named "${name}"`, none: `no process named "${name}"`, ...counts };
  }
  const re = new RegExp(spec.match!);
  // Kernel threads have no command line; a pattern such as ".*" should not count them.
  const matches = (e: ProcEntry) => !!e.cmdline && re.test(e.cmdline.replace(/\0+$/, '').replaceAll('\0', ' '));
  return { before: select(matches), label: `matching /${spec.match}/`, none: `no process matches /${spec.match}/`, ...counts };
}

/**
 * A name matches the kernel's process name, or argv[0]'s last part: the kernel cuts comm
 * to 15 characters and some launchers set argv[0] themselves. /proc/PID/exe would give the
 * real binary, but only for our own user's processes unless the agent runs as root.
 */
function hasName(e: ProcEntry, name: string): boolean {
  if (e.comm === name) return true;
  const argv0 = e.cmdline?.split('\0')[0];
  return !!argv0 && path.basename(argv0) === name;
}

let assumedWarned = false;

/** Says once per agent that CPU and memory are computed with assumed units (auxv was unreadable). */
function warnAssumedOnce(log: CheckLogger, sys: { pageSize: number; clkTck: number; assumed?: string }): void {
  if (assumedWarned) return;
  assumedWarned = true;
  log.warn({ reason: sys.assumed, pageSize: sys.pageSize, clkTck: sys.clkTck }, 'page size and clock tick assumed: rssBytes and cpuPercent may be off');
}

/**
 * The pid a pidfile names. Only a small regular file is read: a FIFO or a device put there
 * by mistake (/dev/zero) is refused at once instead of blocking a thread or filling memory.
 */
async function readPidfile(file: string): Promise<{ pid?: number; label: string; none: string }> {
  let text: string;
  try {
    text = await readTextFile(file, PIDFILE_MAX_BYTES);
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    // Daemons remove their pidfile when they stop, so a missing one means "not running".
    if (err.code === 'ENOENT') return { label: '', none: `pidfile ${file} does not exist` };
    const why = err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.message;
    throw new Error(`process check: cannot read pidfile ${file}: ${why}`, { cause: err });
  }
  const m = /^\s*(\d+)\s*(?:\n|$)/.exec(text);
  const pid = m ? Number(m[1]) : 0;
  if (!m || pid < 1 || !Number.isSafeInteger(pid)) {
    throw new Error(`process check: pidfile ${file} does not start with a process id (it holds ${JSON.stringify(text.slice(0, 40))})`);
  }
  return { pid, label: `from ${file}`, none: `pidfile ${file} names pid ${pid}, which is not running` };
}

async function readUptime(): Promise<number> {
  return Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
}
