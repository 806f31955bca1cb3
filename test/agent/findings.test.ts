import { Writable } from 'node:stream';
import { Status } from '../../agent/evaluate';
import { createLogger } from '../../agent/logger';
import { Metrics } from '../../agent/metrics';
import { MAX_FINDINGS, runCheckOnce } from '../../agent/runner';
import { setSecrets } from '../../agent/secrets';
import { countFindings, findingFields, findingValues, type Finding, type FindingSeverity } from '../../checks/types';
import { checkConfig } from '../helpers/fake-checks';
import { sample } from '../helpers/metrics';

// The findings contract every auditing check shares: the list rides on the result (worst first,
// capped, scrubbed), the counts by severity become keepwatch_security_findings, never labels.

const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
afterEach(() => setSecrets([]));

const finding = (severity: FindingSeverity, n: number): Finding => ({ id: `t.${severity}.${n}`, severity, title: `${severity} ${n}` });

test('a run keeps its findings worst first, at most MAX_FINDINGS, and counts them all', async () => {
  const many = [...Array.from({ length: 150 }, (_, i) => finding('low', i)), finding('critical', 0), finding('info', 0), finding('high', 0)];
  const check = checkConfig('audit', async () => ({ values: { value: 0 }, message: 'audited', findings: many }));
  const r = await runCheckOnce(check, { log, signal: new AbortController().signal });
  expect(r.status).toBe(Status.Ok);
  expect(r.findings).toHaveLength(MAX_FINDINGS);
  expect(r.findings!.slice(0, 3).map((f) => f.severity)).toEqual(['critical', 'high', 'low']);
  expect(r.findingCounts).toEqual({ info: 1, low: 150, medium: 0, high: 1, critical: 1 });
  expect(countFindings([])).toEqual({ info: 0, low: 0, medium: 0, high: 0, critical: 0 });
});

test('findingValues counts all findings and each severity; findingFields declares the same six, help overridable', () => {
  expect(findingValues([finding('high', 0), finding('high', 1), finding('info', 0)])).toEqual({ findings: 3, critical: 0, high: 2, medium: 0, low: 0, info: 1 });
  expect(findingValues([])).toEqual({ findings: 0, critical: 0, high: 0, medium: 0, low: 0, info: 0 });
  const fields = findingFields({ high: 'High findings (security updates)' });
  expect(Object.keys(fields)).toEqual(Object.keys(findingValues([])));
  expect(fields.high).toEqual({ type: 'number', unit: 'count', help: 'High findings (security updates)' });
  expect(fields.low).toEqual({ type: 'number', unit: 'count', help: 'Findings of severity low' });
});

test('finding texts are scrubbed of secrets like messages are', async () => {
  setSecrets(['s3cr3t-token-value']);
  const check = checkConfig('audit', async () => ({
    values: { value: 0 },
    message: 'ok',
    findings: [{ id: 'x.leak', severity: 'high', title: 'token s3cr3t-token-value in a file', subject: '/etc/s3cr3t-token-value', fix: 'rotate s3cr3t-token-value' }],
  }));
  const r = await runCheckOnce(check, { log, signal: new AbortController().signal });
  expect(JSON.stringify(r.findings)).not.toContain('s3cr3t-token-value');
  expect(r.findings![0]).toMatchObject({ id: 'x.leak', severity: 'high', title: expect.stringContaining('[REDACTED]') });
});

test('a check without findings has none on its result and no keepwatch_security_findings series', async () => {
  const check = checkConfig('plain', async () => ({ values: { value: 0 }, message: 'ok' }));
  const r = await runCheckOnce(check, { log, signal: new AbortController().signal });
  expect(r.findings).toBeUndefined();
  const metrics = new Metrics({ version: 't', defaultMetrics: false });
  metrics.setChecks([check]);
  metrics.recordRun('plain', { status: r.status, up: true, durationSeconds: 0, values: r.values, findings: r.findingCounts });
  const text = (await metrics.expose()).body.toString();
  expect(text).not.toMatch(/^keepwatch_security_findings\{/m);
});

test('keepwatch_security_findings has one series per severity for a check with findings, zeros included', async () => {
  const check = checkConfig('audit', async () => ({ values: { value: 0 }, message: 'ok', findings: [finding('high', 1), finding('high', 2), finding('low', 1)] }));
  const r = await runCheckOnce(check, { log, signal: new AbortController().signal });
  const metrics = new Metrics({ version: 't', defaultMetrics: false });
  metrics.setChecks([check]);
  metrics.recordRun('audit', { status: r.status, up: true, durationSeconds: 0, values: r.values, findings: r.findingCounts });
  const text = (await metrics.expose()).body.toString();
  expect(sample(text, 'keepwatch_security_findings', '{check="audit",severity="high"}')).toBe(2);
  expect(sample(text, 'keepwatch_security_findings', '{check="audit",severity="low"}')).toBe(1);
  expect(sample(text, 'keepwatch_security_findings', '{check="audit",severity="critical"}')).toBe(0);
  expect(text.match(/^keepwatch_security_findings\{/gm)).toHaveLength(5);
  // A later run without findings (the check could not run) drops the series rather than keep stale counts.
  metrics.recordRun('audit', { status: Status.Unknown, up: false, durationSeconds: 0, values: {} });
  expect((await metrics.expose()).body.toString()).not.toMatch(/^keepwatch_security_findings\{/m);
});
