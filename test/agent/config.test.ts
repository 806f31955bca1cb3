import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostTimeZone } from '../../agent/config/host-zone';
import { checkConfigFile, expandChecks, loadConfigFile, loadConfigFileAsync, loadConfigText, type Config } from '../../agent/config/load';
import { configJsonSchema, parseListen } from '../../agent/config/schema';
import { ConfigError, formatProblem, formatWarning } from '../../agent/errors';
import { DEFAULT_TEMPLATES } from '../../agent/notifiers/render';
import { packageRoot } from '../../agent/paths';

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfigText(yaml, 'kw.yaml', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected the config to be refused');
}

function load(yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  return loadConfigText(yaml, 'kw.yaml', { env });
}

describe('a good config', () => {
  const yaml = `
agent: { name: web-01, listen: "127.0.0.1:9999", concurrency: 8 }
api: { token: "\${TOKEN}" }
defaults: { every: 20s, timeout: 5s }
checks:
  - name: api
    type: http
    url: "http://127.0.0.1:8080/healthz"
    every: 15s
    warn: "latencyMs > 300"
    crit: ["status != 200", "latencyMs > 2s"]
    labels: { team: payments }
  - { name: root, type: disk, mount: /, crit: "usedPercent > 90%" }
  - name: nightly
    type: tcp
    port: 5432
    cron: "0 */5 * * * *"
    timezone: Europe/Berlin
  - { name: off, type: load, enabled: false }
`;

  test('loads, applies defaults and compiles conditions', () => {
    const c = load(yaml, { TOKEN: 's3cret-token' });
    expect(c.agent).toMatchObject({ name: 'web-01', listen: '127.0.0.1:9999', concurrency: 8, logLevel: 'info' });
    expect(c.api.token).toBe('s3cret-token');
    expect(c.checks.map((x) => x.name)).toEqual(['api', 'root', 'nightly', 'off']);
    const api = c.checks[0];
    expect(api.schedule).toEqual({ kind: 'every', everyMs: 15_000 });
    expect(api.timeoutMs).toBe(5000);
    expect(api.labels).toEqual({ team: 'payments' });
    expect(api.rules.warn.map((r) => r.source)).toEqual(['latencyMs > 300']);
    expect(api.rules.crit.map((r) => r.source)).toEqual(['status != 200', 'latencyMs > 2s']);
    expect(api.spec).toMatchObject({ url: 'http://127.0.0.1:8080/healthz', method: 'GET' });
    expect(api.spec).not.toHaveProperty('every');
    // A level not set keeps the type's default; a level set replaces it.
    const root = c.checks[1];
    expect(root.rules.warn.map((r) => r.source)).toEqual(['usedPercent > 80', 'inodesUsedPercent > 90']);
    expect(root.rules.crit.map((r) => r.source)).toEqual(['usedPercent > 90%']);
    expect(root.schedule).toEqual({ kind: 'every', everyMs: 20_000 });
    expect(c.checks[2].schedule).toEqual({ kind: 'cron', cron: '0 */5 * * * *', timezone: 'Europe/Berlin' });
    expect(c.checks[3].enabled).toBe(false);
  });

  test('is deeply frozen and lists its secrets', () => {
    const c = load(yaml, { TOKEN: 's3cret-token' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.checks[0].labels)).toBe(true);
    expect(() => {
      (c.agent as { name: string }).name = 'x';
    }).toThrow(TypeError);
    expect(c.secrets).toContain('s3cret-token');
  });

  test('defaults.retryEvery applies only to checks whose interval is longer', () => {
    const c = load('defaults: { retryEvery: 10s }\nchecks:\n  - { name: a, type: load, every: 1m }\n  - { name: b, type: load, every: 5s }\n');
    expect(c.checks.map((x) => x.retryEveryMs)).toEqual([10_000, undefined]);
  });

  test('timeout is capped at the interval when only the default says otherwise', () => {
    const c = load('defaults: { timeout: 10s }\nchecks: [{ name: a, type: load, every: 2s }]');
    expect(c.checks[0].timeoutMs).toBe(2000);
  });

  test('notification templates: defaults, overridden globally, then per notifier; maxAge and links', () => {
    const c = load(`
notifications:
  maxAge: 2h
  templates: { title: "[{{severity}}] {{check}} on {{agent}}" }
  links: { agent: "https://kw.example", grafana: "https://g.example/d/x?var-check={{check}}" }
notifiers:
  - { name: a, type: webhook, url: "http://127.0.0.1:1/" }
  - { name: b, type: slack, url: "http://127.0.0.1:1/", templates: { text: "{{summary}} ({{values.latencyMs}} ms)" } }
`);
    expect(c.notifications.maxAge).toBe(7_200_000);
    expect(c.notifications.links).toEqual({ agent: 'https://kw.example', grafana: 'https://g.example/d/x?var-check={{check}}' });
    expect(c.notifiers.get('a')!.templates).toEqual({ title: '[{{severity}}] {{check}} on {{agent}}', text: DEFAULT_TEMPLATES.text });
    expect(c.notifiers.get('b')!.templates).toEqual({ title: '[{{severity}}] {{check}} on {{agent}}', text: '{{summary}} ({{values.latencyMs}} ms)' });
    expect(load('').notifications).toEqual({ maxAge: 86_400_000, timeout: 30_000, links: {} });
  });

  test('slo: an availability objective as a ratio, refused at 100% and above', () => {
    const c = load('checks:\n  - { name: a, type: http, url: "http://x/", slo: 99.9% }\n  - { name: b, type: http, url: "http://x/", slo: 99.95 }\n  - { name: c, type: load }\n');
    expect(c.checks.map((x) => x.slo)).toEqual([0.999, 0.9995, undefined]);
    expect(problems('checks:\n  - { name: a, type: load, slo: 100% }\n')[0]).toMatch(/^kw\.yaml:2:\d+: checks\[0\]\.slo: an objective between 0% and 100%/);
  });

  test('webhook URLs that are their own credential (Slack, Teams) are secrets, whole and by path', () => {
    const c = load('notifiers:\n  - { name: s, type: slack, url: "${SLACK_URL}" }\n  - { name: t, type: teams, url: "https://x.example/workflows/abc?sig=SIGVALUE123" }\n', {
      SLACK_URL: 'https://hooks.slack.com/services/T000/B000/XXXXSECRET',
    });
    expect(c.secrets).toEqual(expect.arrayContaining([
      'https://hooks.slack.com/services/T000/B000/XXXXSECRET',
      '/services/T000/B000/XXXXSECRET',
      '/workflows/abc?sig=SIGVALUE123',
      'SIGVALUE123',
    ]));
  });

  test('an empty file is a valid config with no checks', () => {
    const c = load('');
    expect(c.checks).toEqual([]);
    expect(c.agent.listen).toBe('0.0.0.0:9470');
  });

  test('presets, timeframes and cron windows that name no zone are read in the host\'s', () => {
    const c = load(`
coverage:
  office: { days: mon-fri, hours: "09:00-17:00" }
  tokyo: { timezone: Asia/Tokyo }
maintenance:
  - { name: patching, cron: "0 2 * * 0", duration: 2h }
  - { name: backup, cron: "0 3 * * *", duration: 1h, timezone: America/New_York }
`);
    const host = hostTimeZone();
    expect(['8x5', 'office', 'tokyo'].map((n) => c.coverage.get(n)!.specs[0].timezone)).toEqual([host, host, 'Asia/Tokyo']);
    expect(c.maintenance.map((w) => w.kind === 'cron' && w.timezone)).toEqual([host, 'America/New_York']);
  });
});

