import { formatStatus, formatValue, frame, humanSpan, watchSeconds } from '../../agent/cli-status';
import { parseCondition } from '../../agent/evaluate';
import { keyValue, type StatusReport } from '../../agent/status';
import type { FieldSpec } from '../../checks/types';

test.each([
  [0, '0s'],
  [999, '0s'],
  [12_000, '12s'],
  [59_999, '59s'],
  [90_000, '1m30s'],
  [120_000, '2m'],
  [14 * 60_000 + 5000, '14m'],
  [3 * 3_600_000 + 12 * 60_000, '3h12m'],
  [26 * 3_600_000, '1d2h'],
  [12 * 86_400_000 + 3_600_000, '12d'],
  [-5000, '0s'],
])('humanSpan(%p) is %p', (ms, text) => {
  expect(humanSpan(ms)).toBe(text);
});

test.each([
  [undefined, '-'],
  [{ field: 'latencyMs', value: 4.105, unit: 'ms' }, 'latencyMs=4.11ms'],
  [{ field: 'usedPercent', value: 85.23, unit: 'percent' }, 'usedPercent=85.2%'],
  [{ field: 'freeBytes', value: 12_345_678_901, unit: 'bytes' }, 'freeBytes=12.3 GB'],
  [{ field: 'uptime', value: 5400, unit: 'seconds' }, 'uptime=1h30m'],
  [{ field: 'ageSeconds', value: 2.5, unit: 'seconds' }, 'ageSeconds=2.5s'],
  [{ field: 'daysLeft', value: 12, unit: 'days' }, 'daysLeft=12d'],
  [{ field: 'load', value: 1234.5 }, 'load=1235'],
  [{ field: 'status', value: 200 }, 'status=200'],
  [{ field: 'state', value: 'running' }, 'state=running'],
  [{ field: 'match', value: false }, 'match=false'],
])('formatValue(%j) is %p', (v, text) => {
  expect(formatValue(v)).toBe(text);
});

describe('keyValue: the value a status is about', () => {
  const fields: Record<string, FieldSpec> = {
    status: { type: 'number', help: 'HTTP status' },
    latencyMs: { type: 'number', unit: 'ms', help: 'latency' },
    bytes: { type: 'number', unit: 'bytes', help: 'size' },
  };
  const check = { fields, rules: { warn: [parseCondition('latencyMs > 300', fields)], crit: [parseCondition('status != 200', fields)] } };
  test.each([
    ['the decided condition\'s field', { status: 500, latencyMs: 3, bytes: 10 }, 'status != 200', { field: 'status', value: 500 }],
    ['ok: the first warn condition\'s field, with its unit', { status: 200, latencyMs: 3, bytes: 10 }, undefined, { field: 'latencyMs', value: 3, unit: 'ms' }],
    ['a field the run did not return is passed over', { status: 200, bytes: 10 }, undefined, { field: 'status', value: 200 }],
    ['no condition field returned: the first value', { bytes: 10 }, undefined, { field: 'bytes', value: 10, unit: 'bytes' }],
    ['no values at all: none', {}, undefined, undefined],
  ])('%s', (_what, values, condition, expected) => {
    expect(keyValue(check, { values, condition })).toEqual(expected);
  });
});

test.each([
  [undefined, undefined],
  ['', 2],
  ['5', 5],
  ['0.2', 0.2],
])('watchSeconds(%p) is %p', (value, seconds) => {
  expect(watchSeconds(value)).toBe(seconds);
});

test.each(['0', '-1', 'soon', 'NaN'])('watchSeconds(%p) is a usage error', (value) => {
  expect(() => watchSeconds(value)).toThrow(`--watch: expected seconds between refreshes, such as 5 or 0.5, not "${value}"`);
});

test('frame: a new block after a blank line without a terminal; in place, each line cleared, on one', () => {
  expect(frame('a\nb', false, true)).toBe('a\nb\n');
  expect(frame('a\nb', false, false)).toBe('\na\nb\n');
  expect(frame('a\nb', true, true)).toBe('\x1b[2J\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J');
  expect(frame('a\nb', true, false)).toBe('\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J');
});

