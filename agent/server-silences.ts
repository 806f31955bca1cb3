import crypto from 'node:crypto';
import { z } from 'zod';
import { duration } from '../checks/units';
import type { Agent } from './agent';
import { silenceMatches, type IncidentEngine } from './engine';
import type { Logger } from './logger';
import type { Silence } from './model';
import { HttpError, parseBody } from './request-body';
import { nearest } from './suggest';

const silenceInputSchema = z
  .strictObject({
    check: z.string().min(1).optional(),
    checks: z.array(z.string().min(1)).min(1).optional(),
    labels: z.record(z.string(), z.string()).default({}),
    for: duration({ min: 1000 }).optional(),
    startsAt: z.iso.datetime({ offset: true }).optional(),
    endsAt: z.iso.datetime({ offset: true }).optional(),
    comment: z.string().min(1, { message: 'say why (comment)' }).max(2000),
    createdBy: z.string().min(1).max(200).default('api'),
    force: z.boolean().default(false),
  })
  .refine((s) => (s.check === undefined) !== (s.checks === undefined), { message: 'give check (a name or glob) or checks (a list)' })
  .refine((s) => (s.for === undefined) !== (s.endsAt === undefined), { message: 'give for (a duration such as 2h) or endsAt' });

/** The last instant a silence may reach: later ones have no ISO 8601 form with a four-digit year. */
const LAST_TIME = Date.parse('9999-12-31T23:59:59.999Z');

const iso = (t: number) => new Date(t).toISOString();

/** A silence as the API shows it. */
export function showSilence(s: Silence) {
  return { ...s, startsAt: iso(s.startsAt), endsAt: iso(s.endsAt), createdAt: iso(s.createdAt) };
}

interface Target {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * What a silence may cover: the checks that run (expanded, `disk:/boot`) and the config's
 * entries that none of them comes from (disabled ones), so silencing a disabled check is no error.
 */
function targets(agent: Agent): Target[] {
  const running = agent.listChecks();
  const bases = new Set(running.map((c) => c.name.split(':')[0]));
  return [...running, ...agent.config.checks.filter((c) => c.enabled === false && !bases.has(c.name))];
}

/** Why a silence matches no check: for each pattern, the nearest check name, or the labels that excluded its checks. */
function noMatch(s: Pick<Silence, 'checks' | 'labels'>, all: Target[]): string {
  const names = [...new Set(all.flatMap((c) => [c.name, c.name.split(':')[0]]))];
  const byName = all.filter((c) => silenceMatches({ checks: s.checks, labels: {} }, c));
  if (byName.length) {
    const wanted = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(', ');
    return `no configured check matches ${s.checks.map((p) => `"${p}"`).join(', ')} with labels ${wanted} (${byName.slice(0, 5).map((c) => c.name).join(', ')}${byName.length > 5 ? ', …' : ''} ${byName.length === 1 ? 'has' : 'have'} other labels)`;
  }
  const close = [...new Set(s.checks.map((p) => nearest(p, names)).filter((n): n is string => n !== undefined))];
  const hint = close.length ? `; did you mean ${close.map((n) => `"${n}"`).join(' or ')}?` : all.length ? ` (checks: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})` : ' (no checks are configured)';
  return `no configured check matches ${s.checks.map((p) => `"${p}"`).join(', ')}${hint}`;
}

/**
 * `POST /api/v1/silences`. A silence that covers no configured check is refused (422) with the
 * nearest names, unless `force` (a silence for a check about to be added): a typo in a name
 * would otherwise silence nothing while the user believes the pages are held. The answer
 * names the checks it covers now (`matched`) and the patterns that matched none (`unmatched`).
 */
export function createSilence(agent: Agent, engine: IncidentEngine, body: unknown, log: Logger): { status: number; json: unknown } {
  const input = parseBody(silenceInputSchema, body);
  const now = Date.now();
  const startsAt = input.startsAt ? Date.parse(input.startsAt) : now;
  const endsAt = input.endsAt ? Date.parse(input.endsAt) : startsAt + input.for!;
  if (endsAt <= startsAt) throw new HttpError(400, 'endsAt must be after startsAt');
  if (!(endsAt <= LAST_TIME)) throw new HttpError(400, 'a silence must end by 9999-12-31');
  const checks = input.checks ?? [input.check!];
  const all = targets(agent);
  const matched = all.filter((c) => silenceMatches({ checks, labels: input.labels }, c)).map((c) => c.name);
  if (!matched.length && !input.force) {
    throw new HttpError(422, noMatch({ checks, labels: input.labels }, all), {}, { hint: 'send "force": true to create it anyway (for a check about to be added)' });
  }
  const unmatched = checks.filter((p) => !all.some((c) => silenceMatches({ checks: [p], labels: input.labels }, c)));
  const silence: Silence = { id: crypto.randomUUID(), checks, labels: input.labels, startsAt, endsAt, comment: input.comment, createdBy: input.createdBy, createdAt: now };
  engine.addSilence(silence);
  log.info({ silence: silence.id, checks, matched: matched.length, until: iso(endsAt), by: silence.createdBy }, 'silence created');
  return { status: 201, json: { ...showSilence(silence), matched, unmatched } };
}

/**
 * `DELETE /api/v1/silences/ID`: ends the active silence with this id or, as git takes a short
 * hash, the one whose id starts with it. A prefix of several is refused with their ids.
 */
export function expireSilence(engine: IncidentEngine, idOrPrefix: string): { json: unknown } {
  const active = engine.listSilences().map((s) => s.id);
  const hits = active.includes(idOrPrefix) ? [idOrPrefix] : active.filter((id) => id.startsWith(idOrPrefix.toLowerCase()));
  if (hits.length > 1) throw new HttpError(400, `silence id "${idOrPrefix}" is ambiguous: it starts ${hits.length} active silences (${hits.join(', ')}); give more of it`);
  if (!hits.length || !engine.expireSilence(hits[0])) throw new HttpError(404, `no active silence "${idOrPrefix}"`);
  return { json: { status: 'expired', id: hits[0] } };
}
