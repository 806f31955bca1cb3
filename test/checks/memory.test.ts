import os from 'node:os';
import { parseCondition } from '../../agent/evaluate';
import { memoryCheck } from '../../checks/memory';
import type { Thresholds } from '../../checks/types';
import { fieldsOf, runCheck } from '../helpers/check';

describe('memory check', () => {
  it('reports used memory by what is available, not what is free', async () => {
    const obs = await runCheck(memoryCheck, {});
    const v = obs.values as Record<string, number>;
    expect(v.totalBytes).toBe(os.totalmem());
    expect(v.availableBytes).toBeGreaterThan(0);
    expect(v.availableBytes).toBeLessThanOrEqual(v.totalBytes);
    expect(v.usedBytes).toBe(v.totalBytes - v.availableBytes);
    expect(v.usedPercent).toBeCloseTo((v.usedBytes / v.totalBytes) * 100, 0);
    expect(v.usedPercent).toBeGreaterThan(0);
    expect(v.usedPercent).toBeLessThan(100);
    expect(v.swapUsedPercent).toBeGreaterThanOrEqual(0);
    expect(v.swapUsedPercent).toBeLessThanOrEqual(100);
    expect(Object.keys(v).sort()).toEqual(Object.keys(fieldsOf(memoryCheck, {})).sort());
    expect(obs.message).toMatch(/^\d+(\.\d)?% used, [\d.]+ [KMGT]?B available of [\d.]+ [KMGT]?B, (no swap|swap [\d.]+% used)$/);
  });

  it('takes no config keys', () => {
    expect(memoryCheck.schema.safeParse({ mount: '/' }).success).toBe(false);
  });

  it('has default conditions that parse against its fields', () => {
    const d = memoryCheck.defaults as Thresholds;
    expect(d).toEqual({ warn: ['usedPercent > 85'], crit: ['usedPercent > 95'] });
    const fields = fieldsOf(memoryCheck, {});
    for (const c of [...d.warn!, ...d.crit!]) expect(parseCondition(c, fields).test({ usedPercent: 99 })).toBe(true);
  });
});