describe('formatStatus', () => {
  const now = Date.parse('2026-03-02T10:00:00Z');
  const at = (ms: number) => new Date(now + ms).toISOString();
  const report: StatusReport = {
    now: at(0),
    agent: { name: 'web-01', version: '1.2.3', startedAt: at(-(3 * 3_600_000 + 12 * 60_000)), uptimeSeconds: 3 * 3600 + 12 * 60 },
    worst: 'critical',
    exitCode: 2,
    counts: { ok: 1, warning: 1, critical: 1, unknown: 0, pending: 1 },
    checks: [
      { name: 'root-disk', type: 'disk', status: 'warning', running: false, value: { field: 'usedPercent', value: 83.4, unit: 'percent' }, message: '/ 83.4% used', lastRun: at(-12_000), nextRun: at(48_000) },
      { name: 'api', type: 'http', status: 'ok', running: true, value: { field: 'latencyMs', value: 41, unit: 'ms' }, message: '200 OK in 41 ms', lastRun: at(-2000), nextRun: at(-500) },
      { name: 'db', type: 'tcp', status: 'critical', running: false, message: 'connection refused', lastRun: at(-3000), nextRun: at(-7000) },
      { name: 'backup', type: 'push', status: 'pending', running: false, nextRun: at(3_600_000) },
    ],
    incidents: [
      { id: 7, check: 'db', severity: 'critical', state: 'open', tier: 'L2', flapping: false, summary: 'connection refused', openedAt: at(-60_000), sla: { clock: 'respond', due: at(14 * 60_000), breached: false } },
      { id: 5, check: 'root-disk', severity: 'warning', state: 'acknowledged', tier: 'L1', flapping: true, summary: '/ 83.4% used', openedAt: at(-7_200_000), sla: { clock: 'resolve', due: at(-180_000), breached: true } },
    ],
    maintenance: [{ name: 'patching', startedAt: at(-600_000), endsAt: at(6_600_000), covers: ['a', 'b', 'c', 'd', 'e'] }],
    silences: [{ id: '3f2a9c1e-0000-4000-8000-000000000000', checks: ['batch-*'], labels: {}, endsAt: at(29 * 60_000), createdBy: 'alice', comment: 'reindexing', covers: [] }],
    outbox: { due: 2, held: 1, failing: [{ notifier: 'oncall', count: 2, lastError: 'HTTP 503: unavailable' }] },
  };

  test('the header, checks worst first, incidents with their SLA clock, maintenance, silences and the outbox', () => {
    expect(formatStatus(report).split('\n')).toEqual([
      'web-01: keepwatch 1.2.3, up 3h12m, at 2026-03-02 10:00:00Z: CRITICAL (1 critical, 1 warning, 1 ok, 1 pending)',
      '',
      'STATUS    CHECK      TYPE  VALUE              LAST RUN  NEXT RUN  MESSAGE',
      'CRITICAL  db         tcp   -                  3s ago    late 7s   connection refused',
      'WARNING   root-disk  disk  usedPercent=83.4%  12s ago   in 48s    / 83.4% used',
      'OK        api        http  latencyMs=41ms     2s ago    running   200 OK in 41 ms',
      'PENDING   backup     push  -                  -         in 1h',
      '',
      'INCIDENTS  2 open',
      '  ID  SEVERITY  STATE                    CHECK      TIER  OPENED  SLA                      SUMMARY',
      '  7   critical  open                     db         L2    1m ago  respond 14m left         connection refused',
      '  5   warning   acknowledged (flapping)  root-disk  L1    2h ago  resolve breached 3m ago  / 83.4% used',
      'MAINTENANCE  1 active',
      '  WINDOW    ENDS      COVERS',
      '  patching  in 1h50m  a, b, c +2 more',
      'SILENCES  1 active',
      '  ID        CHECKS   ENDS    BY     COVERS     COMMENT',
      '  3f2a9c1e  batch-*  in 29m  alice  no checks  reindexing',
      'OUTBOX  2 due, 1 held, 2 failing',
      '  oncall  2 retrying  HTTP 503: unavailable',
    ]);
  });

  test('a receiver\'s multi-line error page stays on its row, cut to 120 characters', () => {
    const page = `HTTP 501: <html>\n  <body>\n    <h1>Error response</h1>\n${'x'.repeat(200)}\n</html>`;
    const text = formatStatus({ ...report, outbox: { due: 1, held: 0, failing: [{ notifier: 'hook', count: 1, lastError: page }] } });
    const tail = text.split('\n').slice(-2);
    expect(tail[0]).toBe('OUTBOX  1 due, 0 held, 1 failing');
    expect(tail[1]).toMatch(/^ {2}hook {2}1 retrying {2}HTTP 501: <html> <body> <h1>Error response<\/h1> x+…$/);
    expect(tail[1].length).toBe('  hook  1 retrying  '.length + 120);
  });

  test('quiet sections take one line each; an agent without a store says so', () => {
    const quiet = { ...report, checks: [], counts: { ok: 0, warning: 0, critical: 0, unknown: 0, pending: 0 }, worst: 'ok' as const, exitCode: 0, incidents: [], maintenance: [], silences: [], outbox: undefined };
    expect(formatStatus(quiet).split('\n').slice(2)).toEqual([
      'no checks configured',
      '',
      'INCIDENTS  none open',
      'MAINTENANCE  none active',
      'SILENCES  none active',
      'OUTBOX  none (the agent runs without a store)',
    ]);
  });
});