describe('interpolation', () => {
  test('values land where written, and an unquoted ${VAR} takes the type it spells', () => {
    const c = load('agent:\n  name: "${NAME:-fallback}-${ZONE}"\n  dataDir: "$${HOME}/kw"\n  concurrency: ${CONC}\n', {
      ZONE: 'eu',
      CONC: '12',
    });
    expect(c.agent.name).toBe('fallback-eu');
    expect(c.agent.dataDir).toBe('${HOME}/kw');
    expect(c.agent.concurrency).toBe(12);
  });

  test('an unquoted ${VAR} converts only plain numbers and booleans; nothing else is re-read as YAML', () => {
    const yaml = 'agent:\n  name: ${NAME}\n  concurrency: ${CONC}\napi:\n  token: ${TOKEN}\n';
    const c = load(yaml, { NAME: 'web-01 # prod', CONC: '8', TOKEN: 'abc #def: [x]' });
    expect(c.agent.name).toBe('web-01 # prod');
    expect(c.agent.concurrency).toBe(8);
    expect(c.api.token).toBe('abc #def: [x]');
    expect(load(yaml, { NAME: '0x1F', CONC: '8', TOKEN: 't' }).agent.name).toBe('0x1F');
  });

  test('a value of the wrong type is described, never echoed (it may be a secret)', () => {
    expect(problems('api:\n  token: ${TOKEN}\n', { TOKEN: '12345678' })).toEqual([
      'kw.yaml:2:10: api.token: expected string, got number (put it in quotes)',
    ]);
  });

  test('${file:/path} reads a secret file and marks it secret', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-'));
    const f = path.join(dir, 'token');
    fs.writeFileSync(f, 'from-a-file-123\n');
    const c = load(`api: { token: "\${file:${f}}" }`);
    expect(c.api.token).toBe('from-a-file-123');
    expect(c.secrets).toContain('from-a-file-123');
    fs.rmSync(dir, { recursive: true });
  });

  test('interpolation errors inside lists name the element', () => {
    expect(problems('checks:\n  - name: a\n    type: http\n    url: "http://${HOST}/"\n')).toEqual([
      'kw.yaml:4:10: checks[0].url: environment variable HOST is not set (write ${HOST:-} to allow it to be empty)',
    ]);
  });

  describe('an unset ${VAR}: a warning for validate, an error for run, check and reload', () => {
    let dir: string;
    beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kw-unset-'))));
    afterAll(() => fs.rmSync(dir, { recursive: true }));
    const write = (lines: string[]) => {
      const file = path.join(dir, 'kw.yaml');
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
      return file;
    };
    const yaml = [
      'agent: { listen: "${HOST:-0.0.0.0}:${PORT}" }',
      'checks:',
      '  - name: shop',
      '    type: http',
      '    url: "${SHOP_URL}"',
      '    headers: { Authorization: "Bearer ${SHOP_API_KEY}" }',
      'notifiers:',
      '  - { name: slack, type: slack, url: "${SLACK_WEBHOOK_URL}" }',
      'escalation:',
      '  - { name: L2, notify: [slack] }',
    ];
    const warning = (at: string, key: string, name: string) =>
      `${at}: warning: ${key}: environment variable ${name} is not set, so this value is not checked; run, check and a reload refuse the config without it (write \${${name}:-} to allow it to be empty)`;

    test('validate: each use is a located warning; the stand-in raises no problem of its own or elsewhere', () => {
      const file = write(yaml);
      const r = checkConfigFile(file, { env: {} });
      expect(r.warnings.map(formatWarning)).toEqual([
        warning(`${file}:1:18`, 'agent.listen', 'PORT'),
        warning(`${file}:5:10`, 'checks[0].url', 'SHOP_URL'),
        warning(`${file}:6:31`, 'checks[0].headers.Authorization', 'SHOP_API_KEY'),
        warning(`${file}:8:38`, 'notifiers[0].url', 'SLACK_WEBHOOK_URL'),
      ]);
      expect(r).toMatchObject({ problems: [], checks: 1 });
      // Every other problem is still reported, in the same pass.
      const bad = write([...yaml.slice(0, 6), '    every: 30sec', ...yaml.slice(6)].map((l) => l.replace('[slack]', '[slak]')));
      expect(checkConfigFile(bad, { env: {} }).problems.map(formatProblem)).toEqual([
        `${bad}:7:12: checks[0].every: expected a duration such as 500ms, 30s, 5m or 1h30m`,
        expect.stringMatching(/:11:\d+: escalation\[0\]\.notify\[0\]: unknown notifier "slak"; did you mean "slack"\?/),
      ]);
    });

    test('run and check (loadConfigFile) and a reload (loadConfigFileAsync) refuse the config, each use located', async () => {
      const file = write(yaml);
      const errors = [
        `${file}:1:18: agent.listen: environment variable PORT is not set (write \${PORT:-} to allow it to be empty)`,
        `${file}:5:10: checks[0].url: environment variable SHOP_URL is not set (write \${SHOP_URL:-} to allow it to be empty)`,
        `${file}:6:31: checks[0].headers.Authorization: environment variable SHOP_API_KEY is not set (write \${SHOP_API_KEY:-} to allow it to be empty)`,
        `${file}:8:38: notifiers[0].url: environment variable SLACK_WEBHOOK_URL is not set (write \${SLACK_WEBHOOK_URL:-} to allow it to be empty)`,
      ];
      expect(() => loadConfigFile(file, { env: {} })).toThrow(errors.join('\n'));
      await expect(loadConfigFileAsync(file, { env: {} })).rejects.toThrow(errors.join('\n'));
      const env = { PORT: '9470', SHOP_URL: 'https://shop.example/health', SHOP_API_KEY: 'k', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X' };
      expect(loadConfigFile(file, { env }).checks).toHaveLength(1);
      expect(checkConfigFile(file, { env })).toEqual({ problems: [], warnings: [], checks: 1 });
    });
  });

  test('a missing variable or file is a located error', () => {
    expect(problems('agent:\n  name: "${NOPE}"\napi: { token: "${file:/no/such/file}" }')).toEqual([
      'kw.yaml:2:9: agent.name: environment variable NOPE is not set (write ${NOPE:-} to allow it to be empty)',
      'kw.yaml:3:15: api.token: ${file:/no/such/file}: cannot read /no/such/file: ENOENT',
    ]);
  });
});

