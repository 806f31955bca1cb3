import { isMap, isSeq, LineCounter, type Document } from 'yaml';
import { z } from 'zod';
import { registry } from '../../checks';
import { isHttpUrl, isSecretName, urlCredentials, type Expansion } from '../../checks/types';
import { ConfigError, type ConfigProblem } from '../errors';
import { compileCoverage, type Timeframe } from '../incidents/coverage';
import type { SlaTarget, Tier } from '../incidents/escalation';
import { compileMaintenance, type MaintenanceWindow } from '../incidents/maintenance';
import type { CheckConfig, Severity } from '../model';
import { notifierRegistry } from '../notifiers';
import type { NotifierInstance } from '../notifiers/outbox';
import { DEFAULT_TEMPLATES, type Templates } from '../notifiers/render';
import { checkConditionsOfInvalid, compileCheck } from './compile-check';
import { hostTimeZone } from './host-zone';
import { fileRefs, interpolate, type ReadRef } from './interpolate';
import { locator } from './locate';
import { CONFIG_MAX_BYTES, FILE_REF_MAX_BYTES, FileReadError, readTextFile, readTextFileSync } from './read';
import { checkSchema, notifierSchema, topSchema, type TopConfig } from './schema';
import { compileTiers, crossCheck, fallbackSections, validateTyped } from './sections';
import { underStandIn, withoutStandIns } from './stand-ins';
import { parseYaml, resolveAliases, toPlain, type At } from './yaml';

export { formatPath } from './locate';

export type { CheckConfig, Schedule } from '../model';

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
  /**
   * Refuse a config without checks. A reload sets it: a file emptied by mistake (0 bytes,
   * comments only) would otherwise stop all monitoring. At start such a config is accepted
   * with a warning from the caller.
   */
  requireChecks?: boolean;
}

/**
 * Most entries `checks:` may hold. Far beyond one agent's job (its scheduler and /metrics are
 * measured at 1,000); the cap refuses a generated or corrupted file before validating it.
 */
export const CHECKS_MAX = 20_000;

/**
 * Most `type:` keys a file may hold. Every check has one (notifiers and a few other entries
 * too), so a file past this is refused by a scan of its text, before a parse that would take
 * seconds and hundreds of MB for the megabytes of one-line checks that fit under the size cap.
 */
const TYPE_KEYS_MAX = 2 * CHECKS_MAX;

/** Where the key past {@link TYPE_KEYS_MAX} stands, or undefined when there are not that many. */
function typeKeyFlood(text: string): { line: number; col: number } | undefined {
  const re = /(?:^|[\s{,])type\s*:/g;
  let count = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (++count <= TYPE_KEYS_MAX) continue;
    const offset = m.index + (/^[\s{,]/.test(m[0]) ? 1 : 0);
    let line = 1;
    let lineStart = 0;
    for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    return { line, col: offset - lineStart + 1 };
  }
  return undefined;
}

/** Reads, interpolates, validates and compiles a config file; throws ConfigError with every problem found. */
export function loadConfigFile(file: string, opts: LoadOptions = {}): Config {
  return loadConfigText(readConfig(file), file, opts);
}

/**
 * Like loadConfigFile, reading the file and every `${file:/path}` it names off the event loop
 * (the daemon's reload): a slow file system, or a FIFO, must not stop /healthz or the checks.
 */
export async function loadConfigFileAsync(file: string, opts: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await readTextFile(file, CONFIG_MAX_BYTES);
  } catch (err) {
    throw unreadable(file, err);
  }
  const source = parseSource(text, file);
  const files = new Map<string, string | FileReadError>();
  for (const p of fileRefs(source.doc)) {
    files.set(p, await readTextFile(p, FILE_REF_MAX_BYTES).catch((err: unknown) => {
      if (err instanceof FileReadError) return err;
      throw err;
    }));
  }
  return compileSource(source, opts, (p) => {
    const got = files.get(p) ?? new FileReadError('not read');
    if (got instanceof FileReadError) throw got;
    return got;
  });
}

/** Like loadConfigFile, from text already read; `file` names it in errors. */
export function loadConfigText(text: string, file: string, opts: LoadOptions = {}): Config {
  return compileSource(parseSource(text, file), opts, syncRefs());
}

/** What `keepwatch validate` learns of a config file: its problems, its warnings and how many checks it has. */
export interface ConfigReport {
  problems: ConfigProblem[];
  /** Unset `${VAR}`s, each where it is used: the daemon refuses them, CI validates without them. */
  warnings: ConfigProblem[];
  checks: number;
}

