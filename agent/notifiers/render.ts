import type { IncidentEvent } from './types';

/** Message templates: `{{field}}` placeholders, filled from an event. */
export interface Templates {
  title: string;
  text: string;
}

/** What a notification says unless the config says otherwise. */
export const DEFAULT_TEMPLATES: Templates = {
  title: '{{EVENT}} {{severity}}: {{check}}',
  text: '{{summary}}{{#tier}}\ntier {{tier}}{{/tier}}{{#respondDue}}\nrespond by {{respondDue}}{{/respondDue}}{{#links.incident}}\n{{links.incident}}{{/links.incident}}{{#links.grafana}}\n{{links.grafana}}{{/links.grafana}}',
};

const TITLES: Record<IncidentEvent['event'], string> = {
  trigger: 'FIRING',
  escalate: 'ESCALATED',
  severity_change: 'WORSE',
  flapping: 'FLAPPING',
  sla_breach: 'SLA BREACHED',
  acknowledge: 'ACKNOWLEDGED',
  resolve: 'RESOLVED',
};

/** The fields a template may name, flattened from an event (`values.latencyMs`, `labels.team`, `links.grafana`). */
export function templateFields(e: IncidentEvent): Record<string, string> {
  const i = e.incident;
  const f: Record<string, string> = {
    EVENT: TITLES[e.event],
    event: e.event,
    agent: e.agent,
    at: e.at,
    message: e.message,
    id: String(i.id),
    check: i.check,
    type: i.type,
    severity: i.severity,
    state: i.state,
    tier: i.tier ?? '',
    summary: i.summary,
    openedAt: i.openedAt,
    respondDue: i.respondDue ?? '',
    resolveDue: i.resolveDue ?? '',
    acknowledgedBy: i.acknowledgedBy ?? '',
    resolvedBy: i.resolvedBy ?? '',
    flapping: i.flapping ? 'yes' : '',
  };
  for (const [k, v] of Object.entries(i.values)) f[`values.${k}`] = String(v);
  for (const [k, v] of Object.entries(i.labels)) f[`labels.${k}`] = v;
  for (const [k, v] of Object.entries(e.links ?? {})) if (v) f[`links.${k}`] = v;
  if (typeof e.details?.snapshot === 'string') f.snapshot = e.details.snapshot;
  return f;
}

const FIXED_FIELDS = new Set(['EVENT', 'event', 'agent', 'at', 'message', 'id', 'check', 'type', 'severity', 'state', 'tier', 'summary', 'openedAt', 'respondDue', 'resolveDue', 'acknowledgedBy', 'resolvedBy', 'flapping', 'snapshot']);
const OPEN_FIELDS = /^(values|labels)\.[\w.-]+$|^links\.(incident|grafana)$/;

/** Why a template is wrong (an unknown field, an unclosed section), or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  const sections = /\{\{#([\w.-]+)\}\}([\s\S]*?)\{\{\/\1\}\}/g;
  for (const m of template.matchAll(/\{\{\s*([#/]?)([^{}]*?)\s*\}\}/g)) {
    const name = m[2];
    if (!FIXED_FIELDS.has(name) && !OPEN_FIELDS.test(name)) {
      return `unknown field {{${m[1]}${name}}}: use one of ${[...FIXED_FIELDS].join(', ')}, values.X, labels.X, links.incident, links.grafana`;
    }
  }
  const rest = template.replace(sections, '$2');
  const stray = /\{\{[#/]([\w.-]+)\}\}/.exec(rest);
  return stray ? `section {{${stray[0].slice(2, -2)}}} is not closed by a matching {{/${stray[1]}}}` : undefined;
}

/**
 * Fills a template: `{{name}}` is replaced by the field (empty when unknown), and
 * `{{#name}}…{{/name}}` keeps its content only when the field is not empty.
 */
export function render(template: string, e: IncidentEvent, encode: (value: string) => string = (v) => v): string {
  const f = templateFields(e);
  return template
    .replace(/\{\{#([\w.-]+)\}\}([\s\S]*?)\{\{\/\1\}\}/g, (_, name: string, inner: string) => (f[name] ? inner : ''))
    .replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name: string) => encode(f[name] ?? ''));
}
