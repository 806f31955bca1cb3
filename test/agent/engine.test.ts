import { Status } from '../../agent/evaluate';
import { silenceMatches } from '../../agent/engine';
import { engineHarness } from '../helpers/engine';
import { BASE, TIERS, SLA, TIERED } from '../helpers/incident-configs';

const { Ok: O, Warning: W, Critical: C } = Status;
const MIN = 60_000;

const base = BASE;

let h: ReturnType<typeof engineHarness>;
afterEach(async () => h?.close());

describe('lifecycle in the store', () => {
  test('opens after 3 failures, resolves after 2 oks, with timeline, evidence and one notification each', () => {
    h = engineHarness(base);
    h.feed('api', [O, C, C], 30_000);
    expect(h.store.listIncidents()).toEqual([]);
    h.feed('api', [C], 30_000);
    const [inc] = h.store.listIncidents();
    expect(inc).toMatchObject({ id: 1, key: 'web-01/api', check: 'api', severity: 'critical', state: 'open', tier: 'default', labels: { team: 'web', check: 'api', severity: 'critical' } });
    expect(inc.evidence).toHaveLength(3); // the failures that opened it
    expect(h.engine.openIncidents()).toHaveLength(1);
    h.feed('api', [C, O], 30_000);
    expect(h.store.getIncident(1)?.state).toBe('open');
    h.feed('api', [O], 30_000);
    const done = h.store.getIncident(1)!;
    expect(done).toMatchObject({ state: 'resolved', resolvedBy: 'auto' });
    expect(done.resolvedAt! - done.openedAt).toBe(3 * 30_000);
    expect(h.outbox()).toEqual([['trigger', 'hook'], ['resolve', 'hook']]);
    expect(h.timeline(1)).toEqual(['opened', 'escalated', 'notify', 'resolved', 'notify']);
    // Idempotency keys: agent, store id, incident id and event sequence.
    expect(h.store.id).toMatch(/^[0-9a-f]{8}$/);
    expect(h.store.notificationsOf(1).map((n) => n.key)).toEqual([`web-01:${h.store.id}:1:1`, `web-01:${h.store.id}:1:2`]);
    const payload = JSON.parse(h.store.notificationsOf(1)[0].payload);
    expect(payload).toMatchObject({ event: 'trigger', key: `web-01:${h.store.id}:1:1`, agent: 'web-01', incident: { id: 1, check: 'api', type: 'http', severity: 'critical', state: 'open', tier: 'default' } });
  });

  test('a new failure after resolution opens a new incident', () => {
    h = engineHarness(base);
    h.feed('api', [C, C, C, O, O, C, C, C]);
    expect(h.store.listIncidents().map((i) => [i.id, i.state])).toEqual([[2, 'open'], [1, 'resolved']]);
  });

  test('a severity rise re-notifies, a fall is only recorded', () => {
    h = engineHarness(base);
    h.feed('api', [W, W, W, C, W]);
    expect(h.outbox()).toEqual([['trigger', 'hook'], ['severity_change', 'hook']]);
    expect(h.store.timeline(1).filter((t) => t.kind === 'severity').map((t) => t.message)).toEqual([
      'severity rose from warning to critical',
      'severity fell from critical to warning',
    ]);
    expect(h.store.getIncident(1)?.severity).toBe('warning');
  });

  test('a fall is told to lease notifiers only (Alertmanager keys alerts by severity), and pages no one', () => {
    h = engineHarness(`
agent: { name: web-01 }
notifiers:
  - { name: am, type: alertmanager, urls: ["http://127.0.0.1:9"] }
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/" }
`);
    h.feed('api', [C, C, C, W]);
    expect(h.outbox()).toEqual([['trigger', 'am'], ['trigger', 'hook'], ['severity_change', 'am']]);
    expect(JSON.parse(h.store.notificationsOf(1)[2].payload).details).toEqual({ from: 'critical', to: 'warning' });
  });

  test('a flapping check gets one flapping notice and no more pages until it settles', () => {
    h = engineHarness(base);
    h.feed('api', [O, C, O, C, O, C, O, C, O, C, O]);
    const [inc] = h.store.listIncidents();
    expect(inc).toMatchObject({ flapping: true, state: 'open' });
    expect(h.outbox()).toEqual([['flapping', 'hook']]);
    h.feed('api', new Array(30).fill(O));
    expect(h.store.getIncident(inc.id)).toMatchObject({ flapping: false, state: 'resolved' });
    expect(h.outbox()).toEqual([['flapping', 'hook'], ['resolve', 'hook']]);
  });

  test('check state and open incidents survive a restart: no re-open, no second page', () => {
    h = engineHarness(base);
    h.feed('api', [C, C]);
    h.restart();
    h.feed('api', [C]);
    expect(h.store.listIncidents()).toHaveLength(1); // the two failures before the restart counted
    h.restart('crash');
    h.feed('api', [C, C, C]);
    expect(h.store.listIncidents()).toHaveLength(1);
    expect(h.outbox()).toEqual([['trigger', 'hook']]);
    h.feed('api', [O, O]);
    expect(h.outbox()).toEqual([['trigger', 'hook'], ['resolve', 'hook']]);
  });

  test('a crash loses at most the unflushed counting: it delays an incident, never doubles one', () => {
    h = engineHarness(base);
    h.feed('api', [C, C]);
    h.restart('crash'); // the two failures were not flushed yet
    h.feed('api', [C, C]);
    expect(h.store.listIncidents()).toEqual([]);
    h.feed('api', [C]);
    expect(h.store.listIncidents()).toHaveLength(1);
    h.advance(5000); // the timer flushes changed states every 5 s
    h.feed('api', [O]);
    h.advance(5000);
    h.restart('crash');
    h.feed('api', [O]); // the first ok was flushed: this second one resolves
    expect(h.store.getIncident(1)?.state).toBe('resolved');
  });
});

