import fs from 'node:fs';
import cron from 'node-cron';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Scalar, visit, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { registry } from '../../checks';
import { isHttpUrl, isSecretName, type CheckCategory, type CheckDefinition, type Expansion, type FieldSpec } from '../../checks/types';
import { ConfigError, type ConfigProblem } from '../errors';
import { ConditionError, parseCondition, type Condition, type Rules } from '../evaluate';
import { urlCredentials } from '../secrets';
import { didYouMean } from '../suggest';
import { compileCoverage, type Timeframe } from '../incidents/coverage';
import type { SlaTarget, Tier } from '../incidents/escalation';
import type { Severity } from '../incidents/lifecycle';
import { compileMaintenance, type MaintenanceWindow } from '../incidents/maintenance';
import type { RemediateConfig } from '../incidents/remediate';
import type { LogSpec } from '../incidents/snapshot';
import { notifierRegistry } from '../notifiers';
import type { NotifierInstance } from '../notifiers/outbox';
import { DEFAULT_TEMPLATES, type Templates } from '../notifiers/render';
import { checkSchema, commonCheckShape, notifierSchema, topSchema, type TopConfig } from './schema';

/** When a check runs: a fixed interval, or a cron expression. */
export type Schedule = { kind: 'every'; everyMs: number } | { kind: 'cron'; cron: string; timezone?: string };

/** One check, validated and compiled: the engine's view of a `checks:` entry. */
export interface CheckConfig {
  name: string;
  type: string;
  category: CheckCategory;
  def: CheckDefinition<any>;
  /** The type-specific keys, parsed by the type's schema. */
  spec: Record<string, unknown>;
  description?: string;
  enabled: boolean;
  schedule: Schedule;
  timeoutMs: number;
  retryEveryMs?: number;
  labels: Readonly<Record<string, string>>;
  fields: Readonly<Record<string, FieldSpec>>;
  rules: Rules;
  openAfter?: number;
  resolveAfter?: number;
  dependsOn?: readonly string[];
  /** The service timeframe SLA clocks count in. */
  coverage?: string;
  /** Availability objective as a ratio (0.999), when the check has an SLO. */
  slo?: number;
  remediate?: RemediateConfig;
  logs?: readonly LogSpec[];
}

/** A loaded, validated, frozen config. */
export interface Config {
  /** The file it came from. */
  file: string;
  agent: TopConfig['agent'];
  api: TopConfig['api'];
  defaults: TopConfig['defaults'];
  incidents: TopConfig['incidents'];
  checks: readonly CheckConfig[];
  escalation: readonly Tier[];
  sla: Partial<Record<Severity, SlaTarget>>;
  coverage: ReadonlyMap<string, Timeframe>;
  maintenance: readonly MaintenanceWindow[];
  notifiers: ReadonlyMap<string, NotifierInstance>;
  notifications: TopConfig['notifications'];
  /** Secret values found in the config, to be scrubbed from every log line. */
  secrets: readonly string[];
}

export interface LoadOptions {
  /** Environment for `${VAR}` interpolation (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Environment variables whose values are secrets wherever they are interpolated (`${PD_ROUTING_KEY}` in a URL). */
const SECRET_ENV_RE = /TOKEN|SECRET|PASS|KEY|CRED|AUTH/i;

/** Reads, interpolates, validates and compiles a config file; throws ConfigError with every problem found. */
export function loadConfigFile(file: string, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: `cannot read config: ${(err as Error).message}` }], { cause: err });
  }
  return loadConfigText(text, file, opts);
}

