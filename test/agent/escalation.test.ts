import { dueStep, type EscalationView, type Tier } from '../../agent/incidents/escalation';

const m = 60_000;
const tiers: Tier[] = [
  { name: 'L1', afterMs: 0, notify: [], match: {}, pageAnyway: [] },
  { name: 'L2', afterMs: 5 * m, notify: ['slack'], match: {}, pageAnyway: [], repeat: { everyMs: 10 * m, max: 2 } },
  { name: 'L2-payments', afterMs: 5 * m, notify: ['payments-pager'], match: { team: ['payments'] }, pageAnyway: [] },
  { name: 'L3', afterMs: 30 * m, notify: ['pagerduty'], match: { severity: ['critical'] }, pageAnyway: [] },
];
const view = (over: Partial<EscalationView> = {}): EscalationView => ({
  openedAt: 0,
  severity: 'critical',
  acked: false,
  tierIndex: -1,
  repeats: 0,
  labels: { check: 'api', severity: 'critical', team: 'web' },
  ...over,
});

test('tiers are reached in order by time since opening, skipping those that do not match', () => {
  expect(dueStep(tiers, view(), 0)).toEqual({ kind: 'escalate', tierIndex: 0, reason: 'time' });
  expect(dueStep(tiers, view({ tierIndex: 0, escalatedAt: 0 }), 4 * m)).toBeUndefined();
  expect(dueStep(tiers, view({ tierIndex: 0, escalatedAt: 0 }), 5 * m)).toEqual({ kind: 'escalate', tierIndex: 1, reason: 'time' });
  // team=web: L2-payments is skipped; L3 matches critical only.
  expect(dueStep(tiers, view({ tierIndex: 1, escalatedAt: 5 * m }), 30 * m)).toEqual({ kind: 'escalate', tierIndex: 3, reason: 'time' });
  expect(dueStep(tiers, view({ tierIndex: 1, escalatedAt: 5 * m, severity: 'warning', labels: { severity: 'warning' } }), 40 * m)?.kind).toBe('repeat');
});

test('the current tier repeats until acknowledged, at most max times', () => {
  const v = view({ tierIndex: 1, escalatedAt: 5 * m, labels: { severity: 'warning' } });
  expect(dueStep(tiers, v, 14 * m)).toBeUndefined();
  expect(dueStep(tiers, v, 15 * m)).toEqual({ kind: 'repeat', tierIndex: 1, repeat: 1 });
  expect(dueStep(tiers, { ...v, repeats: 2, escalatedAt: 25 * m }, 60 * m)).toBeUndefined();
});

test('acknowledging stops escalation', () => {
  expect(dueStep(tiers, view({ acked: true }), 60 * m)).toBeUndefined();
});

test('force moves to the next tier at once', () => {
  expect(dueStep(tiers, view({ tierIndex: 0, escalatedAt: 0 }), 1000, true)).toEqual({ kind: 'escalate', tierIndex: 1, reason: 'forced' });
});
