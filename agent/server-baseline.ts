import { z } from 'zod';
import { checkTypes } from '../checks';
import type { Agent } from './agent';
import type { BaselineAcceptance } from './check-state';
import type { Logger } from './logger';
import type { CheckConfig } from './model';
import { HttpError, parseBody } from './request-body';

const acceptSchema = z.strictObject({
  by: z.string({ error: 'say who accepts the new baseline (by)' }).trim().min(1, { message: 'say who accepts the new baseline (by)' }).max(200),
  reason: z
    .string({ error: 'say why the files changed (reason), e.g. a change ticket' })
    .trim()
    .min(1, { message: 'say why the files changed (reason), e.g. a change ticket' })
    .max(2000),
});

const iso = (t: number) => new Date(t).toISOString();
const showAcceptance = (a: BaselineAcceptance) => ({ by: a.by, reason: a.reason, at: iso(a.at) });

/** The check named, if it keeps a baseline: 404 for no such check, 409 for one that keeps none. */
function baselineCheck(agent: Agent, name: string): CheckConfig {
  const check = agent.checkConfigs().find((c) => c.name === name);
  if (!check) throw new HttpError(404, `no check named "${name}"`);
  if (!check.def.baseline) {
    const types = checkTypes.filter((d) => d.baseline).map((d) => d.type);
    throw new HttpError(409, `check "${name}" (type ${check.type}) keeps no baseline; only checks that compare with one (type ${types.join(', ')}) can accept a new one`);
  }
  return check;
}

/** `GET /api/v1/checks/NAME/baseline`: what the check keeps and who accepted its baselines, newest first. */
export function showBaseline(agent: Agent, name: string) {
  baselineCheck(agent, name);
  const held = agent.states.held(name).map((h) => ({ key: h.key, bytes: h.bytes, updatedAt: iso(h.updatedAt) }));
  return { json: { check: name, persistent: agent.states.persistent, held, acceptances: agent.states.acceptances(name).map(showAcceptance) } };
}

/**
 * `POST /api/v1/checks/NAME/baseline` with `{by, reason}`: drops the check's baseline, records
 * who accepted the change and why, and runs the check at once (after a run in flight), so the
 * new baseline is taken now and the answer shows it.
 */
export async function acceptBaseline(agent: Agent, name: string, body: unknown, log: Logger) {
  baselineCheck(agent, name);
  const input = parseBody(acceptSchema, body ?? {});
  const acceptance = agent.states.accept(name, input.by, input.reason);
  log.info({ check: name, by: input.by, reason: input.reason }, 'baseline accepted; recording a new one');
  const result = await agent.rerun(name);
  return {
    json: {
      check: name,
      acceptance: showAcceptance(acceptance),
      ...(result
        ? { result: { ...result, startedAt: iso(result.startedAt) } }
        : { note: 'the check did not run (the agent is stopping or the config changed); its next run records the baseline' }),
    },
  };
}
