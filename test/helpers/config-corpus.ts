import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../agent/paths';
import type { Rng } from './rng';

/** Hand-written seeds beside the shipped configs: every section, and the conditions. */
const HAND_SEEDS = [
  `agent: { name: seed-1, listen: "127.0.0.1:0", concurrency: 4 }
api: { token: "\${KEEPWATCH_TOKEN}", metrics: { auth: bearer } }
defaults: { every: 30s, timeout: 5s, retryEvery: 10s }
checks:
  - name: web
    type: http
    url: "https://user:pa55word@api.example/healthz?api_key=k123"
    headers: { Authorization: "Bearer \${API_TOKEN}", X-Other: "\${DB_PASSWORD:-pw}" }
    warn: "latencyMs > 300"
    bodyRegex: "ok|up"
    crit: ["status != 200", "latencyMs > 2s", "matches == false"]
    labels: { team: payments, tier: "1" }
    dependsOn: [db]
  - { name: db, type: tcp, host: db.internal, port: 5432, every: 1m, crit: "latencyMs >= 1500ms" }
  - { name: root, type: disk, mount: /, warn: "usedPercent > 80%", crit: ["usedPercent > 90%", "freeBytes < 1GiB"] }
  - { name: nightly, type: load, cron: "0 */5 * * * *", timezone: Europe/Berlin, enabled: false }
`,
  `incidents: { openAfter: 2, resolveAfter: 2, unknownIs: critical, flapping: { low: 5, high: 20 } }
coverage: { business: { days: mon-fri, hours: "08:00-18:00", timezone: Europe/Berlin } }
maintenance: [ { name: patching, cron: "0 2 * * 0", duration: 2h, checks: ["*"] } ]
escalation:
  - { name: L1, after: 0s, notify: [hook] }
  - { name: L2, after: 15m, notify: [hook, pd], coverage: business, pageAnyway: [critical], repeat: { every: 30m, max: 3 } }
sla: { critical: { respond: 15m, resolve: 4h } }
notifiers:
  - { name: hook, type: webhook, url: "https://hooks.example/kw", secret: "\${HOOK_SECRET:-s3cret-hmac-0123456789}" }
  - { name: pd, type: pagerduty, routingKey: "0123456789abcdef0123456789abcdef" }
notifications: { maxAge: 1h, templates: { title: "{{EVENT}} {{severity}}: {{check}}" } }
checks:
  - { name: cpu, type: cpu, warn: "usagePercent > 85", slo: 99.9% }
  - { name: mem, type: memory, crit: "usedPercent > 95" }
  - name: worker
    type: process
    match: "worker"
    crit: "running < 2"
    remediate: { actions: [ { systemd: worker } ], limit: { max: 3, within: 1h }, cooldown: 5m }
    logs: [ { path: /var/log/worker.log, match: "ERROR", lines: 20 } ]
`,
  `checks:
  - &base { name: a, type: tcp, port: 1, labels: &labels { team: ops } }
  - { name: b, type: tcp, port: 2, labels: *labels }
  - { name: c, type: tcp, port: 3, labels: *labels, warn: "latencyMs > 1s" }
`,
  '',
  '# only a comment\n',
  'checks: []\n',
];

/** The configs the corpus starts from: the shipped ones and the hand-written seeds. */
export function seeds(): string[] {
  const root = packageRoot();
  return [
    fs.readFileSync(path.join(root, 'config', 'example.yaml'), 'utf8'),
    fs.readFileSync(path.join(root, 'config', 'default.yaml'), 'utf8'),
    ...HAND_SEEDS,
  ];
}

/** Values that break types, numbers, units and conditions in every way we could think of. */
const VALUES = [
  '~', 'null', '""', "''", 'true', 'no', '0', '-1', '1e308', '1e400', '-1e400', '.inf', '-.inf', '.nan', '0x1F', '0o17', '99999999999999999999999',
  '[]', '{}', '[1, [2, [3]]]', '{ a: { b: { c: 1 } } }', '"\\u0000"', '"\\uD800"', '"😀"', '"\\t\\r\\n"', '!!binary aGVsbG8=', '!custom x', '!!str 5', '!!int "x"',
  '30 parsecs', '1e400s', '-5m', '99999999999999999999d', '1.5.5s', '5MB', '110%', '-3%', '0ms', '1h-30m', 'PT5M',
  '"latencyMs >"', '"> 5"', '"latencyMs >> 5"', '"nope == 1"', '"status =~ \\"(\\""', '"status =~ \\"(a+)+$\\""', '"latencyMs > 1e999"', '"latencyMs > 5 and"',
  '"usedPercent > 80%%"', '"body == \\"unterminated"', '"freeBytes < 10XB"', '"latencyMs > -"', '"x".repeat', '"${NOPE}"', '"${file:/nonexistent/x}"',
  '"${file:/dev/zero}"', '"${file:/proc/self/status}"', '"${file:/}"', '"$${literal}"', '"${}"', '"${ 1abc }"', '"${X:-${Y}}"', '*nowhere', '&anchor value',
  '"0.0.0.0:99999"', '"[::1]:9470"', '":0"', 'web-01:bad:name', '"\\u202e"',
];

const STRUCTURES = [
  '<<: *base', '? [complex, key]\n: value', '---\nsecond: doc', '...', '%YAML 1.1\n---', '"duplicate": 1\n"duplicate": 2', 'a: &x [*x]',
  'x: !!set { a, b }', 'x: !!omap [ { a: 1 } ]', 'x: |\n  block\n  text', 'x: >-\n  folded', '\t- tabbed', '- - - nested', ': no key', 'key without value:',
];

