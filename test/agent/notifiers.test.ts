import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { LEASE_MS } from '../../agent/notifiers/alertmanager';
import { opsgenieBase } from '../../agent/notifiers/opsgenie';
import { pagerdutyUrl } from '../../agent/notifiers/pagerduty';
import { notifierRegistry, notifierTypes } from '../../agent/notifiers';
import { DEFAULT_TEMPLATES, render } from '../../agent/notifiers/render';
import { NotifyError, type IncidentEvent, type NotifierDefinition } from '../../agent/notifiers/types';
import { signature } from '../../agent/notifiers/webhook';
import { closedPort, startHttp, type TestServer } from '../helpers/servers';

interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: any;
}

let receiver: TestServer;
let received: Received[] = [];
let status = 202;

beforeAll(async () => {
  receiver = await startHttp((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      received.push({ method: req.method!, path: req.url!, headers: req.headers, raw, body: raw ? JSON.parse(raw) : undefined });
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(status >= 400 ? '{"message":"nope"}' : '{"status":"success"}');
    });
  });
});
afterAll(() => receiver.close());
beforeEach(() => {
  received = [];
  status = 202;
});

const event = (over: Partial<IncidentEvent> = {}, inc: Partial<IncidentEvent['incident']> = {}): IncidentEvent => ({
  event: 'trigger',
  key: 'web-01:ab12cd34:7:1',
  agent: 'web-01',
  at: '2026-11-27T10:00:00.000Z',
  message: 'critical: api: 503 in 12 ms',
  incident: {
    id: 7,
    ref: 'web-01:ab12cd34:7',
    dedupKey: 'web-01/api',
    check: 'api',
    type: 'http',
    severity: 'critical',
    state: 'open',
    tier: 'L2',
    summary: '503 Service Unavailable in 12 ms (status != 200)',
    openedAt: '2026-11-27T09:58:00.000Z',
    flapping: false,
    labels: { team: 'payments', check: 'api', type: 'http', severity: 'critical' },
    values: { status: 503, latencyMs: 12 },
    respondDue: '2026-11-27T10:13:00.000Z',
    ...inc,
  },
  details: { snapshot: 'load 1.0/0.8/0.5 on 2 cores' },
  links: { incident: 'http://web-01:9470/api/v1/incidents/7', grafana: 'https://grafana.example/d/kw?var-check=api' },
  ...over,
});

async function send(def: NotifierDefinition<any>, raw: Record<string, unknown>, e: IncidentEvent) {
  await def.send(e, def.schema.parse(raw), { signal: AbortSignal.timeout(5000), templates: DEFAULT_TEMPLATES });
}

describe('templates', () => {
  test('fields, values, labels, links and conditional sections', () => {
    expect(render('{{EVENT}} {{severity}}: {{check}}', event())).toBe('FIRING critical: api');
    expect(render('{{values.latencyMs}} ms for {{labels.team}}{{#tier}} at {{tier}}{{/tier}}', event())).toBe('12 ms for payments at L2');
    expect(render('{{#tier}}tier {{tier}}{{/tier}}|{{unknown}}', event({}, { tier: undefined }))).toBe('|');
    expect(render(DEFAULT_TEMPLATES.text, event())).toBe(
      '503 Service Unavailable in 12 ms (status != 200)\ntier L2\nrespond by 2026-11-27T10:13:00.000Z\nhttp://web-01:9470/api/v1/incidents/7\nhttps://grafana.example/d/kw?var-check=api',
    );
    expect(render(DEFAULT_TEMPLATES.title, event({ event: 'resolve' }))).toBe('RESOLVED critical: api');
  });
});

describe('webhook', () => {
  test('POSTs the event as is, with custom headers and a verifiable HMAC signature', async () => {
    const secret = 'a-shared-secret-of-32-characters';
    await send(notifierRegistry.get('webhook')!, { url: `${receiver.url}/hook`, headers: { 'X-Team': 'ops' }, secret }, event());
    const [r] = received;
    expect(r.path).toBe('/hook');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-team']).toBe('ops');
    expect(r.body).toEqual(event());
    // How a receiver verifies: recompute over "<timestamp>.<raw body>", compare in constant time.
    const ts = r.headers['x-keepwatch-timestamp'] as string;
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(10);
    const expected = Buffer.from(`sha256=${crypto.createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`);
    expect(crypto.timingSafeEqual(Buffer.from(r.headers['x-keepwatch-signature'] as string), expected)).toBe(true);
    expect(signature(secret, ts, `${r.raw} `)).not.toBe((r.headers['x-keepwatch-signature'] as string).slice(7));
  });

  test('unsigned without a secret', async () => {
    await send(notifierRegistry.get('webhook')!, { url: `${receiver.url}/hook` }, event());
    expect(received[0].headers['x-keepwatch-signature']).toBeUndefined();
  });
});

