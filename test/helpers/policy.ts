import { engineConfig } from '../../agent/agent';
import { loadConfigText } from '../../agent/config/load';
import { Status, STATUS_NAMES } from '../../agent/evaluate';
import { initialState } from '../../agent/incidents/lifecycle';
import { decide, EVIDENCE, policyFor, type Ctx, type Decision, type Effect, type Input, type Slice } from '../../agent/incidents/policy';
import { PAGING_EVENTS, type CheckConfig, type CheckResult, type Silence } from '../../agent/model';
import type { Finding } from '../../checks/types';

/** A check result as the runner would make it. */
export function result(check: Pick<CheckConfig, 'name' | 'type'>, status: Status, at: number, message = `status ${STATUS_NAMES[status]}`): CheckResult {
  return {
    check: check.name,
    type: check.type,
    status,
    statusText: STATUS_NAMES[status],
    up: status !== Status.Critical,
    reason: status === Status.Ok ? undefined : 'threshold',
    message,
    values: { latencyMs: 12 },
    startedAt: at,
    durationMs: 1,
  };
}

/** One effect as a compact table row. */
export type Row = Array<string | number | Record<string, unknown>>;

/**
 * Effects as rows a table can spell: `['notify', 'trigger', 'hook', 'now']` (or the ISO time it
 * is held until), `['timeline', 'opened', message]`, `['update', fields]` (a number equal to
 * `now` reads 'now'). Updates of `seq` alone are left out: every notify has one.
 */
export function rows(effects: readonly Effect[], now: number): Row[] {
  const when = (t: number) => (t === now ? 'now' : new Date(t).toISOString());
  const out: Row[] = [];
  for (const e of effects) {
    switch (e.kind) {
      case 'save-state':
        out.push(e.state.flapping ? ['state', e.state.bad, e.state.good, 'flapping'] : ['state', e.state.bad, e.state.good]);
        break;
      case 'open':
        out.push(e.incident.flapping ? ['open', e.incident.severity, 'flapping'] : ['open', e.incident.severity]);
        break;
      case 'update': {
        const fields = Object.fromEntries(Object.entries(e.fields).filter(([k]) => k !== 'seq').map(([k, v]) => [k, v === now ? 'now' : v]));
        if (Object.keys(fields).length) out.push(['update', fields]);
        break;
      }
      case 'timeline':
        out.push(['timeline', e.entry, e.message]);
        break;
      case 'notify':
        out.push(['notify', e.event, e.notifier, when(e.notBefore)]);
        break;
      case 'release':
        out.push(['release', e.notifiers ? e.notifiers.join(',') : 'all']);
        break;
      case 'cancel':
        out.push(['cancel', !e.events ? 'all' : e.events === PAGING_EVENTS ? 'paging' : e.events.join(',')]);
        break;
      case 'annotate':
        out.push(['annotate', e.snapshot]);
        break;
      case 'remediation-run':
        out.push(['remediation-run', e.check]);
        break;
      case 'start':
        out.push(['start', e.responder, e.check]);
        break;
      case 'abort-remediation':
        out.push(['abort-remediation']);
        break;
      case 'metric':
        if (e.metric === 'opened') out.push(['metric', 'opened', e.severity]);
        else if (e.metric === 'sla') out.push(['metric', 'sla', e.severity, e.clock]);
        else if (e.metric === 'remediation') out.push(['metric', 'remediation', e.check, e.outcome]);
        else out.push(['metric', e.metric, e.severity, e.seconds]);
        break;
    }
  }
  return out;
}

/** Freezes a value and everything it holds, so a write to any of it throws (modules are strict). */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) deepFreeze(k, seen), deepFreeze(v, seen);
  } else {
    for (const v of Object.values(value)) deepFreeze(v, seen);
  }
  return Object.freeze(value);
}

/**
 * The policy with no store: a config from YAML, a clock the test sets, silences and the last
 * statuses it edits, and each check's slice carried from one decision to the next the way the
 * engine shell carries it (an incident just opened gets the next id; a `remediation-run`
 * effect marks its incident remediating until a `remediation-checked` input). Every call is
 * checked for purity: the slice, input and evidence go in deep-frozen and come out unchanged.
 */