/** Like loadConfigFile, from text already read; `file` names it in errors. */
export function loadConfigText(text: string, file: string, opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const at = (offset: number, path: string, message: string) => {
    const pos = lines.linePos(offset);
    problems.push({ file, line: pos.line, col: pos.col, path, message });
  };
  for (const e of doc.errors) at(e.pos[0], '', e.message.split('\n')[0]);
  if (problems.length) throw new ConfigError(problems);

  const secrets = new Set<string>();
  interpolate(doc, env, secrets, at);
  if (problems.length) throw new ConfigError(problems);

  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    at(0, '', 'expected a mapping of sections (agent, checks, ...)');
    throw new ConfigError(problems);
  }
  const locate = locator(doc, at);

  const top = topSchema.safeParse(raw);
  if (!top.success) for (const issue of top.error.issues) locate.issue([], issue, topSchema);

  // Checks are compiled even when another section is broken, so one pass reports everything;
  // a broken defaults/incidents section falls back to the built-in defaults meanwhile.
  const sections = top.success ? top.data : fallbackSections(raw);
  const checks: CheckConfig[] = [];
  validateTyped(raw, 'checks', 'check', [...registry.keys()], checkSchema, locate, (data, base) => {
    const compiled = compileCheck(data, registry.get(data.type as string)!, sections, base, locate);
    if (compiled) checks.push(compiled);
  });
  const notifiers = new Map<string, NotifierInstance>();
  validateTyped(raw, 'notifiers', 'notifier', [...notifierRegistry.keys()], notifierSchema, locate, (data) => {
    const { name, type, coverage, pageAnyway, templates, ...spec } = data as { name: string; type: string; coverage?: string; pageAnyway: Severity[]; templates?: Partial<Templates> };
    const global = top.success ? top.data.notifications.templates : undefined;
    const def = notifierRegistry.get(type)!;
    for (const key of def.secretKeys ?? []) addSecretValue((spec as Record<string, unknown>)[key], secrets);
    notifiers.set(name, { name, def, spec, coverage, pageAnyway, templates: { ...DEFAULT_TEMPLATES, ...global, ...templates } });
  });

  let coverage = new Map<string, Timeframe>();
  if (top.success) {
    coverage = compileCoverage(top.data.coverage);
    crossCheck(top.data, checks, notifiers, coverage, raw, locate);
  }
  if (problems.length || !top.success) throw new ConfigError(problems);
  collectSecrets(raw, secrets);
  const config: Config = {
    file,
    agent: top.data.agent,
    api: top.data.api,
    defaults: top.data.defaults,
    incidents: top.data.incidents,
    checks,
    escalation: compileTiers(top.data.escalation, notifiers),
    sla: Object.fromEntries(
      Object.entries(top.data.sla).map(([sev, t]) => [sev, { respondMs: t?.respond, resolveMs: t?.resolve }]),
    ) as Config['sla'],
    coverage,
    maintenance: compileMaintenance(top.data.maintenance),
    notifiers,
    notifications: top.data.notifications,
    secrets: [...secrets],
  };
  return deepFreeze(config);
}

type Locate = ReturnType<typeof locator>;

/**
 * Validates a list of typed entries (checks, notifiers): each against its own type's schema,
 * with located errors for unknown types and duplicate names; `each` gets the valid ones.
 */
function validateTyped(
  raw: Record<string, unknown>,
  section: 'checks' | 'notifiers',
  kind: string,
  types: string[],
  schemaFor: (type: string) => z.ZodObject | undefined,
  locate: Locate,
  each: (data: Record<string, unknown>, base: (string | number)[]) => void,
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

/** References between sections: notifiers, coverage timeframes and dependencies must exist. */
function crossCheck(
  top: TopConfig,
  checks: CheckConfig[],
  notifiers: Map<string, NotifierInstance>,
  coverage: Map<string, Timeframe>,
  raw: Record<string, unknown>,
  locate: Locate,
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
      if (!notifiers.has(n)) {
        locate.path(['escalation', i, 'notify', j], `unknown notifier "${n}"${didYouMean(n, notifiers.keys())} (configured: ${[...notifiers.keys()].join(', ') || 'none'})`);
      }
    });
    needCoverage(t.coverage, ['escalation', i, 'coverage']);
  });
  const rawNotifiers = Array.isArray(raw.notifiers) ? (raw.notifiers as Record<string, unknown>[]) : [];
  rawNotifiers.forEach((n, i) => needCoverage(typeof n?.coverage === 'string' ? n.coverage : undefined, ['notifiers', i, 'coverage']));
  needCoverage(top.defaults.coverage, ['defaults', 'coverage']);
  const names = new Set(checks.map((c) => c.name));
  const rawChecks = raw.checks as Record<string, unknown>[];
  checks.forEach((c) => {
    const i = rawChecks.findIndex((r) => r?.name === c.name);
    needCoverage(c.coverage, ['checks', i, 'coverage']);
    (c.dependsOn ?? []).forEach((d, j) => {
      if (d === c.name) locate.path(['checks', i, 'dependsOn', j], 'a check cannot depend on itself');
      else if (!names.has(d)) locate.path(['checks', i, 'dependsOn', j], `unknown check "${d}"${didYouMean(d, names)}`);
    });
  });
}

