import type { z } from 'zod';
import type { Tier } from '../incidents/escalation';
import type { Timeframe } from '../incidents/coverage';
import type { CheckConfig } from '../model';
import type { NotifierInstance } from '../notifiers/outbox';
import { didYouMean } from '../suggest';
import type { Locate } from './locate';
import { topSchema, type TopConfig } from './schema';

/**
 * Validates a list of typed entries (checks, notifiers): each against its own type's schema,
 * with located errors for unknown types and duplicate names; `each` gets the valid ones, and
 * `invalid` (when given) those of a known type that failed their schema, to look further.
 */
export function validateTyped(
  raw: Record<string, unknown>,
  section: 'checks' | 'notifiers',
  kind: string,
  types: string[],
  schemaFor: (type: string) => z.ZodObject | undefined,
  locate: Locate,
  each: (data: Record<string, unknown>, base: (string | number)[]) => void,
  invalid?: (entry: Record<string, unknown>, type: string, base: (string | number)[]) => void,
): void {
  const entries = Array.isArray(raw[section]) ? (raw[section] as Record<string, unknown>[]) : [];
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    const base: (string | number)[] = [section, i];
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return; // reported by topSchema
    const type = entry.type;
    if (typeof type !== 'string') {
      locate.path([...base, 'type'], type === undefined ? `required: one of ${types.join(', ')}` : 'expected a string');
      return;
    }
    const schema = schemaFor(type);
    if (!schema) {
      locate.path([...base, 'type'], `unknown ${kind} type "${type}"${didYouMean(type, types)} (valid: ${types.join(', ')})`);
      return;
    }
    const parsed = schema.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) locate.issue(base, issue, schema);
      invalid?.(entry, type, base);
      return;
    }
    const name = parsed.data.name as string;
    if (seen.has(name)) {
      locate.path([...base, 'name'], `duplicate ${kind} name "${name}" (first used by ${section}[${seen.get(name)}])`);
      return;
    }
    seen.set(name, i);
    each(parsed.data, base);
  });
}

/**
 * References between sections: notifiers, coverage timeframes and dependencies must exist. An
 * entry that is there but invalid (`invalid`) has its own problems reported; a reference to it
 * is not one more.
 */
export function crossCheck(
  top: TopConfig,
  checks: CheckConfig[],
  checkIndex: ReadonlyMap<string, number>,
  notifiers: Map<string, NotifierInstance>,
  coverage: Map<string, Timeframe>,
  raw: Record<string, unknown>,
  locate: Locate,
  invalid: { checks: ReadonlySet<string>; notifiers: ReadonlySet<string> } = { checks: new Set(), notifiers: new Set() },
): void {
  const coverageNames = [...coverage.keys()];
  const needCoverage = (name: string | undefined, path: (string | number)[]) => {
    if (name !== undefined && !coverage.has(name)) {
      locate.path(path, `unknown coverage timeframe "${name}"${didYouMean(name, coverageNames)} (defined: ${coverageNames.join(', ')})`);
    }
  };
  const tierNames = new Set<string>();
  top.escalation.forEach((t, i) => {
    if (tierNames.has(t.name)) locate.path(['escalation', i, 'name'], `duplicate tier name "${t.name}"`);
    tierNames.add(t.name);
    t.notify.forEach((n, j) => {
      if (!notifiers.has(n) && !invalid.notifiers.has(n)) {
        const known = [...notifiers.keys(), ...invalid.notifiers];
        locate.path(['escalation', i, 'notify', j], `unknown notifier "${n}"${didYouMean(n, known)} (configured: ${known.join(', ') || 'none'})`);
      }
    });
    needCoverage(t.coverage, ['escalation', i, 'coverage']);
  });
  const rawNotifiers = Array.isArray(raw.notifiers) ? (raw.notifiers as Record<string, unknown>[]) : [];
  rawNotifiers.forEach((n, i) => needCoverage(typeof n?.coverage === 'string' ? n.coverage : undefined, ['notifiers', i, 'coverage']));
  needCoverage(top.defaults.coverage, ['defaults', 'coverage']);
  const names = new Set([...checks.map((c) => c.name), ...invalid.checks]);
  checks.forEach((c) => {
    const i = checkIndex.get(c.name)!;
    needCoverage(c.coverage, ['checks', i, 'coverage']);
    (c.dependsOn ?? []).forEach((d, j) => {
      if (d === c.name) locate.path(['checks', i, 'dependsOn', j], 'a check cannot depend on itself');
      else if (!names.has(d)) locate.path(['checks', i, 'dependsOn', j], `unknown check "${d}"${didYouMean(d, names)}`);
    });
  });
}

/** The escalation tiers; with none configured, one implicit tier that notifies everyone at once. */
export function compileTiers(tiers: TopConfig['escalation'], notifiers: Map<string, NotifierInstance>): Tier[] {
  if (!tiers.length) return [{ name: 'default', afterMs: 0, notify: [...notifiers.keys()], match: {}, pageAnyway: [] }];
  return tiers.map((t) => ({
    name: t.name,
    afterMs: t.after,
    notify: t.notify,
    match: t.match,
    coverage: t.coverage,
    pageAnyway: t.pageAnyway,
    repeat: t.repeat && { everyMs: t.repeat.every, max: t.repeat.max },
  }));
}

/** The defaults and incidents sections, or the built-in ones where the file's are broken. */
export function fallbackSections(raw: Record<string, unknown>): Pick<TopConfig, 'defaults' | 'incidents'> {
  const shape = topSchema.shape;
  return {
    defaults: shape.defaults.safeParse(raw.defaults).data ?? shape.defaults.parse(undefined),
    incidents: shape.incidents.safeParse(raw.incidents).data ?? shape.incidents.parse(undefined),
  };
}
