import { Writable } from 'node:stream';
import { loadConfigText } from '../../agent/config/load';
import { createLogger, setSecrets } from '../../agent/logger';

function capture(level = 'trace') {
  const lines: string[] = [];
  const log = createLogger({ level, destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never });
  return { log, out: () => lines.join('') };
}

afterEach(() => setSecrets([]));

test('secrets from the config never reach the log, whatever path they take', () => {
  const yaml = `
api: { token: "\${KEEPWATCH_TOKEN}", readToken: plain-read-token-77, metrics: { auth: basic, username: prom, password: "basic-pass-88" } }
checks:
  - name: shop
    type: http
    url: "https://shop.internal/health?key=\${SHOP_API_KEY}"
    headers: { Authorization: "Bearer header-secret-99", X-Trace: visible-trace-id }
`;
  const config = loadConfigText(yaml, 'kw.yaml', { env: { KEEPWATCH_TOKEN: 'admin-token-from-env-11', SHOP_API_KEY: 'query-key-22' } });
  setSecrets(config.secrets);
  const { log, out } = capture();
  log.info({ config }, 'config loaded');
  log.debug({ api: config.api }, 'api');
  log.info({ headers: config.checks[0].spec.headers }, 'request headers');
  log.error({ err: new Error(`GET ${config.checks[0].spec.url as string} failed`) }, 'check failed');
  log.warn(`token was ${config.api.token} and "${config.api.readToken}"`);
  const text = out();
  for (const secret of ['admin-token-from-env-11', 'plain-read-token-77', 'basic-pass-88', 'query-key-22', 'header-secret-99']) {
    expect(text).not.toContain(secret);
  }
  // Scrubbing replaces secrets, not the rest of the line.
  expect(text).toContain('[REDACTED]');
  expect(text).toContain('visible-trace-id');
  expect(text).toContain('https://shop.internal/health?key=[REDACTED]');
});

test('secret-looking headers, URL passwords and query keys are secrets too', () => {
  const yaml = `
checks:
  - name: gitlab
    type: http
    url: "https://probe:url-pass-31@gitlab.internal/api?api_key=query-key-32&page=2"
    headers: { X-Auth-Token: auth-token-33, Private-Token: private-34, Accept: application/json }
`;
  const config = loadConfigText(yaml, 'kw.yaml', { env: {} });
  expect(config.secrets).toEqual(expect.arrayContaining(['url-pass-31', 'query-key-32', 'auth-token-33', 'private-34']));
  expect(config.secrets).not.toContain('application/json');
  setSecrets(config.secrets);
  const { log, out } = capture();
  log.info({ spec: config.checks[0].spec }, 'check config');
  const text = out();
  for (const secret of ['url-pass-31', 'query-key-32', 'auth-token-33', 'private-34']) expect(text).not.toContain(secret);
  expect(text).toContain('page=2');
  expect(text).toContain('application/json');
});

test('values of non-secret variables stay readable', () => {
  const config = loadConfigText('agent: { listen: "127.0.0.1:${PORT}" }', 'kw.yaml', { env: { PORT: '9555' } });
  setSecrets(config.secrets);
  const { log, out } = capture();
  log.info({ listen: config.agent.listen }, 'listening');
  expect(out()).toContain('127.0.0.1:9555');
});

test('the level filters', () => {
  const { log, out } = capture('warn');
  log.info('quiet');
  log.warn('loud');
  expect(out()).not.toContain('quiet');
  expect(out()).toContain('"level":"warn"');
  expect(out()).toContain('"msg":"loud"');
});
