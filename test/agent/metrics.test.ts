import { Status } from '../../agent/evaluate';
import { DURATION_BUCKETS, Metrics } from '../../agent/metrics';
import { checkConfig } from '../helpers/fake-checks';

const run = async () => ({ values: {}, message: '' });
const lines = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l));

test('per-check families: one HELP/TYPE each, cumulative histogram buckets, escaped labels', () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setChecks([checkConfig('a', run, { labels: { team: 'we "b"\\\n' } }), checkConfig('b', run)]);
  m.recordRun('a', { status: Status.Warning, up: true, reason: 'threshold', durationSeconds: 0.03, values: { latencyMs: 30, ok: true, text: 'x' } });
  m.recordRun('a', { status: Status.Ok, up: true, durationSeconds: 3, values: { latencyMs: 3000, ok: false } });
  const text = m.renderChecks().toString();
  for (const name of ['keepwatch_check_status', 'keepwatch_check_up', 'keepwatch_check_value', 'keepwatch_check_duration_seconds', 'keepwatch_check_runs_total']) {
    expect(lines(text, new RegExp(`^# TYPE ${name} `))).toHaveLength(1);
    expect(lines(text, new RegExp(`^# HELP ${name} `))).toHaveLength(1);
  }
  expect(lines(text, /^keepwatch_check_status\{/)).toEqual(['keepwatch_check_status{check="a",type="scripted",category="health",team="we \\"b\\"\\\\\\n"} 0']);
  expect(lines(text, /^keepwatch_check_value\{/)).toEqual([
    'keepwatch_check_value{check="a",field="latencyMs"} 3000',
    'keepwatch_check_value{check="a",field="ok"} 0',
  ]);
  const buckets = lines(text, /^keepwatch_check_duration_seconds_bucket\{check="a"/).map((l) => Number(l.split(' ')[1]));
  expect(buckets).toHaveLength(DURATION_BUCKETS.length + 1);
  // 0.03 s falls in le=0.05 and above, 3 s in le=5 and above.
  expect(buckets).toEqual(DURATION_BUCKETS.map((b) => (b >= 5 ? 2 : b >= 0.05 ? 1 : 0)).concat(2));
  expect(lines(text, /^keepwatch_check_duration_seconds_(sum|count)\{check="a"/)).toEqual([
    'keepwatch_check_duration_seconds_sum{check="a",type="scripted"} 3.03',
    'keepwatch_check_duration_seconds_count{check="a",type="scripted"} 2',
  ]);
  expect(lines(text, /^keepwatch_check_runs_total/)).toEqual([
    'keepwatch_check_runs_total{check="a",status="warning",reason="threshold"} 1',
    'keepwatch_check_runs_total{check="a",status="ok",reason="none"} 1',
  ]);
  // b has not run: no samples, not zeros that would read as "ok".
  expect(text).not.toMatch(/check="b"/);
});

test('a reload drops removed checks, relabels kept ones, and keeps their last values', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setChecks([checkConfig('a', run), checkConfig('b', run)]);
  m.recordRun('a', { status: Status.Critical, up: false, reason: 'refused', durationSeconds: 0.1, values: {} });
  m.recordRun('b', { status: Status.Ok, up: true, durationSeconds: 0.1, values: { v: 1 } });
  m.recordSkip('a', 'overlap');
  m.setChecks([checkConfig('b', run, { labels: { zone: 'eu' } })]);
  const body = (await m.expose()).body.toString();
  expect(body).not.toMatch(/check="a"/);
  expect(lines(body, /^keepwatch_check_status\{/)).toEqual(['keepwatch_check_status{check="b",type="scripted",category="health",zone="eu"} 0']);
  expect(lines(body, /^keepwatch_check_value\{/)).toEqual(['keepwatch_check_value{check="b",field="v"} 1']);
  expect(lines(body, /^keepwatch_checks_configured /)).toEqual(['keepwatch_checks_configured 1']);
});

test('the page buffer is reused only once the previous scrape released it', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setChecks([checkConfig('a', run)]);
  m.recordRun('a', { status: Status.Ok, up: true, durationSeconds: 0.1, values: { v: 1 } });
  const first = await m.expose();
  const text = first.body.toString();
  const second = await m.expose(); // first still being sent
  expect(second.body.buffer).not.toBe(first.body.buffer);
  expect(first.body.toString()).toBe(text);
  first.release();
  const third = await m.expose();
  expect(third.body.buffer).toBe(first.body.buffer);
  expect(third.body.toString()).toBe(text);
});

test('incident, SLA and delivery counters exist at 0 from the start, so rate() sees the first event', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setNotifiers(['pager', 'chat']);
  let text = (await m.expose()).body.toString();
  expect(lines(text, /^keepwatch_incidents_opened_total\{/)).toEqual([
    'keepwatch_incidents_opened_total{severity="warning"} 0',
    'keepwatch_incidents_opened_total{severity="critical"} 0',
  ]);
  expect(lines(text, /^keepwatch_incident_ack_seconds_count\{/)).toHaveLength(2);
  expect(lines(text, /^keepwatch_incident_resolve_seconds_count\{severity="critical"\} 0$/)).toHaveLength(1);
  expect(lines(text, /^keepwatch_sla_breaches_total\{/)).toHaveLength(4);
  expect(lines(text, /^keepwatch_notifications_total\{notifier="pager",result="(delivered|retry|failed|expired)"\} 0$/)).toHaveLength(4);
  // A notifier removed by a reload takes its series with it.
  m.setNotifiers(['pager']);
  text = (await m.expose()).body.toString();
  expect(text).not.toMatch(/notifier="chat"/);
  expect(text).toMatch(/notifier="pager"/);
});

test('checks with an slo export their objective; others export nothing', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setChecks([{ ...checkConfig('api', run), slo: 0.999 }, checkConfig('cpu', run)]);
  let text = (await m.expose()).body.toString();
  expect(lines(text, /^keepwatch_check_slo_objective/)).toEqual(['keepwatch_check_slo_objective{check="api"} 0.999']);
  m.setChecks([checkConfig('cpu', run)]);
  text = (await m.expose()).body.toString();
  expect(lines(text, /^keepwatch_check_slo_objective/)).toEqual([]);
});

test('a check with an slo exports its ok and critical run counters at 0 before any run, so rate() sees the first failure', () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setChecks([{ ...checkConfig('api', run), slo: 0.999 }, checkConfig('cpu', run)]);
  let text = m.renderChecks().toString();
  const runs = lines(text, /^keepwatch_check_runs_total\{check="api"/);
  expect(runs).toContain('keepwatch_check_runs_total{check="api",status="ok",reason="none"} 0');
  for (const reason of ['timeout', 'refused', 'dns', 'tls', 'status', 'body', 'threshold', 'error']) {
    expect(runs).toContain(`keepwatch_check_runs_total{check="api",status="critical",reason="${reason}"} 0`);
  }
  expect(runs).toHaveLength(9);
  // Checks without an slo keep the page small: a counter appears with its first run.
  expect(lines(text, /^keepwatch_check_runs_total\{check="cpu"/)).toEqual([]);
  m.recordRun('api', { status: Status.Critical, up: false, reason: 'refused', durationSeconds: 0.01, values: {} });
  // A reload keeps the counts.
  m.setChecks([{ ...checkConfig('api', run), slo: 0.999 }]);
  text = m.renderChecks().toString();
  expect(lines(text, /^keepwatch_check_runs_total\{check="api",status="critical",reason="refused"\}/)).toEqual([
    'keepwatch_check_runs_total{check="api",status="critical",reason="refused"} 1',
  ]);
  expect(lines(text, /^keepwatch_check_runs_total\{check="api"/)).toHaveLength(9);
});

test('a notifier that re-sends also starts its re-send counters at 0; a reload keeps every count', async () => {
  const m = new Metrics({ version: 't', defaultMetrics: false });
  m.setNotifiers([{ name: 'am', resends: true }, { name: 'chat', resends: false }]);
  let text = (await m.expose()).body.toString();
  expect(lines(text, /^keepwatch_notifications_total\{notifier="am"/)).toHaveLength(6);
  expect(lines(text, /^keepwatch_notifications_total\{notifier="am",result="resend_failed"\} 0$/)).toHaveLength(1);
  expect(lines(text, /^keepwatch_notifications_total\{notifier="chat"/)).toHaveLength(4);
  m.notification('am', 'resend_failed');
  m.notification('chat', 'delivered');
  m.setNotifiers([{ name: 'am', resends: true }, { name: 'chat', resends: false }]);
  text = (await m.expose()).body.toString();
  expect(lines(text, /^keepwatch_notifications_total\{notifier="am",result="resend_failed"\} 1$/)).toHaveLength(1);
  expect(lines(text, /^keepwatch_notifications_total\{notifier="chat",result="delivered"\} 1$/)).toHaveLength(1);
});
