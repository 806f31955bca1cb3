import { formatDuration } from '../../checks/units';

/**
 * Whether a remediation may run now, given when earlier runs started (`history`, ms since the
 * epoch, any order). Pure, so the engine keeps the history in its store across restarts.
 * Refused when `limit.max` runs already started in the sliding window `(now - within, now]`,
 * or the last run started less than `cooldown` ago; `retryAt` is the first moment both allow it.
 * A start time in the future (the clock went back) counts as recent: refusing is the safe side.
 */
export function remediationAllowed(
  history: readonly number[],
  now: number,
  limit: { max: number; within: number },
  cooldown: number,
): RemediationPermission {
  const max = Math.max(1, Math.floor(limit.max));
  const runs = [...history].filter(Number.isFinite).sort((a, b) => a - b);
  const reasons: string[] = [];
  let retryAt = now;

  const inWindow = runs.filter((t) => t > now - limit.within);
  if (inWindow.length >= max) {
    // The run that must leave the window before one more fits in it.
    const at = inWindow[inWindow.length - max] + limit.within;
    retryAt = Math.max(retryAt, at);
    reasons.push(`rate limit: ${inWindow.length} run${inWindow.length === 1 ? '' : 's'} in the last ${formatDuration(limit.within)} (at most ${max})`);
  }
  const last = runs.at(-1);
  if (last !== undefined && now - last < cooldown) {
    retryAt = Math.max(retryAt, last + cooldown);
    reasons.push(`cool-down: last run ${formatDuration(Math.max(0, now - last))} ago (cool-down ${formatDuration(cooldown)})`);
  }
  return reasons.length === 0 ? { allowed: true } : { allowed: false, reason: reasons.join('; '), retryAt };
}

/** The answer of {@link remediationAllowed}. */
export type RemediationPermission = { allowed: true } | { allowed: false; reason: string; retryAt: number };
