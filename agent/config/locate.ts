import { isMap, isScalar, isSeq, Scalar, type Document, type Node, type Pair } from 'yaml';
import { z } from 'zod';
import type { ConditionError } from '../evaluate';
import { didYouMean } from '../suggest';

/** `['checks', 2, 'warn']` → `checks[2].warn`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** Places problems found in the parsed value back in the YAML text. */
export type Locate = ReturnType<typeof locator>;

/**
 * Builds the locator of a document: turns a path into the place in the text (the deepest
 * node that exists on it) and a zod issue into a message, then reports it through `at`.
 */
export function locator(doc: Document, at: (offset: number, path: string, message: string) => void) {
  let count = 0;
  // Keys of each map, indexed on first use: a lookup by path must not scan a map of 20,000
  // labels for every problem in it (the library's getIn does).
  const index = new Map<Node, Map<string, Pair>>();
  const pairOf = (map: Node, key: string): Pair | undefined => {
    if (!isMap(map)) return undefined;
    let keys = index.get(map);
    if (!keys) {
      keys = new Map();
      for (const p of map.items) if (isScalar(p.key) && !keys.has(String(p.key.value))) keys.set(String(p.key.value), p);
      index.set(map, keys);
    }
    return keys.get(key);
  };
  const child = (node: Node, key: string | number): Node | undefined => {
    const next = isSeq(node) && typeof key === 'number' ? node.items[key] : pairOf(node, String(key))?.value;
    return isNodeLike(next) ? next : undefined;
  };
  const nodeAt = (path: readonly (string | number)[]): { node: Node | undefined; exact: boolean } => {
    let node = isNodeLike(doc.contents) ? (doc.contents as Node) : undefined;
    let depth = 0;
    for (; node && depth < path.length; depth++) {
      const next = child(node, path[depth]);
      if (!next) break;
      node = next;
    }
    return { node, exact: node !== undefined && depth === path.length };
  };
  const offsetOf = (path: readonly (string | number)[]) => nodeAt(path).node?.range?.[0] ?? 0;
  const keyOffset = (path: readonly (string | number)[], key: string | number) => {
    const { node, exact } = nodeAt(path);
    const pair = exact && node ? pairOf(node, String(key)) : undefined;
    return pair && isScalar(pair.key) && pair.key.range ? pair.key.range[0] : (node?.range?.[0] ?? 0);
  };
  const report = (offset: number, path: readonly PropertyKey[], message: string) => {
    count++;
    at(offset, formatPath(path), message);
  };
  return {
    count: () => count,
    raw: (path: readonly (string | number)[]) => {
      const { node, exact } = nodeAt(path);
      if (!exact || !node) return undefined;
      return isScalar(node) ? node.value : node.toJSON();
    },
    path(path: readonly (string | number)[], message: string) {
      report(offsetOf(path), path, message);
    },
    condition(path: readonly (string | number)[], err: ConditionError) {
      const { node, exact } = nodeAt(path);
      let offset = node?.range?.[0] ?? 0;
      if (exact && node && isScalar(node)) {
        const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
        offset += (quoted ? 1 : 0) + err.offset;
      }
      report(offset, path, `invalid condition: ${err.message}`);
    },
    issue(base: readonly (string | number)[], issue: z.core.$ZodIssue, schema: z.ZodType) {
      const path = [...base, ...(issue.path as (string | number)[])];
      switch (issue.code) {
        case 'unrecognized_keys': {
          const valid = keysAt(schema, issue.path as (string | number)[]);
          for (const key of issue.keys) {
            report(keyOffset(path, key), [...path, key], `unknown key "${key}"${didYouMean(key, valid)}${valid.length ? ` (valid: ${valid.join(', ')})` : ''}`);
          }
          return;
        }
        case 'invalid_value': {
          const values = issue.values.map(String);
          const got = valueAt(this.raw(path));
          report(offsetOf(path), path, `must be one of ${values.join(', ')}${got !== undefined ? `, not "${got}"${didYouMean(got, values)}` : ''}`);
          return;
        }
        case 'invalid_key': {
          // A bad key of a record (e.g. a label name): point at the key itself.
          const key = path[path.length - 1];
          report(keyOffset(path.slice(0, -1), key), path, issue.issues.map((i) => i.message).join('; '));
          return;
        }
        case 'invalid_type': {
          const given = this.raw(path);
          const hint = issue.expected === 'string' && (typeof given === 'number' || typeof given === 'boolean') ? ' (put it in quotes)' : '';
          report(offsetOf(path), path, given === undefined ? `required (${issue.expected})` : `expected ${issue.expected}, got ${describe(given)}${hint}`);
          return;
        }
        default:
          report(offsetOf(path), path, issue.message.replace(/^Invalid input: /, ''));
      }
    },
  };
}

function isNodeLike(n: unknown): n is Node {
  return isScalar(n) || isMap(n) || isSeq(n);
}

function valueAt(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** What was given instead, by kind only: the value itself may be a secret. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? 'text' : typeof v;
}

/** The keys a (possibly wrapped) zod object at `path` inside `schema` accepts. */
function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let s: any = schema;
  const unwrap = () => {
    for (;;) {
      const def = s?._zod?.def;
      if (!def) return;
      if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType;
      else if (def.type === 'pipe') s = def.in;
      else return;
    }
  };
  for (const p of path) {
    unwrap();
    const def = s?._zod?.def;
    if (def?.type === 'object') s = def.shape[p as string];
    else if (def?.type === 'array') s = def.element;
    else if (def?.type === 'record') s = def.valueType;
    else return [];
  }
  unwrap();
  const def = s?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}
