import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../agent/paths';
import { addDays, utcDay } from '../../checks/cost-sources';
import { eventually, startDaemon, stopChild, tempDir, type Daemon } from '../helpers/daemon';
import { EC2, LAMBDA, writeFocusExport } from '../helpers/focus';
import { TestPki } from '../helpers/pki';
import { closedPort, startHttp, startTcp, type TestServer } from '../helpers/servers';

// Debian's prometheus package (prometheus and promtool); .ci/run installs it. Missing is a failure.
const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const ROOT = packageRoot();
const RULES_DIR = path.join(ROOT, 'dashboards', 'prometheus');
const RULE_FILES = fs.readdirSync(RULES_DIR).filter((f) => f.endsWith('.rules.yml')).map((f) => path.join(RULES_DIR, f));
const TEST_FILES = fs.readdirSync(path.join(RULES_DIR, 'tests')).filter((f) => f.endsWith('.test.yml')).map((f) => path.join(RULES_DIR, 'tests', f));
const DASHBOARDS = ['keepwatch-overview.json', 'keepwatch-check-detail.json', 'keepwatch-agent-health.json', 'keepwatch-security.json', 'keepwatch-cost.json'];
const TOKEN = 'e2e-admin-token-1234';

let dir: ReturnType<typeof tempDir>;
let pki: TestPki;
let web: TestServer;
let smtp: TestServer;
let flaky: net.Server | undefined;
let daemon: Daemon;
let prom: ChildProcess;
let promUrl: string;

interface Query { where: string; expr: string }

/** Every PromQL expression in a dashboard: panel targets (rows included) and annotations. */
function dashboardQueries(file: string): Query[] {
  const d = JSON.parse(fs.readFileSync(path.join(ROOT, 'dashboards', file), 'utf8'));
  const out: Query[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ where: `${file}: ${p.title} (${t.refId})`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(d.panels);
  for (const a of d.annotations.list) if (a.expr) out.push({ where: `${file}: annotation ${a.name}`, expr: a.expr });
  return out;
}

/** Grafana's variables as Grafana would fill them for these agents and checks. */
function fill(expr: string, vars: { instance: string; check: string }): string {
  return expr
    .replaceAll('$__rate_interval', '15s')
    .replaceAll('$__interval', '5s')
    .replaceAll('$__range', '1h')
    .replaceAll('$instance', vars.instance)
    .replaceAll('$check', vars.check);
}

async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  return (await res.json()) as never;
}

