import cron from 'node-cron';
import type { CheckDefinition, FieldSpec } from '../../checks/types';
import { formatDuration } from '../../checks/units';
import { parseFor, withOptions } from '../conditions/rules';
import { ConditionError, MAX_SAMPLES, parseCondition, type Condition, type Rules } from '../evaluate';
import type { CheckConfig, Schedule } from '../model';
import type { RemediateConfig } from '../responders/remediate';
import type { LogSpec } from '../responders/snapshot';
import type { Locate } from './locate';
import { commonCheckShape, type LevelRule, type TopConfig } from './schema';

const COMMON_KEYS = new Set(Object.keys(commonCheckShape));

/**
 * Compiles one validated `checks:` entry: its schedule, timeout, type-specific spec and
 * conditions. Problems go to `locate`; returns undefined when there were any.
 */
export function compileCheck(
  data: Record<string, unknown>,
  def: CheckDefinition<any>,
  top: Pick<TopConfig, 'defaults' | 'incidents'>,
  base: (string | number)[],
  locate: Locate,
): CheckConfig | undefined {
  const before = locate.count();
  const spec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (!COMMON_KEYS.has(k)) spec[k] = v;

  let schedule: Schedule;
  const every = data.every as number | undefined;
  const cronExpr = data.cron as string | undefined;
  const timezone = data.timezone as string | undefined;
  if (every !== undefined && cronExpr !== undefined) {
    locate.path([...base, 'cron'], 'set either every or cron, not both');
  }
  if (timezone !== undefined) {
    if (cronExpr === undefined) locate.path([...base, 'timezone'], 'timezone applies to cron schedules only');
    else if (!validTimezone(timezone)) locate.path([...base, 'timezone'], `unknown time zone "${timezone}" (expected an IANA name such as Europe/Berlin)`);
  }
  if (cronExpr !== undefined) {
    const v = cron.validateDetailed(cronExpr);
    if (!v.valid) {
      const why = v.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      locate.path([...base, 'cron'], `invalid cron expression "${cronExpr}": ${why || 'expected 5 or 6 fields'}`);
    }
    schedule = { kind: 'cron', cron: cronExpr, timezone };
  } else {
    schedule = { kind: 'every', everyMs: every ?? def.schedule?.every ?? top.defaults.every };
  }

  const interval = schedule.kind === 'every' ? schedule.everyMs : undefined;
  let timeoutMs = (data.timeout as number | undefined) ?? def.schedule?.timeout ?? top.defaults.timeout;
  if (data.timeout !== undefined && interval !== undefined && timeoutMs > interval) {
    locate.path([...base, 'timeout'], `timeout must not exceed every (${interval} ms): a run would overlap the next`);
  }
  if (interval !== undefined) timeoutMs = Math.min(timeoutMs, interval);
  let retryEveryMs = (data.retryEvery as number | undefined) ?? top.defaults.retryEvery;
  if (retryEveryMs !== undefined && interval !== undefined && retryEveryMs >= interval) {
    if (data.retryEvery !== undefined) locate.path([...base, 'retryEvery'], `retryEvery must be shorter than every (${interval} ms)`);
    retryEveryMs = undefined; // defaults.retryEvery does not apply to checks that already run that often
  }

  for (const p of def.validate?.(spec, { timeoutMs }) ?? []) {
    locate.path([...base, p.key], p.message);
  }

  const fields = typeof def.fields === 'function' ? def.fields(spec) : def.fields;
  const defaults = typeof def.defaults === 'function' ? def.defaults(spec) : (def.defaults ?? {});
  const rules: Rules = { warn: [], crit: [] };
  for (const level of ['warn', 'crit'] as const) {
    const own = data[level] as Array<string | LevelRule> | undefined;
    if (own === undefined) {
      for (const text of defaults[level] ?? []) {
        try {
          rules[level].push(parseCondition(text, fields));
        } catch (err) {
          if (!(err instanceof ConditionError)) throw err;
          throw new Error(`check type ${def.type}: default ${level} "${text}" is invalid: ${err.message}`);
        }
      }
    } else {
      rules[level] = compileConditions(own, level, fields, base, locate, interval);
    }
  }
  if (locate.count() > before) return undefined;
  return {
    name: data.name as string,
    type: def.type,
    category: def.category,
    def,
    spec,
    description: data.description as string | undefined,
    enabled: data.enabled as boolean,
    schedule,
    timeoutMs,
    retryEveryMs,
    labels: (data.labels as Record<string, string> | undefined) ?? {},
    fields,
    rules,
    openAfter: data.openAfter as number | undefined,
    resolveAfter: data.resolveAfter as number | undefined,
    dependsOn: data.dependsOn as string[] | undefined,
    coverage: (data.coverage as string | undefined) ?? top.defaults.coverage,
    slo: data.slo === undefined ? undefined : Number(((data.slo as number) / 100).toFixed(6)),
    remediate: data.remediate as RemediateConfig | undefined,
    logs: data.logs as LogSpec[] | undefined,
  };
}

