import { z } from 'zod';
import { defineCheck, duration, formatDuration, round, targetDown, type CheckState, type FieldSpec, type Value } from '../types';

/** The shortest token a push check takes: a guessable one would let anyone report for the job. */
export const MIN_TOKEN_LENGTH = 16;
/** The shortest period: pushes are answered over HTTP, not streamed. */
const MIN_PERIOD_MS = 1000;
/** The default grace is a tenth of the period, and at least this. */
const MIN_DEFAULT_GRACE_MS = 60_000;

/**
 * Where the agent's `POST /api/v1/push/NAME` keeps the last push in the check's state, and its
 * shape (agent/server-push.ts writes it; this module only reads it, defensively: it comes from
 * the store). `at` is ms since epoch.
 */
export const LAST_PUSH_KEY = 'lastPush';
/** When the check first ran without any push: the period's clock starts there. */
export const FIRST_SEEN_KEY = 'firstSeen';

export type PushedStatus = 'ok' | 'warn' | 'crit';

export interface PushRecord {
  at: number;
  status: PushedStatus;
  message?: string;
  durationMs?: number;
  /** Pushes received since the check was created (this one included). */
  count: number;
}

const schema = z.strictObject({
  period: duration({ min: MIN_PERIOD_MS })
    .describe('How often the job pushes (runs): a push is due within period + grace of the last one (e.g. 1d for a nightly job, 5m for a job every five minutes). At least 1s.'),
  grace: duration()
    .optional()
    .describe('How much later than the period a push may come before the check is critical (default a tenth of the period, at least 1m): jobs take varying time.'),
  token: z
    .string({ error: 'a push check needs its own token (at least 16 characters), e.g. token: "${BACKUP_PUSH_TOKEN}"' })
    .refine((t) => t.length >= MIN_TOKEN_LENGTH, {
      message: `token must be at least ${MIN_TOKEN_LENGTH} characters (generate one with: openssl rand -hex 24); write it as "\${ENV_VAR}" or "\${file:/path}", not in the config`,
    })
    .refine((t) => !/\s/.test(t), { message: 'token must not contain spaces or line breaks (a ${file:/path} secret loses only its final newline)' })
    .describe('The secret the job sends as "Authorization: Bearer <token>" with POST /api/v1/push/NAME: this check\'s own, at least 16 characters, from ${ENV} or ${file:/path}. The agent\'s api tokens are not accepted here, nor is this one anywhere else.'),
});

type PushSpec = z.output<typeof schema>;

/** The grace of a check: the configured one, else a tenth of the period and at least a minute. */
export function graceOf(spec: { period: number; grace?: number }): number {
  return spec.grace ?? Math.max(MIN_DEFAULT_GRACE_MS, Math.round(spec.period / 10));
}

const fields: Record<string, FieldSpec> = {
  secondsSinceLast: { type: 'number', unit: 'seconds', help: 'Time since the last push; before the first one, since the check started waiting for it' },
  late: { type: 'boolean', help: 'Whether no push came within period + grace (critical whatever the thresholds)' },
  pushedStatus: { type: 'string', help: 'The status the last push reported: ok, warn or crit; none before the first push' },
  durationMs: { type: 'number', unit: 'ms', help: 'How long the job took, as its last push said; absent when it said nothing' },
  pushes: { type: 'number', unit: 'count', help: 'Pushes received since the check was created' },
};

/** A stored push, or undefined for anything that is not one (a hand-edited or older row). */
function asPush(v: unknown): PushRecord | undefined {
  const p = v as Partial<PushRecord> | undefined;
  if (!p || typeof p !== 'object' || typeof p.at !== 'number' || !Number.isFinite(p.at)) return undefined;
  const status: PushedStatus = p.status === 'warn' || p.status === 'crit' ? p.status : 'ok';
  return {
    at: p.at,
    status,
    message: typeof p.message === 'string' ? p.message : undefined,
    durationMs: typeof p.durationMs === 'number' && Number.isFinite(p.durationMs) ? p.durationMs : undefined,
    count: typeof p.count === 'number' && Number.isFinite(p.count) ? p.count : 1,
  };
}

const iso = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

/** A span for a message: whole seconds from a second on (`3m5s`, `450ms`). */
const span = (ms: number) => formatDuration(ms >= 1000 ? Math.round(ms / 1000) * 1000 : Math.round(ms));
/** `3m5s ago`, for a span that may be negative through clock skew. */
const ago = (ms: number) => (ms >= 0 ? `${span(ms)} ago` : `${span(-ms)} in the future (clock skew?)`);

/** What the check needs of its state, for the pure logic and its tests. */
export async function observe(spec: PushSpec, state: CheckState, now: number) {
  const due = spec.period + graceOf(spec);
  const window = `expected every ${formatDuration(spec.period)} + ${formatDuration(graceOf(spec))} grace`;
  const memoryOnly = state.persistent ? '' : ' (pushes are kept in memory only: this run or agent has no store)';
  const last = asPush(await state.get(LAST_PUSH_KEY));
  if (!last) {
    let since = await state.get(FIRST_SEEN_KEY);
    if (typeof since !== 'number' || !Number.isFinite(since)) {
      since = now;
      await state.set(FIRST_SEEN_KEY, now);
    }
    const waited = now - (since as number);
    const values: Record<string, Value> = { secondsSinceLast: round(waited / 1000, 3), late: waited > due, pushedStatus: 'none', pushes: 0 };
    const message = `no push yet: waiting for the first push since ${iso(since as number)} (${window})${memoryOnly}`;
    return waited > due ? targetDown('timeout', `no push received since ${iso(since as number)}, ${span(waited)} (${window})${memoryOnly}`, values) : { values, message };
  }
  const elapsed = now - last.at;
  const values: Record<string, Value> = { secondsSinceLast: round(elapsed / 1000, 3), late: elapsed > due, pushedStatus: last.status, pushes: last.count };
  if (last.durationMs !== undefined) values.durationMs = last.durationMs;
  const took = last.durationMs !== undefined ? `, took ${span(last.durationMs)}` : '';
  const said = last.message ? `: ${last.message}` : '';
  const pushed = `last push ${last.status} ${ago(elapsed)} at ${iso(last.at)}${took}${said}`;
  if (elapsed > due) return targetDown('timeout', `late: no push for ${span(elapsed)} (${window}); ${pushed}${memoryOnly}`, values);
  return { values, message: `${pushed}${memoryOnly}` };
}

/**
 * A heartbeat (dead man's switch): a cron job or batch process reports with POST
 * /api/v1/push/NAME; the check is critical when no push came within period + grace, and
 * reflects the status the last push reported.
 */
export const pushCheck = defineCheck({
  type: 'push',
  category: 'health',
  summary: 'A heartbeat (dead man\'s switch): a job reports with POST /api/v1/push/NAME (its own token; status, message, duration) or keepwatch push; critical when no push came within period + grace, else the pushed status.',
  schema,
  fields,
  defaults: { warn: ['pushedStatus == "warn"'], crit: ['pushedStatus == "crit"'] },
  // The run reads one state row: cheap, and lateness must show soon after the deadline.
  schedule: { every: 30_000 },
  async run({ spec, state, now }) {
    return observe(spec, state, now());
  },
});
