import { emailMessage } from '../../agent/notifiers/email';
import { opsgenieRequest } from '../../agent/notifiers/opsgenie';
import { pagerdutyEvent } from '../../agent/notifiers/pagerduty';
import { DEFAULT_TEMPLATES } from '../../agent/notifiers/render';
import { slackMessage } from '../../agent/notifiers/slack';
import type { IncidentEvent } from '../../agent/notifiers/types';
import { setSecrets } from '../../agent/secrets';
import { secretPieces } from '../helpers/secrets';

// Issue 9, item 9: every text a notifier cuts to its provider's limit is scrubbed first. A
// payload is scrubbed when it is queued; a secret added by a reload since must not go out cut.

const TOKEN = 'kw-admin-9f8e7d6c5b4a321';

afterEach(() => setSecrets([]));

const event = (summary: string): IncidentEvent => ({
  event: 'trigger',
  key: 'web-01:ab12cd34:7:1',
  agent: 'web-01',
  at: '2026-11-27T10:00:00.000Z',
  message: `critical: api: ${summary}`,
  incident: {
    id: 7, ref: 'web-01:ab12cd34:7', dedupKey: 'web-01/api', check: 'api', type: 'http', severity: 'critical', state: 'open',
    summary, openedAt: '2026-11-27T09:58:00.000Z', flapping: false, labels: {}, values: {},
  },
});

test.each([
  ['pagerduty summary (1024)', (e: IncidentEvent) => (pagerdutyEvent(e, { ...DEFAULT_TEMPLATES, title: '{{summary}}' }, 'rk') as { payload: { summary: string } }).payload.summary, 1024],
  ['opsgenie message (130)', (e: IncidentEvent) => (opsgenieRequest(e, { ...DEFAULT_TEMPLATES, title: '{{summary}}' }, 'https://og', { tags: [], responders: [] }).body as { message: string }).message, 130],
  ['slack title (150)', (e: IncidentEvent) => JSON.stringify(slackMessage(e, { ...DEFAULT_TEMPLATES, title: '{{summary}}' }, {})), 150],
  ['email subject (200)', (e: IncidentEvent) => emailMessage(e, { ...DEFAULT_TEMPLATES, title: '{{summary}}' }, 'a@x', ['b@x']).subject, 200],
])('%s: scrubbed, then cut', (_name, build, max) => {
  setSecrets([TOKEN]);
  for (const at of [max - 20, max - 10, max - 3]) {
    const out = build(event(`${'s'.repeat(at)}${TOKEN} tail`));
    expect(secretPieces(out, TOKEN)).toEqual([]);
  }
});
