import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { eventually, startDaemon, tempDir, type Daemon } from '../helpers/daemon';
import { closedPort, startHttp, startTcp, type TestServer } from '../helpers/servers';

// promtool comes with Debian's `prometheus` package; .ci/run installs it. Missing is a failure.
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

let dir: ReturnType<typeof tempDir>;
let web: TestServer;
let tcp: TestServer;
let daemon: Daemon;

beforeAll(async () => {
  dir = tempDir();
  web = await startHttp((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"UP","n":3}'));
  tcp = await startTcp((s) => s.end('220 hello\r\n'));
  const closed = await closedPort();
  const file = path.join(dir.dir, 'keepwatch.yaml');
  // One check of every kind that can run here, some failing on purpose, with check labels.
  fs.writeFileSync(file, [
    `agent: { listen: "127.0.0.1:0", name: e2e, dataDir: "${dir.dir}/data" }`,
    'checks:',
    `  - { name: web, type: http, url: "${web.url}/", json: { state: $.status, n: $.n }, every: 2s, labels: { team: web } }`,
    `  - { name: web-down, type: http, url: "http://127.0.0.1:${closed}/", every: 2s }`,
    `  - { name: smtp, type: tcp, port: ${tcp.port}, expect: "^220", every: 2s, labels: { team: mail } }`,
    '  - { name: cpu, type: cpu, every: 2s, sample: 200ms }',
    '  - { name: memory, type: memory, every: 2s }',
    '  - { name: load, type: load, every: 2s }',
    '  - { name: disk, type: disk, every: 2s }',
    `  - { name: self, type: process, pidfile: ${path.join(dir.dir, 'self.pid')}, every: 2s }`,
  ].join('\n'));
  fs.writeFileSync(path.join(dir.dir, 'self.pid'), String(process.pid));
  daemon = await startDaemon(['--config', file]);
});

afterAll(async () => {
  await daemon?.stop();
  await web?.close();
  await tcp?.close();
  dir?.cleanup();
});

test('promtool is installed', () => {
  const out = execFileSync(PROMTOOL, ['--version'], { encoding: 'utf8' });
  expect(out).toMatch(/promtool, version \d+\.\d+/);
});

test('promtool check metrics reports nothing on our /metrics', async () => {
  const text = await eventually(async () => {
    const body = await (await fetch(`${daemon.base}/metrics`)).text();
    const checks = ['web', 'web-down', 'smtp', 'cpu', 'memory', 'load', 'disk:/', 'self'];
    return checks.every((c) => body.includes(`keepwatch_check_status{check="${c}"`)) && body;
  }, 15_000, 'every check to report');
  // Something failed on purpose, so the reason label and a critical status are in the output.
  expect(text).toMatch(/^keepwatch_check_runs_total\{check="web-down",status="critical",reason="refused"\} \d+$/m);
  expect(text).toMatch(/^keepwatch_check_value\{check="web",field="n"\} 3$/m);
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
});
