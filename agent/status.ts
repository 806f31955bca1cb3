import type { Value } from '../checks/types';
import type { Agent } from './agent';
import { silenceMatches } from './engine';
import { Status, STATUS_NAMES, worstOf, type StatusName } from './evaluate';
import { activeRange, appliesTo } from './incidents/maintenance';
import type { CheckConfig, CheckResult, Incident } from './model';
import type { OutboxHealth } from './notifiers/outbox';
import { packageVersion } from './paths';

/**
 * The agent at a glance, as `GET /api/v1/status` answers and `keepwatch status` prints: every
 * check's latest word, open incidents with the SLA clock that runs now, what is silenced, and
 * what the outbox holds. Times are ISO 8601; `now` is the agent's clock, so a client reckons
 * "12s ago" against it and not against its own.
 */
export interface StatusReport {
  now: string;
  agent: { name: string; version: string; startedAt?: string; uptimeSeconds?: number };
  /** The worst check status, the Nagios exit code of `keepwatch status`; checks that have not run yet do not count. */
  worst: StatusName;
  exitCode: Status;
  counts: Record<StatusName | 'pending', number>;
  checks: CheckStatus[];
  incidents: IncidentStatus[];
  maintenance: Array<{ name: string; startedAt: string; endsAt: string; covers: string[] }>;
  silences: Array<{ id: string; checks: string[]; labels: Record<string, string>; endsAt: string; createdBy: string; comment: string; covers: string[] }>;
  /** Undefined when the agent runs without a store (no incidents, no notifications). */
  outbox?: OutboxHealth;
}

/** One check in the status report. */
export interface CheckStatus {
  name: string;
  type: string;
  /** `pending` until its first run. */
  status: StatusName | 'pending';
  running: boolean;
  /** The value that matters: see {@link keyValue}. */
  value?: { field: string; value: Value; unit?: string };
  message?: string;
  lastRun?: string;
  durationMs?: number;
  nextRun?: string;
}

/** One open or acknowledged incident in the status report. */
export interface IncidentStatus {
  id: number;
  check: string;
  severity: Incident['severity'];
  state: Incident['state'];
  tier?: string;
  flapping: boolean;
  summary: string;
  openedAt: string;
  /**
   * The SLA clock that runs now: `respond` until someone acknowledges, then `resolve`.
   * Undefined when no clock applies (no SLA for its severity).
   */
  sla?: { clock: 'respond' | 'resolve'; due: string; breached: boolean };
}

const iso = (t: number) => new Date(t).toISOString();

/** Builds the status report of a running agent. Reads only; one call per refresh of `keepwatch status`. */
export function buildStatus(agent: Agent, now = Date.now()): StatusReport {
  const configs = agent.checkConfigs();
  const byName = new Map(configs.map((c) => [c.name, c]));
  const views = agent.listChecks();
  const checks = views.map((v): CheckStatus => {
    const r = v.last;
    const config = byName.get(v.name);
    return {
      name: v.name,
      type: v.type,
      status: r ? r.statusText : 'pending',
      running: v.running,
      value: r && config ? keyValue(config, r) : undefined,
      message: r?.message,
      lastRun: r?.startedAt,
      durationMs: r && Math.round(r.durationMs),
      nextRun: v.nextRun,
    };
  });
  const ran = views.flatMap((v) => (v.last ? [v.last.status] : []));
  // Nothing known yet (every check still waits for its first run) is unknown, not ok.
  const exitCode = ran.length || !views.length ? worstOf(ran) : Status.Unknown;
  const counts = { ok: 0, warning: 0, critical: 0, unknown: 0, pending: 0 };
  for (const c of checks) counts[c.status]++;
  const engine = agent.incidents;
  return {
    now: iso(now),
    agent: {
      name: agent.config.agent.name,
      version: packageVersion(),
      startedAt: agent.startedAt === undefined ? undefined : iso(agent.startedAt),
      uptimeSeconds: agent.startedAt === undefined ? undefined : Math.max(0, Math.floor((now - agent.startedAt) / 1000)),
    },
    worst: STATUS_NAMES[exitCode],
    exitCode,
    counts,
    checks,
    incidents: (engine?.openIncidents() ?? []).sort(byUrgency).map(incidentStatus),
    maintenance: agent.config.maintenance.flatMap((w) => {
      const range = activeRange(w, now);
      if (!range) return [];
      return [{ name: w.name, startedAt: iso(range.start), endsAt: iso(range.end), covers: configs.filter((c) => appliesTo(w, c.name, c.labels)).map((c) => c.name) }];
    }),
    silences: (engine?.listSilences() ?? [])
      .filter((s) => s.startsAt <= now && now < s.endsAt)
      .map((s) => ({
        id: s.id,
        checks: s.checks,
        labels: s.labels,
        endsAt: iso(s.endsAt),
        createdBy: s.createdBy,
        comment: s.comment,
        covers: configs.filter((c) => silenceMatches(s, c)).map((c) => c.name),
      })),
    outbox: agent.outbox?.health(),
  };
}

/**
 * The value a check's status is about: the field of the condition that decided it; else of
 * its first condition on a value the run returned (`warn` before `crit`: warnings are mostly
 * set on the measure that drifts, as `latencyMs`, while `crit` often tests a status code);
 * else its first value. With the field's unit when it has one.
 */
export function keyValue(check: Pick<CheckConfig, 'rules' | 'fields'>, result: Pick<CheckResult, 'values' | 'condition'>): CheckStatus['value'] {
  const { warn, crit } = check.rules;
  const decided = result.condition === undefined ? undefined : [...crit, ...warn].find((c) => c.source === result.condition);
  const fields = [decided?.field, ...warn.map((c) => c.field), ...crit.map((c) => c.field)];
  const field = fields.find((f) => f !== undefined && result.values[f] !== undefined) ?? Object.keys(result.values)[0];
  if (field === undefined) return undefined;
  const unit = check.fields[field]?.unit;
  return { field, value: result.values[field], ...(unit && unit !== 'none' && { unit }) };
}

/** Critical before warning, then the oldest first. */
function byUrgency(a: Incident, b: Incident): number {
  return Number(b.severity === 'critical') - Number(a.severity === 'critical') || a.openedAt - b.openedAt;
}

function incidentStatus(i: Incident): IncidentStatus {
  const clock = i.state === 'open' && i.respondDue !== undefined ? 'respond' : 'resolve';
  const due = clock === 'respond' ? i.respondDue : i.resolveDue;
  return {
    id: i.id,
    check: i.check,
    severity: i.severity,
    state: i.state,
    tier: i.tier,
    flapping: i.flapping,
    summary: i.summary,
    openedAt: iso(i.openedAt),
    sla: due === undefined ? undefined : { clock, due: iso(due), breached: clock === 'respond' ? i.respondBreached : i.resolveBreached },
  };
}
