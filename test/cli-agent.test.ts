import fs from 'node:fs';
import path from 'node:path';
import { eventually, runCli, startDaemon, tempDir, type Daemon } from './helpers/daemon';
import { closedPort, startHttp, type TestServer } from './helpers/servers';

jest.setTimeout(60_000);

const TOKEN = 'cli-agent-test-token';
const env = { KEEPWATCH_TOKEN: TOKEN };

let dir: ReturnType<typeof tempDir>;
let web: TestServer;
let d: Daemon;
let url: string[];

beforeAll(async () => {
  dir = tempDir();
  web = await startHttp((_req, res) => res.writeHead(200).end('ok'));
  const file = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(file, [
    `agent: { listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
    'api: { token: "${KEEPWATCH_TOKEN}" }',
    'checks:',
    `  - { name: web, type: http, url: "${web.url}/", every: 1h, labels: { team: shop } }`,
    `  - { name: svc, type: tcp, port: ${await closedPort()}, every: 1s, openAfter: 1 }`,
  ].join('\n'));
  d = await startDaemon(['--config', file], { env });
  // No scheme: http:// is assumed.
  url = ['--url', `127.0.0.1:${d.port}`];
  await eventually(async () => ((await (await fetch(`${d.base}/api/v1/incidents`)).json()) as { incidents: unknown[] }).incidents.length === 1, 15_000, 'the incident');
});
afterAll(async () => {
  await d?.stop('SIGKILL');
  await web.close();
  dir.cleanup();
});

test('--url without a scheme assumes http://', async () => {
  const r = await runCli(['incidents', 'list', ...url], { env });
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^1\s+open\s+critical\s+svc\s/m);
  expect(r.code).toBe(0);
  const viaEnv = await runCli(['incidents', 'show', '1'], { env: { ...env, KEEPWATCH_URL: `localhost:${d.port}` } });
  expect(viaEnv.stdout).toMatch(/^incident 1: critical open — svc \(tcp\)$/m);
});

test('a second ack says who acknowledged it and when', async () => {
  expect(await runCli(['incidents', 'ack', '1', '--by', 'alice', ...url], { env })).toMatchObject({ code: 0, stdout: 'incident 1 acknowledged\n' });
  const again = await runCli(['incidents', 'ack', '1', '--by', 'bob', ...url], { env });
  expect(again.stderr).toMatch(/^POST \/api\/v1\/incidents\/1\/ack: HTTP 409: incident 1 is already acknowledged \(by alice at \d{4}-\d\d-\d\dT[\d:.]+Z\)\n$/);
  expect(again.code).toBe(1);
});

describe('silence', () => {
  const silence = (...args: string[]) => runCli(['silence', '--for', '1h', '--comment', 'cli test', ...args, ...url], { env });

  test('a name that matches no configured check is refused with the nearest one, unless --force', async () => {
    const typo = await silence('--check', 'wbe');
    expect(typo.stderr).toBe('POST /api/v1/silences: HTTP 422: no configured check matches "wbe"; did you mean "web"? (--force creates it anyway, for a check about to be added)\n');
    expect(typo.code).toBe(1);
    const labels = await silence('--check', 'web', '--label', 'team=payments');
    expect(labels.stderr).toMatch(/HTTP 422: no configured check matches "web" with labels team=payments \(web has other labels\)/);
    expect(labels.code).toBe(1);
    const forced = await silence('--check', 'wbe', '--force');
    expect(forced.stdout).toMatch(/^silence [0-9a-f-]{36}: wbe \(no configured check yet\) until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n$/);
    expect(forced.code).toBe(0);
  });

  test('the checks covered are named; a pattern that matched none is warned of', async () => {
    const r = await silence('--check', 'w*', '--check', 'nosuch', '--label', 'team=shop');
    expect(r.stdout).toMatch(/^silence [0-9a-f-]{36}: web until /);
    expect(r.stderr).toBe('warning: --check nosuch matches no configured check\n');
    expect(r.code).toBe(0);
  });

  test('delete takes any unique start of an id; an ambiguous one lists the candidates', async () => {
    const ids: string[] = [];
    let pair: string[] = [];
    // UUIDs start with one of 16 hex digits: within 17 silences two share their first.
    while (pair.length < 2) {
      const s = await fetch(`${d.base}/api/v1/silences`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ check: 'svc', for: '1h', comment: 'prefix test' }),
      });
      const id = ((await s.json()) as { id: string }).id;
      ids.push(id);
      pair = ids.filter((x) => x[0] === id[0]);
    }
    const ambiguous = await runCli(['silence', 'delete', pair[0][0], ...url], { env });
    expect(ambiguous.stderr).toMatch(new RegExp(`HTTP 400: silence id "${pair[0][0]}" is ambiguous: it starts \\d+ active silences \\(.*${pair[0]}.*\\); give more of it`));
    expect(ambiguous.stderr).toContain(pair[1]);
    expect(ambiguous.code).toBe(1);
    const one = await runCli(['silence', 'delete', pair[1].slice(0, 8), ...url], { env });
    expect(one).toEqual({ code: 0, stdout: `silence ${pair[1]} expired\n`, stderr: '' });
    const none = await runCli(['silence', 'delete', 'zzzz', ...url], { env });
    expect(none).toMatchObject({ code: 1, stderr: 'DELETE /api/v1/silences/zzzz: HTTP 404: no active silence "zzzz"\n' });
  });
});