/** The escalation tiers; with none configured, one implicit tier that notifies everyone at once. */
function compileTiers(tiers: TopConfig['escalation'], notifiers: Map<string, NotifierInstance>): Tier[] {
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

function fallbackSections(raw: Record<string, unknown>): Pick<TopConfig, 'defaults' | 'incidents'> {
  const shape = topSchema.shape;
  return {
    defaults: shape.defaults.safeParse(raw.defaults).data ?? shape.defaults.parse(undefined),
    incidents: shape.incidents.safeParse(raw.incidents).data ?? shape.incidents.parse(undefined),
  };
}

function compileCheck(
  data: Record<string, unknown>,
  def: CheckDefinition<any>,
  top: Pick<TopConfig, 'defaults' | 'incidents'>,
  base: (string | number)[],
  locate: Locate,
): CheckConfig | undefined {
  const before = locate.count();
  const common = new Set(Object.keys(commonCheckShape));
  const spec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (!common.has(k)) spec[k] = v;

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
    schedule = { kind: 'every', everyMs: every ?? top.defaults.every };
  }

  const interval = schedule.kind === 'every' ? schedule.everyMs : undefined;
  let timeoutMs = (data.timeout as number | undefined) ?? top.defaults.timeout;
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
    const own = data[level] as string[] | undefined;
    const list = own ?? defaults[level] ?? [];
    list.forEach((text, j) => {
      try {
        rules[level].push(parseCondition(text, fields));
      } catch (err) {
        if (!(err instanceof ConditionError)) throw err;
        if (own === undefined) throw new Error(`check type ${def.type}: default ${level} "${text}" is invalid: ${err.message}`);
        const path = typeof (locate.raw(base) as any)?.[level] === 'string' ? [...base, level] : [...base, level, j];
        locate.condition(path, err);
      }
    });
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
 * Expands entries whose type splits them (a disk check without `mount` becomes one check per
 * real mount). Names become `<name>:<suffix>`; the expansion's labels join the check's.
 */
export async function expandChecks(checks: readonly CheckConfig[]): Promise<CheckConfig[]> {
  const out: CheckConfig[] = [];
  for (const c of checks) {
    if (!c.def.expand || !c.enabled) {
      out.push(c);
      continue;
    }
    const parts: Expansion<Record<string, unknown>>[] | undefined = await c.def.expand(c.spec);
    if (!parts) {
      out.push(c);
      continue;
    }
    for (const p of parts) {
      out.push(deepFreeze({
        ...c,
        name: `${c.name}:${p.suffix}`,
        spec: p.spec,
        labels: { ...c.labels, ...(p.labels ?? {}) },
      }));
    }
  }
  return out;
}

function interpolate(doc: Document, env: NodeJS.ProcessEnv, secrets: Set<string>, at: (offset: number, path: string, message: string) => void) {
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const offset = node.range?.[0] ?? 0;
      const field = formatPath(yamlPath(ancestors, node));
      let whole = true;
      const value = node.value.replace(/\$\$\{|\$\{([^}]*)\}/g, (match, expr: string | undefined, pos: number) => {
        if (match === '$${') {
          whole = false;
          return '${';
        }
        if (pos !== 0 || match.length !== (node.value as string).length) whole = false;
        const ref = (expr ?? '').trim();
        if (ref.startsWith('file:')) {
          const p = ref.slice(5);
          try {
            const content = fs.readFileSync(p, 'utf8').replace(/\r?\n$/, '');
            if (content) secrets.add(content);
            return content;
          } catch (err) {
            at(offset, field, `\${${ref}}: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
            return '';
          }
        }
        const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(ref);
        if (!m) {
          at(offset, field, `\${${ref}}: expected \${VAR}, \${VAR:-default} or \${file:/path}`);
          return '';
        }
        const v = env[m[1]];
        if (v !== undefined && v !== '') {
          if (SECRET_ENV_RE.test(m[1])) secrets.add(v);
          return v;
        }
        if (m[2] !== undefined) return m[2];
        if (v === '') return '';
        at(offset, field, `environment variable ${m[1]} is not set (write \${${m[1]}:-} to allow it to be empty)`);
        return '';
      });
      // An unquoted `${PORT}` reads as the number it spells, as if written inline. Only plain
      // decimals and booleans convert: re-reading arbitrary values as YAML would cut a secret
      // at a " #" or turn 0x1F into 31.
      if (whole && node.type === Scalar.PLAIN && /^(-?\d+(\.\d+)?|true|false)$/.test(value)) {
        node.value = value === 'true' ? true : value === 'false' ? false : Number(value);
        return;
      }
      node.value = value;
    },
  });
}

/**
 * Finds the secrets in a config: values under secret-looking keys (any depth, header names
 * included), passwords in URLs and secret-looking query parameters (`?api_key=`).
 */
/** The config path of a node from the ancestors `visit` passes: pairs give keys, sequences indexes. */
function yamlPath(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const chain = [...ancestors, node];
  const out: (string | number)[] = [];
  chain.forEach((a, i) => {
    if (isPair(a)) out.push(isScalar(a.key) ? String(a.key.value) : '?');
    else if (isSeq(a)) {
      const idx = a.items.indexOf(chain[i + 1] as never);
      if (idx >= 0) out.push(idx);
    }
  });
  return out;
}

function collectSecrets(value: unknown, secrets: Set<string>, key = '') {
  if (typeof value === 'string') {
    if (!value) return;
    if (isSecretName(key)) secrets.add(value);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && URL.canParse(value)) {
      const url = new URL(value);
      for (const s of urlCredentials(value)?.derived ?? []) secrets.add(s);
      for (const [name, v] of url.searchParams) if (v && (isSecretName(name) || /^(key|sig|auth)$/i.test(name))) secrets.add(v);
    }
  } else if (Array.isArray(value)) {
    for (const v of value) collectSecrets(v, secrets, key);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collectSecrets(v, secrets, k);
  }
}

/** A credential value, and for a URL also its path and query (where webhook tokens live). */
function addSecretValue(value: unknown, secrets: Set<string>): void {
  if (typeof value !== 'string' || !value) return;
  secrets.add(value);
  if (isHttpUrl(value)) {
    const u = new URL(value);
    const tail = `${u.pathname}${u.search}`;
    if (tail.length >= 8) secrets.add(tail);
  }
}

/** `['checks', 2, 'warn']` → `checks[2].warn`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

function locator(doc: Document, at: (offset: number, path: string, message: string) => void) {
  let count = 0;
  const nodeAt = (path: readonly (string | number)[]): { node: Node | undefined; exact: boolean } => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? (doc.contents as Node | null) : (doc.getIn(path.slice(0, n), true) as Node | undefined);
      if (node && isNodeLike(node)) return { node, exact: n === path.length };
    }
    return { node: undefined, exact: false };
  };
  const offsetOf = (path: readonly (string | number)[]) => nodeAt(path).node?.range?.[0] ?? 0;
  const report = (offset: number, path: readonly PropertyKey[], message: string) => {
    count++;
    at(offset, formatPath(path), message);
  };
  return {
    count: () => count,
    raw: (path: readonly (string | number)[]) => {
      const n = doc.getIn(path, false);
      return n && typeof (n as any).toJSON === 'function' ? (n as any).toJSON() : n;
    },
    path(path: readonly (string | number)[], message: string) {
      report(offsetOf(path), path, message);
    },
    condition(path: readonly (string | number)[], err: ConditionError) {
      const { node, exact } = nodeAt(path);
      let offset = node?.range?.[0] ?? 0;
      if (exact && node && isScalar(node)) {
        const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
        offset += (quoted ? 1 : 0) + err.offset;
      }
      report(offset, path, `invalid condition: ${err.message}`);
    },
    issue(base: readonly (string | number)[], issue: z.core.$ZodIssue, schema: z.ZodType) {
      const path = [...base, ...(issue.path as (string | number)[])];
      switch (issue.code) {
        case 'unrecognized_keys': {
          const valid = keysAt(schema, issue.path as (string | number)[]);
          const mapNode = nodeAt(path).node;
          for (const key of issue.keys) {
            let offset = mapNode?.range?.[0] ?? 0;
            if (mapNode && isMap(mapNode)) {
              const pair = mapNode.items.find((p) => isScalar(p.key) && p.key.value === key);
              if (pair && isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
            }
            report(offset, [...path, key], `unknown key "${key}"${didYouMean(key, valid)}${valid.length ? ` (valid: ${valid.join(', ')})` : ''}`);
          }
          return;
        }
        case 'invalid_value': {
          const values = issue.values.map(String);
          const got = valueAt(this.raw(path));
          report(offsetOf(path), path, `must be one of ${values.join(', ')}${got !== undefined ? `, not "${got}"${didYouMean(got, values)}` : ''}`);
          return;
        }
        case 'invalid_key': {
          // A bad key of a record (e.g. a label name): point at the key itself.
          const key = path[path.length - 1];
          const parent = nodeAt(path.slice(0, -1)).node;
          let offset = offsetOf(path);
          if (parent && isMap(parent)) {
            const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key);
            if (pair && isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
          }
          report(offset, path, issue.issues.map((i) => i.message).join('; '));
          return;
        }
        case 'invalid_type': {
          const given = this.raw(path);
          const hint = issue.expected === 'string' && (typeof given === 'number' || typeof given === 'boolean') ? ' (put it in quotes)' : '';
          report(offsetOf(path), path, given === undefined ? `required (${issue.expected})` : `expected ${issue.expected}, got ${describe(given)}${hint}`);
          return;
        }
        default:
          report(offsetOf(path), path, issue.message.replace(/^Invalid input: /, ''));
      }
    },
  };
}

function isNodeLike(n: unknown): n is Node {
  return isScalar(n) || isMap(n) || isSeq(n);
}

function valueAt(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** What was given instead, by kind only: the value itself may be a secret. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? 'text' : typeof v;
}

/** The keys a (possibly wrapped) zod object at `path` inside `schema` accepts. */
function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let s: any = schema;
  const unwrap = () => {
    for (;;) {
      const def = s?._zod?.def;
      if (!def) return;
      if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType;
      else if (def.type === 'pipe') s = def.in;
      else return;
    }
  };
  for (const p of path) {
    unwrap();
    const def = s?._zod?.def;
    if (def?.type === 'object') s = def.shape[p as string];
    else if (def?.type === 'array') s = def.element;
    else if (def?.type === 'record') s = def.valueType;
    else return [];
  }
  unwrap();
  const def = s?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Freezes the plain objects and arrays of a config in place. A check's `def` is the shared,
 * module-level check type (with its zod schema, which caches lazily) and compiled objects
 * (maps, cron tasks) keep internal state: they are left alone.
 */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) {
    Object.freeze(value);
    for (const [k, v] of Object.entries(value as object)) if (k !== 'def' && typeof v !== 'function') deepFreeze(v);
  }
  return value;
}
