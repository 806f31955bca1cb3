import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { packageRoot } from '../../agent/paths';
import { eventually, stopChild, tempDir } from '../helpers/daemon';
import { closedPort, startHttp, type TestServer } from '../helpers/servers';

// The deployment files through the real tools: amtool and Alertmanager (Debian's
// prometheus-alertmanager), promtool (prometheus) and systemd-analyze (systemd); .ci/run
// installs them. A missing binary is a failure, never a skip. The structural checks of the
// same files are in test/agent/deploy.test.ts.

const AMTOOL = process.env.AMTOOL ?? '/usr/bin/amtool';
const ALERTMANAGER = process.env.ALERTMANAGER ?? '/usr/bin/prometheus-alertmanager';
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
const SYSTEMD_ANALYZE = process.env.SYSTEMD_ANALYZE ?? '/usr/bin/systemd-analyze';

const root = packageRoot();
const AM_EXAMPLE = path.join(root, 'dashboards', 'alertmanager.example.yml');
const UNIT = path.join(root, 'deploy', 'systemd', 'keepwatch.service');

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => dir?.cleanup());

/** Runs a tool to completion; fails (not skips) when it cannot be started. */
function tool(bin: string, args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${bin} could not run (${r.error.message}); .ci/run installs it`);
  return r;
}

describe('Alertmanager example config', () => {
  test('amtool check-config accepts it', () => {
    const r = tool(AMTOOL, ['check-config', AM_EXAMPLE]);
    expect([r.status, r.stdout + r.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });

  // Receivers that a label set reaches, in order (time intervals decide later whether they send).
  const cases: [string[], string[]][] = [
    [['team=payments', 'severity=critical', 'alertname=KeepwatchCheckFailing', 'check=api-health'], ['payments-pager', 'payments-chat']],
    [['team=payments', 'severity=warning', 'alertname=KeepwatchCheckFailing', 'check=api-health'], ['payments-chat']],
    [['team=web', 'severity=critical', 'check=storefront'], ['web-pager', 'web-chat']],
    [['team=web', 'severity=warning', 'check=storefront'], ['web-chat']],
    [['team=ops', 'severity=warning', 'check=disk:/'], ['ops-chat']],
    // No team: ops (the agents themselves).
    [['alertname=KeepwatchAgentDown', 'severity=critical', 'instance=web-01'], ['ops-pager', 'ops-chat']],
    [['alertname=KeepwatchConfigReloadFailed', 'severity=warning'], ['ops-chat']],
    // The Prometheus rules' check alerts carry the check's team too.
    [['alertname=KeepwatchCheckFailingQuorum', 'severity=critical', 'check=shop', 'team=payments'], ['payments-pager', 'payments-chat']],
    [['alertname=KeepwatchCheckErrorBudgetBurn', 'severity=critical', 'slo_window=page', 'check=storefront', 'team=web'], ['web-pager', 'web-chat']],
    [['alertname=KeepwatchCheckErrorBudgetBurnSlow', 'severity=warning', 'slo_window=ticket', 'check=storefront', 'team=web'], ['web-chat']],
    // A team without routes, or another severity: the default receiver.
    [['team=mail', 'severity=critical', 'check=smtp'], ['default']],
    [['team=payments', 'severity=info'], ['default']],
  ];
  test.each(cases)('amtool config routes test %p → %p', (labels, receivers) => {
    const r = tool(AMTOOL, ['config', 'routes', 'test', `--config.file=${AM_EXAMPLE}`, ...labels]);
    expect([r.status, r.stdout.trim().split(',')]).toEqual([0, receivers]);
    // --verify.receivers makes amtool itself fail on a mismatch.
    const v = tool(AMTOOL, ['config', 'routes', 'test', `--config.file=${AM_EXAMPLE}`, `--verify.receivers=${receivers.join(',')}`, ...labels]);
    expect(v.status).toBe(0);
  });

  test('the pager routes are active 24x7, the chat routes only in business hours', () => {
    const r = tool(AMTOOL, ['config', 'routes', 'show', `--config.file=${AM_EXAMPLE}`]);
    expect(r.status).toBe(0);
    const am = parseYaml(fs.readFileSync(AM_EXAMPLE, 'utf8'));
    const teams = am.route.routes as any[];
    expect(teams.length).toBe(3);
    for (const team of teams) {
      const [pager, chat] = team.routes;
      expect(pager).toMatchObject({ matchers: ['severity="critical"'], active_time_intervals: ['24x7'], continue: true });
      expect(chat).toMatchObject({ active_time_intervals: ['8x5'] });
      expect(r.stdout).toContain(pager.receiver);
      expect(r.stdout).toContain(chat.receiver);
    }
  });

  describe('a real Alertmanager running it', () => {
    let am: ReturnType<typeof spawn>;
    let amUrl: string;
    let sink: TestServer;
    const received: { path: string; body: any }[] = [];

    beforeAll(async () => {
      sink = await startHttp((req, res) => {
        let raw = '';
        req.on('data', (c) => (raw += c));
        req.on('end', () => {
          received.push({ path: req.url ?? '', body: JSON.parse(raw) });
          res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"status":"success"}');
        });
      });
      // The example as shipped, except that its secrets and provider URLs point here and the
      // grouping timers are short: nothing leaves 127.0.0.1.
      const cfg = parseYaml(fs.readFileSync(AM_EXAMPLE, 'utf8'));
      const secrets = path.join(dir.dir, 'secrets');
      fs.mkdirSync(secrets);
      fs.writeFileSync(path.join(secrets, 'slack-webhook-url'), `${sink.url}/slack`);
      cfg.global.slack_api_url_file = path.join(secrets, 'slack-webhook-url');
      cfg.global.pagerduty_url = `${sink.url}/pagerduty`;
      for (const r of cfg.receivers) {
        for (const pd of r.pagerduty_configs ?? []) {
          const file = path.join(secrets, path.basename(pd.routing_key_file));
          fs.writeFileSync(file, `key-of-${r.name}`);
          pd.routing_key_file = file;
        }
      }
      Object.assign(cfg.route, { group_wait: '1s', group_interval: '1s' });
      const file = path.join(dir.dir, 'alertmanager.yml');
      fs.writeFileSync(file, stringify(cfg));
      const port = await closedPort();
      amUrl = `http://127.0.0.1:${port}`;
      am = spawn(ALERTMANAGER, [
        `--config.file=${file}`,
        `--storage.path=${path.join(dir.dir, 'am-data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ], { stdio: 'ignore' });
      const started = new Promise<never>((_, reject) => am.on('error', (err) => reject(new Error(`${ALERTMANAGER} could not run: ${err.message}`))));
      await Promise.race([started, eventually(async () => (await fetch(`${amUrl}/-/ready`)).ok, 20_000, 'Alertmanager to be ready')]);
    });

    afterAll(async () => {
      await stopChild(am);
      await sink?.close();
    });

    const post = async (labels: Record<string, string>) => {
      const res = await fetch(`${amUrl}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify([{ labels, annotations: { summary: 'e2e' }, startsAt: new Date().toISOString() }]),
      });
      expect(res.status).toBe(200);
    };
    /** The alerts matching every matcher given (`name="value"`). */
    const alerts = async (...matchers: string[]): Promise<any[]> =>
      (await (await fetch(`${amUrl}/api/v2/alerts?${matchers.map((m) => `filter=${encodeURIComponent(m)}`).join('&')}`)).json()) as any[];

    test('pages a critical check alert to its team\'s PagerDuty key, at any time', async () => {
      await post({ alertname: 'KeepwatchCheckFailing', check: 'api-health', severity: 'critical', instance: 'web-01', team: 'payments' });
      const page = await eventually(async () => received.find((r) => r.path === '/pagerduty' && r.body.routing_key === 'key-of-payments-pager'), 20_000, 'the page');
      expect(page.body).toMatchObject({ event_action: 'trigger', payload: { severity: 'critical' } });
    });

    test('KeepwatchAgentDown inhibits the check alerts of its instance, not those of another', async () => {
      await post({ alertname: 'KeepwatchAgentDown', severity: 'critical', instance: 'web-02', job: 'keepwatch' });
      await eventually(async () => (await alerts('alertname="KeepwatchAgentDown"')).length === 1, 10_000, 'the agent-down alert');
      await post({ alertname: 'KeepwatchCheckFailing', check: 'db', severity: 'critical', instance: 'web-02', team: 'payments' });
      await post({ alertname: 'KeepwatchCheckFailing', check: 'db', severity: 'critical', instance: 'web-03', team: 'payments' });
      const [muted] = await eventually(async () => {
        const list = await alerts('instance="web-02"', 'check="db"');
        return list.length === 1 && list[0].status.inhibitedBy.length > 0 && list;
      }, 10_000, 'the inhibited check alert');
      expect(muted.status.state).toBe('suppressed');
      const [down] = await alerts('alertname="KeepwatchAgentDown"');
      expect(muted.status.inhibitedBy).toEqual([down.fingerprint]);
      expect(down.status.state).toBe('active');
      // The agent-down alert pages ops; web-03's check pages payments; web-02's check pages no one.
      await eventually(async () => received.some((r) => r.body.routing_key === 'key-of-ops-pager'), 20_000, 'the ops page');
      await eventually(async () => received.some((r) => r.body.routing_key === 'key-of-payments-pager' && JSON.stringify(r.body).includes('web-03')), 20_000, 'the web-03 page');
      const [other] = await alerts('instance="web-03"', 'check="db"');
      expect(other.status.state).toBe('active');
      await new Promise((r) => setTimeout(r, 2500)); // more than a group_interval
      const web02Checks = received.filter((r) => /web-02/.test(JSON.stringify(r.body)) && /KeepwatchCheckFailing/.test(JSON.stringify(r.body)));
      expect(web02Checks).toEqual([]);
    });

    test('the agent\'s own KeepwatchCheckFailing mutes Prometheus\' KeepwatchCheckCritical of the same check and instance only', async () => {
      await post({ alertname: 'KeepwatchCheckFailing', check: 'cache', severity: 'critical', instance: 'web-04', team: 'web' });
      await eventually(async () => (await alerts('alertname="KeepwatchCheckFailing"', 'check="cache"')).length === 1, 10_000, 'the agent\'s alert');
      await post({ alertname: 'KeepwatchCheckCritical', check: 'cache', severity: 'critical', instance: 'web-04', team: 'web', job: 'keepwatch' });
      await post({ alertname: 'KeepwatchCheckCritical', check: 'queue', severity: 'critical', instance: 'web-04', team: 'web', job: 'keepwatch' });
      const [muted] = await eventually(async () => {
        const list = await alerts('alertname="KeepwatchCheckCritical"', 'check="cache"');
        return list.length === 1 && list[0].status.state === 'suppressed' && list;
      }, 10_000, 'the muted Prometheus alert');
      const [source] = await alerts('alertname="KeepwatchCheckFailing"', 'check="cache"');
      expect(muted.status.inhibitedBy).toEqual([source.fingerprint]);
      const [other] = await alerts('alertname="KeepwatchCheckCritical"', 'check="queue"');
      expect(other.status.state).toBe('active');
    });
  });
});

