import { round, systemConstants, type ProcEntry, type ProcTables } from '../../checks/types';
import { redactArgs, scrubAndCut } from '../secrets';

const COMMAND_CHARS = 200;
const TOP_N = 5;

/** One process in a snapshot's top lists. */
export interface ProcessInfo {
  pid: number;
  /** The kernel's name for it (`/proc/PID/comm`, at most 15 characters). */
  name: string;
  /** Its command line, at most 200 characters, values after secret-looking flags hidden; `[name]` for kernel threads. */
  command: string;
  /** CPU used over the sample window, all threads together: 100 is one core fully busy (as top shows it). */
  cpuPercent: number;
  /** Resident memory (the resident pages of /proc/PID/stat, as VmRSS). */
  rssBytes: number;
}

/** The process part of a diagnostic snapshot. */
export interface ProcessList {
  /** The window CPU use was measured over. */
  cpuSampleMs: number;
  byCpu: ProcessInfo[];
  byMemory: ProcessInfo[];
  /** Processes not examined: only the first 10,000 by pid are read (absent in snapshots taken before this was counted). */
  skipped?: number;
}

/**
 * The top processes by CPU and by memory, from two readings of the shared process table
 * `sampleMs` apart (CPU as top shows it). We don't use si.processes(): it runs `ps` and, on
 * its first call, reports CPU averaged over each process's whole life, which hides the
 * process that went wild a minute ago. The table is capped, read in batches that yield to
 * the event loop, and stops when the snapshot gives up: thousands of processes must not
 * stall the agent while an incident opens. `wait` spans the sample (a timer unless a test moves
 * a fake clock instead).
 */
export async function topProcesses(
  tables: ProcTables,
  sampleMs: number,
  signal: AbortSignal,
  wait: (ms: number, signal: AbortSignal) => Promise<void> = sleep,
): Promise<ProcessList> {
  if (process.platform !== 'linux') throw new Error(`reads /proc, which ${process.platform} does not have`);
  const sys = await systemConstants();
  const first = await tables.get({ signal });
  await wait(sampleMs, signal);
  const second = await tables.get({ signal, notBefore: first.startedAt + sampleMs });

  const rows: Array<ProcEntry & { cpu: number }> = [];
  for (const [pid, now] of second.entries) {
    const then = first.entries.get(pid);
    // Another start time: the pid was reused during the sample.
    if (!then || then.starttime !== now.starttime) continue;
    const ticks = now.utime + now.stime - (then.utime + then.stime);
    const elapsedS = (now.at - then.at) / 1000;
    rows.push({ ...now, cpu: elapsedS > 0 ? (ticks / sys.clkTck / elapsedS) * 100 : 0 });
  }
  const byCpu = [...rows].sort((a, b) => b.cpu - a.cpu || b.rssPages - a.rssPages).slice(0, TOP_N);
  const byMem = [...rows].sort((a, b) => b.rssPages - a.rssPages || b.cpu - a.cpu).slice(0, TOP_N);
  const info = (r: (typeof rows)[number]): ProcessInfo => {
    const args = (r.cmdline ?? '').replace(/\0+$/, '').split('\0');
    const command = args.length === 1 && args[0] === '' ? `[${r.comm}]` : describeCommand(args);
    return { pid: r.pid, name: r.comm, command, cpuPercent: round(r.cpu), rssBytes: r.rssPages * sys.pageSize };
  };
  return { cpuSampleMs: sampleMs, byCpu: byCpu.map(info), byMemory: byMem.map(info), skipped: second.skipped };
}

/** A command line for display: values after secret-looking flags hidden, at most 200 characters. */
function describeCommand(args: string[]): string {
  // Arguments may hold newlines (node -e scripts); a command is shown on one line.
  const line = redactArgs(args).join(' ').replace(/[\x00-\x1f\x7f]+/g, ' ');
  return scrubAndCut(line, COMMAND_CHARS);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
