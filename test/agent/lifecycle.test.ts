import { Status } from '../../agent/evaluate';
import { advance, flapPercent, initialState, type CheckState, type Decision, type LifecyclePolicy, type OpenIncident } from '../../agent/incidents/lifecycle';

const policy: LifecyclePolicy = { openAfter: 3, resolveAfter: 2, unknownIs: 'warning', flapping: { enabled: true, low: 5, high: 20 } };
const { Ok: O, Warning: W, Critical: C, Unknown: U } = Status;

/** Feeds statuses through the lifecycle, keeping an incident as the engine would. */
function run(statuses: Status[], p: LifecyclePolicy = policy, suppressed: (i: number) => boolean = () => false) {
  let state: CheckState = initialState();
  let incident: OpenIncident | undefined;
  const log: Array<{ i: number; d: Decision }> = [];
  statuses.forEach((s, i) => {
    const out = advance(state, incident, s, p, suppressed(i));
    state = out.state;
    for (const d of out.decisions) {
      log.push({ i, d });
      if (d.kind === 'open') incident = { severity: d.severity, flapping: d.flapping };
      if (d.kind === 'severity' && incident) incident = { ...incident, severity: d.to };
      if (d.kind === 'flapping' && incident) incident = { ...incident, flapping: d.flapping };
      if (d.kind === 'resolve') incident = undefined;
    }
  });
  return { state, incident, log };
}

describe('open and resolve thresholds', () => {
  test('opens on the openAfter-th consecutive failure, resolves on the resolveAfter-th ok', () => {
    const { log } = run([O, C, C, C, C, O, O, O]);
    expect(log).toEqual([
      { i: 3, d: { kind: 'open', severity: 'critical', flapping: false } },
      { i: 6, d: { kind: 'resolve' } },
    ]);
  });

  test('an ok in between starts the count again', () => {
    expect(run([C, C, O, C, C]).log).toEqual([]);
  });

  test('one ok does not resolve when resolveAfter is 2', () => {
    const { incident, log } = run([C, C, C, O, C]);
    expect(log.map((l) => l.d.kind)).toEqual(['open']);
    expect(incident).toEqual({ severity: 'critical', flapping: false });
  });

  test('per-check policy: openAfter 1 opens at once', () => {
    expect(run([W], { ...policy, openAfter: 1 }).log).toEqual([{ i: 0, d: { kind: 'open', severity: 'warning', flapping: false } }]);
  });
});

describe('severity', () => {
  test('rises and falls while open', () => {
    const { log } = run([W, W, W, C, W, W]);
    expect(log.map((l) => l.d)).toEqual([
      { kind: 'open', severity: 'warning', flapping: false },
      { kind: 'severity', from: 'warning', to: 'critical' },
      { kind: 'severity', from: 'critical', to: 'warning' },
    ]);
  });

  test('a mixed streak opens at the latest result\'s severity', () => {
    expect(run([C, W, W]).log[0].d).toEqual({ kind: 'open', severity: 'warning', flapping: false });
  });
});

describe('unknown results', () => {
  test('unknownIs warning: unknowns count as warnings', () => {
    expect(run([U, U, U]).log[0].d).toEqual({ kind: 'open', severity: 'warning', flapping: false });
  });

  test('unknownIs critical', () => {
    expect(run([U, U, U], { ...policy, unknownIs: 'critical' }).log[0].d).toEqual({ kind: 'open', severity: 'critical', flapping: false });
  });

  test('unknownIs ignore: unknowns neither open nor resolve nor break a streak, and are counted apart', () => {
    const p: LifecyclePolicy = { ...policy, unknownIs: 'ignore' };
    expect(run([U, U, U, U], p).log).toEqual([]);
    expect(run([C, U, C, U, C], p).log.map((l) => l.i)).toEqual([4]);
    const open = run([C, C, C, U, O, U, O], p);
    expect(open.log.map((l) => [l.i, l.d.kind])).toEqual([[2, 'open'], [6, 'resolve']]);
    expect(run([O, U, U], p).state.unknown).toBe(2);
  });
});

describe('suppression (maintenance, silence, failing dependency)', () => {
  test('no incident opens while suppressed; counters still advance, so it opens right after', () => {
    const inWindow = (i: number) => i < 5;
    const { log } = run([C, C, C, C, C, C], policy, inWindow);
    expect(log).toEqual([{ i: 5, d: { kind: 'open', severity: 'critical', flapping: false } }]);
  });

  test('a check that recovered inside the window opens nothing after it', () => {
    expect(run([C, C, C, O, O, O], policy, (i) => i < 4).log).toEqual([]);
  });
});

describe('flap detection (Nagios)', () => {
  test.each<[string, number[], number]>([
    ['steady', new Array(21).fill(0), 0],
    ['every result changes', Array.from({ length: 21 }, (_, i) => (i % 2 ? 2 : 0)), 100],
    ['one change, newest', [...new Array(20).fill(0), 2], 6.25],
    ['one change, oldest', [0, ...new Array(20).fill(2)], 3.75],
    ['four newest changes', [...new Array(17).fill(0), 2, 0, 2, 0], (((16 + 17 + 18 + 19) * 0.5) / 19 + 3) * 5],
  ])('%s', (_name, history, percent) => {
    expect(flapPercent(history)).toBeCloseTo(percent, 6);
  });

  test('a flapping check opens one incident marked flapping, stays open, then resolves once settled', () => {
    const seq = [O, O, C, O, C, O, C, O, C, O, ...new Array(40).fill(O)];
    const { log, incident } = run(seq);
    const kinds = log.map((l) => `${l.i}:${l.d.kind}${l.d.kind === 'flapping' ? `=${l.d.flapping}` : ''}`);
    // Flapping opens the incident (no open on three failures: they never come in a row) …
    expect(kinds[0]).toMatch(/^\d+:open$/);
    expect(log[0].d).toEqual({ kind: 'open', severity: 'critical', flapping: true });
    // … no resolve while flapping, then one flapping=false and the deferred recovery.
    const settle = kinds.findIndex((k) => k.endsWith('flapping=false'));
    expect(settle).toBeGreaterThan(0);
    expect(kinds.slice(1, settle).every((k) => !k.endsWith('resolve'))).toBe(true);
    expect(kinds[settle + 1]).toMatch(/:resolve$/);
    expect(kinds).toHaveLength(settle + 2);
    expect(incident).toBeUndefined();
  });

  test('an open incident that starts flapping is marked, and keeps its severity changes recorded', () => {
    const { log } = run([C, C, C, W, C, W, C, W, C, W]);
    const flap = log.find((l) => l.d.kind === 'flapping');
    expect(flap?.d).toMatchObject({ kind: 'flapping', flapping: true });
    expect(log.filter((l) => l.d.kind === 'resolve')).toEqual([]);
  });

  test('a check that started flapping inside a window opens its flapping incident when the window ends', () => {
    const seq = [O, C, O, C, O, C, O, C, O, C, O, C];
    const { log } = run(seq, policy, (i) => i < 10);
    expect(log.map((l) => [l.i, l.d])).toEqual([[10, { kind: 'open', severity: 'critical', flapping: true }]]);
  });

  test('flap detection can be turned off', () => {
    const seq = Array.from({ length: 21 }, (_, i) => (i % 2 ? C : O));
    expect(run(seq, { ...policy, flapping: { enabled: false, low: 5, high: 20 } }).log).toEqual([]);
  });
});
