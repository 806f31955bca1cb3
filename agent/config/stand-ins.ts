import type { z } from 'zod';
import { formatPath } from './locate';

/**
 * Whether a problem at `path` may be a stand-in's: `keepwatch validate` puts an unset
 * variable's name where its value would go, at the paths in `unset`, and what is wrong there
 * (an http URL that is only `${SLACK_WEBHOOK_URL}`) says nothing of the config.
 */
export function underStandIn(path: string, unset: readonly string[]): boolean {
  return unset.some((u) => path === u || path.startsWith(`${u}.`) || path.startsWith(`${u}[`));
}

/**
 * The raw config without the keys a section refused only for their stand-ins, so that the
 * section still parses (with those keys' defaults) and the references between sections are
 * checked; undefined when some refusal is not a stand-in's or is not a key of a mapping.
 */
export function withoutStandIns(raw: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], unset: readonly string[]): Record<string, unknown> | undefined {
  const copy = structuredClone(raw);
  for (const issue of issues) {
    const path = issue.path as (string | number)[];
    const key = path.at(-1);
    if (!underStandIn(formatPath(path), unset) || typeof key !== 'string') return undefined;
    let parent: unknown = copy;
    for (const p of path.slice(0, -1)) parent = (parent as Record<string | number, unknown> | undefined)?.[p];
    if (!parent || typeof parent !== 'object' || Array.isArray(parent)) return undefined;
    delete (parent as Record<string, unknown>)[key];
  }
  return copy;
}
