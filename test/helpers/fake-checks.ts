import { z } from 'zod';
import { hostTimeZone } from '../../agent/config/host-zone';
import type { CheckConfig, Config } from '../../agent/config/load';
import { parseCondition } from '../../agent/evaluate';
import { compileCoverage } from '../../agent/incidents/coverage';
import { defineCheck, type CheckContext, type FieldSpec, type Observation } from '../../checks/types';

const fields: Record<string, FieldSpec> = {
  value: { type: 'number', unit: 'none', help: 'a number the test chooses' },
};

/** A check type whose run is whatever the test says; for engine tests, not shipped. */
export function scriptedCheck(run: (ctx: CheckContext<Record<string, never>>) => Promise<Observation>) {
  return defineCheck({ type: 'scripted', category: 'health', summary: 'test double', schema: z.strictObject({}), fields, run });
}

/** A CheckConfig for a scripted check, as the loader would build it. */
export function checkConfig(
  name: string,
  run: (ctx: CheckContext<Record<string, never>>) => Promise<Observation>,
  over: Partial<CheckConfig> & { warn?: string[]; crit?: string[] } = {},
): CheckConfig {
  const { warn = [], crit = ['value > 1'], ...rest } = over;
  return {
    name,
    type: 'scripted',
    category: 'health',
    def: scriptedCheck(run),
    spec: {},
    enabled: true,
    schedule: { kind: 'every', everyMs: 1000 },
    timeoutMs: 500,
    labels: {},
    fields,
    rules: { warn: warn.map((c) => parseCondition(c, fields)), crit: crit.map((c) => parseCondition(c, fields)) },
    ...rest,
  };
}

/** Resolves after `ms`, or rejects when the signal aborts (as a well-behaved check does). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}

/** A whole Config around the given checks, with test-friendly defaults. */
export function makeConfig(checks: CheckConfig[], over: Partial<Config> = {}): Config {
  return {
    file: 'test.yaml',
    agent: { name: 'test-agent', listen: '127.0.0.1:0', dataDir: './data', concurrency: 4, logLevel: 'warn' },
    api: { metrics: { auth: 'none' } },
    defaults: { every: 30_000, timeout: 10_000 },
    incidents: { openAfter: 3, resolveAfter: 2, unknownIs: 'warning', flapping: { enabled: true, low: 5, high: 20 }, snapshots: false, retention: 90 * 86_400_000 },
    checks,
    escalation: [{ name: 'default', afterMs: 0, notify: [], match: {}, pageAnyway: [] }],
    sla: {},
    coverage: compileCoverage({}, { timezone: hostTimeZone() }),
    maintenance: [],
    notifiers: new Map(),
    notifications: { maxAge: 86_400_000, timeout: 30_000, links: {} },
    secrets: [],
    ...over,
  };
}
