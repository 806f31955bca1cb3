import { alertmanagerNotifier, LEASE_MS } from '../../../agent/notifiers/alertmanager';
import { DEFAULT_TEMPLATES, render } from '../../../agent/notifiers/render';
import { failureOf, sampleEvent as event, sendWith as send } from '../../helpers/notifiers';
import { closedPort, startHttp, startReceiver, type Receiver } from '../../helpers/servers';

let receiver: Receiver<any>;
let status = 200;
beforeAll(async () => {
  receiver = await startReceiver((_got, res) => res.writeHead(status).end());
});
afterAll(() => receiver.close());
beforeEach(() => {
  receiver.got.splice(0);
  status = 200;
});

test('API v2 alert: labels, annotations, startsAt, endsAt as a lease; resolve ends now', async () => {
  await send(alertmanagerNotifier, { urls: [receiver.url] }, event());
  const received = receiver.got;
  expect(received[0].path).toBe('/api/v2/alerts');
  expect(received[0].body).toEqual([
    {
      labels: { team: 'payments', alertname: 'KeepwatchCheckFailing', check: 'api', severity: 'critical', instance: 'web-01' },
      annotations: {
        summary: 'FIRING critical: api',
        description: render(DEFAULT_TEMPLATES.text, event()),
        incident: '7',
        tier: 'L2',
        dashboard: 'https://grafana.example/d/kw?var-check=api',
      },
      startsAt: '2026-11-27T09:58:00.000Z',
      endsAt: expect.any(String),
      generatorURL: 'http://web-01:9470/api/v1/incidents/7',
    },
  ]);
  // The lease runs from the send, whenever the event was queued.
  expect(Math.abs(Date.parse(received[0].body[0].endsAt) - (Date.now() + LEASE_MS))).toBeLessThan(5000);
  await send(alertmanagerNotifier, { urls: [receiver.url] }, event({ event: 'resolve' }));
  expect(received[1].body[0].endsAt).toBe('2026-11-27T10:00:00.000Z');
});

test('an event delivered late (retries, a coverage window) still holds a lease ahead, not one already over', async () => {
  const late = new Date(Date.now() - 10 * 60_000).toISOString();
  await send(alertmanagerNotifier, { urls: [receiver.url] }, event({ event: 'acknowledge', at: late }, { acknowledgedBy: 'alice' }));
  const received = receiver.got;
  expect(Date.parse(received[0].body[0].endsAt)).toBeGreaterThan(Date.now() + LEASE_MS - 5000);
  expect(received[0].body[0].annotations.acknowledged_by).toBe('alice');
});

test('when every Alertmanager refuses, the longest Retry-After is kept', async () => {
  const slow = await startHttp((_req, res) => res.writeHead(429, { 'Retry-After': '30' }).end());
  try {
    status = 429;
    const err = await failureOf(send(alertmanagerNotifier, { urls: [receiver.url, slow.url] }, event()));
    expect(err).toMatchObject({ retryable: true, retryAfterMs: 30_000 });
  } finally {
    await slow.close();
  }
});

test('a severity rise ends the alert with the old severity label at once', async () => {
  await send(alertmanagerNotifier, { urls: [receiver.url] }, event({ event: 'severity_change', details: { from: 'warning', to: 'critical' } }));
  const [now, old] = receiver.got[0].body;
  expect(now.labels.severity).toBe('critical');
  expect(Date.parse(now.endsAt)).toBeGreaterThan(Date.now() + LEASE_MS - 5000);
  expect(old.labels).toEqual({ ...now.labels, severity: 'warning' });
  expect(old.endsAt).toBe('2026-11-27T10:00:00.000Z');
});

test('an HA cluster: one Alertmanager accepting is enough; none is a retryable failure', async () => {
  const down = `http://127.0.0.1:${await closedPort()}`;
  await send(alertmanagerNotifier, { urls: [down, receiver.url] }, event());
  expect(receiver.got).toHaveLength(1);
  await expect(send(alertmanagerNotifier, { urls: [down] }, event())).rejects.toMatchObject({ retryable: true });
});