describe('slack', () => {
  test('Block Kit message with a colour by severity and state', async () => {
    await send(notifierRegistry.get('slack')!, { url: `${receiver.url}/services/T1/B2/secret3`, channel: '#ops' }, event());
    expect(received[0].path).toBe('/services/T1/B2/secret3');
    expect(received[0].body).toEqual({
      channel: '#ops',
      text: 'FIRING critical: api',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'FIRING critical: api' } },
        { type: 'section', text: { type: 'mrkdwn', text: render(DEFAULT_TEMPLATES.text, event()) } },
      ],
      attachments: [
        {
          color: '#E01E5A',
          fallback: 'FIRING critical: api: 503 Service Unavailable in 12 ms (status != 200)',
          fields: [
            { title: 'status', value: '503', short: true },
            { title: 'latencyMs', value: '12', short: true },
          ],
          footer: 'keepwatch web-01 · incident 7',
          ts: 1795773600,
        },
      ],
    });
    await send(notifierRegistry.get('slack')!, { url: `${receiver.url}/s` }, event({}, { severity: 'warning' }));
    await send(notifierRegistry.get('slack')!, { url: `${receiver.url}/s` }, event({ event: 'resolve' }));
    expect(received.slice(1).map((r) => r.body.attachments[0].color)).toEqual(['#ECB22E', '#2EB67D']);
  });

  test('a message with & < > stays text, not markup or a link', async () => {
    await send(notifierRegistry.get('slack')!, { url: `${receiver.url}/s` }, event({}, { summary: 'body <b>500</b> & <!channel>' }));
    expect(received[0].body.blocks[1].text.text).toMatch(/^body &lt;b&gt;500&lt;\/b&gt; &amp; &lt;!channel&gt;/);
  });
});

describe('teams', () => {
  test('an Adaptive Card for a Workflows webhook', async () => {
    await send(notifierRegistry.get('teams')!, { url: `${receiver.url}/workflows/abc` }, event());
    expect(received[0].path).toBe('/workflows/abc');
    expect(received[0].headers['content-type']).toMatch(/^application\/json/);
    expect(received[0].body).toEqual({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.2',
            body: [
              { type: 'TextBlock', text: 'FIRING critical: api', weight: 'Bolder', size: 'Medium', wrap: true, style: 'heading', color: 'Attention' },
              { type: 'TextBlock', text: render(DEFAULT_TEMPLATES.text, event()), wrap: true },
              { type: 'FactSet', facts: [{ title: 'status', value: '503' }, { title: 'latencyMs', value: '12' }] },
            ],
            actions: [{ type: 'Action.OpenUrl', title: 'Open incident', url: 'http://web-01:9470/api/v1/incidents/7' }],
            msteams: { width: 'full' },
          },
        },
      ],
    });
  });
});

describe('pagerduty', () => {
  const spec = () => ({ routingKey: 'R0UT1NGKEY0123456789012345678901', url: `${receiver.url}/v2/enqueue` });

  test('trigger with dedup_key, severity, details and links', async () => {
    await send(notifierRegistry.get('pagerduty')!, spec(), event());
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
      await send(notifierRegistry.get('pagerduty')!, spec(), event({ event: e }));
    }
    expect(received.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([
      ['acknowledge', 'web-01:ab12cd34:7'],
      ['resolve', 'web-01:ab12cd34:7'],
      ['trigger', 'web-01:ab12cd34:7'],
      ['trigger', 'web-01:ab12cd34:7'],
    ]);
    expect(Object.keys(received[0].body).sort()).toEqual(['dedup_key', 'event_action', 'routing_key']);
  });
});

