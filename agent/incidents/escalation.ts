import type { Incident, Severity } from '../model';
import type { Effect, PolicyConfig } from './policy-types';

/** SLA targets of one severity, counted in the incident's coverage hours (ms). */
export interface SlaTarget {
  respondMs?: number;
  resolveMs?: number;
}

/** One escalation tier, compiled from config. */
export interface Tier {
  name: string;
  /** Time since the incident opened, without acknowledgement, after which this tier is reached. */
  afterMs: number;
  notify: readonly string[];
  /** Label matchers: every key must equal (one of) the value(s); empty matches every incident. */
  match: Readonly<Record<string, readonly string[]>>;
  /** Pages from this tier wait while this timeframe is closed … */
  coverage?: string;
  /** … except for these severities. */
  pageAnyway: readonly Severity[];
  /** Re-notify this tier while it is the current one and nobody acknowledged. */
  repeat?: { everyMs: number; max: number };
}

/** What escalation needs to know about an incident. */
export interface EscalationView {
  openedAt: number;
  severity: Severity;
  acked: boolean;
  /** Index into the tier list of the tier reached so far; -1 before the first. */
  tierIndex: number;
  /** When the current tier was reached (or last re-notified). */
  escalatedAt?: number;
  repeats: number;
  /** The incident's labels, with check, type and severity among them. */
  labels: Readonly<Record<string, string>>;
}

/** The next escalation step that is due, if any. */
export type EscalationStep =
  | { kind: 'escalate'; tierIndex: number; reason: 'time' | 'forced' }
  | { kind: 'repeat'; tierIndex: number; repeat: number };

/** Whether a tier applies to an incident with these labels. */
export function tierMatches(tier: Tier, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(tier.match).every(([k, values]) => values.includes(labels[k] ?? ''));
}

/** The next tier after `from` that applies to the incident, or -1. */
export function nextTier(tiers: readonly Tier[], from: number, labels: Readonly<Record<string, string>>): number {
  for (let i = from + 1; i < tiers.length; i++) if (tierMatches(tiers[i], labels)) return i;
  return -1;
}

/**
 * The escalation step due at `now`, or undefined. Pure. Acknowledging stops escalation;
 * tiers are reached in order by the time since the incident opened (a tier whose `after`
 * passed while an earlier one was current is reached at the next step, one at a time,
 * so every tier in between is notified); the current tier repeats while unacknowledged.
 * `force` moves to the next tier at once (a failed remediation, an SLA respond breach).
 */
export function dueStep(tiers: readonly Tier[], inc: EscalationView, now: number, force = false): EscalationStep | undefined {
  if (inc.acked) return undefined;
  const next = nextTier(tiers, inc.tierIndex, inc.labels);
  if (next >= 0 && (force || now - inc.openedAt >= tiers[next].afterMs)) {
    return { kind: 'escalate', tierIndex: next, reason: force && now - inc.openedAt < tiers[next].afterMs ? 'forced' : 'time' };
  }
  const current = tiers[inc.tierIndex];
  if (current?.repeat && inc.repeats < current.repeat.max && inc.escalatedAt !== undefined && now - inc.escalatedAt >= current.repeat.everyMs) {
    return { kind: 'repeat', tierIndex: inc.tierIndex, repeat: inc.repeats + 1 };
  }
  return undefined;
}

/**
 * A config was reloaded: an incident keeps the tier it reached by its name (tiers may have
 * moved). When that tier is gone, it stands at the last tier before it that is still there (or
 * before the first), so the tiers after it are still reached in their time. Returns the update
 * to apply to the incident (and store); the incident given is not changed.
 */
export function reloadTiers(before: PolicyConfig, after: PolicyConfig, inc: Incident): Effect[] {
  if (!inc.tier) return [];
  const was = before.tiers.findIndex((t) => t.name === inc.tier);
  let index = after.tiers.findIndex((t) => t.name === inc.tier);
  if (index >= 0) return index === inc.tierIndex ? [] : [{ kind: 'update', id: inc.id, fields: { tierIndex: index } }];
  for (let i = (was >= 0 ? was : before.tiers.length) - 1; i >= 0 && index < 0; i--) index = after.tiers.findIndex((t) => t.name === before.tiers[i].name);
  return [{ kind: 'update', id: inc.id, fields: { tierIndex: index, tier: index >= 0 ? after.tiers[index].name : undefined } }];
}
