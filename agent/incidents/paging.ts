/**
 * Who hears of an incident, and when: the tiers it reached, the notifiers they call, coverage
 * windows that hold pages back, and the queueing of one event. Pure: the policy's helpers.
 */
import { Status } from '../evaluate';
import { PAGING_EVENTS, type CheckConfig, type EventKind, type Incident, type Severity } from '../model';
import { addActive, isActive, nextChange } from './coverage';
import { tierMatches } from './escalation';
import { activeWindows, baseName, globToRegExp } from './maintenance';
import type { Ctx, Effect, Notice, Tracked } from './policy-types';


/** The notifiers an incident has notifications for (sent, pending or failed), by name: who has heard of it. */
export function heardBy(t: Tracked): string[] {
  return [...new Set(t.notices.map((n) => n.notifier))].sort();
}

/** Notifications not due yet: held back by a coverage window, the snapshot or a remediation. */
export function held(t: Tracked, now: number): Notice[] {
  return t.notices.filter((n) => n.notBefore > now);
}

/** Drops an incident's held notifications (of the given events, or all). */
export function cancelHeld(t: Tracked, now: number, out: Effect[], events?: readonly EventKind[]): void {
  t.notices = t.notices.filter((n) => !(n.notBefore > now && (!events || events.includes(n.event))));
  out.push({ kind: 'cancel', id: t.incident.id, events });
}

/** Lets an incident's held notifications go now (to the given notifiers, or all). */
export function release(t: Tracked, now: number, out: Effect[], notifiers?: readonly string[]): void {
  for (const n of t.notices) if (n.notBefore > now && (!notifiers || notifiers.includes(n.notifier))) n.notBefore = now;
  out.push({ kind: 'release', id: t.incident.id, notifiers });
}

/** Indexes of the tiers reached so far that apply to the incident. */
export function reachedTiers(ctx: Ctx, inc: Incident): number[] {
  const out: number[] = [];
  for (let i = 0; i <= inc.tierIndex && i < ctx.cfg.tiers.length; i++) if (tierMatches(ctx.cfg.tiers[i], inc.labels)) out.push(i);
  return out;
}

/** The notifiers the given tiers call, for an incident with these labels. */
export function tierNotifiers(ctx: Ctx, inc: Incident, tierIndexes: number[]): string[] {
  const out = new Set<string>();
  for (const i of tierIndexes) if (tierMatches(ctx.cfg.tiers[i], inc.labels)) for (const n of ctx.cfg.tiers[i].notify) out.add(n);
  return [...out];
}

/** The SLA deadlines of an incident of this severity opened at `from`, in its coverage hours. */
export function deadlines(ctx: Ctx, severity: Severity, coverage: string, from: number): Pick<Incident, 'respondDue' | 'resolveDue'> {
  const t = ctx.cfg.sla[severity];
  const tf = ctx.cfg.coverage.get(coverage);
  const due = (ms?: number) => (ms === undefined || !tf ? undefined : finite(addActive(tf, from, ms)));
  return { respondDue: due(t?.respondMs), resolveDue: due(t?.resolveMs) };
}

/**
 * Why no incident may open (or page) for a check now: a maintenance window, a silence, or
 * (for opening only) a configured dependency whose last result was not ok.
 */
export function suppression(ctx: Ctx, check: CheckConfig, opening: boolean): string | undefined {
  const { now } = ctx;
  const windows = activeWindows(ctx.cfg.maintenance, now, check.name, check.labels);
  if (windows.length) return `maintenance ${windows.map((w) => w.name).join(', ')}`;
  const silence = ctx.silences.find((s) => s.startsAt <= now && now < s.endsAt && silenceMatches(s, check));
  if (silence) return `silence ${silence.id}`;
  if (opening) {
    for (const dep of check.dependsOn ?? []) {
      for (const [name, st] of ctx.lastStatus) {
        if (st !== Status.Ok && baseName(name) === dep && ctx.cfg.checks.has(name)) return `dependency ${name} is failing`;
      }
    }
  }
  return undefined;
}

/** Whether a silence covers a check: a glob matches its name (or, expanded, its base name) and every label matches. */
export function silenceMatches(s: { checks: readonly string[]; labels: Readonly<Record<string, string>> }, check: Pick<CheckConfig, 'name' | 'labels'>): boolean {
  const base = baseName(check.name);
  const nameOk = s.checks.some((g) => {
    const re = globToRegExp(g);
    return re.test(check.name) || re.test(base);
  });
  return nameOk && Object.entries(s.labels).every(([k, v]) => check.labels[k] === v);
}

