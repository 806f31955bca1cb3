import { z } from 'zod';
import { postJson } from '../outbound-http';
import { render, type Templates } from '../render';
import { defineNotifier, type IncidentEvent } from '../types';
import { httpUrl } from '../../../checks/types';

/** Adaptive Card colours: Attention while failing, Warning for a warning, Good when resolved. */
function cardColour(e: IncidentEvent): 'Attention' | 'Warning' | 'Good' | 'Accent' {
  if (e.event === 'resolve') return 'Good';
  if (e.event === 'acknowledge') return 'Accent';
  return e.incident.severity === 'critical' ? 'Attention' : 'Warning';
}

/** The Teams message for an event: an Adaptive Card as Workflows (Power Automate) webhooks take it. */
export function teamsMessage(e: IncidentEvent, t: Templates) {
  const facts = Object.entries(e.incident.values).slice(0, 10).map(([title, v]) => ({ title, value: String(v) }));
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          // The title's `style: heading` came in 1.5; a card must declare the version of what it uses.
          version: '1.5',
          body: [
            { type: 'TextBlock', text: render(t.title, e), weight: 'Bolder', size: 'Medium', wrap: true, style: 'heading', color: cardColour(e) },
            { type: 'TextBlock', text: render(t.text, e), wrap: true },
            ...(facts.length ? [{ type: 'FactSet', facts }] : []),
          ],
          ...(e.links?.incident && { actions: [{ type: 'Action.OpenUrl', title: 'Open incident', url: e.links.incident }] }),
          msteams: { width: 'full' },
        },
      },
    ],
  };
}

/** Posts an Adaptive Card to a Microsoft Teams Workflows webhook. */
export const teamsNotifier = defineNotifier({
  type: 'teams',
  summary: 'Posts an Adaptive Card to a Microsoft Teams Workflows webhook.',
  secretKeys: ['url'],
  schema: z.strictObject({
    url: httpUrl()
      .describe('The Workflows webhook URL (a secret: use ${TEAMS_WEBHOOK_URL}).'),
  }),
  async send(event, spec, { signal, templates }) {
    await postJson(spec.url, teamsMessage(event, templates), { signal });
  },
});