describe('escalation', () => {
  const tiers = TIERS;

  test('tiers are reached by time without acknowledgement; the current one repeats', () => {
    h = engineHarness(tiers);
    h.feed('api', [C, C, C]);
    expect(h.store.getIncident(1)?.tier).toBe('L1');
    expect(h.outbox()).toEqual([]); // L1 notifies no one
    h.advance(4 * MIN);
    expect(h.outbox()).toEqual([]);
    h.advance(1 * MIN);
    expect(h.store.getIncident(1)?.tier).toBe('L2');
    // A notifier hearing of the incident for the first time gets a trigger, whatever the step.
    expect(h.outbox()).toEqual([['trigger', 'slack']]);
    h.advance(10 * MIN);
    expect(h.outbox()).toEqual([['trigger', 'slack'], ['trigger', 'slack']]);
    h.advance(10 * MIN); // 25 min: second repeat
    h.advance(5 * MIN); // 30 min: L3 (critical), skipping L2-payments
    expect(h.outbox()).toEqual([['trigger', 'slack'], ['trigger', 'slack'], ['trigger', 'slack'], ['trigger', 'pager']]);
    expect(h.store.getIncident(1)?.tier).toBe('L3');
    expect(h.store.timeline(1).filter((t) => t.kind === 'escalated' || t.kind === 'repeat').map((t) => t.message)).toEqual([
      'reached L1',
      'escalated to L2',
      're-notified L2 (1 of 2)',
      're-notified L2 (2 of 2)',
      'escalated to L3',
    ]);
  });

  test('label matchers route a team\'s checks to its own tier', () => {
    h = engineHarness(tiers);
    h.feed('pay', [W, W, W]);
    h.advance(5 * MIN);
    h.advance(0);
    expect(h.outbox()).toEqual([['trigger', 'slack'], ['trigger', 'payments-pager']]);
    h.advance(60 * MIN); // warning: L3 (critical only) never matches
    expect(h.outbox().filter(([, n]) => n === 'pager')).toEqual([]);
  });

  test('an incident opening, escalating, being acknowledged and resolving is logged at info with its id, check, severity and tier', () => {
    h = engineHarness(tiers);
    h.feed('api', [C, C, C]);
    h.advance(6 * MIN);
    h.engine.acknowledge(1, 'alice');
    h.feed('api', [O, O]);
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).startsWith('incident '));
    expect(lines.map((l) => [l.level, l.msg, l.incident, l.check, l.severity, l.tier])).toEqual([
      ['info', 'incident opened', 1, 'api', 'critical', 'L1'],
      ['info', 'incident escalated', 1, 'api', 'critical', 'L1'],
      ['info', 'incident escalated', 1, 'api', 'critical', 'L2'],
      ['info', 'incident acknowledged', 1, 'api', 'critical', 'L2'],
      ['info', 'incident resolved', 1, 'api', 'critical', 'L2'],
    ]);
    expect(lines.map((l) => l.detail)).toEqual([
      'opened critical: status critical',
      'reached L1',
      'escalated to L2',
      'acknowledged by alice',
      'resolved by auto: recovered: status ok',
    ]);
  });

  test('acknowledging stops escalation, tells who heard, and keeps the resolve clock', () => {
    h = engineHarness(tiers);
    h.feed('api', [C, C, C]);
    h.advance(6 * MIN);
    const acked = h.engine.acknowledge(1, 'alice', 'looking');
    expect(acked).toMatchObject({ state: 'acknowledged', ackedBy: 'alice' });
    h.advance(60 * MIN);
    expect(h.outbox()).toEqual([['trigger', 'slack'], ['acknowledge', 'slack']]);
    expect(h.engine.acknowledge(1, 'bob')).toBe('not-open');
    expect(h.engine.acknowledge(99, 'bob')).toBe('not-found');
    h.feed('api', [O, O]);
    expect(h.store.getIncident(1)).toMatchObject({ state: 'resolved', ackedBy: 'alice' });
    expect(h.outbox().at(-1)).toEqual(['resolve', 'slack']);
  });

  test('resolving by hand needs openAfter failures again to reopen', () => {
    h = engineHarness(tiers);
    h.feed('api', [C, C, C]);
    expect(h.engine.resolve(1, 'alice', 'deployed a fix')).toMatchObject({ state: 'resolved', resolvedBy: 'alice' });
    h.feed('api', [C, C]);
    expect(h.store.listIncidents()).toHaveLength(1);
    h.feed('api', [C]);
    expect(h.store.listIncidents()).toHaveLength(2);
    expect(h.engine.resolve(1, 'x')).toBe('not-open');
  });
});

