/**
 * Incident configs shared by the engine tests (through the store) and the policy tests
 * (pure): the same cases, judged at both levels.
 */

/** One check, one webhook. */
export const BASE = `
agent: { name: web-01 }
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/", labels: { team: web } }
`;

/** Tiers by time, a repeat, and routing by team and severity labels. */
export const TIERS = `
agent: { name: web-01 }
notifiers:
  - { name: slack, type: webhook, url: "http://127.0.0.1:9/slack" }
  - { name: pager, type: webhook, url: "http://127.0.0.1:9/pager" }
  - { name: payments-pager, type: webhook, url: "http://127.0.0.1:9/pp" }
escalation:
  - { name: L1, after: 0s }
  - { name: L2, after: 5m, notify: [slack], repeat: { every: 10m, max: 2 } }
  - { name: L2-payments, after: 5m, notify: [payments-pager], match: { team: payments } }
  - { name: L3, after: 30m, notify: [pager], match: { severity: critical } }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/", labels: { team: web } }
  - { name: pay, type: http, url: "http://127.0.0.1:9/", labels: { team: payments } }
`;

/** SLA clocks in business hours (Berlin), a notifier that keeps them, and a 24x7 check. */
export const SLA = `
agent: { name: web-01 }
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
  - { name: team-chat, type: webhook, url: "http://127.0.0.1:9/chat", coverage: business }
coverage:
  business: { days: mon-fri, hours: "09:00-17:00", timezone: Europe/Berlin }
sla:
  warning: { respond: 1h, resolve: 4h }
  critical: { respond: 15m }
escalation:
  - { name: L1, after: 0s, notify: [hook] }
  - { name: L2, after: 2h, notify: [team-chat] }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/", coverage: business }
  - { name: edge, type: http, url: "http://127.0.0.1:9/" }
`;

/** Three tiers, for reload cases. */
export const TIERED = `
agent: { name: web-01 }
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
  - { name: chat, type: webhook, url: "http://127.0.0.1:9/chat" }
coverage:
  business: { days: mon-fri, hours: "09:00-17:00", timezone: Europe/Berlin }
escalation:
  - { name: L1, after: 0s, notify: [hook] }
  - { name: L2, after: 10m, notify: [chat], coverage: business, pageAnyway: [critical] }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/" }
`;
