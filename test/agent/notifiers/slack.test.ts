import { DEFAULT_TEMPLATES, render } from '../../../agent/notifiers/render';
import { slackNotifier } from '../../../agent/notifiers/slack';
import { sampleEvent as event, sendWith as send } from '../../helpers/notifiers';
import { startReceiver, type Receiver } from '../../helpers/servers';

let receiver: Receiver<any>;
beforeAll(async () => {
  receiver = await startReceiver((_got, res) => res.writeHead(200).end('ok'));
});
afterAll(() => receiver.close());
beforeEach(() => receiver.got.splice(0));

test('Block Kit message with a colour by severity and state', async () => {
  await send(slackNotifier, { url: `${receiver.url}/services/T1/B2/secret3`, channel: '#ops' }, event());
  const received = receiver.got;
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
  await send(slackNotifier, { url: `${receiver.url}/s` }, event({}, { severity: 'warning' }));
  await send(slackNotifier, { url: `${receiver.url}/s` }, event({ event: 'resolve' }));
  expect(received.slice(1).map((r) => r.body.attachments[0].color)).toEqual(['#ECB22E', '#2EB67D']);
});

test('a message with & < > stays text, not markup or a link', async () => {
  await send(slackNotifier, { url: `${receiver.url}/s` }, event({}, { summary: 'body <b>500</b> & <!channel>' }));
  expect(receiver.got[0].body.blocks[1].text.text).toMatch(/^body &lt;b&gt;500&lt;\/b&gt; &amp; &lt;!channel&gt;/);
});
