import { alertmanagerAlert } from '../../../agent/notifiers/alertmanager';
import { emailMessage } from '../../../agent/notifiers/email';
import { notifierTypes } from '../../../agent/notifiers';
import { opsgenieRequest } from '../../../agent/notifiers/opsgenie';
import { pagerdutyEvent } from '../../../agent/notifiers/pagerduty';
import { DEFAULT_TEMPLATES } from '../../../agent/notifiers/render';
import { slackMessage } from '../../../agent/notifiers/slack';
import { teamsMessage } from '../../../agent/notifiers/teams';
import type { IncidentEvent } from '../../../agent/notifiers/types';
import { webhookRequest } from '../../../agent/notifiers/webhook';
import { setSecrets } from '../../../agent/secrets';
import { secretPieces } from '../../helpers/secrets';

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

const T = { ...DEFAULT_TEMPLATES, title: '{{summary}}' };

/**
 * Per notifier type: the text it cuts to a provider limit (built from a summary), and that
 * limit; or, for a type that cuts nothing, the whole payload, which must carry the summary whole.
 */
const cuts: Record<string, { cut: (e: IncidentEvent) => string; max: number } | { whole: (e: IncidentEvent) => string }> = {
  pagerduty: { cut: (e) => (pagerdutyEvent(e, T, 'rk') as { payload: { summary: string } }).payload.summary, max: 1024 },
  opsgenie: { cut: (e) => (opsgenieRequest(e, T, 'https://og', { tags: [], responders: [] }).body as { message: string }).message, max: 130 },
  slack: { cut: (e) => JSON.stringify(slackMessage(e, T, {})), max: 150 },
  email: { cut: (e) => emailMessage(e, T, 'a@x', ['b@x']).subject, max: 200 },
  // Alertmanager, Teams and webhooks take the text whole: nothing is cut, nothing can be cut inside a secret.
  alertmanager: { whole: (e) => JSON.stringify(alertmanagerAlert(e, T, 'KeepwatchCheckFailing')) },
  teams: { whole: (e) => JSON.stringify(teamsMessage(e, T)) },
  webhook: { whole: (e) => webhookRequest(e, { headers: {} }).body },
};

test('every notifier type says what it cuts', () => {
  expect(Object.keys(cuts).sort()).toEqual(notifierTypes.map((n) => n.type).sort());
});

describe.each(notifierTypes.map((n) => n.type))('%s', (type) => {
  const row = cuts[type];
  test(row && 'cut' in row ? `cut to ${row.max}: scrubbed, then cut` : 'sends the text whole', () => {
    if ('cut' in row) {
      setSecrets([TOKEN]);
      for (const at of [row.max - 20, row.max - 10, row.max - 3]) {
        const out = row.cut(event(`${'s'.repeat(at)}${TOKEN} tail`));
        expect(secretPieces(out, TOKEN)).toEqual([]);
      }
    } else {
      const summary = `${'s'.repeat(5000)} tail`;
      expect(row.whole(event(summary))).toContain(summary);
    }
  });
});
