import { Writable } from 'node:stream';
import { logOutput } from '../../agent/cli';
import { loadConfigText } from '../../agent/config/load';
import { prettyRecord } from '../../agent/log-pretty';
import { createLogger, setSecrets } from '../../agent/logger';

function capture(format: 'json' | 'pretty', color = false) {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', format, color, destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never });
  return { log, out: () => lines.join('') };
}

afterEach(() => setSecrets([]));

describe('pretty records', () => {
  test('time, level, message, then key=value fields; text with blanks quoted, objects as JSON', () => {
    const line = JSON.stringify({ level: 'info', time: '2026-01-02T03:04:05.678Z', pid: 7, check: 'web', status: 'ok', message: 'load 3.07 on 2 cores', n: 2, values: { a: 1 }, ok: true, msg: 'check ok' });
    expect(prettyRecord(line)).toBe('2026-01-02 03:04:05.678Z INFO  check ok check=web status=ok message="load 3.07 on 2 cores" n=2 values={"a":1} ok=true\n');
  });

  test('an error: its message in the line, its stack indented below', () => {
    const { log, out } = capture('pretty');
    const err = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    log.error({ err, attempt: 2 }, 'notify failed');
    const [head, ...stack] = out().trimEnd().split('\n');
    expect(head).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z ERROR notify failed err="connect ECONNREFUSED 127\.0\.0\.1:5432" attempt=2$/);
    expect(stack[0]).toBe('    Error: connect ECONNREFUSED 127.0.0.1:5432');
    expect(stack.slice(1).every((l) => /^ {4}\s*at /.test(l))).toBe(true);
    expect(stack.length).toBeGreaterThan(1);
  });

  test('colour on the level only when asked (a terminal); a line that is not JSON passes through', () => {
    const { log, out } = capture('pretty', true);
    log.warn('slow');
    expect(out()).toMatch(/^\S+ \S+ \x1b\[33mWARN \x1b\[0m slow\n$/);
    expect(prettyRecord('not json')).toBe('not json');
  });
});

test.each(['json', 'pretty'] as const)('secrets from the config never reach the %s log', (format) => {
  const yaml = `
api: { token: "\${KEEPWATCH_TOKEN}", readToken: plain-read-token-77 }
checks:
  - name: shop
    type: http
    url: "https://shop.internal/health?key=\${SHOP_API_KEY}"
    headers: { Authorization: "Bearer header-secret-99", X-Trace: visible-trace-id }
`;
  const config = loadConfigText(yaml, 'kw.yaml', { env: { KEEPWATCH_TOKEN: 'admin-token-from-env-11', SHOP_API_KEY: 'query-key-22' } });
  setSecrets(config.secrets);
  const { log, out } = capture(format);
  log.info({ config }, 'config loaded');
  log.info({ api: config.api }, 'api');
  log.info({ headers: config.checks[0].spec.headers }, 'request headers');
  log.error({ err: new Error(`GET ${config.checks[0].spec.url as string} failed`) }, 'check failed');
  log.warn(`token was ${config.api.token} and "${config.api.readToken}"`);
  const text = out();
  for (const secret of ['admin-token-from-env-11', 'plain-read-token-77', 'query-key-22', 'header-secret-99']) expect(text).not.toContain(secret);
  expect(text).toContain('visible-trace-id');
  expect(text).toContain('https://shop.internal/health?key=[REDACTED]');
  if (format === 'pretty') expect(text).toMatch(/^\S+ \S+ WARN  token was \[REDACTED\] and "\[REDACTED\]"$/m);
});

describe('which format', () => {
  const tty = () => true;
  const pipe = () => false;
  test.each([
    ['a pipe or file: json', undefined, {}, pipe, { format: 'json', color: false }],
    ['a terminal: pretty, in colour', undefined, {}, tty, { format: 'pretty', color: true }],
    ['a terminal with NO_COLOR', undefined, { NO_COLOR: '1' }, tty, { format: 'pretty', color: false }],
    ['$KEEPWATCH_LOG_FORMAT on a pipe', undefined, { KEEPWATCH_LOG_FORMAT: 'pretty' }, pipe, { format: 'pretty', color: false }],
    ['$KEEPWATCH_LOG_FORMAT on a terminal', undefined, { KEEPWATCH_LOG_FORMAT: 'json' }, tty, { format: 'json', color: true }],
    ['--log-format over the environment', 'json', { KEEPWATCH_LOG_FORMAT: 'pretty' }, pipe, { format: 'json', color: false }],
  ])('%s', (_name, flag, env, isTty, expected) => {
    expect(logOutput(flag, 1, env, isTty)).toEqual(expected);
  });
});