describe('Prometheus config of the compose demo', () => {
  /** promtool check config on a copy of prometheus.yml with `files` in rules/ next to it. */
  function checkWithRules(files: Record<string, string>): { r: SpawnSyncReturns<string>; conf: string; rules: string } {
    const work = fs.mkdtempSync(path.join(dir.dir, 'prom-'));
    const conf = path.join(work, 'prometheus.yml');
    fs.copyFileSync(path.join(root, 'deploy', 'compose', 'prometheus.yml'), conf);
    const rules = path.join(work, 'rules');
    fs.mkdirSync(rules);
    for (const [name, from] of Object.entries(files)) fs.symlinkSync(from, path.join(rules, name));
    return { r: tool(PROMTOOL, ['check', 'config', conf]), conf, rules };
  }

  test('promtool check config passes with the shipped dashboards/prometheus/*.rules.yml in rules/', () => {
    const shippedDir = path.join(root, 'dashboards', 'prometheus');
    const shipped = fs.existsSync(shippedDir) ? fs.readdirSync(shippedDir).filter((f) => f.endsWith('.rules.yml')).sort() : [];
    const { r, conf, rules } = checkWithRules(Object.fromEntries(shipped.map((f) => [f, path.join(shippedDir, f)])));
    expect([r.status, r.stdout + r.stderr]).toEqual([0, expect.stringContaining(`SUCCESS: ${conf} is valid prometheus config file syntax`)]);
    if (shipped.length) expect(r.stdout).toContain(`SUCCESS: ${shipped.length} rule files found`);
    for (const f of shipped) expect(r.stdout).toContain(`Checking ${path.join(rules, f)}`);
  });

  test('its rule_files glob picks up rule files in rules/ next to it, as mounted in compose', () => {
    const extra = path.join(dir.dir, 'wiring.rules.yml');
    fs.writeFileSync(extra, 'groups:\n  - name: wiring\n    rules:\n      - record: keepwatch:up:sum\n        expr: sum(up{job="keepwatch"})\n');
    const notRules = path.join(dir.dir, 'notes.yml');
    fs.writeFileSync(notRules, 'not: rules\n');
    const { r, rules } = checkWithRules({ 'wiring.rules.yml': extra, 'notes.yml': notRules });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('SUCCESS: 1 rule files found');
    expect(r.stdout).toContain(`Checking ${path.join(rules, 'wiring.rules.yml')}`);
    expect(r.stdout).toContain('SUCCESS: 1 rules found');
  });
});

