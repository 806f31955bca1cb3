import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Metrics } from '../../agent/metrics';
import { packageRoot } from '../../agent/paths';

// Structure of what we ship for Grafana and Prometheus. That every query parses and returns
// data against a real Prometheus is the e2e suite's job (test/e2e/prometheus.test.ts).
const ROOT = path.join(packageRoot(), 'dashboards');
const DASHBOARDS = fs.readdirSync(ROOT).filter((f) => f.endsWith('.json'));
const RULES = fs.readdirSync(path.join(ROOT, 'prometheus')).filter((f) => f.endsWith('.rules.yml'));
const TESTS = fs.readdirSync(path.join(ROOT, 'prometheus', 'tests')).filter((f) => f.endsWith('.test.yml'));
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(ROOT, f), 'utf8'));
const rulesOf = (f: string) => YAML.parse(fs.readFileSync(path.join(ROOT, 'prometheus', f), 'utf8')).groups.flatMap((g: any) => g.rules);

/** Every panel, rows' nested panels included. */
function panels(d: any): any[] {
  return d.panels.flatMap((p: any) => [p, ...(p.panels ?? [])]);
}
function queries(d: any): string[] {
  return [...panels(d).flatMap((p) => (p.targets ?? []).map((t: any) => t.expr)), ...d.annotations.list.filter((a: any) => a.expr).map((a: any) => a.expr)];
}

/** Metric names the agent exports (a registry with one of everything), the rules record, and Prometheus' own. */
async function knownMetrics(): Promise<Set<string>> {
  const m = new Metrics({ version: 't' });
  m.setNotifiers(['n']);
  const text = (await m.expose()).body.toString();
  const names = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name])));
  for (const f of RULES) for (const r of rulesOf(f)) if (r.record) names.add(r.record);
  names.add('up');
  return names;
}

test('the five dashboards ship, each with a unique uid', () => {
  expect(DASHBOARDS.sort()).toEqual(['keepwatch-agent-health.json', 'keepwatch-check-detail.json', 'keepwatch-cost.json', 'keepwatch-overview.json', 'keepwatch-security.json']);
  const uids = DASHBOARDS.map((f) => load(f).uid);
  expect(new Set(uids).size).toBe(5);
});

