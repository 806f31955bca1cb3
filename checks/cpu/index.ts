import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineCheck, duration, formatDuration, round, sampleFitsTimeout, sampleWindow, type FieldSpec } from '../types';

/** The sample window when none is set (and the timeout leaves room for it). */
const SAMPLE_MS = 1000;

const schema = z.strictObject({
  sample: duration({ min: 100, max: 60_000 })
    .optional()
    .describe(`How long to watch the CPU counters (e.g. 2s; default ${formatDuration(SAMPLE_MS)}, or half the timeout when that is shorter); a longer window smooths out spikes. Must be shorter than the timeout.`),
});

/** Cumulative CPU time over all CPUs, in whatever tick the source counts in. */
interface CpuTimes {
  user: number;
  system: number;
  idle: number;
  iowait: number;
  steal: number;
  cores: number;
}

const fields: Record<string, FieldSpec> = {
  usagePercent: { type: 'number', unit: 'percent', help: 'CPU busy over the sample: user + system + steal (idle and iowait are not busy)' },
  userPercent: { type: 'number', unit: 'percent', help: 'Time in user space, nice and guest included' },
  systemPercent: { type: 'number', unit: 'percent', help: 'Time in the kernel, interrupt handling included' },
  iowaitPercent: { type: 'number', unit: 'percent', help: 'Idle time with disk I/O outstanding (Linux; 0 elsewhere)' },
  stealPercent: { type: 'number', unit: 'percent', help: 'Time the hypervisor gave our virtual CPUs to someone else (Linux; 0 elsewhere)' },
  cores: { type: 'number', unit: 'count', help: 'Logical CPUs the percentages cover' },
};

/** Measures how busy the machine's CPUs are, split into user, system, iowait and steal. */
export const cpuCheck = defineCheck({
  type: 'cpu',
  category: 'performance',
  summary: 'Samples CPU time over a short window and reports usage, user, system, iowait and steal percentages.',
  schema,
  fields,
  defaults: { warn: ['usagePercent > 80'], crit: ['usagePercent > 95'] },
  validate: sampleFitsTimeout,
  async run({ spec, signal, timeoutMs }) {
    const sample = sampleWindow(spec, timeoutMs, SAMPLE_MS);
    const before = await readCpuTimes();
    await sleep(sample, undefined, { signal });
    const after = await readCpuTimes();
    const d = {
      user: after.user - before.user,
      system: after.system - before.system,
      idle: after.idle - before.idle,
      iowait: after.iowait - before.iowait,
      steal: after.steal - before.steal,
    };
    const total = d.user + d.system + d.idle + d.iowait + d.steal;
    // A window shorter than a clock tick, or a counter that went backwards (CPU hotplug),
    // says nothing about load: report an idle machine rather than NaN or a negative share.
    const pct = (n: number) => (total > 0 ? round(Math.min(100, Math.max(0, (n / total) * 100))) : 0);
    const values = {
      usagePercent: pct(d.user + d.system + d.steal),
      userPercent: pct(d.user),
      systemPercent: pct(d.system),
      iowaitPercent: pct(d.iowait),
      stealPercent: pct(d.steal),
      cores: after.cores,
    };
    let message = `${values.usagePercent}% busy over ${formatDuration(sample)} on ${values.cores} cores ` +
      `(user ${values.userPercent}%, system ${values.systemPercent}%`;
    if (values.iowaitPercent > 0) message += `, iowait ${values.iowaitPercent}%`;
    if (values.stealPercent > 0) message += `, steal ${values.stealPercent}%`;
    return { values, message: `${message})` };
  },
});

async function readCpuTimes(): Promise<CpuTimes> {
  if (process.platform === 'linux') {
    const text = await readFile('/proc/stat', 'utf8');
    const parsed = parseProcStat(text);
    if (parsed) return parsed;
  }
  return fromOsCpus();
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

function fromOsCpus(): CpuTimes {
  const cpus = os.cpus();
  const t: CpuTimes = { user: 0, system: 0, idle: 0, iowait: 0, steal: 0, cores: cpus.length || os.availableParallelism() };
  for (const { times } of cpus) {
    t.user += times.user + times.nice;
    t.system += times.sys + times.irq;
    t.idle += times.idle;
  }
  return t;
}