describe('located errors', () => {
  test('YAML syntax errors carry line and column', () => {
    const [p] = problems('agent:\n  name: [unclosed\n');
    expect(p).toMatch(/^kw\.yaml:\d+:\d+: /);
  });

  test('unknown keys name the nearest valid word, at the key', () => {
    expect(problems('agent:\n  lisen: ":9470"\n')).toEqual([
      'kw.yaml:2:3: agent.lisen: unknown key "lisen"; did you mean "listen"? (valid: name, listen, dataDir, concurrency, logLevel, http)',
    ]);
    const [p] = problems('checks:\n  - name: a\n    type: http\n    url: http://x\n    bodyContain: ok\n');
    expect(p).toMatch(/^kw\.yaml:5:5: checks\[0\]\.bodyContain: unknown key "bodyContain"; did you mean "bodyContains"\?/);
    expect(problems('chekcs: []\n')[0]).toMatch(/^kw\.yaml:1:1: chekcs: unknown key "chekcs"; did you mean "checks"\?/);
  });

  test('templates with unknown fields or unclosed sections are refused where they are', () => {
    expect(problems('notifications:\n  templates: { title: "{{chek}} down" }\n')).toEqual([
      expect.stringMatching(/^kw\.yaml:2:23: notifications\.templates\.title: unknown field \{\{chek\}\}: use one of .*check/),
    ]);
    expect(problems('notifiers:\n  - { name: a, type: webhook, url: "http://x/", templates: { text: "{{#tier}}tier {{tier}}" } }\n')).toEqual([
      expect.stringMatching(/^kw\.yaml:2:\d+: notifiers\[0\]\.templates\.text: section \{\{#tier\}\} is not closed by a matching \{\{\/tier\}\}$/),
    ]);
    expect(problems('notifications:\n  links: { grafana: "grafana/{{check}}" }\n')[0]).toMatch(/notifications\.links\.grafana: expected an http/);
    expect(problems('notifications:\n  maxAge: 10s\n')[0]).toMatch(/^kw\.yaml:2:11: notifications\.maxAge: /);
  });

  test('unknown check types name the nearest type and list the valid ones', () => {
    const [p] = problems('checks:\n  - name: a\n    type: htpp\n');
    expect(p).toMatch(/^kw\.yaml:3:11: checks\[0\]\.type: unknown check type "htpp"; did you mean "http"\? \(valid: .*http.*\)$/);
    expect(problems('checks:\n  - name: a\n')[0]).toMatch(/^kw\.yaml:2:5: checks\[0\]\.type: required: one of /);
  });

  test('bad conditions point at the offending character inside the string', () => {
    const yaml = [
      'checks:',
      '  - name: a',
      '    type: http',
      '    url: http://x',
      '    warn: "latncyMs > 300"',
      '    crit: [status != 200, "latencyMs >> 2"]',
    ].join('\n');
    expect(problems(yaml)).toEqual([
      'kw.yaml:5:12: checks[0].warn: invalid condition: unknown field "latncyMs"; did you mean "latencyMs"? (this check returns: status, latencyMs, bodyBytes, bodyTruncated, redirects, certDaysLeft, matches)',
      'kw.yaml:6:39: checks[0].crit[1]: invalid condition: "> 2" is not a number, duration (2s), size (10GB) or percentage (80%)',
    ]);
  });

  test('bad values: durations, enums, types, ranges, names, labels', () => {
    const yaml = [
      'agent: { concurrency: 0, logLevel: verbose }',
      'defaults: { every: 30 seconds }',
      'checks:',
      '  - { name: "bad name", type: load }',
      '  - { name: b, type: http, url: "http://x", method: GTE, labels: { check: x, "9z": y } }',
      '  - { name: c, type: tcp, port: "5432" }',
    ].join('\n');
    const got = problems(yaml);
    expect(got).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^kw\.yaml:1:23: agent\.concurrency: Too small/),
        'kw.yaml:1:36: agent.logLevel: must be one of trace, debug, info, warn, error, fatal, silent, not "verbose"',
        'kw.yaml:2:20: defaults.every: expected a duration such as 500ms, 30s, 5m or 1h30m',
        expect.stringMatching(/^kw\.yaml:4:13: checks\[0\]\.name: check names are letters/),
        'kw.yaml:5:53: checks[1].method: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, not "GTE"; did you mean "GET"?',
        expect.stringMatching(/^kw\.yaml:5:68: checks\[1\]\.labels\.check: reserved label name/),
        expect.stringMatching(/^kw\.yaml:5:78: checks\[1\]\.labels\.9z: label names are letters/),
        'kw.yaml:6:33: checks[2].port: expected number, got text',
      ]),
    );
    expect(got).toHaveLength(8);
  });

  test('schedule problems: every with cron, bad cron, bad zone, timeout over every, retryEvery not shorter', () => {
    const yaml = [
      'checks:',
      '  - { name: a, type: load, every: 10s, cron: "* * * * *" }',
      '  - { name: b, type: load, cron: "61 * * * *" }',
      '  - { name: c, type: load, cron: "* * * * *", timezone: Mars/Olympus }',
      '  - { name: d, type: load, every: 10s, timeout: 20s }',
      '  - { name: e, type: load, every: 10s, retryEvery: 10s }',
      '  - { name: f, type: load, every: 10s, timezone: UTC }',
    ].join('\n');
    const got = problems(yaml);
    expect(got).toEqual([
      'kw.yaml:2:46: checks[0].cron: set either every or cron, not both',
      'kw.yaml:3:34: checks[1].cron: invalid cron expression "61 * * * *": minute: 61 is a invalid expression for minute',
      'kw.yaml:4:57: checks[2].timezone: unknown time zone "Mars/Olympus" (expected an IANA name such as Europe/Berlin)',
      'kw.yaml:5:49: checks[3].timeout: timeout must not exceed every (10000 ms): a run would overlap the next',
      'kw.yaml:6:52: checks[4].retryEvery: retryEvery must be shorter than every (10000 ms)',
      'kw.yaml:7:50: checks[5].timezone: timezone applies to cron schedules only',
    ]);
  });

  test('a bare number of a duration key is read as milliseconds, and says so where it is too short', () => {
    expect(problems('defaults: { every: 30 }\nchecks:\n  - { name: a, type: load, every: 30, timeout: 0 }\nincidents: { retention: 90 }\n')).toEqual([
      'kw.yaml:1:20: defaults.every: must be at least 1s; a bare number is read as milliseconds (30 is 30ms): write 30s for 30 seconds',
      'kw.yaml:4:25: incidents.retention: must be at least 1d; a bare number is read as milliseconds (90 is 90ms): write it with a unit (ms, s, m, h, d, w)',
      'kw.yaml:3:35: checks[0].every: must be at least 1s; a bare number is read as milliseconds (30 is 30ms): write 30s for 30 seconds',
      'kw.yaml:3:48: checks[0].timeout: must be at least 1ms; a bare number is read as milliseconds (0 is 0ms): write it with a unit (ms, s, m, h, d, w)',
    ]);
  });

  test('a check type\'s own limits are checked at load: a cpu sample the user wrote must fit in the (capped) timeout', () => {
    expect(problems('checks:\n  - { name: c, type: cpu, every: 1s }\n  - { name: d, type: cpu, every: 5s, sample: 5s }\n  - { name: e, type: process, processName: x, timeout: 300ms, sample: 300ms }\n')).toEqual([
      'kw.yaml:3:46: checks[1].sample: sample (5s) must be shorter than the timeout (5s)',
      'kw.yaml:4:71: checks[2].sample: sample (300ms) must be shorter than the timeout (300ms)',
    ]);
    // The default window is not a key the user wrote: it fits itself into the timeout.
    expect(load('checks:\n  - { name: c, type: cpu, every: 1s }\n  - { name: p, type: process, processName: x, timeout: 300ms }\n').checks).toHaveLength(2);
  });

  test('duplicate check names and api auth consistency', () => {
    expect(problems('checks:\n  - { name: a, type: load }\n  - { name: a, type: cpu }\n')).toEqual([
      'kw.yaml:3:13: checks[1].name: duplicate check name "a" (first used by checks[0])',
    ]);
    expect(problems('api: { metrics: { auth: bearer } }')).toEqual([
      expect.stringMatching(/^kw\.yaml:1:25: api\.metrics\.auth: auth: bearer needs api\.readToken or api\.token/),
    ]);
    expect(problems('api: { metrics: { auth: basic, username: u } }')[0]).toMatch(/api\.metrics: auth: basic needs username and password/);
  });

  test('a condition error is reported together with a schema error of the same check', () => {
    const got = problems([
      'checks:',
      '  - { name: a, type: http, url: "http://x/", every: 30sec, warn: "latencyMS > 3" }',
      '  - { name: b, type: disk, mount: relative, crit: ["usedPercent > 90", "usedPrecent > 3"] }',
      '  - { name: c, type: load, bogus: 1, warn: 42 }',
    ].join('\n'));
    expect(got).toEqual([
      'kw.yaml:2:53: checks[0].every: expected a duration such as 500ms, 30s, 5m or 1h30m',
      expect.stringMatching(/^kw\.yaml:2:67: checks\[0\]\.warn: invalid condition: unknown field "latencyMS"; did you mean "latencyMs"\?/),
      'kw.yaml:3:35: checks[1].mount: expected an absolute path such as / or /var/lib/postgresql',
      expect.stringMatching(/^kw\.yaml:3:73: checks\[1\]\.crit\[1\]: invalid condition: unknown field "usedPrecent"; did you mean "usedPercent"\?/),
      // A level that is no condition at all is the schema's to report, once.
      expect.stringMatching(/^kw\.yaml:4:44: checks\[2\]\.warn: expected a condition/),
      expect.stringMatching(/^kw\.yaml:4:28: checks\[2\]\.bogus: unknown key "bogus"/),
    ]);
  });

  test('every problem is reported in one pass', () => {
    const got = problems('agent: { lisen: x }\nchecks:\n  - { name: a, type: nope }\n  - { name: b, type: http }\n');
    expect(got).toHaveLength(3);
  });

  test('a file that cannot be read is a ConfigError naming it', () => {
    expect(() => loadConfigFile('/no/such/keepwatch.yaml')).toThrow(/\/no\/such\/keepwatch\.yaml:1:1: cannot read config/);
  });
});