/**
 * When a page to `notifier` may go: now, or when the coverage window of the notifier, or of
 * every reached tier that calls it, opens. A tier lets the severities in `pageAnyway`
 * through; a notifier's own `pageAnyway` likewise.
 */
export function pageWaitsUntil(ctx: Ctx, inc: Incident, notifier: string, tierIndexes: number[]): number {
  const { now } = ctx;
  const opensAt = (coverage: string | undefined, anyway: readonly Severity[]) => {
    const tf = coverage ? ctx.cfg.coverage.get(coverage) : undefined;
    if (!tf || anyway.includes(inc.severity) || isActive(tf, now)) return now;
    return finite(nextChange(tf, now)) ?? now;
  };
  const n = ctx.cfg.notifiers.get(notifier);
  const tiers = tierIndexes.map((i) => ctx.cfg.tiers[i]).filter((t) => t.notify.includes(notifier));
  const tierWait = tiers.length ? Math.min(...tiers.map((t) => opensAt(t.coverage, t.pageAnyway))) : now;
  return Math.max(tierWait, opensAt(n?.coverage, n?.pageAnyway ?? []));
}

/**
 * Queues one event for the given notifiers. A notifier hearing of the incident for the first
 * time gets a trigger whatever the event (so a provider opens its own incident); pages wait
 * for closed coverage windows (pageWaitsUntil) and for `hold` (snapshot, remediation); pages
 * for a check in maintenance or silenced are not sent at all, and the timeline says so.
 */
export function notify(
  ctx: Ctx,
  t: Tracked,
  kind: EventKind,
  notifiers: string[],
  out: Effect[],
  opts: { details?: Record<string, unknown>; hold?: number } = {},
): void {
  const { now } = ctx;
  const inc = t.incident;
  inc.seq++;
  out.push({ kind: 'update', id: inc.id, fields: { seq: inc.seq } });
  if (!notifiers.length) return;
  const check = ctx.cfg.checks.get(inc.check);
  const muted = check && PAGING_EVENTS.includes(kind) ? suppression(ctx, check, false) : undefined;
  if (muted) {
    out.push({ kind: 'timeline', id: inc.id, entry: 'suppressed', message: `${kind} to ${notifiers.join(', ')} not sent: ${muted}` });
    return;
  }
  const heard = new Set(heardBy(t));
  const reached = reachedTiers(ctx, inc);
  for (const name of notifiers) {
    const event = kind === 'escalate' && !heard.has(name) ? 'trigger' : kind;
    const waits = PAGING_EVENTS.includes(event) ? pageWaitsUntil(ctx, inc, name, reached) : now;
    // A notifier whose first pages are still held (coverage, snapshot, remediation) gets
    // nothing before them: every event it receives belongs to an incident it was told about,
    // and if those pages are dropped (a fix by L1, a resolve in the night) so is this.
    const heldUntil = Math.max(0, ...t.notices.filter((n) => n.notifier === name && n.notBefore > now).map((n) => n.notBefore));
    const notBefore = Math.max(waits, heldUntil, now + (PAGING_EVENTS.includes(event) ? (opts.hold ?? 0) : 0));
    t.notices.push({ notifier: name, event, notBefore });
    out.push({ kind: 'notify', id: inc.id, notifier: name, event, notBefore, incident: { ...inc }, details: opts.details });
    const why = waits > now ? ` (waits for its coverage until ${new Date(waits).toISOString()})` : '';
    out.push({ kind: 'timeline', id: inc.id, entry: 'notify', message: `${event} queued for ${name}${why}` });
  }
}

/** Releases held pages of an incident except those waiting for a closed coverage window. */
export function releaseOpeningPages(ctx: Ctx, t: Tracked, out: Effect[]): void {
  const waiting = new Set<string>();
  const reached = reachedTiers(ctx, t.incident);
  for (const n of held(t, ctx.now)) if (pageWaitsUntil(ctx, t.incident, n.notifier, reached) > ctx.now) waiting.add(n.notifier);
  const free = heardBy(t).filter((n) => !waiting.has(n));
  if (free.length) release(t, ctx.now, out, free);
}

export function finite(n: number): number | undefined {
  return Number.isFinite(n) ? n : undefined;
}
