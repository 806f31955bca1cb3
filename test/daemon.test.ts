import fs from 'node:fs';
import path from 'node:path';
import { eventually, startDaemon, tempDir, type Daemon } from './helpers/daemon';
import { closedPort, startHttp, type TestServer } from './helpers/servers';

jest.setTimeout(60_000);

async function metrics(d: Daemon): Promise<string> {
  const res = await fetch(`${d.base}/metrics`);
  return res.text();
}

function statusOf(text: string, check: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`keepwatch_check_status{check="${check}"`));
  return line?.split(' ').pop();
}

describe('the daemon as a child process', () => {
  let dir: ReturnType<typeof tempDir>;
  let web: TestServer;
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    dir = tempDir();
    web = await startHttp((_req, res) => res.writeHead(200).end('ok'));
  });
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await web.close();
    dir.cleanup();
  });

  test('serves /metrics, reloads on SIGHUP, refuses a bad reload, stops cleanly on SIGTERM', async () => {
    const file = path.join(dir.dir, 'keepwatch.yaml');
    const closed = await closedPort();
    fs.writeFileSync(file, [
      `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
      'checks:',
      `  - { name: web, type: http, url: "${web.url}/", every: 2s }`,
      `  - { name: dead, type: tcp, port: ${closed}, every: 2s }`,
    ].join('\n'));
    daemon = await startDaemon(['--config', file]);
    const d = daemon;

    const first = await eventually(async () => {
      const m = await metrics(d);
      return statusOf(m, 'web') !== undefined && statusOf(m, 'dead') !== undefined && m;
    }, 10_000, 'a status for every check');
    expect(statusOf(first, 'web')).toBe('0');
    expect(statusOf(first, 'dead')).toBe('2');
    expect(first).toMatch(/^keepwatch_check_runs_total\{check="dead",status="critical",reason="refused"\} \d+$/m);
    expect(first).toMatch(/^keepwatch_config_last_reload_successful 1$/m);
    expect((await fetch(`${d.base}/readyz`)).status).toBe(200);

    // A valid change: one check gone, one added.
    fs.writeFileSync(file, [
      `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
      'checks:',
      `  - { name: web, type: http, url: "${web.url}/", every: 2s }`,
      `  - { name: web-again, type: http, url: "${web.url}/", every: 2s, labels: { team: ops } }`,
    ].join('\n'));
    d.child.kill('SIGHUP');
    await d.waitForLog(/"msg":"config reloaded"/);
    const reloaded = await eventually(async () => {
      const m = await metrics(d);
      return statusOf(m, 'web-again') !== undefined && m;
    }, 10_000, 'the new check to report');
    expect(statusOf(reloaded, 'dead')).toBeUndefined();
    expect(reloaded).toMatch(/^keepwatch_check_status\{check="web-again",type="http",category="health",team="ops"\} 0$/m);

    // An invalid change is refused and the running config stays.
    fs.writeFileSync(file, `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }\nchecks:\n  - { name: web, type: htp }\n`);
    d.child.kill('SIGHUP');
    const refused = await d.waitForLog(/"msg":"config reload refused; the running config stays"/);
    expect(refused).toContain('unknown check type \\"htp\\"');
    const after = await metrics(d);
    expect(after).toMatch(/^keepwatch_config_last_reload_successful 0$/m);
    expect(statusOf(after, 'web-again')).toBe('0');
    const checks = (await (await fetch(`${d.base}/api/v1/checks`)).json()) as { checks: { name: string }[] };
    expect(checks.checks.map((c) => c.name)).toEqual(['web', 'web-again']);

    // A scraper's keep-alive connection must not hold the stop up (server keep-alive is 65 s).
    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(d.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    daemon = undefined;
  });

  test('refuses to start on an invalid config, with located errors', async () => {
    const file = path.join(dir.dir, 'bad.yaml');
    fs.writeFileSync(file, 'agent:\n  listen: nowhere\n');
    await expect(startDaemon(['--config', file])).rejects.toThrow(/bad\.yaml:2:11: agent\.listen: expected host:port/);
  });
});

test('with no config at all it runs the embedded default and reports every check within 10 s (npm start)', async () => {
  const dir = tempDir();
  const port = await closedPort();
  const t0 = Date.now();
  const d = await startDaemon([], { cwd: dir.dir, env: { KEEPWATCH_HOST: '127.0.0.1', KEEPWATCH_PORT: String(port), KEEPWATCH_CONFIG: '' } });
  try {
    const m = await eventually(async () => {
      const text = await metrics(d);
      return ['cpu', 'memory', 'load', 'self', 'disk:/'].every((c) => statusOf(text, c) !== undefined) && text;
    }, 10_000, 'every default check');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(statusOf(m, 'self')).toBe('0');
    expect(m).toMatch(/^keepwatch_check_value\{check="memory",field="usedPercent"\} [\d.]+$/m);
    expect(d.logs.join('\n')).toContain(path.join('config', 'default.yaml'));
  } finally {
    await d.stop();
    dir.cleanup();
  }
});