describe('shipped configs', () => {
  test.each(['default.yaml', 'example.yaml'])('config/%s is valid', (name) => {
    const c = loadConfigFile(path.join(packageRoot(), 'config', name), {
      env: { KEEPWATCH_TOKEN: 'x'.repeat(16), KEEPWATCH_READ_TOKEN: 'y'.repeat(16), SHOP_API_KEY: 'k'.repeat(8), BACKUP_PUSH_TOKEN: 'b'.repeat(24) },
    });
    expect(c.checks.length).toBeGreaterThan(3);
  });

  test('the default config expands disk into one check per real mount', async () => {
    const c = loadConfigFile(path.join(packageRoot(), 'config', 'default.yaml'), { env: {} });
    const names = (await expandChecks(c.checks)).map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['cpu', 'memory', 'load', 'self', 'disk:/']));
    expect(names).not.toContain('disk');
  });

  test('config/keepwatch.schema.json is current (regenerate with npm run schema)', () => {
    const committed = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'config', 'keepwatch.schema.json'), 'utf8'));
    expect(committed).toEqual(configJsonSchema());
  });

  test('the JSON Schema knows every check type and its keys', () => {
    const schema = configJsonSchema() as any;
    const variants = schema.properties.checks.items.oneOf ?? schema.properties.checks.items.anyOf;
    const http = variants.find((v: any) => v.properties.type.const === 'http');
    expect(http.properties.url.description).toBe('The URL to request.');
    expect(http.additionalProperties).toBe(false);
    expect(http.required).toEqual(expect.arrayContaining(['name', 'type', 'url']));
  });
});

