import crypto from 'node:crypto';
import { z } from 'zod';
import { parseDuration } from '../checks/units';
import type { Agent } from './agent';
import type { Logger } from './logger';
import type { CheckConfig } from './model';
import { HttpError, parseBody } from './request-body';

/** `POST /api/v1/push/NAME`: a job's heartbeat for its push check. */
export const PUSH_PATH = /^\/api\/v1\/push\/([^/]+)$/;

/**
 * Where a push is kept in the check's state, and its shape: the push check (checks/push)
 * reads it. The agent knows that type only by its name and this record.
 */
const LAST_PUSH_KEY = 'lastPush';
const PUSH_TYPE = 'push';
/** The longest message a push may carry (characters). */
export const MAX_PUSH_MESSAGE = 1000;

type PushedStatus = 'ok' | 'warn' | 'crit';

/** What a job may say for its status; the words monitoring systems use mean the same here. */
const STATUS_WORDS: Record<string, PushedStatus> = {
  ok: 'ok', success: 'ok', up: 'ok',
  warn: 'warn', warning: 'warn',
  crit: 'crit', critical: 'crit', fail: 'crit', failed: 'crit', failure: 'crit', error: 'crit', down: 'crit',
};

const bodySchema = z
  .strictObject({
    status: z
      .string()
      .transform((s, ctx) => {
        const status = STATUS_WORDS[s.trim().toLowerCase()];
        if (!status) ctx.addIssue({ code: 'custom', message: `status must be ok, warn or crit (or success, warning, critical, fail, error), not "${s.slice(0, 40)}"` });
        return status ?? 'ok';
      })
      .optional(),
    message: z.string().max(MAX_PUSH_MESSAGE, { message: `message may be at most ${MAX_PUSH_MESSAGE} characters` }).optional(),
    duration: z
      .string()
      .transform((s, ctx) => {
        const ms = parseDuration(s);
        if (ms === undefined) ctx.addIssue({ code: 'custom', message: `duration must be a duration such as "12s" or "1h5m" (or give durationMs, a number), not "${s.slice(0, 40)}"` });
        return ms ?? 0;
      })
      .optional(),
    durationMs: z.number().nonnegative().finite().optional(),
  })
  .refine((b) => b.duration === undefined || b.durationMs === undefined, { message: 'give duration ("12s") or durationMs (a number), not both' });

/** Compares secrets in constant time (hashing first, so lengths don't leak either). */
function sameSecret(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/**
 * Authorises a push before its body is read: by the check's own token only, never the agent's
 * api tokens, and never from the URL (a query string ends up in access logs and proxies): any
 * query is 400. No such check is 404, a check of another type 409, a missing or wrong token
 * 401 with one message for both.
 */
export function authorizePush(agent: Agent, url: URL, bearer: string | undefined): void {
  if (url.search) {
    throw new HttpError(400, 'a push takes no query parameters: send the check\'s token as the header "Authorization: Bearer <token>" (a URL ends up in access logs), and status, message and duration as a JSON body');
  }
  const check = pushCheckNamed(agent, decodeName(PUSH_PATH.exec(url.pathname)?.[1] ?? ''));
  const token = check.spec.token;
  if (bearer === undefined || typeof token !== 'string' || !sameSecret(bearer, token)) {
    throw new HttpError(401, `missing or wrong bearer token for push check "${check.name}" (its own token key; the api tokens are not accepted here)`, { 'WWW-Authenticate': 'Bearer realm="keepwatch-push"' });
  }
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `bad percent-encoding in path: ${raw.slice(0, 100)}`);
  }
}

function pushCheckNamed(agent: Agent, name: string): CheckConfig {
  const check = agent.checkConfigs().find((c) => c.name === name);
  if (!check) throw new HttpError(404, `no check named "${name.slice(0, 200)}"`);
  if (check.type !== PUSH_TYPE) throw new HttpError(409, `check "${name}" is of type ${check.type}: only push checks take pushes`);
  return check;
}

/** Pushes per check in progress, so that two at once count both. */
const recording = new WeakMap<Agent, Map<string, Promise<unknown>>>();

/** Runs `fn` after the previous push of the same check has been recorded. */
function serialised<T>(agent: Agent, name: string, fn: () => Promise<T>): Promise<T> {
  let chains = recording.get(agent);
  if (!chains) recording.set(agent, (chains = new Map()));
  const next = (chains.get(name) ?? Promise.resolve()).then(fn, fn);
  const tail = next.catch(() => undefined);
  chains.set(name, tail);
  void tail.then(() => {
    if (chains.get(name) === tail) chains.delete(name);
  });
  return next;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * `POST /api/v1/push/NAME` (authorised by {@link authorizePush}): records the push in the
 * check's state, where it outlives a restart, then runs the check at once so that its status
 * shows the push now; answers with that result.
 */
export async function receivePush(agent: Agent, name: string, body: unknown, log: Logger) {
  pushCheckNamed(agent, name); // a reload may have removed it since the token was checked
  const input = parseBody(bodySchema, body ?? {});
  const state = agent.states.for(name);
  const at = agent.now();
  const record = await serialised(agent, name, async () => {
    const prev = (await state.get(LAST_PUSH_KEY)) as { count?: unknown } | undefined;
    const count = (typeof prev?.count === 'number' && Number.isFinite(prev.count) ? prev.count : 0) + 1;
    const r = {
      at,
      status: input.status ?? 'ok',
      ...(input.message !== undefined ? { message: input.message } : {}),
      ...(input.duration !== undefined || input.durationMs !== undefined ? { durationMs: input.duration ?? input.durationMs } : {}),
      count,
    };
    await state.set(LAST_PUSH_KEY, r);
    return r;
  });
  log.info({ check: name, status: record.status, durationMs: record.durationMs, pushes: record.count }, 'push received');
  const result = await agent.rerun(name);
  return {
    json: {
      check: name,
      pushedAt: iso(at),
      pushedStatus: record.status,
      pushes: record.count,
      ...(result
        ? { status: result.statusText, message: result.message }
        : { note: 'the push is recorded; the check did not run now (the agent is stopping or the config changed), its next run shows it' }),
    },
  };
}