/**
 * Validates a config file as loadConfigFile does, except that an unset `${VAR}` is a warning:
 * CI pipelines validate configs without the production secrets. The variable's name stands in
 * for its value, and problems of that value itself are not reported (they would be the stand-in's).
 */
export function checkConfigFile(file: string, opts: Pick<LoadOptions, 'env'> = {}): ConfigReport {
  const report: ConfigReport = { problems: [], warnings: [], checks: 0 };
  try {
    compileSource(parseSource(readConfig(file), file), opts, syncRefs(), report);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report.problems = err.problems;
  }
  return report;
}

function readConfig(file: string): string {
  try {
    return readTextFileSync(file, CONFIG_MAX_BYTES);
  } catch (err) {
    throw unreadable(file, err);
  }
}

/** Reads each `${file:/path}` once, synchronously. */
function syncRefs(): ReadRef {
  const files = new Map<string, string | FileReadError>();
  return (p) => {
    let got = files.get(p);
    if (got === undefined) {
      try {
        got = readTextFileSync(p, FILE_REF_MAX_BYTES);
      } catch (err) {
        if (!(err instanceof FileReadError)) throw err;
        got = err;
      }
      files.set(p, got);
    }
    if (got instanceof FileReadError) throw got;
    return got;
  };
}

function unreadable(file: string, err: unknown): ConfigError {
  if (!(err instanceof FileReadError)) throw err;
  return new ConfigError([{ file, line: 1, col: 1, path: '', message: `cannot read config: ${err.message}` }], { cause: err });
}

/** Longest problem message (and path) reported whole. */
const MESSAGE_MAX = 1000;

/** A parsed config file, and where its problems go. */
interface Source {
  file: string;
  doc: Document;
  problems: ConfigProblem[];
  at: At;
  /** A problem placed in the text, for those that go elsewhere (warnings). */
  place(offset: number, path: string, message: string): ConfigProblem;
}