test('parseListen', () => {
  expect(parseListen('0.0.0.0:9470')).toEqual({ host: '0.0.0.0', port: 9470 });
  expect(parseListen(':9470')).toEqual({ host: '0.0.0.0', port: 9470 });
  expect(parseListen('9470')).toEqual({ host: '0.0.0.0', port: 9470 });
  expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
  expect(() => parseListen('nope')).toThrow(/not a listen address/);
  expect(() => parseListen('70000')).toThrow(/not a listen address/);
});

test('agent.listen: a bare port, as a number or text, is every interface, as exporters take it', () => {
  for (const listen of ['9470', '"9470"', '":9470"', '"0.0.0.0:9470"']) {
    expect([listen, load(`agent: { listen: ${listen} }`).agent.listen]).toEqual([listen, '0.0.0.0:9470']);
  }
  expect(load('agent: { listen: "127.0.0.1:9470" }').agent.listen).toBe('127.0.0.1:9470');
  expect(problems('agent:\n  listen: 70000\n')).toEqual([
    'kw.yaml:2:11: agent.listen: expected a port (0 to 65535) or host:port, e.g. 9470, "0.0.0.0:9470" or "127.0.0.1:9470"',
  ]);
  expect(problems('agent:\n  listen: "localhost:99999"\n')).toEqual([
    'kw.yaml:2:11: agent.listen: expected a port (0 to 65535) or host:port, e.g. 9470, "0.0.0.0:9470" or "127.0.0.1:9470"',
  ]);
});

