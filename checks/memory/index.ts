import { mem } from 'systeminformation/lib/memory';
import { z } from 'zod';
import { defineCheck, formatBytes, round, type FieldSpec } from '../types';

const schema = z.strictObject({});

const fields: Record<string, FieldSpec> = {
  usedPercent: { type: 'number', unit: 'percent', help: 'Share of memory not available to new work: (total - available) / total' },
  usedBytes: { type: 'number', unit: 'bytes', help: 'Memory not available to new work: total - available' },
  availableBytes: { type: 'number', unit: 'bytes', help: 'Memory new work can get without swapping (free plus reclaimable cache)' },
  totalBytes: { type: 'number', unit: 'bytes', help: 'Physical memory' },
  swapUsedPercent: { type: 'number', unit: 'percent', help: 'Share of swap in use (0 when there is no swap)' },
};

/** Measures how much of the machine's memory is spoken for, and how much swap is in use. */
export const memoryCheck = defineCheck({
  type: 'memory',
  category: 'performance',
  summary: 'Reports memory in use (by MemAvailable, so page cache is not counted as used) and swap in use.',
  schema,
  fields,
  defaults: { warn: ['usedPercent > 85'], crit: ['usedPercent > 95'] },
  async run() {
    const m = await mem();
    // "Used" is total minus *available*, not minus free: Linux fills free memory with page
    // cache that it hands back on demand, so total - free reads near 100% on a healthy host.
    const usedBytes = Math.max(0, m.total - m.available);
    const values = {
      usedPercent: m.total > 0 ? round((usedBytes / m.total) * 100) : 0,
      usedBytes,
      availableBytes: m.available,
      totalBytes: m.total,
      swapUsedPercent: m.swaptotal > 0 ? round((m.swapused / m.swaptotal) * 100) : 0,
    };
    const swap = m.swaptotal > 0 ? `swap ${values.swapUsedPercent}% used` : 'no swap';
    return {
      values,
      message: `${values.usedPercent}% used, ${formatBytes(m.available)} available of ${formatBytes(m.total)}, ${swap}`,
    };
  },
});
