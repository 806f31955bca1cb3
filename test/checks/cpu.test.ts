import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseCondition } from '../../agent/evaluate';
import { cpuCheck, parseProcStat } from '../../checks/cpu';
import type { Thresholds } from '../../checks/types';
import { fieldsOf, runCheck, startRun } from '../helpers/check';

describe('cpu check', () => {
  it('reports percentages between 0 and 100 that add up, and the core count', async () => {
    const obs = await runCheck(cpuCheck, { sample: '200ms' });
    expect(obs.up).toBeUndefined();
    const v = obs.values as Record<string, number>;
    for (const key of ['usagePercent', 'userPercent', 'systemPercent', 'iowaitPercent', 'stealPercent']) {
      expect(v[key]).toBeGreaterThanOrEqual(0);
      expect(v[key]).toBeLessThanOrEqual(100);
    }
    expect(v.usagePercent).toBeCloseTo(v.userPercent + v.systemPercent + v.stealPercent, 0);
    expect(v.cores).toBeGreaterThanOrEqual(1);
    expect(Object.keys(v).sort()).toEqual(Object.keys(fieldsOf(cpuCheck, {})).sort());
    expect(obs.message).toMatch(/% busy over 200ms on \d+ cores/);
  });

  it('sees a busy child process as usage', async () => {
    // It says so once it spins (a pipe write is synchronous on Linux): the sample starts then.
    const child = spawn(process.execPath, ['-e', "process.stdout.write('spinning'); for (;;) {}"], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await once(child.stdout!, 'data');
      const obs = await runCheck(cpuCheck, { sample: '500ms' });
      const v = obs.values as Record<string, number>;
      // One core spinning is at least half a core's share of the machine, whatever else runs.
      expect(v.usagePercent).toBeGreaterThan(50 / v.cores);
      expect(v.userPercent).toBeGreaterThan(0);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('stops sampling at once when the signal aborts', async () => {
    // The longest sample there is, a minute, outlasts the test's own timeout: only the abort
    // can end this run in time.
    const { run, abort } = startRun(cpuCheck, { sample: '60s' }, { timeoutMs: 120_000 });
    setTimeout(() => abort(), 50);
    await expect(run).rejects.toThrow();
  });

  it('refuses, at load time, a sample that outlasts the timeout', () => {
    expect(cpuCheck.validate!(cpuCheck.schema.parse({ sample: '2s' }), { timeoutMs: 1000 })).toEqual([
      { key: 'sample', message: 'sample (2s) must be shorter than the timeout (1s)' },
    ]);
    expect(cpuCheck.validate!(cpuCheck.schema.parse({ sample: '500ms' }), { timeoutMs: 1000 })).toEqual([]);
  });

  it('rejects a sample window too short to measure', () => {
    expect(cpuCheck.schema.safeParse({ sample: '10ms' }).success).toBe(false);
    expect(cpuCheck.schema.safeParse({ samples: '1s' }).success).toBe(false);
    expect(cpuCheck.schema.parse({})).toEqual({});
  });

  it('samples for 1s by default, or half the timeout when that is shorter', async () => {
    expect((await runCheck(cpuCheck, {}, { timeoutMs: 10_000 })).message).toMatch(/% busy over 1s on/);
    // A check that runs every second times out after one: its window adapts instead of failing.
    expect((await runCheck(cpuCheck, {}, { timeoutMs: 1000 })).message).toMatch(/% busy over 500ms on/);
    expect(cpuCheck.validate!(cpuCheck.schema.parse({}), { timeoutMs: 1000 })).toEqual([]);
  });

  it('has default conditions that parse against its fields', () => {
    const d = cpuCheck.defaults as Thresholds;
    expect(d).toEqual({ warn: ['usagePercent > 80'], crit: ['usagePercent > 95'] });
    for (const c of [...d.warn!, ...d.crit!]) expect(parseCondition(c, fieldsOf(cpuCheck, {})).field).toBe('usagePercent');
  });

  it('reads /proc/stat without counting guest time twice', () => {
    const stat = [
      'cpu  100 10 50 800 20 5 5 10 30 0',
      'cpu0 50 5 25 400 10 3 2 5 15 0',
      'cpu1 50 5 25 400 10 2 3 5 15 0',
      'intr 12345',
    ].join('\n');
    expect(parseProcStat(stat)).toEqual({ user: 110, system: 60, idle: 800, iowait: 20, steal: 10, cores: 2 });
    expect(parseProcStat('intr 1\n')).toBeUndefined();
  });
});
