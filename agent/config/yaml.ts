import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type LineCounter, type Node, type Scalar } from 'yaml';
import { formatBytes } from '../../checks/types';
import { formatPath } from './locate';
import { CONFIG_MAX_BYTES } from './read';

/** Reports a problem at a character offset of the text. */
export type At = (offset: number, path: string, message: string) => void;

/** A path into the document: map keys and sequence indexes. */
export type YamlPath = (string | number)[];

/**
 * Most nodes YAML aliases may add to the document. Hundreds of checks can share an anchored
 * label map; an alias bomb ("billion laughs": aliases of aliases, each level nine times the
 * last) passes this within a few levels and is refused before anything is expanded.
 */
export const ALIAS_NODES_MAX = 100_000;

/**
 * Parses YAML text into a document with located problems: syntax errors, duplicate keys and
 * a file over the size limit. Returns undefined when there were any.
 */
export function parseYaml(text: string, lines: LineCounter, at: At): Document | undefined {
  const bytes = Buffer.byteLength(text);
  if (bytes > CONFIG_MAX_BYTES) {
    at(0, '', `config larger than the ${formatBytes(CONFIG_MAX_BYTES, { iec: true })} limit (${bytes} bytes)`);
    return undefined;
  }
  // uniqueKeys is checked below: the library compares each key with every earlier key of its
  // map, which made a map of 20,000 labels take seconds. logLevel: its warnings would go to
  // stderr as process warnings; what they warn of is refused here instead.
  const doc = stackSafe(at, () => parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, logLevel: 'error' }));
  if (!doc) return undefined;
  for (const e of doc.errors) at(e.pos[0], '', e.message.split('\n')[0]);
  if (doc.errors.length) return undefined;
  let bad = 0;
  walk(doc, (node, path) => {
    if (!isMap(node)) return;
    const seen = new Map<unknown, Scalar>();
    for (const pair of node.items) {
      if (isMap(pair.key) || isSeq(pair.key)) {
        bad++;
        at(pair.key.range?.[0] ?? 0, formatPath(path), 'a key must be a plain value, not a list or mapping');
      }
      if (!isScalar(pair.key)) continue;
      const first = seen.get(pair.key.value);
      if (!first) {
        seen.set(pair.key.value, pair.key);
        continue;
      }
      bad++;
      const line = lines.linePos(first.range?.[0] ?? 0).line;
      at(pair.key.range?.[0] ?? 0, formatPath([...path, String(pair.key.value)]), `duplicate key (first set on line ${line})`);
    }
  });
  return bad ? undefined : doc;
}

/**
 * Runs a step of the YAML library, turning a stack overflow into a problem at the start of the
 * file. Some malformed input (a thousand lines of an unclosed list, then `---`) makes its
 * parser recurse once per line.
 */
function stackSafe<T>(at: At, step: () => T): T | undefined {
  try {
    return step();
  } catch (err) {
    if (!(err instanceof RangeError) || !/call stack/i.test(err.message)) throw err;
    at(0, '', 'the YAML is nested too deeply, or broken in a way its parser cannot recover from');
    return undefined;
  }
}

/**
 * Calls `fn` on every node of the document in document order, with its path (a stack that
 * changes as the walk goes on: copy it to keep it). Map keys are not visited; aliases are
 * visited as aliases, not followed.
 */
export function walk(doc: Document, fn: (node: Node, path: YamlPath) => void): void {
  const path: YamlPath = [];
  const visit = (node: unknown) => {
    if (!isScalar(node) && !isMap(node) && !isSeq(node) && !isAlias(node)) return;
    fn(node, path);
    if (isMap(node)) {
      for (const pair of node.items) {
        path.push(isScalar(pair.key) ? String(pair.key.value) : '?');
        visit(pair.value);
        path.pop();
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        path.push(i);
        visit(item);
        path.pop();
      });
    }
  };
  visit(doc.contents);
}

/**
 * Replaces every alias with the node its anchor names, so that what an alias expands to is
 * counted, and bounded, before anything is built from it. Refuses an alias with no anchor
 * before it, an alias inside the node it names (a cycle), and aliases that would add more than
 * ALIAS_NODES_MAX nodes. Linear in the document: the library's own resolution looks each alias
 * up among all anchors and aliases before it, quadratic in their number.
 */
export function resolveAliases(doc: Document, at: At): boolean {
  const anchors = new Map<string, Node>();
  const sizes = new Map<Node, number>();
  const open = new Set<Node>();
  const path: YamlPath = [];
  let added = 0;
  let failed = false;
  const fail = (node: Node, message: string) => {
    at(node.range?.[0] ?? 0, formatPath(path), message);
    failed = true;
  };
  // Returns the expanded size of `node`, and the node an alias stands for.
  const visit = (node: unknown): [number, unknown] => {
    if (failed) return [1, node];
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) {
        fail(node, `alias *${node.source} has no anchor &${node.source} before it`);
        return [1, node];
      }
      if (open.has(target)) {
        fail(node, `alias *${node.source} is inside the node it names (a cycle)`);
        return [1, node];
      }
      const size = sizes.get(target) ?? 1;
      added += size;
      if (added > ALIAS_NODES_MAX) {
        fail(node, `aliases expand to more than ${ALIAS_NODES_MAX} nodes (an alias bomb?); refused`);
        return [1, node];
      }
      return [size, target];
    }
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) return [0, node];
    if (node.anchor) anchors.set(node.anchor, node);
    let size = 1;
    if (isMap(node) || isSeq(node)) {
      open.add(node);
      node.items.forEach((item: unknown, i: number) => {
        if (isPair(item)) {
          const [ks, key] = visit(item.key);
          if (!failed && (isMap(key) || isSeq(key))) fail(item.key as Node, 'a key must be a plain value, not an alias of a list or mapping');
          path.push(isScalar(key) ? String(key.value) : '?');
          const [vs, value] = visit(item.value);
          item.key = key;
          item.value = value;
          size += ks + vs;
        } else {
          path.push(i);
          const [s, value] = visit(item);
          (node.items as unknown[])[i] = value;
          size += s;
        }
        path.pop();
      });
      open.delete(node);
    }
    if (node.anchor) sizes.set(node, size);
    return [size, node];
  };
  const [, root] = visit(doc.contents);
  if (!failed) doc.contents = root as Document['contents'];
  return !failed;
}

/**
 * The plain value of a document whose aliases resolveAliases replaced. maxAliasCount 0 makes
 * the library refuse any alias still there rather than resolve it (slowly, and unbounded);
 * that would be a bug here, reported as a located problem rather than a crash.
 */
export function toPlain(doc: Document, at: At): unknown {
  try {
    return stackSafe(at, () => doc.toJS({ maxAliasCount: 0 }));
  } catch (err) {
    if (!(err instanceof ReferenceError) || !/alias/i.test(err.message)) throw err;
    at(0, '', `YAML alias could not be resolved: ${err.message}`);
    return undefined;
  }
}