describe.each(DASHBOARDS)('%s', (file) => {
  const d = load(file);

  test('panel ids are unique and panels fit the 24-column grid', () => {
    const ids = panels(d).map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels(d)) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
  });

  test('a ${datasource} variable, used by every panel, target, variable and annotation', () => {
    const ds = d.templating.list.find((v: any) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const uses = [
      ...panels(d).filter((p) => p.type !== 'row').flatMap((p) => [p.datasource, ...(p.targets ?? []).map((t: any) => t.datasource)]),
      ...d.templating.list.filter((v: any) => v.type === 'query').map((v: any) => v.datasource),
      ...d.annotations.list.filter((a: any) => a.expr).map((a: any) => a.datasource),
    ];
    expect(uses.length).toBeGreaterThan(5);
    for (const u of uses) expect(u).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  test('instance (and check) template variables, and no hard-coded instance or check anywhere', () => {
    const names = d.templating.list.map((v: any) => v.name);
    expect(names).toEqual(file === 'keepwatch-agent-health.json' ? ['datasource', 'instance'] : ['datasource', 'instance', 'check']);
    for (const expr of queries(d)) {
      expect(expr).toMatch(/instance=~"\$instance"/);
      expect(expr).not.toMatch(/instance="|check="/);
      if (names.includes('check') && /keepwatch_check_|keepwatch:check_/.test(expr)) expect(expr).toMatch(/check=~"\$check"/);
    }
    expect(JSON.stringify(d)).not.toMatch(/127\.0\.0\.1|localhost:9470/);
  });

  test('every metric a query names is one the agent exports or a shipped rule records', async () => {
    const known = await knownMetrics();
    const unknown = queries(d)
      .flatMap((expr) => [...expr.matchAll(/\b((?:keepwatch|process|nodejs)[a-z_:]*|keepwatch:[a-z_:0-9]+)\s*[{[]/g)].map((m) => m[1]))
      .filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });
});

test('the overview shows maintenance windows as annotations and links to the check detail', () => {
  const d = load('keepwatch-overview.json');
  expect(d.annotations.list.map((a: any) => a.expr).filter(Boolean)).toEqual(['keepwatch_maintenance_active{instance=~"$instance"} == 1']);
  expect(JSON.stringify(d)).toContain('/d/keepwatch-check/');
  expect(load('keepwatch-check-detail.json').uid).toBe('keepwatch-check');
});

test('availability is the share of time not critical, as the SLO rules count it; range ratios give no data, not NaN, without events', () => {
  for (const f of ['keepwatch-overview.json', 'keepwatch-check-detail.json']) {
    const availability = panels(load(f)).filter((p) => /availability/i.test(p.title));
    expect(availability.length).toBeGreaterThan(0);
    for (const p of availability) {
      expect(p.description).toMatch(/share of time not critical/i);
      const exprs = p.targets.map((t: any) => t.expr).filter((e: string) => /bool/.test(e));
      expect(exprs.length).toBeGreaterThan(0);
      for (const e of exprs) expect(e).toMatch(/keepwatch_check_status\{[^}]*\} != bool 2\)/);
    }
  }
  // Every division over the range divides by `(sum(...) > 0)`: 0/0 would show NaN.
  const divisions = DASHBOARDS.flatMap((f) => queries(load(f)).filter((e) => e.includes('[$__range]')).flatMap((e) => e.split(' / ').slice(1)));
  expect(divisions.length).toBeGreaterThanOrEqual(4);
  for (const d of divisions) expect(d).toMatch(/^\(sum\(increase\([^[]+\[\$__range\]\)\) > 0\)/);
});

test('the security posture dashboard: findings by severity, and each check type\'s values joined on its type, never on a check name', () => {
  const d = load('keepwatch-security.json');
  expect(d.uid).toBe('keepwatch-security');
  const check = d.templating.list.find((v: any) => v.name === 'check');
  expect(check.definition).toBe('label_values(keepwatch_check_status{instance=~"$instance", category="security"}, check)');
  const exprs = queries(d);
  expect(exprs.filter((e) => e.includes('keepwatch_security_findings')).length).toBeGreaterThanOrEqual(5);
  const byField = (field: string) => exprs.filter((e) => e.includes(`field="${field}"`));
  for (const [field, type] of [['daysLeft', 'tls-cert'], ['security', 'updates'], ['failures', 'auth-failures'], ['sources', 'auth-failures']]) {
    expect(byField(field).length).toBeGreaterThan(0);
    for (const e of byField(field)) expect(e).toContain(`and on (instance, check) keepwatch_check_status{instance=~"$instance", check=~"$check", type="${type}"}`);
  }
});

test('the agent health Version stat shows the version label, not the gauge\'s value', () => {
  const version = panels(load('keepwatch-agent-health.json')).find((p) => p.title === 'Version');
  expect(version.options.textMode).toBe('name');
  expect(version.targets[0].legendFormat).toContain('{{version}}');
});

describe('Prometheus rules', () => {
  const alerts = RULES.flatMap((f) => rulesOf(f).filter((r: any) => r.alert));

  test('every alert has a severity and a summary and description', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    for (const a of alerts) {
      expect([a.alert, a.labels?.severity]).toEqual([a.alert, expect.stringMatching(/^(critical|warning)$/)]);
      expect(a.annotations).toEqual({ summary: expect.any(String), description: expect.any(String) });
    }
  });

  test('every alert is unit-tested both firing and not firing (promtool test rules runs them in the e2e suite)', () => {
    const cases = new Map<string, { fires: boolean; quiet: boolean }>();
    for (const f of TESTS) {
      const t = YAML.parse(fs.readFileSync(path.join(ROOT, 'prometheus', 'tests', f), 'utf8'));
      for (const rf of t.rule_files) expect(fs.existsSync(path.join(ROOT, 'prometheus', 'tests', rf))).toBe(true);
      for (const test of t.tests) {
        for (const c of test.alert_rule_test ?? []) {
          const seen = cases.get(c.alertname) ?? { fires: false, quiet: false };
          if (c.exp_alerts.length) seen.fires = true;
          else seen.quiet = true;
          cases.set(c.alertname, seen);
        }
      }
    }
    const untested = alerts.map((a: any) => a.alert).filter((name: string) => !(cases.get(name)?.fires && cases.get(name)?.quiet));
    expect(untested).toEqual([]);
  });

  test('recording rules follow the level:metric:operations naming', () => {
    for (const f of RULES) for (const r of rulesOf(f)) if (r.record) expect(r.record).toMatch(/^keepwatch:[a-z_]+:[a-z_0-9]+$/);
  });
});

test('the cloud cost dashboard: spend vs budget and forecast, top groups, anomalies annotated from the anomaly checks\' status, idle capacity; amounts never summed across currencies', () => {
  const d = load('keepwatch-cost.json');
  expect(d.uid).toBe('keepwatch-cost');
  const check = d.templating.list.find((v: any) => v.name === 'check');
  expect(check.definition).toBe('label_values(keepwatch_check_status{instance=~"$instance", category="cost"}, check)');
  const exprs = queries(d);
  for (const family of ['spend', 'forecast', 'budget', 'anomaly_score', 'wasted_monthly', 'group_spend']) {
    const uses = exprs.filter((e) => e.includes(`keepwatch_cost_${family}{`));
    expect([family, uses.length > 0]).toEqual([family, true]);
    for (const e of uses) expect(e).toContain(`keepwatch_cost_${family}{instance=~"$instance", check=~"$check"}`);
  }
  // A sum over cost series keeps the currency apart (sum by (currency)), or is a count.
  for (const e of exprs) for (const m of e.matchAll(/\b(sum|avg)\b(?: by \(([^)]*)\))?\s*\(/g)) expect([e, m[2] ?? '']).toEqual([e, expect.stringContaining('currency')]);
  const annotations = d.annotations.list.filter((a: any) => a.expr);
  expect(annotations.map((a: any) => [a.name, a.expr])).toEqual([['Cost anomalies', '(keepwatch_check_status{instance=~"$instance", check=~"$check", type="cost-anomaly"} >= 1) < 3']]);
});