describe('opsgenie', () => {
  const spec = () => ({ apiKey: 'genie-key-123456', url: `${receiver.url}/og`, tags: ['keepwatch'], responders: [{ type: 'team', name: 'payments' }] });

  test('create by alias with priority from severity; acknowledge and close by alias', async () => {
    await send(notifierRegistry.get('opsgenie')!, spec(), event());
    await send(notifierRegistry.get('opsgenie')!, spec(), event({ event: 'acknowledge' }, { acknowledgedBy: 'alice' }));
    await send(notifierRegistry.get('opsgenie')!, spec(), event({ event: 'resolve' }, { resolvedBy: 'auto' }));
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
    await send(notifierRegistry.get('opsgenie')!, spec(), event({}, { severity: 'warning' }));
    expect(received[3].body.priority).toBe('P3');
  });

  test('region picks the US or EU API; url overrides both', () => {
    const def = notifierRegistry.get('opsgenie')!;
    expect(opsgenieBase(def.schema.parse({ apiKey: 'k' }))).toBe('https://api.opsgenie.com');
    expect(opsgenieBase(def.schema.parse({ apiKey: 'k', region: 'eu' }))).toBe('https://api.eu.opsgenie.com');
    expect(opsgenieBase(def.schema.parse({ apiKey: 'k', region: 'eu', url: 'http://relay.internal/og/' }))).toBe('http://relay.internal/og');
    const pd = notifierRegistry.get('pagerduty')!;
    expect(pagerdutyUrl(pd.schema.parse({ routingKey: 'r' }))).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(pagerdutyUrl(pd.schema.parse({ routingKey: 'r', region: 'eu' }))).toBe('https://events.eu.pagerduty.com/v2/enqueue');
  });
});

describe('alertmanager', () => {
  test('API v2 alert: labels, annotations, startsAt, endsAt as a lease; resolve ends now', async () => {
    await send(notifierRegistry.get('alertmanager')!, { urls: [receiver.url] }, event());
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
    await send(notifierRegistry.get('alertmanager')!, { urls: [receiver.url] }, event({ event: 'resolve' }));
    expect(received[1].body[0].endsAt).toBe('2026-11-27T10:00:00.000Z');
  });

  test('an event delivered late (retries, a coverage window) still holds a lease ahead, not one already over', async () => {
    const late = new Date(Date.now() - 10 * 60_000).toISOString();
    await send(notifierRegistry.get('alertmanager')!, { urls: [receiver.url] }, event({ event: 'acknowledge', at: late }, { acknowledgedBy: 'alice' }));
    expect(Date.parse(received[0].body[0].endsAt)).toBeGreaterThan(Date.now() + LEASE_MS - 5000);
    expect(received[0].body[0].annotations.acknowledged_by).toBe('alice');
  });

  test('when every Alertmanager refuses, the longest Retry-After is kept', async () => {
    const slow = await startHttp((_req, res) => res.writeHead(429, { 'Retry-After': '30' }).end());
    try {
      status = 429;
      const err = await send(notifierRegistry.get('alertmanager')!, { urls: [receiver.url, slow.url] }, event()).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ retryable: true, retryAfterMs: 30_000 });
    } finally {
      await slow.close();
    }
  });

  test('a severity rise ends the alert with the old severity label at once', async () => {
    await send(notifierRegistry.get('alertmanager')!, { urls: [receiver.url] }, event({ event: 'severity_change', details: { from: 'warning', to: 'critical' } }));
    const [now, old] = received[0].body;
    expect(now.labels.severity).toBe('critical');
    expect(Date.parse(now.endsAt)).toBeGreaterThan(Date.now() + LEASE_MS - 5000);
    expect(old.labels).toEqual({ ...now.labels, severity: 'warning' });
    expect(old.endsAt).toBe('2026-11-27T10:00:00.000Z');
  });

  test('an HA cluster: one Alertmanager accepting is enough; none is a retryable failure', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    await send(notifierRegistry.get('alertmanager')!, { urls: [down, receiver.url] }, event());
    expect(received).toHaveLength(1);
    await expect(send(notifierRegistry.get('alertmanager')!, { urls: [down] }, event())).rejects.toMatchObject({ retryable: true });
  });
});