/**
 * Checks the conditions of a `checks:` entry that failed its schema, so that one pass reports
 * both: a misspelt `every` must not hide a misspelt field in `warn` until the next try. The
 * fields are known when they do not depend on the type's keys, or when those keys are valid;
 * otherwise the conditions are checked once the entry is fixed.
 */
export function checkConditionsOfInvalid(entry: Record<string, unknown>, def: CheckDefinition<any>, base: (string | number)[], locate: Locate): void {
  let fields = typeof def.fields === 'function' ? undefined : def.fields;
  if (!fields) {
    const spec: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(entry)) if (!COMMON_KEYS.has(k)) spec[k] = v;
    const own = def.schema.safeParse(spec);
    if (!own.success) return;
    fields = (def.fields as (spec: unknown) => Record<string, FieldSpec>)(own.data);
  }
  for (const level of ['warn', 'crit'] as const) {
    // A level that is not a condition or a list of them was reported by the schema already.
    const own = commonCheckShape[level].safeParse(entry[level]);
    if (own.success && own.data !== undefined) compileConditions(own.data, level, fields, base, locate);
  }
}

/**
 * Parses the conditions the user wrote for one level (strings, or { when, for, clear }); each
 * bad one is reported where it stands. With the check's interval known, a window (or a for:
 * duration) needing more runs than a history keeps (MAX_SAMPLES) is refused at its character.
 */
function compileConditions(
  list: Array<string | LevelRule>,
  level: 'warn' | 'crit',
  fields: Record<string, FieldSpec>,
  base: (string | number)[],
  locate: Locate,
  intervalMs?: number,
): Rules['warn'] {
  const rules: Rules['warn'] = [];
  const single = !Array.isArray((locate.raw(base) as any)?.[level]);
  list.forEach((entry, j) => {
    const at = single ? [...base, level] : [...base, level, j];
    const parse = (text: string, path: (string | number)[]): Condition | undefined => {
      try {
        const c = parseCondition(text, fields);
        for (const w of c.windows) {
          const runs = intervalMs === undefined ? 0 : Math.ceil(w.ms / intervalMs);
          if (runs > MAX_SAMPLES) {
            throw new ConditionError(`a ${formatDuration(w.ms)} window needs ${runs} runs at every ${formatDuration(intervalMs!)}; a check keeps at most ${MAX_SAMPLES} (use a shorter window or a longer every)`, w.at);
          }
        }
        return c;
      } catch (err) {
        if (!(err instanceof ConditionError)) throw err;
        locate.condition(path, err);
        return undefined;
      }
    };
    if (typeof entry === 'string') {
      const c = parse(entry, at);
      if (c) rules.push(c);
      return;
    }
    const when = parse(entry.when, [...at, 'when']);
    const clear = entry.clear === undefined ? undefined : parse(entry.clear, [...at, 'clear']);
    const f = entry.for === undefined ? undefined : parseFor(entry.for);
    if (typeof f === 'string') {
      locate.path([...at, 'for'], f);
      return;
    }
    if (f && 'ms' in f && intervalMs !== undefined && Math.ceil(f.ms / intervalMs) > MAX_SAMPLES) {
      locate.path([...at, 'for'], `for: ${f.text} needs ${Math.ceil(f.ms / intervalMs)} runs at every ${formatDuration(intervalMs)}; a check keeps at most ${MAX_SAMPLES}`);
      return;
    }
    if (when && (entry.clear === undefined || clear)) rules.push(withOptions(when, { for: f, clear }));
  });
  return rules;
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
