import { DEFAULT_TEMPLATES, render } from '../../../agent/notifiers/render';
import { teamsMessage, teamsNotifier } from '../../../agent/notifiers/teams';
import { sampleEvent as event, sendWith as send } from '../../helpers/notifiers';
import { startReceiver, type Receiver } from '../../helpers/servers';

let receiver: Receiver<any>;
beforeAll(async () => {
  receiver = await startReceiver((_got, res) => res.writeHead(202).end());
});
afterAll(() => receiver.close());
beforeEach(() => receiver.got.splice(0));

test('an Adaptive Card for a Workflows webhook', async () => {
  await send(teamsNotifier, { url: `${receiver.url}/workflows/abc` }, event());
  const [r] = receiver.got;
  expect(r.path).toBe('/workflows/abc');
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(r.body).toEqual({
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.5',
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

/**
 * The Adaptive Card schema version that brought each element, and each property value that
 * came later than its element (adaptivecards.io/explorer). A host that renders an older
 * version drops what it does not know, or the whole card: a card must declare what it uses.
 */
const SINCE: Record<string, string> = {
  TextBlock: '1.0',
  'TextBlock.style=heading': '1.5',
  FactSet: '1.0',
  'Action.OpenUrl': '1.0',
};

/** The features a card uses, as keys of SINCE. */
function features(card: { body: Array<Record<string, unknown>>; actions?: Array<Record<string, unknown>> }): string[] {
  const used = new Set<string>();
  for (const el of [...card.body, ...(card.actions ?? [])]) {
    used.add(String(el.type));
    if (el.type === 'TextBlock' && el.style !== undefined) used.add(`TextBlock.style=${String(el.style)}`);
  }
  return [...used];
}

/** The later of two `major.minor` versions. */
function newer(a: string, b: string): string {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am > bm || (am === bm && an > bn) ? a : b;
}

test.each([
  ['a trigger with values and a link', event()],
  ['a resolve without values or links', event({ event: 'resolve', links: undefined }, { values: {} })],
])('%s: the card declares the version its elements need (heading style: 1.5)', (_what, e) => {
  const card = teamsMessage(e, DEFAULT_TEMPLATES).attachments[0].content;
  const used = features(card);
  expect(used.filter((f) => !(f in SINCE))).toEqual([]);
  expect(card.version).toBe(used.map((f) => SINCE[f]).reduce(newer, '1.0'));
  expect(card.version).toBe('1.5');
});