beforeAll(async () => {
  dir = tempDir();
  web = await startHttp((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"UP"}'));
  smtp = await startTcp((s) => s.end('220 hello\r\n'));
  const down = await closedPort();
  const flakyPort = await closedPort();
  const agentPort = await closedPort();
  const promPort = await closedPort();
  const now = Date.now();
  fs.writeFileSync(path.join(dir.dir, 'self.pid'), String(process.pid));
  // What the security checks find: failed logins in a log written here (syslog stamps are
  // local time), a certificate issued here by a CA of its own, and this machine's updates.
  const stamp = (t: number) => {
    const d = new Date(t);
    const two = (n: number) => String(n).padStart(2, '0');
    return `${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()]} ${String(d.getDate()).padStart(2)} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  };
  const authLog = path.join(dir.dir, 'auth.log');
  fs.writeFileSync(authLog, Array.from({ length: 30 }, (_, i) =>
    `${stamp(now - 120_000 + i * 1000)} e2e sshd[${900 + i}]: Failed password for root from 203.0.113.${i % 3 ? 9 : 7} port ${40000 + i} ssh2\n`).join(''));
  pki = new TestPki();
  const ca = pki.issue({ cn: 'e2e CA', notAfterDays: 365, ca: true });
  const cert = pki.issue({ cn: 'e2e.example.test', san: ['DNS:e2e.example.test'], notAfterDays: 30 }, ca);
  // What the cost checks read: a FOCUS export of the 60 days up to yesterday (UTC), Lambda
  // spending thirty times its usual yesterday.
  const today = utcDay(now);
  const focusFile = path.join(dir.dir, 'focus-export.csv.gz');
  await writeFocusExport(focusFile, { start: addDays(today, -60), days: 60, seed: 13, spikes: [{ service: LAMBDA, day: addDays(today, -1), factor: 30 }] }, { gzip: true });
  const focus = { type: 'focus', path: focusFile };
  // web-down and flaky answer until Prometheus has scraped the agent, so that it sees the
  // incident counters rise from 0 (increase() over the range needs a sample before the rise).
  const downServer = http.createServer((_req, res) => res.end()).listen(down, '127.0.0.1');
  flaky = net.createServer((s) => s.on('error', () => undefined).end()).listen(flakyPort, '127.0.0.1');
  // Every check kind that runs here; one failing for good (acknowledged), one that fails and
  // recovers (resolved), one with an SLO, and a maintenance window open now.
  const config = path.join(dir.dir, 'keepwatch.yaml');
  fs.writeFileSync(config, YAML.stringify({
    agent: { name: 'e2e-prom', listen: `127.0.0.1:${agentPort}`, dataDir: path.join(dir.dir, 'data') },
    api: { token: TOKEN },
    incidents: { openAfter: 1, resolveAfter: 1, snapshots: false },
    sla: { critical: { respond: '1h', resolve: '4h' } },
    maintenance: [{ name: 'e2e-window', start: new Date(now - 3_600_000).toISOString(), end: new Date(now + 3_600_000).toISOString(), checks: ['memory'] }],
    checks: [
      { name: 'web', type: 'http', url: `${web.url}/`, every: '1s', slo: '99.9%', labels: { team: 'web' } },
      { name: 'web-down', type: 'http', url: `http://127.0.0.1:${down}/`, every: '1s', labels: { team: 'web', quorum: 'true' } },
      { name: 'flaky', type: 'tcp', port: flakyPort, every: '1s' },
      { name: 'smtp', type: 'tcp', port: smtp.port, expect: '^220', every: '2s', labels: { team: 'mail' } },
      { name: 'cpu', type: 'cpu', every: '2s', sample: '200ms' },
      { name: 'memory', type: 'memory', every: '2s' },
      { name: 'load', type: 'load', every: '2s' },
      { name: 'disk', type: 'disk', mount: '/', every: '2s' },
      { name: 'self', type: 'process', pidfile: path.join(dir.dir, 'self.pid'), every: '2s' },
      // Security checks, with thresholds that keep them out of the incident flows above.
      { name: 'ssh-logins', type: 'auth-failures', file: authLog, every: '2s', warn: 'failures > 1000', crit: 'failures > 2000' },
      { name: 'e2e-cert', type: 'tls-cert', certFile: cert.certFile, caFile: ca.certFile, serverName: 'e2e.example.test', every: '5s', warn: 'daysLeft < 7', crit: 'daysLeft < 1' },
      { name: 'updates', type: 'updates', every: '1m', timeout: '50s', warn: 'pending < 0', crit: 'security < 0' },
      // Cost checks, kept out of the incident flows too: budgets (one far below the spend), the
      // anomaly check (it warns for Lambda's spike: the annotation), idle capacity from the first sample.
      { name: 'cloud-budget', type: 'cost-budget', source: focus, budget: 1_000_000, every: '10s', warn: 'forecastRatio > 1000', crit: 'spendRatio > 1000' },
      { name: 'ec2-budget', type: 'cost-budget', source: focus, service: EC2, budget: 100, every: '10s', warn: 'forecastRatio > 1000', crit: 'spendRatio > 1000' },
      { name: 'cloud-anomaly', type: 'cost-anomaly', source: focus, every: '10s', crit: 'score > 1000000' },
      { name: 'idle', type: 'idle-capacity', hourlyPrice: 0.5, currency: 'EUR', minHistory: '0s', every: '2s', sample: '200ms', warn: 'wastedPercent > 100' },
    ],
  }));
  daemon = await startDaemon(['--config', config]);

  const promConfig = path.join(dir.dir, 'prometheus.yml');
  fs.writeFileSync(promConfig, YAML.stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: RULE_FILES,
    scrape_configs: [{ job_name: 'keepwatch', static_configs: [{ targets: [`127.0.0.1:${agentPort}`] }] }],
  }));
  promUrl = `http://127.0.0.1:${promPort}`;
  prom = spawn(PROMETHEUS, [
    `--config.file=${promConfig}`,
    `--storage.tsdb.path=${path.join(dir.dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ], { stdio: 'ignore' });
  await eventually(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 30_000, 'Prometheus to be ready');

  // Once Prometheus has the counters at 0, web-down and flaky fail and open incidents;
  // acknowledge one, let the other recover.
  await eventually(async () => ((await query('keepwatch_incidents_opened_total{severity="critical"}')).data?.result.length ?? 0) > 0, 30_000, 'Prometheus to scrape the agent');
  downServer.closeAllConnections();
  await new Promise((r) => downServer.close(r));
  await new Promise((r) => flaky!.close(r));
  const api = async (p: string, body?: unknown) => {
    const res = await fetch(`${daemon.base}${p}`, body === undefined ? {} : {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    return (await res.json()) as any;
  };
  const incidents = await eventually(async () => {
    const list = ((await api('/api/v1/incidents?state=open')).incidents as any[]).filter((i) => ['web-down', 'flaky'].includes(i.check));
    return list.length === 2 && list;
  }, 20_000, 'two incidents to open');
  // Let Prometheus see the counters at their opening values before the ack and the resolve.
  await eventually(async () => ((await query('increase(keepwatch_incidents_opened_total{severity="critical"}[1m]) > 0')).data?.result.length ?? 0) > 0, 20_000, 'Prometheus to scrape the openings');
  const downId = incidents.find((i) => i.check === 'web-down').id;
  await api(`/api/v1/incidents/${downId}/ack`, { by: 'e2e', comment: 'looking' });
  flaky = net.createServer((s) => s.on('error', () => undefined).end()).listen(flakyPort, '127.0.0.1');
  await eventually(async () => (await api('/api/v1/incidents?state=resolved')).incidents.length === 1, 20_000, 'the flaky incident to resolve');
  // Enough scrapes after the ack and the resolve for increase() and the recording rules.
  await eventually(async () => {
    const r = await query('keepwatch_incident_resolve_seconds_count{severity="critical"} > 0 and keepwatch_incident_ack_seconds_count{severity="critical"} > 0');
    return (r.data?.result.length ?? 0) > 0;
  }, 20_000, 'Prometheus to scrape the ack and the resolve');
  // The cost checks have answered and been scraped.
  for (const expr of ['keepwatch_cost_budget{check="ec2-budget"}', 'keepwatch_cost_budget{check="cloud-budget"}', 'keepwatch_cost_anomaly_score{check="cloud-anomaly"}', 'keepwatch_cost_wasted_monthly{check="idle"}']) {
    await eventually(async () => ((await query(expr)).data?.result.length ?? 0) > 0, 30_000, `Prometheus to scrape ${expr}`);
  }
  // The slowest check (updates: apt's simulation) has answered and been scraped.
  await eventually(async () => ((await query('keepwatch_check_value{check="updates", field="pending"}')).data?.result.length ?? 0) > 0, 60_000, 'Prometheus to scrape the updates check');
  await new Promise((r) => setTimeout(r, 5000));
}, 180_000);

afterAll(async () => {
  await stopChild(prom);
  await daemon?.stop();
  flaky?.close();
  await web?.close();
  await smtp?.close();
  pki?.remove();
  dir?.cleanup();
});

test('Prometheus scrapes the agent and loads every shipped rule group without errors', async () => {
  const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as any;
  expect(targets.data.activeTargets.map((t: any) => [t.labels.job, t.health])).toEqual([['keepwatch', 'up']]);
  const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as any;
  const groups = rules.data.groups as any[];
  expect(groups.map((g) => g.name).sort()).toEqual(['keepwatch-agent', 'keepwatch-checks', 'keepwatch-quorum', 'keepwatch-slo']);
  const unhealthy = groups.flatMap((g) => g.rules).filter((r: any) => r.health !== 'ok');
  expect(unhealthy.map((r: any) => `${r.name}: ${r.lastError}`)).toEqual([]);
});

test('every rule expression parses and runs through the query API', async () => {
  const failures: string[] = [];
  for (const file of RULE_FILES) {
    for (const group of YAML.parse(fs.readFileSync(file, 'utf8')).groups) {
      for (const rule of group.rules) {
        const r = await query(rule.expr);
        if (r.status !== 'success') failures.push(`${path.basename(file)} ${rule.alert ?? rule.record}: ${r.error}`);
      }
    }
  }
  expect(failures).toEqual([]);
});

test('the recording rules compute from real data: SLO ratios for the check with an slo, quorum counts', async () => {
  const ratio = await query('keepwatch:check_error:ratio_rate5m');
  expect((ratio.data!.result as any[]).map((s) => [s.metric.check, s.value[1]])).toEqual([['web', '0']]);
  const budget = await query('keepwatch:check_error_budget:ratio');
  expect(Number((budget.data!.result as any[])[0].value[1])).toBeCloseTo(0.001, 9);
  const failing = await query('keepwatch:check_failing_agents:count{check="web-down"}');
  expect((failing.data!.result as any[]).map((s) => [s.metric.team, s.value[1]])).toEqual([['web', '1']]);
  // The maintenance window covers memory only: the rules that alert per check keep quiet for it.
  const covered = await query('keepwatch_check_maintenance == 1');
  expect((covered.data!.result as any[]).map((s) => s.metric.check)).toEqual(['memory']);
});

test('every dashboard query parses; every Overview, Check detail, Security posture and Cloud cost panel returns data, none NaN', async () => {
  const failures: string[] = [];
  for (const file of DASHBOARDS) {
    const mustHaveData = file !== 'keepwatch-agent-health.json';
    for (const q of dashboardQueries(file)) {
      const r = await query(fill(q.expr, { instance: '.+', check: file === 'keepwatch-check-detail.json' ? 'web' : '.+' }));
      if (r.status !== 'success') failures.push(`${q.where}: ${r.error}`);
      else if (mustHaveData && !r.data!.result.length) failures.push(`${q.where}: no data`);
      else if ((r.data!.result as any[]).some((s) => s.value?.[1] === 'NaN')) failures.push(`${q.where}: NaN`);
    }
  }
  expect(failures).toEqual([]);
});

test('the dashboards\' template variables find the agent and its checks', async () => {
  const instances = (await (await fetch(`${promUrl}/api/v1/label/instance/values?match[]=keepwatch_build_info`)).json()) as any;
  expect(instances.data).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
  const checks = (await (await fetch(`${promUrl}/api/v1/label/check/values?match[]=keepwatch_check_status`)).json()) as any;
  expect(checks.data).toEqual(expect.arrayContaining(['web', 'web-down', 'flaky', 'smtp', 'cpu', 'memory', 'load', 'disk', 'self']));
  // The security dashboard's check variable: the security checks only.
  const security = (await (await fetch(`${promUrl}/api/v1/label/check/values?match[]=${encodeURIComponent('keepwatch_check_status{category="security"}')}`)).json()) as any;
  expect(security.data).toEqual(['e2e-cert', 'ssh-logins', 'updates']);
  // The cost dashboard's: the cost checks only.
  const cost = (await (await fetch(`${promUrl}/api/v1/label/check/values?match[]=${encodeURIComponent('keepwatch_check_status{category="cost"}')}`)).json()) as any;
  expect(cost.data).toEqual(['cloud-anomaly', 'cloud-budget', 'ec2-budget', 'idle']);
});

test('the cloud cost dashboard\'s panels show what the cost checks measured: budgets, top services, the anomaly, idle capacity', async () => {
  const panel = async (title: string, ref = 'A') => {
    const q = dashboardQueries('keepwatch-cost.json').find((d) => d.where === `keepwatch-cost.json: ${title} (${ref})`);
    return ((await query(fill(q!.expr, { instance: '.+', check: '.+' }))).data!.result as any[]);
  };
  const checks = new Map<string, any>((await (await fetch(`${daemon.base}/api/v1/checks`)).json() as any).checks.map((c: any) => [c.name, c.last]));
  const value = (check: string, field: string) => checks.get(check).values[field] as number;
  // EC2 alone runs far over its budget of 100 (spent, except on the 1st, when nothing of the month
  // is spent yet); the whole bill stays under its million.
  expect((await panel('Budgets at risk')).map((s) => s.value[1])).toEqual(['1']);
  expect((await panel('Budgets spent')).map((s) => s.value[1])).toEqual([utcDay(Date.now()).endsWith('-01') ? '0' : '1']);
  const ratios = Object.fromEntries((await panel('Forecast / budget')).map((s) => [s.metric.check, Number(s.value[1])]));
  expect(ratios['ec2-budget']).toBeCloseTo(value('ec2-budget', 'forecastRatio'), 2);
  expect(ratios['cloud-budget']).toBeLessThan(1);
  const spend = (await panel('Spend vs budget and forecast', 'A')).map((s) => [s.metric.check, s.metric.scope, s.metric.currency, Number(s.value[1])]);
  expect(spend).toEqual(expect.arrayContaining([['ec2-budget', `service=${EC2}`, 'USD', expect.closeTo(value('ec2-budget', 'spend'), 2)], ['cloud-budget', 'all', 'USD', expect.any(Number)]]));
  // Yesterday's top service is Lambda, at thirty times its usual spend; the anomaly check warns (the annotation).
  const top = await panel('Top services');
  expect(top[0]?.metric).toMatchObject({ check: 'cloud-anomaly', group: LAMBDA, currency: 'USD' });
  expect(checks.get('cloud-anomaly')).toMatchObject({ statusText: 'warning', values: { group: LAMBDA } });
  expect(Number((await panel('Worst anomaly score'))[0].value[1])).toBeCloseTo(value('cloud-anomaly', 'score'), 5);
  const annotation = dashboardQueries('keepwatch-cost.json').find((d) => d.where === 'keepwatch-cost.json: annotation Cost anomalies')!;
  expect(((await query(fill(annotation.expr, { instance: '.+', check: '.+' }))).data!.result as any[]).map((s) => s.metric.check)).toEqual(['cloud-anomaly']);
  // Idle capacity, in euros: 0.5 an hour × 730 × the share unused at p95 (how much depends on how
  // busy this machine is, so only the model is held to).
  const idle = await panel('Idle capacity per month');
  expect(idle.map((s) => s.metric.currency)).toEqual(['EUR']);
  expect(Number(idle[0].value[1])).toBeGreaterThanOrEqual(0);
  expect(Number(idle[0].value[1])).toBeLessThanOrEqual(0.5 * 730);
  expect(value('idle', 'wastedMonthly')).toBeCloseTo(0.5 * 730 * value('idle', 'wastedPercent') / 100, 2);
  expect(value('idle', 'wastedPercent')).toBeCloseTo(100 - Math.max(value('idle', 'cpuP95'), value('idle', 'memP95')), 5);
  expect((await panel('p95 CPU and memory')).map((s) => s.metric.field).sort()).toEqual(['cpuP95', 'memP95']);
});

test('the security dashboard\'s panels show what the checks found: findings by severity, days left, failed logins', async () => {
  const panel = async (title: string) => {
    const q = dashboardQueries('keepwatch-security.json').find((d) => d.where.startsWith(`keepwatch-security.json: ${title} (`));
    return ((await query(fill(q!.expr, { instance: '.+', check: '.+' }))).data!.result as any[]);
  };
  const findings = await query('sum by (severity) (keepwatch_security_findings{check="ssh-logins"})');
  expect(Object.fromEntries((findings.data!.result as any[]).map((s) => [s.metric.severity, s.value[1]]))).toEqual({ critical: '0', high: '0', medium: '1', low: '1', info: '0' });
  expect((await panel('Findings by severity')).map((s) => s.metric.severity).sort()).toEqual(['critical', 'high', 'info', 'low', 'medium']);
  expect((await panel('Certificates by days left')).map((s) => [s.metric.check, Math.round(Number(s.value[1]))])).toEqual([['e2e-cert', 30]]);
  expect((await panel('Failed logins now')).map((s) => s.value[1])).toEqual(['30']);
  expect((await panel('Distinct sources')).map((s) => s.value[1])).toEqual(['2']);
  expect((await panel('Pending security updates')).map((s) => Number(s.value[1]))).toEqual([expect.any(Number)]);
});

test('promtool check rules and promtool test rules pass on what we ship', () => {
  const check = spawnSync(PROMTOOL, ['check', 'rules', ...RULE_FILES], { encoding: 'utf8' });
  expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
  expect(check.stdout).not.toMatch(/WARNING|FAILED/);
  const test = spawnSync(PROMTOOL, ['test', 'rules', ...TEST_FILES], { encoding: 'utf8' });
  expect({ status: test.status, stderr: test.stderr }).toEqual({ status: 0, stderr: '' });
  expect(test.stdout.match(/SUCCESS/g)).toHaveLength(TEST_FILES.length);
});