/** Parses the YAML (syntax, duplicate keys, size and check count); throws ConfigError. */
function parseSource(text: string, file: string): Source {
  const lines = new LineCounter();
  const problems: ConfigProblem[] = [];
  const place = (offset: number, path: string, message: string): ConfigProblem => {
    const pos = lines.linePos(offset);
    // Before the text is parsed (it is too large) the counter knows no line: the start.
    const line = Math.max(pos.line, 1);
    const col = Math.max(pos.col, 1);
    // A message quoting a 200 KB value would be a 200 KB log line.
    const text = message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}… (${message.length} characters)` : message;
    return { file, line, col, path: path.length > MESSAGE_MAX ? `${path.slice(0, MESSAGE_MAX)}…` : path, message: text };
  };
  const at: At = (offset, path, message) => void problems.push(place(offset, path, message));
  const flood = typeKeyFlood(text);
  if (flood) {
    problems.push({ file, ...flood, path: 'checks', message: `more than ${TYPE_KEYS_MAX} "type:" keys: far more checks than the ${CHECKS_MAX} one agent takes (split them over several agents)` });
    throw new ConfigError(problems);
  }
  const doc = parseYaml(text, lines, at);
  if (!doc) throw new ConfigError(problems);
  const checks = isMap(doc.contents) ? doc.contents.get('checks', true) : undefined;
  if (isSeq(checks) && checks.items.length > CHECKS_MAX) {
    at(checks.range?.[0] ?? 0, 'checks', `${checks.items.length} checks: more than the ${CHECKS_MAX} one agent takes (split them over several agents)`);
    throw new ConfigError(problems);
  }
  return { file, doc, problems, at, place };
}

/**
 * Validates and compiles a parsed file; throws ConfigError with every problem. With `lenient`
 * (validate), unset variables are warnings instead, and a config whose only problems came from
 * their stand-ins has none, but cannot be built either: undefined.
 */
function compileSource(source: Source, opts: LoadOptions, readRef: ReadRef): Config;
function compileSource(source: Source, opts: LoadOptions, readRef: ReadRef, lenient: ConfigReport): Config | undefined;
function compileSource(source: Source, opts: LoadOptions, readRef: ReadRef, lenient?: ConfigReport): Config | undefined {
  const { file, doc, problems, at } = source;
  const env = opts.env ?? process.env;
  const secrets = new Set<string>();
  const unset: string[] = [];
  interpolate(doc, env, secrets, at, readRef, lenient && ((offset, path, name) => {
    unset.push(path);
    lenient.warnings.push(source.place(offset, path, `environment variable ${name} is not set, so this value is not checked; run, check and a reload refuse the config without it (write \${${name}:-} to allow it to be empty)`));
  }));
  if (problems.length) throw new ConfigError(problems);
  // Interpolation first: it edits nodes in place, and after this an aliased node is shared.
  if (!resolveAliases(doc, at)) throw new ConfigError(problems);

  const raw = (toPlain(doc, at) ?? {}) as Record<string, unknown>;
  if (problems.length) throw new ConfigError(problems);
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    at(0, '', 'expected a mapping of sections (agent, checks, ...)');
    throw new ConfigError(problems);
  }
  const locate = locator(doc, at);

  let top = topSchema.safeParse(raw);
  if (!top.success) for (const issue of top.error.issues) locate.issue([], issue, topSchema);
  const trimmed = !top.success && unset.length ? withoutStandIns(raw, top.error.issues, unset) : undefined;
  if (trimmed) top = topSchema.safeParse(trimmed);

  // Checks are compiled even when another section is broken, so one pass reports everything;
  // a broken defaults/incidents section falls back to the built-in defaults meanwhile.
  const sections = top.success ? top.data : fallbackSections(raw);
  const checks: CheckConfig[] = [];
  const checkIndex = new Map<string, number>();
  // Entries that are there but invalid: their problems are reported, references to them are not.
  const invalid = { checks: new Set<string>(), notifiers: new Set<string>() };
  const invalidName = (set: Set<string>, entry: Record<string, unknown>) => typeof entry.name === 'string' && set.add(entry.name);
  validateTyped(raw, 'checks', 'check', [...registry.keys()], checkSchema, locate, (data, base) => {
    const compiled = compileCheck(data, registry.get(data.type as string)!, sections, base, locate);
    if (compiled) {
      checks.push(compiled);
      checkIndex.set(compiled.name, base[1] as number);
    } else {
      invalidName(invalid.checks, data);
    }
  }, (entry, type, base) => {
    invalidName(invalid.checks, entry);
    checkConditionsOfInvalid(entry, registry.get(type)!, base, locate);
  });
  const notifiers = new Map<string, NotifierInstance>();
  validateTyped(raw, 'notifiers', 'notifier', [...notifierRegistry.keys()], notifierSchema, locate, (data) => {
    const { name, type, coverage, pageAnyway, templates, ...spec } = data as { name: string; type: string; coverage?: string; pageAnyway: Severity[]; templates?: Partial<Templates> };
    const global = top.success ? top.data.notifications.templates : undefined;
    const def = notifierRegistry.get(type)!;
    for (const key of def.secretKeys ?? []) addSecretValue((spec as Record<string, unknown>)[key], secrets);
    notifiers.set(name, { name, def, spec, coverage, pageAnyway, templates: { ...DEFAULT_TEMPLATES, ...global, ...templates } });
  }, (entry) => invalidName(invalid.notifiers, entry));

  // Read once here, so the compilers below stay pure: timeframes and cron windows that name no
  // zone are read in the host's.
  const host = { timezone: hostTimeZone() };
  let coverage = new Map<string, Timeframe>();
  if (top.success) {
    coverage = compileCoverage(top.data.coverage, host);
    crossCheck(top.data, checks, checkIndex, notifiers, coverage, raw, locate, invalid);
    if (opts.requireChecks && top.data.checks.length === 0) {
      locate.path(['checks'], 'no checks: a reload to a config without checks is refused, as it would stop all monitoring (restart the agent to run one without checks)');
    }
  }
  if (lenient) {
    // Entries a stand-in made invalid are there all the same.
    lenient.checks = Array.isArray(raw.checks) ? raw.checks.length : 0;
    const kept = problems.filter((p) => !underStandIn(p.path, unset));
    if (kept.length) throw new ConfigError(kept);
    if (!top.success) return undefined;
    problems.length = 0; // the stand-ins' only
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
    maintenance: compileMaintenance(top.data.maintenance, host),
    notifiers,
    notifications: top.data.notifications,
    secrets: [...secrets],
  };
  return deepFreeze(config);
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

/**
 * Finds the secrets in a config: values under secret-looking keys (any depth, header names
 * included), passwords in URLs and secret-looking query parameters (`?api_key=`).
 */
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
