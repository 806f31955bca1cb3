import { opsgenieBase, opsgenieNotifier } from '../../../agent/notifiers/opsgenie';
import { DEFAULT_TEMPLATES, render } from '../../../agent/notifiers/render';
import { sampleEvent as event, sendWith as send } from '../../helpers/notifiers';
import { startReceiver, type Receiver } from '../../helpers/servers';

let receiver: Receiver<any>;
beforeAll(async () => {
  receiver = await startReceiver((_got, res) => res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"result":"Request will be processed"}'));
});
afterAll(() => receiver.close());
beforeEach(() => receiver.got.splice(0));

const spec = () => ({ apiKey: 'genie-key-123456', url: `${receiver.url}/og`, tags: ['keepwatch'], responders: [{ type: 'team', name: 'payments' }] });

test('create by alias with priority from severity; acknowledge and close by alias', async () => {
  await send(opsgenieNotifier, spec(), event());
  await send(opsgenieNotifier, spec(), event({ event: 'acknowledge' }, { acknowledgedBy: 'alice' }));
  await send(opsgenieNotifier, spec(), event({ event: 'resolve' }, { resolvedBy: 'auto' }));
  const received = receiver.got;
  const [create, ack, close] = received;
  expect(create.path).toBe('/og/v2/alerts');
  expect(create.headers.authorization).toBe('GenieKey genie-key-123456');
  expect(create.body).toEqual({
    alias: 'web-01:ab12cd34:7',
    message: 'FIRING critical: api',
    description: render(DEFAULT_TEMPLATES.text, event()),
    source: 'keepwatch web-01',
    entity: 'api',
    priority: 'P1',
    tags: ['keepwatch', 'critical', 'http'],
    responders: [{ type: 'team', name: 'payments' }],
    details: {
      check: 'api',
      type: 'http',
      event: 'trigger',
      key: 'web-01:ab12cd34:7:1',
      tier: 'L2',
      'value.status': '503',
      'value.latencyMs': '12',
      'label.team': 'payments',
      'label.check': 'api',
      'label.type': 'http',
      'label.severity': 'critical',
      incident: 'http://web-01:9470/api/v1/incidents/7',
      grafana: 'https://grafana.example/d/kw?var-check=api',
    },
  });
  expect(ack.path).toBe('/og/v2/alerts/web-01%3Aab12cd34%3A7/acknowledge?identifierType=alias');
  expect(ack.headers.authorization).toBe('GenieKey genie-key-123456');
  expect(ack.body).toEqual({ source: 'keepwatch web-01', user: 'alice', note: render(DEFAULT_TEMPLATES.text, event({ event: 'acknowledge' }, { acknowledgedBy: 'alice' })) });
  expect(close.path).toBe('/og/v2/alerts/web-01%3Aab12cd34%3A7/close?identifierType=alias');
  expect(close.body).toEqual({ source: 'keepwatch web-01', user: 'auto', note: render(DEFAULT_TEMPLATES.text, event({ event: 'resolve' }, { resolvedBy: 'auto' })) });
  await send(opsgenieNotifier, spec(), event({}, { severity: 'warning' }));
  expect(received[3].body.priority).toBe('P3');
});

test('region picks the US or EU API; url overrides both', () => {
  const def = opsgenieNotifier;
  expect(opsgenieBase(def.schema.parse({ apiKey: 'k' }))).toBe('https://api.opsgenie.com');
  expect(opsgenieBase(def.schema.parse({ apiKey: 'k', region: 'eu' }))).toBe('https://api.eu.opsgenie.com');
  expect(opsgenieBase(def.schema.parse({ apiKey: 'k', region: 'eu', url: 'http://relay.internal/og/' }))).toBe('http://relay.internal/og');
});
