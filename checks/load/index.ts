import os from 'node:os';
import { z } from 'zod';
import { defineCheck, round, type FieldSpec } from '../types';

const schema = z.strictObject({});

const fields: Record<string, FieldSpec> = {
  load1: { type: 'number', unit: 'none', help: 'Load average over 1 minute' },
  load5: { type: 'number', unit: 'none', help: 'Load average over 5 minutes' },
  load15: { type: 'number', unit: 'none', help: 'Load average over 15 minutes' },
  load1PerCore: { type: 'number', unit: 'none', help: 'load1 divided by cores' },
  load5PerCore: { type: 'number', unit: 'none', help: 'load5 divided by cores' },
  load15PerCore: { type: 'number', unit: 'none', help: 'load15 divided by cores' },
  cores: { type: 'number', unit: 'count', help: 'CPUs this process may run on (os.availableParallelism)' },
};

/** Reports the system load averages, raw and per core. */
export const loadCheck = defineCheck({
  type: 'load',
  category: 'performance',
  summary: 'Reports the 1, 5 and 15 minute load averages, raw and divided by the number of cores.',
  schema,
  fields,
  // The 5-minute average, per core: the 1-minute one jumps at every cron job, and a raw
  // load means nothing until you know how many cores share it.
  defaults: { warn: ['load5PerCore > 1.5'], crit: ['load5PerCore > 3'] },
  async run() {
    const [load1, load5, load15] = os.loadavg();
    const cores = Math.max(1, os.availableParallelism());
    const values = {
      load1: round(load1, 2),
      load5: round(load5, 2),
      load15: round(load15, 2),
      load1PerCore: round(load1 / cores, 2),
      load5PerCore: round(load5 / cores, 2),
      load15PerCore: round(load15 / cores, 2),
      cores,
    };
    return {
      values,
      message: `load ${values.load1} ${values.load5} ${values.load15} on ${cores} cores (${values.load5PerCore} per core over 5m)`,
    };
  },
});
