import { pagerdutyNotifier, pagerdutyUrl } from '../../../agent/notifiers/pagerduty';
import { sampleEvent as event, sendWith as send } from '../../helpers/notifiers';
import { startReceiver, type Receiver } from '../../helpers/servers';

let receiver: Receiver<any>;
beforeAll(async () => {
  receiver = await startReceiver((_got, res) => res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"status":"success"}'));
});
afterAll(() => receiver.close());
beforeEach(() => receiver.got.splice(0));

const spec = () => ({ routingKey: 'R0UT1NGKEY0123456789012345678901', url: `${receiver.url}/v2/enqueue` });

test('trigger with dedup_key, severity, details and links', async () => {
  await send(pagerdutyNotifier, spec(), event());
  const received = receiver.got;
  expect(received[0].path).toBe('/v2/enqueue');
  expect(received[0].body).toEqual({
    routing_key: 'R0UT1NGKEY0123456789012345678901',
    dedup_key: 'web-01:ab12cd34:7',
    event_action: 'trigger',
    payload: {
      summary: 'FIRING critical: api',
      source: 'web-01',
      severity: 'critical',
      timestamp: '2026-11-27T10:00:00.000Z',
      component: 'api',
      class: 'http',
      custom_details: {
        summary: '503 Service Unavailable in 12 ms (status != 200)',
        event: 'trigger',
        key: 'web-01:ab12cd34:7:1',
        tier: 'L2',
        values: { status: 503, latencyMs: 12 },
        labels: { team: 'payments', check: 'api', type: 'http', severity: 'critical' },
        respond_due: '2026-11-27T10:13:00.000Z',
        snapshot: 'load 1.0/0.8/0.5 on 2 cores',
      },
    },
    client: 'keepwatch',
    client_url: 'http://web-01:9470/api/v1/incidents/7',
    links: [
      { href: 'http://web-01:9470/api/v1/incidents/7', text: 'keepwatch incident' },
      { href: 'https://grafana.example/d/kw?var-check=api', text: 'Grafana' },
    ],
  });
});

test('acknowledge and resolve are minimal, with the same dedup_key; escalations re-trigger', async () => {
  for (const e of ['acknowledge', 'resolve', 'escalate', 'sla_breach'] as const) {
    await send(pagerdutyNotifier, spec(), event({ event: e }));
  }
  const received = receiver.got;
  expect(received.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([
    ['acknowledge', 'web-01:ab12cd34:7'],
    ['resolve', 'web-01:ab12cd34:7'],
    ['trigger', 'web-01:ab12cd34:7'],
    ['trigger', 'web-01:ab12cd34:7'],
  ]);
  expect(Object.keys(received[0].body).sort()).toEqual(['dedup_key', 'event_action', 'routing_key']);
});

test('region picks the US or EU Events API; url overrides both', () => {
  const pd = pagerdutyNotifier;
  expect(pagerdutyUrl(pd.schema.parse({ routingKey: 'r' }))).toBe('https://events.pagerduty.com/v2/enqueue');
  expect(pagerdutyUrl(pd.schema.parse({ routingKey: 'r', region: 'eu' }))).toBe('https://events.eu.pagerduty.com/v2/enqueue');
});
