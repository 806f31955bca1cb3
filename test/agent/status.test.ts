import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { StatusReport } from '../../agent/status';
import { CLI, eventually, runCli, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { closedPort, startHttp, type TestServer } from '../helpers/servers';

jest.setTimeout(60_000);

const TOKEN = 'status-admin-token';
const env = { KEEPWATCH_TOKEN: TOKEN };

let dir: ReturnType<typeof tempDir>;
let web: TestServer;
let daemon: Daemon;
/** What web-down answers: 500 until a test makes it recover. */
let downStatus = 500;

async function status(token = TOKEN): Promise<{ code: number; json: any }> {
  const res = await fetch(`${daemon.base}/api/v1/status`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  return { code: res.status, json: await res.json() };
}

beforeAll(async () => {
  dir = tempDir();
  // web-ok and web-down are checked here; the webhook notifier's receiver fails, so the outbox has a failing message.
  web = await startHttp((req, res) => {
    if (req.url === '/ok') return void res.writeHead(200).end('fine');
    if (req.url === '/down') return void res.writeHead(downStatus).end('down');
    req.resume();
    res.writeHead(500).end('receiver broken');
  });
  const file = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(file, [
    `agent: { name: status-test, listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
    'api: { token: "${KEEPWATCH_TOKEN}", readToken: reader-token-1 }',
    'incidents: { openAfter: 1, resolveAfter: 1, snapshots: false }',
    'sla: { critical: { respond: 15m, resolve: 4h } }',
    'maintenance: [{ name: deploy, start: "2020-01-01T00:00:00Z", end: "2099-01-01T00:00:00Z", checks: ["web-ok"] }]',
    `notifiers: [{ name: hook, type: webhook, url: "${web.url}/hook" }]`,
    'checks:',
    `  - { name: web-ok, type: http, every: 1s, url: "${web.url}/ok", warn: "latencyMs > 5s" }`,
    `  - { name: web-down, type: http, every: 1s, url: "${web.url}/down", crit: "status != 200" }`,
  ].join('\n'));
  daemon = await startDaemon(['--config', file], { env });
  const silence = await fetch(`${daemon.base}/api/v1/silences`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ check: 'web-ok', for: '30m', comment: 'load test', createdBy: 'alice' }),
  });
  expect(silence.status).toBe(201);
  // Ready when the incident is open, both checks have run and the page to the broken receiver has failed once.
  await eventually(async () => {
    const { json } = await status();
    return json.incidents.length === 1 && json.counts.pending === 0 && json.outbox.failing.length === 1;
  }, 20_000, 'an open incident and a failing page');
});

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await web?.close();
  dir?.cleanup();
});

describe('GET /api/v1/status', () => {
  test('answers everything in one JSON: agent, checks with the value that matters, incidents with SLA, maintenance, silences, outbox', async () => {
    const { code, json } = await status();
    expect(code).toBe(200);
    const r = json as StatusReport;
    expect(r.agent).toEqual({ name: 'status-test', version: expect.stringMatching(/^\d+\.\d+\.\d+/), startedAt: expect.any(String), uptimeSeconds: expect.any(Number) });
    expect(Date.parse(r.now)).toBeGreaterThanOrEqual(Date.parse(r.agent.startedAt!));
    expect(r).toMatchObject({ worst: 'critical', exitCode: 2, counts: { ok: 1, warning: 0, critical: 1, unknown: 0, pending: 0 } });
    expect(r.checks).toEqual([
      expect.objectContaining({ name: 'web-ok', type: 'http', status: 'ok', value: { field: 'latencyMs', value: expect.any(Number), unit: 'ms' }, lastRun: expect.any(String), nextRun: expect.any(String) }),
      expect.objectContaining({ name: 'web-down', type: 'http', status: 'critical', value: { field: 'status', value: 500 }, message: expect.stringMatching(/^500 /) }),
    ]);
    expect(r.incidents).toEqual([
      expect.objectContaining({ id: 1, check: 'web-down', severity: 'critical', state: 'open', tier: 'default', sla: { clock: 'respond', due: expect.any(String), breached: false } }),
    ]);
    // Respond within 15 min of the opening (coverage 24x7 by default).
    expect(Date.parse(r.incidents[0].sla!.due) - Date.parse(r.incidents[0].openedAt)).toBe(15 * 60_000);
    expect(r.maintenance).toEqual([{ name: 'deploy', startedAt: '2020-01-01T00:00:00.000Z', endsAt: '2099-01-01T00:00:00.000Z', covers: ['web-ok'] }]);
    expect(r.silences).toEqual([expect.objectContaining({ checks: ['web-ok'], createdBy: 'alice', comment: 'load test', covers: ['web-ok'] })]);
    expect(r.outbox).toEqual({ due: expect.any(Number), held: 0, failing: [{ notifier: 'hook', count: 1, lastError: expect.stringMatching(/500/) }] });
  });

  test('needs the read token when one is set, like the rest of GET /api/v1', async () => {
    expect(await status('')).toMatchObject({ code: 401, json: { error: expect.stringMatching(/bearer token/) } });
    expect((await status('reader-token-1')).code).toBe(200);
  });
});

describe('keepwatch status', () => {
  test('prints the table and exits 2 while a check is critical', async () => {
    const out = await runCli(['status', '--url', daemon.base], { env });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(2);
    const lines = out.stdout.split('\n');
    expect(lines[0]).toMatch(/^status-test: keepwatch \d+\.\d+\.\d+\S*, up \d+s, at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: CRITICAL \(1 critical, 1 ok\)$/);
    // Problems first: web-down, then web-ok, each with the value that matters and run times.
    const header = lines.findIndex((l) => /^STATUS\s+CHECK\s+TYPE\s+VALUE\s+LAST RUN\s+NEXT RUN\s+MESSAGE$/.test(l));
    expect(header).toBeGreaterThan(0);
    expect(lines[header + 1]).toMatch(/^CRITICAL\s+web-down\s+http\s+status=500\s+\d+s ago\s+(in \S+|due|late \S+)\s+500 /);
    expect(lines[header + 2]).toMatch(/^OK\s+web-ok\s+http\s+latencyMs=[\d.]+ms\s+\d+s ago\s+(in \S+|due|late \S+)\s+200 /);
    expect(out.stdout).toMatch(/^INCIDENTS {2}1 open$/m);
    expect(out.stdout).toMatch(/^ {2}1\s+critical\s+open\s+web-down\s+default\s+\d+s ago\s+respond 1[45]m(\d+s)? left\s+500 /m);
    expect(out.stdout).toMatch(/^MAINTENANCE {2}1 active\n {2}WINDOW\s+ENDS\s+COVERS\n {2}deploy\s+in \d+d\s+web-ok$/m);
    expect(out.stdout).toMatch(/^SILENCES {2}1 active\n {2}ID\s+CHECKS\s+ENDS\s+BY\s+COVERS\s+COMMENT\n {2}[0-9a-f]{8}\s+web-ok\s+in (29|30)m\s+alice\s+web-ok\s+load test$/m);
    expect(out.stdout).toMatch(/^OUTBOX {2}\d+ due, 0 held, 1 failing\n {2}hook {2}1 retrying {2}.*500/m);
  });

  test('--json prints the raw status, and exits with its worst status too', async () => {
    const out = await runCli(['status', '--json', '--url', daemon.base], { env });
    expect(out.code).toBe(2);
    expect(JSON.parse(out.stdout)).toMatchObject({ agent: { name: 'status-test' }, worst: 'critical', exitCode: 2, incidents: [{ check: 'web-down' }] });
  });

  test('a wrong or missing token is unknown (3) with one plain line', async () => {
    const out = await runCli(['status', '--url', daemon.base], { env: { KEEPWATCH_TOKEN: '' } });
    expect(out).toMatchObject({ code: 3, stdout: '' });
    expect(out.stderr).toMatch(/^cannot read the status of http:\/\/127\.0\.0\.1:\d+\/?: HTTP 401: .* \(set KEEPWATCH_TOKEN\)\n$/);
  });

  test('--watch without a terminal prints a new block at each refresh until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, 'status', '--url', daemon.base, '--watch', '0.2'], { env: { ...process.env, ...env } });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const headers = () => stdout.split('\n').filter((l) => l.startsWith('status-test: keepwatch '));
    try {
      await eventually(async () => headers().length >= 2, 15_000, 'two refreshes');
    } finally {
      child.kill('SIGINT');
    }
    // Ctrl-C exits with the status of the last refresh.
    expect(await exited).toBe(2);
    expect(stdout).not.toContain('\x1b[');
    const blocks = stdout.trim().split(/\n\n(?=status-test: keepwatch )/);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const b of blocks.slice(0, 2)) {
      expect(b).toMatch(/^status-test: keepwatch .*: CRITICAL \(1 critical, 1 ok\)$/m);
      expect(b).toMatch(/^CRITICAL\s+web-down\s+http\s+status=500/m);
      expect(b).toMatch(/^OUTBOX /m);
    }
  });

  test('--watch takes seconds: anything else is a usage error', async () => {
    const out = await runCli(['status', '--url', daemon.base, '--watch', 'soon'], { env });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/--watch: expected seconds between refreshes, such as 5 or 0\.5, not "soon"/);
  });

  test('exits 0 once every check is ok', async () => {
    downStatus = 200;
    await eventually(async () => (await status()).json.exitCode === 0, 15_000, 'web-down to recover');
    const out = await runCli(['status', '--url', daemon.base], { env });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/: OK \(2 ok\)$/m);
    expect(out.stdout).toMatch(/^OK\s+web-ok\s/m);
    expect(out.stdout).toMatch(/^OK\s+web-down\s+http\s+status=200\s/m);
  });

  test('an agent that cannot be reached is unknown (3) with one plain line on stderr', async () => {
    const port = await closedPort();
    const out = await runCli(['status', '--url', `127.0.0.1:${port}`], { env });
    expect(out).toMatchObject({ code: 3, stdout: '' });
    expect(out.stderr).toMatch(new RegExp(`^cannot reach the agent at (http://)?127\\.0\\.0\\.1:${port}/?: connect ECONNREFUSED .*\\n$`));
  });
});