describe('SLA clocks and coverage', () => {
  const sla = SLA;

  test('clocks count business hours only: opened Friday 16:30, respond due Monday 09:30, resolve due Monday 12:30', () => {
    h = engineHarness(sla, Date.parse('2026-11-27T16:30:00+01:00')); // a Friday
    h.feed('api', [W, W, W]);
    const inc = h.store.getIncident(1)!;
    expect(new Date(inc.respondDue!).toISOString()).toBe('2026-11-30T08:30:00.000Z');
    expect(new Date(inc.resolveDue!).toISOString()).toBe('2026-11-30T11:30:00.000Z');
    h.at('2026-11-28T12:00:00+01:00'); // Saturday: the clock does not run
    h.at('2026-11-30T09:29:00+01:00');
    expect(h.store.getIncident(1)?.respondBreached).toBe(false);
    h.at('2026-11-30T09:31:00+01:00');
    const breached = h.store.getIncident(1)!;
    expect(breached.respondBreached).toBe(true);
    expect(h.store.timeline(1).map((t) => t.kind)).toContain('sla_breach');
    // A respond breach escalates to the next tier at once (L2 was due after 2 h anyway).
    expect(breached.tier).toBe('L2');
  });

  test('a 24x7 check\'s critical clock runs at night; the breach is counted and paged', async () => {
    h = engineHarness(sla, Date.parse('2026-11-28T02:00:00+01:00')); // Saturday night
    h.feed('edge', [C, C, C]);
    h.advance(16 * MIN);
    expect(h.store.getIncident(1)).toMatchObject({ respondBreached: true, tier: 'L2' });
    const text = (await h.metrics.expose()).body.toString();
    expect(text).toMatch(/^keepwatch_sla_breaches_total\{severity="critical",kind="respond"\} 1$/m);
    // team-chat is bound to business hours: its page waits for Monday 09:00.
    const chat = h.store.notificationsOf(1).filter((n) => n.notifier === 'team-chat');
    expect(chat.map((n) => new Date(n.notBefore).toISOString())).toEqual(['2026-11-30T08:00:00.000Z']);
    expect(h.store.notificationsOf(1).filter((n) => n.notifier === 'hook').map((n) => [n.event, n.notBefore <= h.clock.t])).toEqual([
      ['trigger', true],
      ['sla_breach', true],
    ]);
  });

  test('a page waiting for coverage is dropped if the incident resolves first, and that notifier hears nothing', () => {
    h = engineHarness(sla, Date.parse('2026-11-28T02:00:00+01:00'));
    h.feed('edge', [C, C, C]);
    h.advance(2 * 60 * MIN);
    expect(h.outbox().map(([, n]) => n)).toContain('team-chat');
    h.feed('edge', [O, O]);
    expect(h.outbox().filter(([, n]) => n === 'team-chat')).toEqual([]);
    expect(h.outbox().at(-1)).toEqual(['resolve', 'hook']);
  });
});