describe('systemd unit', () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)![1];

  /** The unit with node at this machine's path (it may not be /usr/bin/node here). */
  function localCopy(): string {
    const file = path.join(dir.dir, 'keepwatch.service');
    fs.writeFileSync(file, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
    return file;
  }

  test('systemd-analyze verify finds nothing to complain about', () => {
    const r = tool(SYSTEMD_ANALYZE, ['verify', localCopy()]);
    expect([r.status, r.stderr.trim(), r.stdout.trim()]).toEqual([0, '', '']);
  });

  test('systemd-analyze security rates its exposure 2.5 or lower (OK)', () => {
    const r = tool(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--threshold=25', '--no-pager', localCopy()]);
    const level = /Overall exposure level for .*: ([\d.]+)/.exec(r.stdout)?.[1];
    expect([r.status, Number(level)]).toEqual([0, expect.any(Number)]);
    expect(Number(level)).toBeLessThanOrEqual(2.5);
  });

  test('its ExecStart, Environment and WorkingDirectory run the agent; ExecReload reloads it; KillSignal stops it in time', async () => {
    // The unit's own command lines, with the install prefix and the system paths pointed at
    // this checkout and a temp dir; the config is the embedded default, as a fresh install has.
    const install = path.posix.dirname(path.posix.dirname(path.posix.dirname(value('ExecStart').split(/\s+/).find((a) => a.endsWith('.js'))!)));
    const etc = path.join(dir.dir, 'etc-keepwatch');
    const state = path.join(dir.dir, 'var-lib-keepwatch');
    fs.mkdirSync(etc);
    fs.mkdirSync(state);
    fs.copyFileSync(path.join(root, 'config', 'default.yaml'), path.join(etc, 'keepwatch.yaml'));
    const local = (s: string) => s.replaceAll(install, root).replaceAll('/etc/keepwatch', etc).replaceAll('/var/lib/keepwatch', state);
    const argv = local(value('ExecStart')).split(/\s+/);
    const env: Record<string, string> = {};
    for (const m of text.matchAll(/^Environment=(.*)$/gm)) for (const w of m[1].split(/\s+/)) env[w.split('=')[0]] = local(w.slice(w.indexOf('=') + 1));
    const port = await closedPort();
    const child = spawn(process.execPath, argv.slice(1), {
      cwd: local(value('WorkingDirectory')),
      env: { PATH: process.env.PATH, ...env, KEEPWATCH_HOST: '127.0.0.1', KEEPWATCH_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (c) => (log += c));
    child.stderr!.on('data', (c) => (log += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 20_000, `/readyz; log:\n${log}`);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(fs.existsSync(path.join(state, 'keepwatch.db'))).toBe(true); // the StateDirectory
      // ExecReload, with $MAINPID as systemd fills it in, after a check was added to the config.
      const configured = async () => Number(/^keepwatch_checks_configured (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1]);
      const before = await configured();
      expect(before).toBeGreaterThan(0);
      fs.appendFileSync(path.join(etc, 'keepwatch.yaml'), '  - name: reload-probe\n    type: load\n');
      const [killBin, ...killArgs] = value('ExecReload').replace('$MAINPID', String(child.pid)).split(/\s+/);
      expect(tool(killBin, killArgs).status).toBe(0);
      await eventually(async () => log.includes('SIGHUP: reloading config'), 10_000, 'the reload');
      await eventually(async () => (await configured()) === before + 1, 10_000, 'the added check');
      expect((await fetch(`${base}/api/v1/checks/reload-probe`)).status).toBe(200);
      // KillSignal, then the agent must be gone well within TimeoutStopSec.
      const started = Date.now();
      child.kill(value('KillSignal') as NodeJS.Signals);
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(Number(/^(\d+)s?$/.exec(value('TimeoutStopSec'))![1]) * 1000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
