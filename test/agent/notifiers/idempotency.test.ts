import { alertmanagerAlert } from '../../../agent/notifiers/alertmanager';
import { emailMessage } from '../../../agent/notifiers/email';
import { notifierTypes } from '../../../agent/notifiers';
import { opsgenieRequest } from '../../../agent/notifiers/opsgenie';
import { pagerdutyEvent } from '../../../agent/notifiers/pagerduty';
import { DEFAULT_TEMPLATES as T } from '../../../agent/notifiers/render';
import type { EventKind, IncidentEvent } from '../../../agent/notifiers/types';
import { webhookRequest } from '../../../agent/notifiers/webhook';

const event = (kind: EventKind, seq: number): IncidentEvent => ({
  event: kind,
  key: `web-01:ab12cd34:7:${seq}`,
  agent: 'web-01',
  at: '2026-11-27T10:00:00.000Z',
  message: 'critical: api: 503',
  incident: {
    id: 7, ref: 'web-01:ab12cd34:7', dedupKey: 'web-01/api', check: 'api', type: 'http', severity: 'critical',
    state: kind === 'resolve' ? 'resolved' : 'open', summary: '503', openedAt: '2026-11-27T09:58:00.000Z',
    flapping: false, labels: { team: 'payments' }, values: { status: 503 },
  },
});

/**
 * What each notifier hands its provider to fold a repeat (an event sent again after a crash
 * between the provider's answer and the delivery being recorded), read from its pure builder.
 * `null`: the provider cannot de-duplicate; the repeat is a second message.
 */
const dedupOf: Record<string, (e: IncidentEvent) => unknown> = {
  // The event's own idempotency key, in a header and in the body.
  webhook: (e) => {
    const r = webhookRequest(e, { headers: { 'X-Keepwatch-Key': 'forged' } }, 0);
    return [r.headers['X-Keepwatch-Key'], JSON.parse(r.body).key];
  },
  // One dedup_key per incident (PagerDuty's unit is the alert): a repeated trigger folds into
  // the open alert, a repeated acknowledge or resolve changes nothing.
  pagerduty: (e) => {
    const b = pagerdutyEvent(e, T, 'routing') as { dedup_key: string; payload?: { custom_details: { key: string } } };
    return [b.dedup_key, b.payload?.custom_details.key];
  },
  // The alias is the incident's: a repeated create raises the count, close by alias is idempotent.
  opsgenie: (e) => {
    const r = opsgenieRequest(e, T, 'https://og', { tags: [], responders: [] });
    return 'alias' in r.body ? [r.body.alias, r.body.details.key] : [decodeURIComponent(r.url.split('/')[5])];
  },
  // Alertmanager folds alerts by their label set.
  alertmanager: (e) => alertmanagerAlert(e, T, 'KeepwatchCheckFailing', 0).labels,
  // SMTP has no de-duplication; the key is in a header and makes the Message-ID.
  email: (e) => {
    const m = emailMessage(e, T, 'k@example.com', ['a@example.com']);
    return [m.headers['X-Keepwatch-Key'], m.messageId];
  },
  slack: () => null,
  teams: () => null,
};

const ref = 'web-01:ab12cd34:7';
const expected: Record<string, (e: IncidentEvent) => unknown> = {
  webhook: (e) => [e.key, e.key],
  pagerduty: (e) => [ref, e.event === 'acknowledge' || e.event === 'resolve' ? undefined : e.key],
  opsgenie: (e) => (e.event === 'acknowledge' || e.event === 'resolve' ? [ref] : [ref, e.key]),
  alertmanager: () => ({ team: 'payments', alertname: 'KeepwatchCheckFailing', check: 'api', severity: 'critical', instance: 'web-01' }),
  email: (e) => [e.key, `<${e.key.replace(/:/g, '.')}@keepwatch>`],
  slack: () => null,
  teams: () => null,
};

test('every notifier type states how its provider folds a repeat', () => {
  expect(Object.keys(dedupOf).sort()).toEqual(notifierTypes.map((n) => n.type).sort());
  expect(Object.keys(expected).sort()).toEqual(notifierTypes.map((n) => n.type).sort());
});

describe.each(notifierTypes.map((n) => n.type))('%s', (type) => {
  test.each([['trigger', 1], ['escalate', 2], ['acknowledge', 3], ['resolve', 4]] as const)('%s carries its dedup key', (kind, seq) => {
    const e = event(kind, seq);
    expect(dedupOf[type](e)).toEqual(expected[type](e));
    // A repeat of the same event (same key) is built the same way.
    expect(dedupOf[type](event(kind, seq))).toEqual(dedupOf[type](e));
  });
});
