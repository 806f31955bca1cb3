import { isScalar, Scalar, type Document } from 'yaml';
import { formatPath } from './locate';
import { FileReadError } from './read';
import { walk, type At } from './yaml';

/** Environment variables whose values are secrets wherever they are interpolated (`${PD_ROUTING_KEY}` in a URL). */
const SECRET_ENV_RE = /TOKEN|SECRET|PASS|KEY|CRED|AUTH/i;

const REF_RE = /\$\$\{|\$\{([^}]*)\}/g;

/**
 * Most text interpolation may add to a config, all values together: each `${file:}` is capped,
 * but one file named in ten thousand places would still be ten thousand copies.
 */
export const INTERPOLATED_MAX_CHARS = 16 * 1024 * 1024;

/** Reads the file a `${file:/path}` names; throws FileReadError when it cannot. */
export type ReadRef = (file: string) => string;

/** The files `${file:/path}` references in the document name, to be read before interpolation. */
export function fileRefs(doc: Document): Set<string> {
  const files = new Set<string>();
  walk(doc, (node) => {
    if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('${')) return;
    for (const m of node.value.matchAll(REF_RE)) {
      const ref = (m[1] ?? '').trim();
      if (ref.startsWith('file:')) files.add(ref.slice(5));
    }
  });
  return files;
}

/**
 * Where an unset `${VAR}` goes when it is not an error (`keepwatch validate`): its place, the
 * value's path and the variable's name. The variable's name then stands in for its value.
 */
export type OnUnset = (offset: number, path: string, name: string) => void;

/**
 * Replaces `${VAR}`, `${VAR:-default}` and `${file:/path}` in every value (not in keys) of the
 * document, in place; `$${` is a literal `${`. Values that came from secret-looking variables
 * and from files are added to `secrets`. An unset variable is an error, or goes to `onUnset`.
 */
export function interpolate(doc: Document, env: NodeJS.ProcessEnv, secrets: Set<string>, at: At, readRef: ReadRef, onUnset?: OnUnset): void {
  let added = 0;
  let overflow = false;
  walk(doc, (node, path) => {
    if (overflow || !isScalar(node) || typeof node.value !== 'string' || !node.value.includes('${')) return;
    const offset = node.range?.[0] ?? 0;
    const original = node.value;
    let whole = true;
    const value = original.replace(REF_RE, (match, expr: string | undefined, pos: number) => {
      if (match === '$${') {
        whole = false;
        return '${';
      }
      if (pos !== 0 || match.length !== original.length) whole = false;
      const ref = (expr ?? '').trim();
      if (ref.startsWith('file:')) {
        const p = ref.slice(5);
        try {
          const content = readRef(p).replace(/\r?\n$/, '');
          if (content) secrets.add(content);
          added += content.length;
          return content;
        } catch (err) {
          if (!(err instanceof FileReadError)) throw err;
          at(offset, formatPath(path), `\${${ref}}: cannot read ${p}: ${err.message}`);
          return '';
        }
      }
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(ref);
      if (!m) {
        at(offset, formatPath(path), `\${${ref}}: expected \${VAR}, \${VAR:-default} or \${file:/path}`);
        return '';
      }
      const v = env[m[1]];
      if (v !== undefined && v !== '') {
        if (SECRET_ENV_RE.test(m[1])) secrets.add(v);
        added += v.length;
        return v;
      }
      if (m[2] !== undefined) return m[2];
      if (v === '') return '';
      if (onUnset) {
        whole = false; // the stand-in stays text
        onUnset(offset, formatPath(path), m[1]);
        return m[1];
      }
      at(offset, formatPath(path), `environment variable ${m[1]} is not set (write \${${m[1]}:-} to allow it to be empty)`);
      return '';
    });
    if (added > INTERPOLATED_MAX_CHARS) {
      overflow = true;
      at(offset, formatPath(path), `interpolation adds more than ${INTERPOLATED_MAX_CHARS} characters to the config; refused`);
      return;
    }
    // An unquoted `${PORT}` reads as the number it spells, as if written inline. Only plain
    // decimals and booleans convert: re-reading arbitrary values as YAML would cut a secret
    // at a " #" or turn 0x1F into 31.
    if (whole && node.type === Scalar.PLAIN && /^(-?\d+(\.\d+)?|true|false)$/.test(value)) {
      node.value = value === 'true' ? true : value === 'false' ? false : Number(value);
      return;
    }
    node.value = value;
  });
}