function deep(r: Rng): string {
  const depth = 1 + r.int(r.next() < 0.2 ? 3000 : 60);
  return r.next() < 0.5 ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;
}

function aliasBomb(r: Rng): string {
  const levels = 2 + r.int(9);
  const lines = ['bomb0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < levels; i++) lines.push(`bomb${i}: &b${i} [${Array(9).fill(`*b${i - 1}`).join(', ')}]`);
  return lines.join('\n');
}

function randomText(r: Rng, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    const c = r.next();
    out += c < 0.1 ? String.fromCharCode(r.int(32)) : c < 0.8 ? String.fromCharCode(32 + r.int(95)) : String.fromCodePoint(r.int(0x10ffff - 0xe000) + (r.next() < 0.5 ? 0 : 0xe000));
  }
  return out.replace(/[\uD800-\uDFFF]/g, '?');
}

/** Replaces the value after a `key:` on a line (or the whole line) with `value`. */
function setValue(line: string, value: string): string {
  const m = /^(\s*(?:- )?[^:#\s][^:#]*:\s)/.exec(line);
  return m ? m[1] + value : line + value;
}

type Mutation = (lines: string[], r: Rng) => string[];

const MUTATIONS: Record<string, Mutation> = {
  'delete line': (l, r) => (l.length ? l.filter((_, i) => i !== r.int(l.length)) : l),
  'duplicate line': (l, r) => {
    const i = r.int(l.length || 1);
    return [...l.slice(0, i + 1), l[i] ?? '', ...l.slice(i + 1)];
  },
  'swap lines': (l, r) => {
    const out = [...l];
    const i = r.int(out.length || 1);
    const j = r.int(out.length || 1);
    [out[i], out[j]] = [out[j], out[i]];
    return out.filter((x) => x !== undefined);
  },
  'flip a value': (l, r) => l.map((x, i) => (i === r.int(l.length) ? setValue(x, r.pick(VALUES)) : x)),
  'random bytes': (l, r) => {
    const i = r.int(l.length || 1);
    const line = l[i] ?? '';
    const at = r.int(line.length + 1);
    return [...l.slice(0, i), line.slice(0, at) + randomText(r, 1 + r.int(12)) + line.slice(at), ...l.slice(i + 1)];
  },
  'deep nesting': (l, r) => l.map((x, i) => (i === r.int(l.length) ? setValue(x, deep(r)) : x)),
  'huge value': (l, r) => l.map((x, i) => (i === r.int(l.length) ? setValue(x, `"${'x'.repeat(1 + r.int(50_000))}"`) : x)),
  'bad condition': (l, r) => {
    const conds = l.map((x, i) => (/(warn|crit):/.test(x) ? i : -1)).filter((i) => i >= 0);
    const i = conds.length ? r.pick(conds) : r.int(l.length || 1);
    const value = r.next() < 0.5 ? r.pick(VALUES.filter((v) => v.startsWith('"'))) : `"${randomText(r, 1 + r.int(20)).replace(/["\\]/g, '')}"`;
    return l.map((x, j) => (j === i ? x.replace(/(warn|crit):.*$/, `$1: ${value}`) : x));
  },
  'aliases': (l, r) => {
    const choice = r.int(4);
    if (choice === 0) return [aliasBomb(r), ...l];
    if (choice === 1) return l.map((x, i) => (i === r.int(l.length) ? setValue(x, `*a${r.int(3)}`) : x));
    if (choice === 2) return l.map((x, i) => (i === r.int(l.length) ? setValue(x, `&a0 ${r.pick(VALUES)}`) : x));
    return [...l, r.pick(STRUCTURES)];
  },
  'structure': (l, r) => {
    const i = r.int(l.length + 1);
    return [...l.slice(0, i), r.pick(STRUCTURES), ...l.slice(i)];
  },
  'tabs': (l, r) => l.map((x) => (r.next() < 0.3 ? x.replace(/^( {2})+/, (m) => '\t'.repeat(m.length / 2)) : x)),
  'indent': (l, r) => l.map((x, i) => (i === r.int(l.length) ? (r.next() < 0.5 ? ` ${x}` : x.replace(/^ /, '')) : x)),
  'truncate': (l, r) => {
    const text = l.join('\n');
    return text.slice(0, r.int(text.length + 1)).split('\n');
  },
  'many checks': (l, r) => [...l.filter((x) => !/^checks:/.test(x)), 'checks:', ...Array.from({ length: r.int(400) }, (_, i) => `  - {name: m${i}, type: tcp, port: ${1 + (i % 60000)}}`)],
};

/** One corpus item: a seed with one to three mutations, and what was done to it. */
export function mutate(seed: string, r: Rng): { text: string; how: string[] } {
  let lines = seed.split('\n');
  const how: string[] = [];
  const n = 1 + r.int(3);
  for (let k = 0; k < n; k++) {
    const name = r.pick(Object.keys(MUTATIONS));
    how.push(name);
    lines = MUTATIONS[name](lines, r);
  }
  return { text: lines.join('\n'), how };
}

/** What a located problem looks like: `file:line:col: message`. */
export function isLocated(line: string, file: string): boolean {
  if (!line.startsWith(`${file}:`)) return false;
  const m = /^:(\d+):(\d+): \S/.exec(line.slice(file.length));
  return m !== null && Number(m[1]) >= 1 && Number(m[2]) >= 1;
}

/** A JavaScript stack trace or an uncaught-error banner in output. */
export const STACK_RE = /^\s+at .+[(\s].*:\d+:\d+\)?$|node:internal|^\w*Error: |Uncaught/m;
