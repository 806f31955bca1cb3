/**
 * The house rules, checked on the source: small files, a pure incident policy, folders that
 * do not import each other in circles, and plugins (checks, notifiers) the agent finds only
 * through their registries.
 */
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

interface Source {
  file: string;
  lines: number;
  /** Every import (type-only ones too): resolved project files, or bare module names. */
  imports: Array<{ target: string; typeOnly: boolean }>;
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listTs(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

function resolve(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec.replace(/^node:/, '');
  const base = path.join(path.dirname(from), spec);
  for (const f of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(path.join(root, f))) return f;
  throw new Error(`${from}: cannot resolve ${spec}`);
}

function parse(file: string): Source {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const imports: Source['imports'] = [];
  const re = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) {
    // `export type * from` and `import type {…}` vanish at run time.
    const typeOnly = !!m[2] || /^\s*export\s+type\s/.test(m[0]);
    imports.push({ target: resolve(file, m[3]), typeOnly });
  }
  for (const m of text.matchAll(/require\(['"]([^'"]+)['"]\)/g)) imports.push({ target: resolve(file, m[1]), typeOnly: false });
  return { file, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0), imports };
}

const sources = new Map([...listTs('agent'), ...listTs('checks')].map((f) => [f, parse(f)]));

/** Every module a file loads at run time, directly or through others. */
function runtimeClosure(file: string): Set<string> {
  const seen = new Set<string>();
  const walk = (f: string) => {
    for (const { target, typeOnly } of sources.get(f)?.imports ?? []) {
      if (typeOnly || seen.has(target)) continue;
      seen.add(target);
      walk(target);
    }
  };
  walk(file);
  return seen;
}

test('no source file under agent/ or checks/ is over 400 lines', () => {
  const long = [...sources.values()].filter((s) => s.lines > 400).map((s) => `${s.file}: ${s.lines}`);
  expect(long).toEqual([]);
});

test('the incident policy is pure: agent/incidents loads no I/O module and never the store, the engine or a responder', () => {
  const io = ['child_process', 'fs', 'fs/promises', 'http', 'https', 'net', 'tls', 'dgram', 'axios', 'better-sqlite3'];
  const found: string[] = [];
  for (const s of sources.values()) {
    if (!s.file.startsWith('agent/incidents/')) continue;
    for (const { target } of s.imports) if (/^agent\/(store|engine|responders|notifiers)\//.test(target)) found.push(`${s.file} imports ${target}`);
    for (const m of runtimeClosure(s.file)) if (io.includes(m)) found.push(`${s.file} loads ${m}`);
  }
  expect(found).toEqual([]);
});

test('the store imports nothing from incidents or notifiers; the model implements nothing', () => {
  const found: string[] = [];
  for (const s of sources.values()) {
    if (!s.file.startsWith('agent/store/')) continue;
    for (const { target } of s.imports) if (/^agent\/(incidents|notifiers|engine)\//.test(target)) found.push(`${s.file} imports ${target}`);
  }
  expect(found).toEqual([]);
  const model = sources.get('agent/model.ts')!;
  expect(model.imports.filter((i) => !i.typeOnly)).toEqual([]);
  expect(fs.readFileSync(path.join(root, 'agent/model.ts'), 'utf8')).not.toMatch(/^\s*(export\s+)?(async\s+)?(function|class)\s/m);
});

test('folders under agent/ do not import each other in circles', () => {
  const folderOf = (f: string) => (/^agent\/[^/]+\//.test(f) ? f.split('/').slice(0, 2).join('/') : f.startsWith('agent/') ? 'agent' : f.split('/')[0]);
  const edges = new Map<string, Set<string>>();
  for (const s of sources.values()) {
    const from = folderOf(s.file);
    for (const { target } of s.imports) {
      if (!target.includes('/')) continue;
      const to = folderOf(target);
      if (to !== from && to.startsWith('agent/') && from.startsWith('agent/')) {
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)!.add(to);
      }
    }
  }
  const cycles: string[] = [];
  const reach = (a: string, b: string, seen = new Set<string>()): boolean => {
    if (a === b) return true;
    seen.add(a);
    return [...(edges.get(a) ?? [])].some((n) => !seen.has(n) && reach(n, b, seen));
  };
  for (const [from, tos] of edges) for (const to of tos) if (reach(to, from)) cycles.push(`${from} → ${to} → … → ${from}`);
  expect(cycles).toEqual([]);
});

/** Folders under checks/ that hold code several check types (and the agent) share, not a check type. */
const SHARED_CHECK_CODE = ['cost-sources'];

test('the agent names no check and no notifier by its internals, and no check another: only the registries import them', () => {
  const found: string[] = [];
  for (const s of sources.values()) {
    for (const { target } of s.imports) {
      const check = /^checks\/([^/]+)\//.exec(target);
      const own = /^checks\/([^/]+)\//.exec(s.file)?.[1];
      if (check && !SHARED_CHECK_CODE.includes(check[1]) && check[1] !== own && (s.file.startsWith('agent/') || own)) found.push(`${s.file} imports ${target}`);
      const notifier = /^agent\/notifiers\/([^/]+)\//.exec(target);
      if (notifier && !s.file.startsWith('agent/notifiers/')) found.push(`${s.file} imports ${target}`);
    }
  }
  expect(found).toEqual([]);
});