export function policyWorld(yaml: string, start: number, opts: { snapshotHoldMs?: number } = {}) {
  const config = loadConfigText(yaml, 'kw.yaml', { env: {} });
  const checks = new Map(config.checks.map((c) => [c.name, c]));
  const w = {
    cfg: engineConfig(config, checks),
    checks,
    now: start,
    silences: [] as Silence[],
    lastStatus: new Map<string, Status>(),
    snapshotHoldMs: opts.snapshotHoldMs ?? 0,
    remediating: new Set<number>(),
    slices: new Map<string, Slice>(),
    /** Each check's latest failing results, as the shell keeps them for evidence. */
    recent: new Map<string, CheckResult[]>(),
    nextId: 1,
    /** The decisions of the latest call. */
    last: [] as Decision[],

    ctx(): Ctx {
      return { cfg: w.cfg, now: w.now, silences: w.silences, lastStatus: w.lastStatus, snapshotHoldMs: w.snapshotHoldMs, remediating: w.remediating };
    },
    check(name: string): CheckConfig {
      const c = checks.get(name);
      if (!c) throw new Error(`no check ${name}`);
      return c;
    },
    slice(name: string): Slice {
      return w.slices.get(name) ?? { state: initialState() };
    },
    incident(name: string) {
      return w.slices.get(name)?.open?.incident;
    },

    /** Calls the policy once, checks it left what it was given alone, and keeps the new slice. */
    decide(name: string, input: Input, evidence?: readonly CheckResult[]): Decision {
      const slice = w.slice(name);
      const before = JSON.stringify([slice, input, evidence]);
      deepFreeze([slice, input, evidence]);
      const d = decide(w.ctx(), name, slice, input, evidence);
      expect(JSON.stringify([slice, input, evidence])).toBe(before);
      let opened = 0;
      if (d.slice.open?.incident.id === 0) opened = d.slice.open.incident.id = w.nextId++;
      for (const e of d.effects) if (e.kind === 'remediation-run') w.remediating.add(e.id || opened);
      if (input.kind === 'remediation-checked') w.remediating.delete(input.id);
      w.slices.set(name, d.slice);
      return d;
    },
    /** One input; its effects as rows. */
    input(name: string, input: Input): Row[] {
      w.last = [w.decide(name, input)];
      return rows(w.last[0].effects, w.now);
    },
    /** Results of one check, one per `everyMs` (default: no time passes); all their effects as rows. */
    feed(name: string, statuses: Status[], everyMs = 0, extra: { message?: string; remediations?: number[]; findings?: Finding[]; excerpt?: string[] } = {}): Row[] {
      const check = w.check(name);
      const out: Row[] = [];
      w.last = [];
      for (const status of statuses) {
        const r = { ...result(check, status, w.now, extra.message), ...(extra.findings ? { findings: extra.findings } : {}), ...(extra.excerpt ? { excerpt: extra.excerpt } : {}) };
        const open = !!w.slice(name).open;
        if (status === Status.Ok && !open) {
          w.recent.delete(name);
        } else {
          const ring = [...(w.recent.get(name) ?? []), r].slice(-Math.max(EVIDENCE, policyFor(w.cfg, check).openAfter));
          w.recent.set(name, ring);
        }
        w.lastStatus.set(name, status);
        const remediations = check.remediate && !open ? (extra.remediations ?? []) : undefined;
        const d = w.decide(name, { kind: 'result', check, result: r, remediations }, w.recent.get(name));
        w.last.push(d);
        out.push(...rows(d.effects, w.now));
        w.now += everyMs;
      }
      return out;
    },
    /** Moves the clock by `ms` and ticks every open incident. */
    tick(ms = 0): Row[] {
      w.now += ms;
      const out: Row[] = [];
      w.last = [];
      for (const [name, s] of [...w.slices]) {
        if (!s.open) continue;
        const d = w.decide(name, { kind: 'tick' });
        w.last.push(d);
        out.push(...rows(d.effects, w.now));
      }
      return out;
    },
    /** Sets the clock and ticks. */
    at(iso: string): Row[] {
      return w.tick(Date.parse(iso) - w.now);
    },
  };
  return w;
}
