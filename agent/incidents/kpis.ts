import { round } from '../../checks/units';
import type { Incident } from '../model';

/** Support KPIs over one window. Times in seconds; null where there is nothing to average. */
export interface WindowKpis {
  incidents: number;
  bySeverity: Record<string, number>;
  /** Mean and median time to acknowledge, over incidents acknowledged (auto-resolved ones never were). */
  mttaSeconds: number | null;
  mttaMedianSeconds: number | null;
  /** Mean and median time to resolve, over incidents resolved. */
  mttrSeconds: number | null;
  mttrMedianSeconds: number | null;
  /** Share of decided SLA clocks that were met (null when none was decided). */
  sla: { respond: SlaKpi; resolve: SlaKpi };
  /** Incidents fixed by L1 remediation. */
  fixedByL1: number;
}

export interface SlaKpi {
  met: number;
  breached: number;
  attainment: number | null;
}

/**
 * MTTA, MTTR and SLA attainment over the incidents opened since `since` (at `now`), the
 * definitions of reference §5.3: MTTA = acknowledged − opened; MTTR = resolved − opened;
 * a respond clock is met when the incident was acknowledged (or resolved) before its respond
 * deadline and breached when the deadline passed first; clocks still running don't count.
 */
export function windowKpis(incidents: readonly Incident[], since: number, now: number): WindowKpis {
  const inWindow = incidents.filter((i) => i.openedAt >= since && i.openedAt <= now);
  const bySeverity: Record<string, number> = {};
  for (const i of inWindow) bySeverity[i.severity] = (bySeverity[i.severity] ?? 0) + 1;
  const ack = inWindow.filter((i) => i.ackedAt !== undefined).map((i) => (i.ackedAt! - i.openedAt) / 1000);
  const res = inWindow.filter((i) => i.resolvedAt !== undefined).map((i) => (i.resolvedAt! - i.openedAt) / 1000);
  const respond = { met: 0, breached: 0 };
  const resolve = { met: 0, breached: 0 };
  for (const i of inWindow) {
    if (i.respondDue !== undefined) {
      const answered = i.ackedAt ?? i.resolvedAt;
      if (i.respondBreached || (answered === undefined && now >= i.respondDue) || (answered !== undefined && answered > i.respondDue)) respond.breached++;
      else if (answered !== undefined) respond.met++;
    }
    if (i.resolveDue !== undefined) {
      if (i.resolveBreached || (i.resolvedAt === undefined && now >= i.resolveDue) || (i.resolvedAt !== undefined && i.resolvedAt > i.resolveDue)) resolve.breached++;
      else if (i.resolvedAt !== undefined) resolve.met++;
    }
  }
  const rate = (k: { met: number; breached: number }): SlaKpi => ({ ...k, attainment: k.met + k.breached ? round(k.met / (k.met + k.breached), 4) : null });
  return {
    incidents: inWindow.length,
    bySeverity,
    mttaSeconds: mean(ack),
    mttaMedianSeconds: median(ack),
    mttrSeconds: mean(res),
    mttrMedianSeconds: median(res),
    sla: { respond: rate(respond), resolve: rate(resolve) },
    fixedByL1: inWindow.filter((i) => i.resolvedBy === 'L1').length,
  };
}

function mean(xs: number[]): number | null {
  return xs.length ? round(xs.reduce((a, b) => a + b, 0) / xs.length, 3) : null;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return round(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, 3);
}

const DAY = 86_400_000;

/** The hours (epoch hours) the KPI report reads availability from: 7 and 30 days back. */
export function kpiHours(now: number): { h7: number; h30: number } {
  return { h7: Math.floor((now - 7 * DAY) / 3_600_000), h30: Math.floor((now - 30 * DAY) / 3_600_000) };
}

/**
 * MTTA, MTTR, SLA attainment over 7 and 30 days, and availability per check: the API's
 * `/kpis`. `incidents` are those opened in the last 30 days; `a7` and `a30` the runs per check
 * since kpiHours.
 */
export function kpiReport(
  now: number,
  incidents: readonly Incident[],
  a7: ReadonlyMap<string, { ok: number; total: number }>,
  a30: ReadonlyMap<string, { ok: number; total: number }>,
  checkNames: Iterable<string>,
): Record<string, unknown> {
  const ratio = (a?: { ok: number; total: number }) => (a && a.total ? Math.round((a.ok / a.total) * 1e6) / 1e6 : null);
  const checks: Record<string, { availability7d: number | null; availability30d: number | null }> = {};
  for (const name of checkNames) checks[name] = { availability7d: ratio(a7.get(name)), availability30d: ratio(a30.get(name)) };
  return {
    generatedAt: new Date(now).toISOString(),
    windows: { '7d': windowKpis(incidents, now - 7 * DAY, now), '30d': windowKpis(incidents, now - 30 * DAY, now) },
    checks,
    definitions: {
      window: 'incidents opened in the last 7 or 30 days',
      mtta: 'mean of acknowledged - opened, over those incidents that were acknowledged',
      mttr: 'mean of resolved - opened, over those incidents that were resolved',
      availability: 'share of runs that were ok or warning; maintenance windows count like any other time',
      slaAttainment: 'met / (met + breached) of SLA clocks decided so far, counted in the check\'s coverage hours',
    },
  };
}