describe('email', () => {
  let smtp: SMTPServer;
  let port: number;
  const mails: Array<{ from: string; to: string[]; data: string }> = [];
  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'keepwatch' && auth.password === 'smtp-pass-9876') cb(null, { user: 'keepwatch' });
        else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (c) => (data += c));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? (session.envelope.mailFrom as { address: string }).address : '', to: session.envelope.rcptTo.map((r) => r.address), data });
          cb();
        });
      },
      onRcptTo(address, _session, cb) {
        cb(address.address.startsWith('nobody@') ? Object.assign(new Error('no such user'), { responseCode: 550 }) : undefined);
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    port = (smtp.server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => smtp.close(() => resolve())));

  test('sends subject and body from the templates, with the idempotency key in a header', async () => {
    await send(notifierRegistry.get('email')!, { host: '127.0.0.1', port, from: 'keepwatch@example.com', to: ['oncall@example.com', 'lead@example.com'] }, event());
    const [m] = mails;
    expect(m.from).toBe('keepwatch@example.com');
    expect(m.to).toEqual(['oncall@example.com', 'lead@example.com']);
    expect(m.data).toMatch(/^Subject: FIRING critical: api\r?$/m);
    expect(m.data).toMatch(/^X-Keepwatch-Key: web-01:ab12cd34:7:1\r?$/m);
    expect(m.data).toContain('503 Service Unavailable in 12 ms');
    expect(m.data).toMatch(/latencyMs: 12/);
  });

  test('authenticates; bad credentials are not retried and the error does not carry the password', async () => {
    const def = notifierRegistry.get('email')!;
    await send(def, { host: '127.0.0.1', port, username: 'keepwatch', password: 'smtp-pass-9876', from: 'k@example.com', to: ['a@example.com'] }, event());
    expect(mails.at(-1)?.to).toEqual(['a@example.com']);
    const err = await send(def, { host: '127.0.0.1', port, username: 'keepwatch', password: 'wrong-pass-5432', from: 'k@example.com', to: ['a@example.com'] }, event()).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ retryable: false });
    expect(String((err as Error).message)).toMatch(/^SMTP: /);
    expect(String((err as Error).message)).not.toContain('wrong-pass-5432');
  });

  test('a permanent SMTP refusal is not retried; a dead server is', async () => {
    const def = notifierRegistry.get('email')!;
    await expect(send(def, { host: '127.0.0.1', port, from: 'k@example.com', to: ['nobody@example.com'] }, event())).rejects.toMatchObject({ retryable: false });
    await expect(send(def, { host: '127.0.0.1', port: await closedPort(), from: 'k@example.com', to: ['a@example.com'] }, event())).rejects.toMatchObject({ retryable: true });
  });
});

describe('every notifier', () => {
  const configs: Record<string, (url: string) => Record<string, unknown>> = {
    webhook: (u) => ({ url: `${u}/hook?token=url-secret-1234`, headers: { Authorization: 'Bearer header-secret-5678' } }),
    slack: (u) => ({ url: `${u}/services/T0/B0/url-secret-1234` }),
    teams: (u) => ({ url: `${u}/workflows/url-secret-1234` }),
    pagerduty: (u) => ({ routingKey: 'routing-secret-5678', url: `${u}/v2/enqueue` }),
    opsgenie: (u) => ({ apiKey: 'api-secret-5678', url: u }),
    alertmanager: (u) => ({ urls: [`${u}/url-secret-1234`], headers: { Authorization: 'Bearer header-secret-5678' } }),
  };

  test('the registry lists every provider module once', () => {
    expect(notifierTypes.map((n) => n.type).sort()).toEqual(['alertmanager', 'email', 'opsgenie', 'pagerduty', 'slack', 'teams', 'webhook']);
  });

  test.each(Object.keys(configs))('%s: 5xx and 429 retry, other 4xx do not; errors carry no secret', async (type) => {
    const def = notifierRegistry.get(type)!;
    for (const [code, retryable] of [[500, true], [429, true], [400, false]] as const) {
      status = code;
      const err = await send(def, configs[type](receiver.url), event()).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(NotifyError);
      expect((err as NotifyError).retryable).toBe(retryable);
      expect(String((err as Error).message)).not.toMatch(/secret-(1234|5678)/);
    }
    const refused = await send(def, configs[type](`http://127.0.0.1:${await closedPort()}`), event()).then(() => undefined, (e: unknown) => e);
    expect((refused as NotifyError).retryable).toBe(true);
    expect(String((refused as Error).message)).not.toMatch(/secret-(1234|5678)/);
  });
});
