import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { cpuShares, defineCheck, duration, formatDuration, readCpuTimes, sampleFitsTimeout, sampleWindow, type FieldSpec } from '../types';

export { parseProcStat } from '../types';

/** The sample window when none is set (and the timeout leaves room for it). */
const SAMPLE_MS = 1000;

const schema = z.strictObject({
  sample: duration({ min: 100, max: 60_000 })
    .optional()
    .describe(`How long to watch the CPU counters (e.g. 2s; default ${formatDuration(SAMPLE_MS)}, or half the timeout when that is shorter); a longer window smooths out spikes. Must be shorter than the timeout.`),
});

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
    const shares = cpuShares(before, after);
    const values = {
      usagePercent: shares.busy,
      userPercent: shares.user,
      systemPercent: shares.system,
      iowaitPercent: shares.iowait,
      stealPercent: shares.steal,
      cores: after.cores,
    };
    let message = `${values.usagePercent}% busy over ${formatDuration(sample)} on ${values.cores} cores ` +
      `(user ${values.userPercent}%, system ${values.systemPercent}%`;
    if (values.iowaitPercent > 0) message += `, iowait ${values.iowaitPercent}%`;
    if (values.stealPercent > 0) message += `, steal ${values.stealPercent}%`;
    return { values, message: `${message})` };
  },
});
