import fs from 'node:fs';
import path from 'node:path';
import { loadConfigText } from '../../agent/config/load';
import { commonCheckShape, checkSchema } from '../../agent/config/schema';
import { ConfigError, formatProblem } from '../../agent/errors';
import { parseCondition } from '../../agent/evaluate';
import { packageRoot } from '../../agent/paths';
import { checkTypes, registry } from '../../checks';
import { FINDING_SEVERITIES } from '../../checks/types';

const checksDir = path.join(packageRoot(), 'checks');
/** Folders under checks/ that hold code several check types share, not a check type. */
const SHARED = ['cost-sources'];
const folders = fs
  .readdirSync(checksDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !SHARED.includes(d.name))
  .map((d) => d.name)
  .sort();

test('folders, registry entries and READMEs match one to one', () => {
  expect(checkTypes.map((c) => c.type).sort()).toEqual(folders);
  expect(registry.size).toBe(checkTypes.length);
  for (const f of folders) {
    expect(fs.existsSync(path.join(checksDir, f, 'index.ts'))).toBe(true);
    expect(fs.existsSync(path.join(checksDir, f, 'README.md'))).toBe(true);
  }
});

describe.each(checkTypes.map((c) => [c.type, c] as const))('%s', (type, def) => {
  test('its README shows a config example and lists every value it returns', () => {
    const readme = fs.readFileSync(path.join(checksDir, type, 'README.md'), 'utf8');
    expect(readme).toMatch(new RegExp(`type: ${type}\\b`));
    const fields = typeof def.fields === 'function' ? def.fields(def.schema.parse(minimalSpec(type))) : def.fields;
    for (const field of Object.keys(fields)) expect(readme).toContain(`\`${field}\``);
  });

  test('its keys do not shadow the keys every check has', () => {
    const own = Object.keys(def.schema.shape);
    expect(own.filter((k) => k in commonCheckShape)).toEqual([]);
    expect(checkSchema(type)).toBeDefined();
  });

  test('its default thresholds parse against its fields', () => {
    const spec = def.schema.parse(minimalSpec(type));
    const fields = typeof def.fields === 'function' ? def.fields(spec) : def.fields;
    const d = typeof def.defaults === 'function' ? def.defaults(spec) : (def.defaults ?? {});
    for (const c of [...(d.warn ?? []), ...(d.crit ?? [])]) expect(() => parseCondition(c, fields)).not.toThrow();
  });

  test('a security type declares the finding counts, findings and every severity, as counts', () => {
    if (def.category !== 'security') return;
    const fields = typeof def.fields === 'function' ? def.fields(def.schema.parse(minimalSpec(type))) : def.fields;
    for (const key of ['findings', ...FINDING_SEVERITIES]) expect([key, fields[key]?.unit]).toEqual([key, 'count']);
  });

  test('every config key is described (the JSON Schema and docs need it)', () => {
    for (const [key, schema] of Object.entries(def.schema.shape)) {
      expect([key, (schema as { description?: string }).description]).toEqual([key, expect.any(String)]);
    }
  });

  test('its category is one of health, performance, security, cost', () => {
    expect(['health', 'performance', 'security', 'cost']).toContain(def.category);
  });

  test('its row of required keys names only keys it cannot do without', () => {
    const row = minimalSpec(type);
    expect(def.schema.safeParse(row).success).toBe(true);
    for (const key of Object.keys(row)) {
      const { [key]: _dropped, ...rest } = row;
      expect([key, def.schema.safeParse(rest).success]).toEqual([key, false]);
    }
  });

  // Defaults never conflict with each other: a key the user never wrote (a sample window, a
  // timeout) adapts to the interval instead of failing against it.
  test.each([
    ['every: 1s', { every: '1s' }],
    ['the default interval', {}],
    ['every: 1h', { every: '1h' }],
    ['a cron schedule', { cron: '* * * * * *' }],
    ['a short timeout', { every: '1s', timeout: '200ms' }],
  ])('with only its required keys, validates at %s', (_, schedule) => {
    const entry = { name: 'c', type, ...minimalSpec(type), ...schedule };
    expect(configProblems({ checks: [entry] })).toEqual([]);
  });
});

/** The problems of a config (JSON is YAML), none when it loads. */
function configProblems(config: unknown): string[] {
  try {
    loadConfigText(JSON.stringify(config), 'kw.yaml', { env: {} });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
}

/**
 * The least config each type accepts: its required keys only. Every type needs a row, so a new
 * type is held to the tests above from its first commit.
 */
const REQUIRED: Record<string, Record<string, unknown>> = {
  'auth-failures': {},
  'cost-anomaly': { source: { type: 'focus', path: '/var/lib/focus/*.csv' } },
  'cost-budget': { source: { type: 'focus', path: '/var/lib/focus/*.csv' }, budget: 1000 },
  cpu: {},
  disk: {},
  diskio: {},
  dns: { query: 'example.com' },
  docker: { container: 'web' },
  exec: { command: ['/bin/true'] },
  file: { path: '/var/backups/db.sql.gz' },
  gpu: {},
  grpc: { target: '127.0.0.1:50051' },
  http: { url: 'http://127.0.0.1/' },
  'http-headers': { url: 'http://127.0.0.1/' },
  'idle-capacity': { hourlyPrice: 0.192 },
  integrity: {},
  load: {},
  log: { path: '/var/log/nginx/error.log', match: 'crit' },
  memory: {},
  mqtt: { url: 'mqtt://127.0.0.1:1883' },
  mysql: {},
  nats: {},
  network: {},
  permissions: {},
  ping: { host: '127.0.0.1' },
  ports: { allow: [] },
  postgres: {},
  process: { processName: 'init' },
  push: { period: '1h', token: 'push-token-0123456789' },
  rabbitmq: {},
  redis: {},
  sshd: {},
  systemd: { unit: 'nginx.service' },
  tcp: { port: 1 },
  'tls-cert': { host: 'example.com' },
  updates: {},
  users: {},
};

function minimalSpec(type: string): Record<string, unknown> {
  const row = REQUIRED[type];
  if (!row) throw new Error(`check type ${type} has no row in REQUIRED (test/checks/registry.test.ts): add its required keys`);
  return row;
}
