import { z } from 'zod';
import { postJson } from '../outbound-http';
import { render } from '../render';
import { scrubAndCut } from '../../secrets';
import { defineNotifier, type IncidentEvent } from '../types';
import type { Templates } from '../render';
import { httpUrl } from '../../../checks/types';

const url = httpUrl();

/** Attachment colours: red for critical, amber for warning, blue once acknowledged, green when resolved. */
export function colour(e: IncidentEvent): string {
  if (e.event === 'resolve') return '#2EB67D';
  if (e.event === 'acknowledge') return '#1D9BD1';
  return e.incident.severity === 'critical' ? '#E01E5A' : '#ECB22E';
}

/** Slack's mrkdwn treats & < > as markup: a check message must not become a link or vanish. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The Slack message for an event: Block Kit header and text, a coloured attachment with the values. */
export function slackMessage(e: IncidentEvent, t: Templates, spec: { channel?: string; username?: string; iconEmoji?: string }) {
  const title = scrubAndCut(render(t.title, e), 150);
  const text = scrubAndCut(render(t.text, e, escapeMrkdwn), 3000);
  const fields = Object.entries(e.incident.values)
    .slice(0, 10)
    .map(([k, v]) => ({ title: k, value: String(v), short: true }));
  return {
    ...(spec.channel && { channel: spec.channel }),
    ...(spec.username && { username: spec.username }),
    ...(spec.iconEmoji && { icon_emoji: spec.iconEmoji }),
    text: title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title } },
      { type: 'section', text: { type: 'mrkdwn', text } },
    ],
    attachments: [
      {
        color: colour(e),
        fallback: scrubAndCut(`${title}: ${e.incident.summary}`, 300),
        fields,
        footer: `keepwatch ${e.agent} · incident ${e.incident.id}`,
        ts: Math.floor(Date.parse(e.at) / 1000),
      },
    ],
  };
}

/** Posts to a Slack incoming webhook. */
export const slackNotifier = defineNotifier({
  type: 'slack',
  summary: 'Posts to a Slack incoming webhook (Block Kit, coloured by severity).',
  secretKeys: ['url'],
  schema: z.strictObject({
    url: url.describe('The incoming webhook URL (a secret: use ${SLACK_WEBHOOK_URL}).'),
    channel: z.string().optional().describe('Override the webhook\'s channel (legacy webhooks only).'),
    username: z.string().optional().describe('Override the sender name (legacy webhooks only).'),
    iconEmoji: z.string().optional().describe('Override the icon, e.g. ":rotating_light:".'),
  }),
  async send(event, spec, { signal, templates }) {
    await postJson(spec.url, slackMessage(event, templates, spec), { signal });
  },
});
