import os from 'node:os';
import { parseCondition } from '../../agent/evaluate';
import { loadCheck } from '../../checks/load';
import type { Thresholds } from '../../checks/types';
import { fieldsOf, runCheck } from '../helpers/check';

describe('load check', () => {
  it('reports the load averages and divides them by the cores', async () => {
    const obs = await runCheck(loadCheck, {});
    const v = obs.values as Record<string, number>;
    expect(v.cores).toBe(os.availableParallelism());
    for (const w of ['1', '5', '15']) {
      expect(v[`load${w}`]).toBeGreaterThanOrEqual(0);
      expect(v[`load${w}PerCore`]).toBeCloseTo(v[`load${w}`] / v.cores, 1);
    }
    expect(Object.keys(v).sort()).toEqual(Object.keys(fieldsOf(loadCheck, {})).sort());
    expect(obs.message).toMatch(/^load [\d.]+ [\d.]+ [\d.]+ on \d+ cores \([\d.]+ per core over 5m\)$/);
  });

  it('has default conditions on the per-core 5-minute load that parse against its fields', () => {
    const d = loadCheck.defaults as Thresholds;
    expect(d).toEqual({ warn: ['load5PerCore > 1.5'], crit: ['load5PerCore > 3'] });
    const fields = fieldsOf(loadCheck, {});
    expect(parseCondition(d.warn![0], fields).test({ load5PerCore: 2 })).toBe(true);
    expect(parseCondition(d.crit![0], fields).test({ load5PerCore: 2 })).toBe(false);
  });
});