describe('long intervals', () => {
  test('every: 30d loads; a timeout past a day is refused where it stands (a timer cannot hold it)', () => {
    const c = load(`checks:\n  - { name: monthly, type: load, every: 30d }\n`);
    expect(c.checks[0].schedule).toEqual({ kind: 'every', everyMs: 30 * 86_400_000 });
    expect(problems(`checks:\n  - { name: monthly, type: load, every: 30d, timeout: 2d }\n`)).toEqual([
      expect.stringMatching(/^kw\.yaml:2:\d+: checks\[0\]\.timeout: must be at most 1d/),
    ]);
  });
});

test('a heavy check type runs on its own schedule unless the check sets one; the config\'s defaults are for probes', () => {
  const c = loadConfigText(`
defaults: { every: 10s, timeout: 5s }
checks:
  - { name: walk, type: permissions }
  - { name: walk-often, type: permissions, every: 1h, timeout: 30s }
  - { name: pkgs, type: updates }
  - { name: web, type: http, url: "http://127.0.0.1:9/" }
`, 'kw.yaml', { env: {} });
  const byName = new Map(c.checks.map((x) => [x.name, x]));
  expect(byName.get('walk')).toMatchObject({ schedule: { kind: 'every', everyMs: 6 * 3_600_000 }, timeoutMs: 120_000 });
  expect(byName.get('walk-often')).toMatchObject({ schedule: { kind: 'every', everyMs: 3_600_000 }, timeoutMs: 30_000 });
  expect(byName.get('pkgs')).toMatchObject({ schedule: { kind: 'every', everyMs: 3_600_000 }, timeoutMs: 120_000 });
  expect(byName.get('web')).toMatchObject({ schedule: { kind: 'every', everyMs: 10_000 }, timeoutMs: 5_000 });
});