describe('maintenance, silences and dependencies', () => {
  const maint = `
agent: { name: web-01 }
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
maintenance:
  - { name: db-migration, start: "2026-11-27T10:00:00Z", end: "2026-11-27T11:00:00Z", checks: ["db-*"] }
checks:
  - { name: db-main, type: tcp, port: 5432 }
  - { name: gateway, type: tcp, port: 80 }
  - { name: api, type: http, url: "http://127.0.0.1:9/", dependsOn: [gateway] }
`;

  test('inside a window no incident opens; a check still failing when it ends opens at once', async () => {
    h = engineHarness(maint, Date.parse('2026-11-27T10:00:00Z'));
    h.feed('db-main', new Array(10).fill(C), 5 * MIN); // 10:00 … 10:45
    expect(h.store.listIncidents()).toEqual([]);
    h.at('2026-11-27T10:30:00Z');
    let text = (await h.metrics.expose()).body.toString();
    expect(text).toMatch(/^keepwatch_maintenance_active\{window="db-migration"\} 1$/m);
    // Which checks it covers, for Prometheus rules that should keep quiet too.
    expect(text.split('\n').filter((l) => l.startsWith('keepwatch_check_maintenance{'))).toEqual(['keepwatch_check_maintenance{check="db-main"} 1']);
    h.at('2026-11-27T11:00:00Z');
    text = (await h.metrics.expose()).body.toString();
    expect(text).toMatch(/^keepwatch_maintenance_active\{window="db-migration"\} 0$/m);
    expect(text).not.toMatch(/^keepwatch_check_maintenance\{/m);
    h.feed('db-main', [C]);
    expect(h.store.listIncidents()).toHaveLength(1);
    expect(h.outbox()).toEqual([['trigger', 'hook']]);
  });

  test('a check that recovered inside the window opens nothing', () => {
    h = engineHarness(maint, Date.parse('2026-11-27T10:00:00Z'));
    h.feed('db-main', [C, C, C, O, O], 5 * MIN);
    h.at('2026-11-27T11:00:00Z');
    h.feed('db-main', [O]);
    expect(h.store.listIncidents()).toEqual([]);
  });

  test('an incident open when a window starts sends no pages inside it', () => {
    h = engineHarness(maint.replace('2026-11-27T10:00:00Z", end', '2026-11-27T10:30:00Z", end'), Date.parse('2026-11-27T10:00:00Z'));
    h.feed('db-main', [W, W, W]);
    h.at('2026-11-27T10:35:00Z');
    h.feed('db-main', [C]);
    expect(h.outbox()).toEqual([['trigger', 'hook']]);
    expect(h.store.timeline(1).at(-1)?.message).toBe('severity_change to hook not sent: maintenance db-migration');
  });

  test('while a dependency fails, dependents open no incident of their own', () => {
    h = engineHarness(maint);
    h.feed('gateway', [C]);
    h.feed('api', [C, C, C, C]);
    h.feed('gateway', [C, C]);
    expect(h.store.listIncidents().map((i) => i.check)).toEqual(['gateway']);
    h.feed('gateway', [O]);
    h.feed('api', [C]);
    expect(h.store.listIncidents().map((i) => i.check)).toEqual(['api', 'gateway']);
  });

  test('a silence stops incidents of matching checks until it ends, and can be expired early', () => {
    h = engineHarness(maint);
    const now = h.clock.t;
    h.engine.addSilence({ id: 's1', checks: ['gate*'], labels: {}, startsAt: now, endsAt: now + 60 * MIN, comment: 'router swap', createdBy: 'alice', createdAt: now });
    h.feed('gateway', [C, C, C, C]);
    expect(h.store.listIncidents()).toEqual([]);
    expect(h.engine.listSilences().map((s) => s.id)).toEqual(['s1']);
    expect(h.engine.expireSilence('s1')).toBe(true);
    expect(h.engine.expireSilence('s1')).toBe(false);
    expect(h.engine.listSilences()).toEqual([]);
    h.feed('gateway', [C]);
    expect(h.store.listIncidents()).toHaveLength(1);
  });
});

test('KPIs: MTTA, MTTR and SLA attainment over 7 and 30 days, availability per check', () => {
  h = engineHarness(`
agent: { name: web-01 }
sla: { critical: { respond: 15m, resolve: 1h } }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/" }
  - { name: db, type: tcp, port: 5432 }
`);
  h.feed('api', [C, C, C]);
  h.clock.t += 10 * MIN;
  h.engine.acknowledge(1, 'alice');
  h.clock.t += 20 * MIN;
  h.feed('api', [O, O]); // resolved after 30 min: respond met, resolve met
  h.feed('db', [C, C, C]);
  h.advance(20 * MIN); // respond breached
  h.feed('db', [O, O]); // resolved after 20 min
  h.feed('api', [O, O, O, O, O]);
  const k = h.engine.kpis() as any;
  expect(k.windows['7d']).toMatchObject({
    incidents: 2,
    bySeverity: { critical: 2 },
    mttaSeconds: 600,
    mttrSeconds: (1800 + 1200) / 2,
    fixedByL1: 0,
    sla: { respond: { met: 1, breached: 1, attainment: 0.5 }, resolve: { met: 2, breached: 0, attainment: 1 } },
  });
  expect(k.windows['30d'].incidents).toBe(2);
  // api: 3 critical + 7 ok runs; db: 3 critical + 2 ok.
  expect(k.checks).toEqual({ api: { availability7d: 0.7, availability30d: 0.7 }, db: { availability7d: 0.4, availability30d: 0.4 } });
});

describe('review cases', () => {
  const tiered = TIERED;

  test('keepwatch_incidents_open counts an incident as soon as it opens', async () => {
    h = engineHarness(base);
    h.feed('api', [C, C, C]);
    expect((await h.metrics.expose()).body.toString()).toMatch(/^keepwatch_incidents_open\{severity="critical",tier="default"\} 1$/m);
    h.feed('api', [O, O]);
    expect((await h.metrics.expose()).body.toString()).not.toMatch(/^keepwatch_incidents_open\{/m);
  });

  test('a check that flaps and then settles into failing pages like a new incident', () => {
    h = engineHarness(base);
    h.feed('api', [O, C, O, C, O, C, O, C, O, C, O]);
    expect(h.outbox()).toEqual([['flapping', 'hook']]);
    h.feed('api', new Array(30).fill(C));
    expect(h.store.getIncident(1)).toMatchObject({ flapping: false, state: 'open' });
    expect(h.outbox()).toEqual([['flapping', 'hook'], ['trigger', 'hook']]);
  });

  test('acknowledging drops pages still waiting for a coverage window', () => {
    h = engineHarness(tiered, Date.parse('2026-11-28T02:00:00+01:00')); // Saturday night
    h.feed('api', [W, W, W]);
    h.advance(10 * MIN);
    const chat = () => h.store.notificationsOf(1).filter((n) => n.notifier === 'chat');
    expect(chat().map((n) => [n.event, new Date(n.notBefore).toISOString()])).toEqual([['trigger', '2026-11-30T08:00:00.000Z']]);
    h.engine.acknowledge(1, 'alice');
    expect(chat()).toEqual([]);
    expect(h.outbox()).toEqual([['trigger', 'hook'], ['acknowledge', 'hook']]);
  });

  test('a rise to a severity the tier pages anyway releases its held page now', () => {
    h = engineHarness(tiered, Date.parse('2026-11-28T02:00:00+01:00'));
    h.feed('api', [W, W, W]);
    h.advance(10 * MIN);
    h.feed('api', [C]);
    const chat = h.store.notificationsOf(1).filter((n) => n.notifier === 'chat');
    expect(chat.map((n) => n.event)).toEqual(['trigger', 'severity_change']);
    expect(chat.every((n) => n.notBefore <= h.clock.t)).toBe(true);
  });

  test('a reload that reorders tiers keeps each incident on the tier it reached, by name', () => {
    h = engineHarness(tiered);
    h.feed('api', [C, C, C]);
    h.advance(10 * MIN);
    expect(h.store.getIncident(1)?.tier).toBe('L2');
    h.reload(tiered.replace('  - { name: L1, after: 0s, notify: [hook] }\n', '  - { name: L0, after: 0s, notify: [hook] }\n  - { name: L1, after: 0s, notify: [hook] }\n'));
    h.advance(60 * MIN);
    expect(h.store.getIncident(1)).toMatchObject({ tier: 'L2', tierIndex: 2 });
    expect(h.outbox()).toEqual([['trigger', 'hook'], ['trigger', 'chat']]);
  });

  test('silences and windows for an entry cover its expanded checks', () => {
    h = engineHarness(base);
    expect(silenceMatches({ checks: ['disk'], labels: {} }, { name: 'disk:/boot', labels: {} })).toBe(true);
    expect(silenceMatches({ checks: ['disk:/boot'], labels: {} }, { name: 'disk:/boot', labels: {} })).toBe(true);
    expect(silenceMatches({ checks: ['disk'], labels: {} }, { name: 'diskette', labels: {} })).toBe(false);
    expect(silenceMatches({ checks: ['*'], labels: { team: 'a' } }, { name: 'x', labels: { team: 'b' } })).toBe(false);
  });

  test('the timer survives a store failure and logs it', () => {
    h = engineHarness(base);
    h.feed('api', [C, C, C]);
    h.store.close();
    expect(() => h.advance(MIN)).not.toThrow();
    expect(h.logs.join('')).toMatch(/incident (change not stored|timer failed)/);
  });

  test('the first pages wait for the diagnostic snapshot and carry its summary', async () => {
    h = engineHarness(base, undefined, { snapshots: true });
    h.feed('api', [C, C, C]);
    const [held] = h.store.notificationsOf(1);
    expect(held.notBefore).toBeGreaterThan(h.clock.t);
    await h.engine.stop(); // waits for the snapshot task
    const [sent] = h.store.notificationsOf(1);
    expect(sent.notBefore).toBeLessThanOrEqual(h.clock.t);
    expect(JSON.parse(sent.payload).details.snapshot).toMatch(/load .* on \d+ cores/);
    expect(h.store.getIncident(1)?.snapshot).toMatchObject({ takenAt: expect.any(String) });
  });

  test('notifications link to the incident in the agent API and to Grafana when configured', () => {
    h = engineHarness(`${base}
notifications: { links: { agent: "http://kw.example:9100/", grafana: "https://grafana.example/d/kw?var-check={{check}}&var-agent={{agent}}&q={{summary}}" } }
`);
    h.feed('api', [C, C, C]);
    const payload = JSON.parse(h.store.notificationsOf(1)[0].payload);
    expect(payload.links).toEqual({
      incident: 'http://kw.example:9100/api/v1/incidents/1',
      grafana: `https://grafana.example/d/kw?var-check=api&var-agent=web-01&q=${encodeURIComponent(payload.incident.summary)}`,
    });
    expect(payload.links.grafana).toMatch(/&q=[^ ]*%20/); // field values are URL-encoded
    expect(payload.incident.ref).toBe(`web-01:${h.store.id}:1`);
  });

  test('lease notifiers (Alertmanager) get open incidents again every minute once they have received them', () => {
    h = engineHarness(`
agent: { name: web-01 }
notifiers:
  - { name: am, type: alertmanager, urls: ["http://127.0.0.1:9"] }
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
checks:
  - { name: api, type: http, url: "http://127.0.0.1:9/" }
`);
    h.feed('api', [C, C, C]);
    h.advance(2 * MIN);
    expect(h.resent).toEqual([]); // not delivered yet: a held or failing first page is not sent around the outbox
    for (const n of h.store.notificationsOf(1)) h.store.markDelivered(n.id, h.clock.t, 1);
    h.advance(1000);
    expect(h.resent.map(([n, e]) => [n, e.event, e.key])).toEqual([['am', 'trigger', `web-01:${h.store.id}:1:resend`]]);
    h.advance(30_000);
    expect(h.resent).toHaveLength(1);
    h.advance(30_000);
    expect(h.resent).toHaveLength(2); // the webhook keeps no lease: never re-sent
    h.feed('api', [Status.Ok, Status.Ok]);
    h.advance(2 * MIN);
    expect(h.resent).toHaveLength(2); // resolved: no more renewals
  });
});
