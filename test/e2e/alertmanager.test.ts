import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { eventually, startDaemon, stopChild, tempDir, type Daemon } from '../helpers/daemon';
import { closedPort, startHttp, type TestServer } from '../helpers/servers';

// Debian's prometheus-alertmanager; .ci/run installs it. Missing is a failure, not a skip.
const ALERTMANAGER = process.env.ALERTMANAGER ?? '/usr/bin/prometheus-alertmanager';

let dir: ReturnType<typeof tempDir>;
let am: ChildProcess;
let amUrl: string;
let receiver: TestServer;
const notifications: any[] = [];
let daemon: Daemon | undefined;
let fixed: net.Server | undefined;

beforeAll(async () => {
  dir = tempDir();
  receiver = await startHttp((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      notifications.push(JSON.parse(raw));
      res.writeHead(200).end();
    });
  });
  const port = await closedPort();
  amUrl = `http://127.0.0.1:${port}`;
  fs.writeFileSync(path.join(dir.dir, 'alertmanager.yml'), [
    'global: { resolve_timeout: 5m }',
    'route:',
    '  receiver: test',
    '  group_by: [alertname, check]',
    '  group_wait: 1s',
    '  group_interval: 1s',
    '  repeat_interval: 1h',
    'receivers:',
    `  - { name: test, webhook_configs: [{ url: "${receiver.url}/am", send_resolved: true }] }`,
  ].join('\n'));
  am = spawn(ALERTMANAGER, [
    `--config.file=${path.join(dir.dir, 'alertmanager.yml')}`,
    `--storage.path=${path.join(dir.dir, 'am-data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ], { stdio: 'ignore' });
  await eventually(async () => (await fetch(`${amUrl}/-/ready`)).ok, 20_000, 'Alertmanager to be ready');
});

afterAll(async () => {
  await daemon?.stop();
  fixed?.close();
  await stopChild(am);
  await receiver?.close();
  dir?.cleanup();
});

test('an incident reaches Alertmanager, goes through its routing to a receiver, and resolves when the check recovers', async () => {
  const port = await closedPort();
  const file = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(file, [
    `agent: { name: e2e-am, listen: "127.0.0.1:0", dataDir: "${dir.dir}/data" }`,
    'incidents: { snapshots: false }',
    `notifiers: [{ name: am, type: alertmanager, urls: ["${amUrl}"] }]`,
    `checks: [{ name: svc, type: tcp, port: ${port}, every: 1s, openAfter: 1, resolveAfter: 1, labels: { team: ops } }]`,
  ].join('\n'));
  daemon = await startDaemon(['--config', file]);

  // keepwatch → Alertmanager: the alert is there with our labels and a lease.
  const alerts = await eventually(async () => {
    const list = (await (await fetch(`${amUrl}/api/v2/alerts`)).json()) as any[];
    return list.length > 0 && list;
  }, 20_000, 'the alert in Alertmanager');
  expect(alerts[0].labels).toEqual({ alertname: 'KeepwatchCheckFailing', check: 'svc', severity: 'critical', instance: 'e2e-am', team: 'ops' });
  expect(alerts[0].status.state).toBe('active');
  const lease = Date.parse(alerts[0].endsAt) - Date.now();
  expect(lease).toBeGreaterThan(60_000);
  expect(lease).toBeLessThanOrEqual(240_000);

  // Alertmanager → its receiver, through its own routing.
  const firing = await eventually(async () => notifications.find((n) => n.status === 'firing'), 20_000, 'the firing notification');
  expect(firing.receiver).toBe('test');
  expect(firing.alerts[0].labels.check).toBe('svc');
  expect(firing.alerts[0].annotations.summary).toBe('FIRING critical: svc');

  // The check recovers: keepwatch resolves the alert (endsAt now) and the receiver hears it.
  fixed = net.createServer((s) => s.end()).listen(port, '127.0.0.1');
  const resolved = await eventually(async () => notifications.find((n) => n.status === 'resolved'), 30_000, 'the resolved notification');
  expect(resolved.alerts[0].labels.check).toBe('svc');
  const after = (await (await fetch(`${amUrl}/api/v2/alerts?active=true`)).json()) as any[];
  expect(after.filter((a) => a.status.state === 'active')).toEqual([]);
});
