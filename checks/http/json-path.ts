/** A compiled JSON path: returns the value it names in a document, or undefined. */
export type JsonPath = (doc: unknown) => unknown;

/**
 * Compiles a small JSON path: an optional `$`, then `.key`, `["key"]` or `[index]` steps
 * (`$.data.items[0].state`, `status`, `["odd key"]`). Negative indexes count from the end.
 * `length` on an array or string gives its length. Throws on a malformed path.
 */
export function compileJsonPath(path: string): JsonPath {
  const steps: (string | number)[] = [];
  let rest = path.trim();
  if (rest.startsWith('$')) rest = rest.slice(1);
  else if (rest && !rest.startsWith('.') && !rest.startsWith('[')) rest = `.${rest}`;
  const step = /^(?:\.([A-Za-z_$][\w$-]*)|\[(-?\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\['([^']*)'\])/;
  while (rest) {
    const m = step.exec(rest);
    if (!m) throw new Error(`bad JSON path at "${rest}"`);
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push((m[3] ?? m[4]).replace(/\\(.)/g, '$1'));
    rest = rest.slice(m[0].length);
  }
  return (doc) => {
    let cur: unknown = doc;
    for (const s of steps) {
      if (cur === null || cur === undefined) return undefined;
      if (typeof s === 'number') {
        if (!Array.isArray(cur)) return undefined;
        cur = cur[s < 0 ? cur.length + s : s];
      } else if (s === 'length' && (Array.isArray(cur) || typeof cur === 'string')) {
        cur = cur.length;
      } else if (typeof cur === 'object' && !Array.isArray(cur) && Object.prototype.hasOwnProperty.call(cur, s)) {
        cur = (cur as Record<string, unknown>)[s];
      } else {
        return undefined;
      }
    }
    return cur;
  };
}
