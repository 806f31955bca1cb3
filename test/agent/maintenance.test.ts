import cron from 'node-cron';
import { activeRange, activeWindows, appliesTo, compileMaintenance, nextStart, type MaintenanceWindow } from '../../agent/incidents/maintenance';
import { maintenanceSchema } from '../../agent/incidents/maintenance-schema';

// Hand-computed. Europe/Berlin is +01:00 until 2026-03-29 02:00 → 03:00 (+02:00) and again from
// 2026-10-25 03:00 → 02:00; America/New_York is -05:00 until 2026-03-08 02:00 → 03:00 (-04:00).
// 2026-01-18, 2026-03-29 and 2026-10-25 are Sundays.
const at = (iso: string) => Date.parse(iso);
const H = 3_600_000;

/** Parses and compiles windows, with a fixed host zone so no test depends on the machine's. */
function windows(raw: unknown[]): MaintenanceWindow[] {
  return compileMaintenance(maintenanceSchema.parse(raw), { timezone: 'Europe/Berlin' });
}

function one(raw: Record<string, unknown>): MaintenanceWindow {
  return windows([{ name: 'w', ...raw }])[0];
}

const range = (start: string, end: string) => ({ start: at(start), end: at(end) });

describe('activeRange', () => {
  const patching = one({ cron: '0 2 * * 0', duration: '2h', timezone: 'Europe/Berlin' });
  const nightly = one({ cron: '0 23 * * *', duration: '3h', timezone: 'Europe/Berlin' });
  const halfPastTwo = one({ cron: '30 2 * * *', duration: '1h', timezone: 'Europe/Berlin' });
  const oneAm = one({ cron: '0 1 * * *', duration: '2h', timezone: 'Europe/Berlin' });
  const everyTwenty = one({ cron: '*/20 * * * *', duration: '10m', timezone: 'Europe/Berlin' });
  const seconds = one({ cron: '*/15 0 2 * * 0', duration: '5s', timezone: 'UTC' });
  const ny = one({ cron: '0 9 * * *', duration: '1h', timezone: 'America/New_York' });
  const hourlyOverlapping = one({ cron: '0 * * * *', duration: '90m', timezone: 'UTC' });
  const migration = one({ start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z' });
  const migrationWithOffset = one({ start: '2026-12-01T23:00:00+01:00', end: '2026-12-02T03:00:00+01:00' });

  test.each<[string, MaintenanceWindow, string, ReturnType<typeof range> | undefined]>([
    // Sunday 02:00 CET is 01:00Z; open for two hours, end exclusive
    ['at its start', patching, '2026-01-18T01:00:00Z', range('2026-01-18T01:00:00Z', '2026-01-18T03:00:00Z')],
    ['inside', patching, '2026-01-18T02:30:00Z', range('2026-01-18T01:00:00Z', '2026-01-18T03:00:00Z')],
    ['a millisecond before its end', patching, '2026-01-18T02:59:59.999Z', range('2026-01-18T01:00:00Z', '2026-01-18T03:00:00Z')],
    ['at its end', patching, '2026-01-18T03:00:00Z', undefined],
    ['just before it opens', patching, '2026-01-18T00:59:59.999Z', undefined],
    ['on a Monday', patching, '2026-01-19T01:30:00Z', undefined],
    ['in summer (02:00 CEST is 00:00Z)', patching, '2026-07-05T01:59:00Z', range('2026-07-05T00:00:00Z', '2026-07-05T02:00:00Z')],
    // across midnight: 23:00 + 3 h is still open at 01:30 the next day
    ['across midnight', nightly, '2026-01-17T01:30:00+01:00', range('2026-01-16T23:00:00+01:00', '2026-01-17T02:00:00+01:00')],
    ['across midnight, closed', nightly, '2026-01-17T02:00:00+01:00', undefined],
    ['across midnight, opening', nightly, '2026-01-17T23:00:00+01:00', range('2026-01-17T23:00:00+01:00', '2026-01-18T02:00:00+01:00')],
    // spring change: 02:00 does not exist on 2026-03-29; the window opens when the clock jumps to 03:00
    ['spring Sunday, at the jump', patching, '2026-03-29T01:00:00Z', range('2026-03-29T01:00:00Z', '2026-03-29T03:00:00Z')],
    ['spring Sunday, before it', patching, '2026-03-29T00:59:59Z', undefined],
    ['spring Sunday, inside', patching, '2026-03-29T04:59:00+02:00', range('2026-03-29T01:00:00Z', '2026-03-29T03:00:00Z')],
    // durations are real time: 01:00 CET + 2 h is 04:00 CEST on the spring Sunday
    ['spring Sunday, 01:00 + 2h', oneAm, '2026-03-29T03:59:00+02:00', range('2026-03-29T00:00:00Z', '2026-03-29T02:00:00Z')],
    ['spring Sunday, 01:00 + 2h, closed', oneAm, '2026-03-29T04:00:00+02:00', undefined],
    // autumn change: 02:30 happens twice on 2026-10-25, and each opens the window
    ['autumn Sunday, first 02:30', halfPastTwo, '2026-10-25T01:00:00Z', range('2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z')],
    ['autumn Sunday, second 02:30', halfPastTwo, '2026-10-25T01:45:00Z', range('2026-10-25T01:30:00Z', '2026-10-25T02:30:00Z')],
    ['autumn Sunday, after both', halfPastTwo, '2026-10-25T02:30:00Z', undefined],
    ['autumn Sunday, every 20 minutes in the repeated hour', everyTwenty, '2026-10-25T01:25:00Z', range('2026-10-25T01:20:00Z', '2026-10-25T01:30:00Z')],
    ['autumn Sunday, every 20 minutes, a gap', everyTwenty, '2026-10-25T01:15:00Z', undefined],
    // six fields: seconds
    ['seconds field', seconds, '2026-01-18T02:00:47Z', range('2026-01-18T02:00:45Z', '2026-01-18T02:00:50Z')],
    ['seconds field, between', seconds, '2026-01-18T02:00:51Z', undefined],
    // New York: 09:00 is 14:00Z in winter and 13:00Z from 2026-03-08
    ['New York before the change', ny, '2026-03-06T14:30:00Z', range('2026-03-06T14:00:00Z', '2026-03-06T15:00:00Z')],
    ['New York after the change', ny, '2026-03-09T13:30:00Z', range('2026-03-09T13:00:00Z', '2026-03-09T14:00:00Z')],
    ['New York after the change, old hour', ny, '2026-03-09T14:30:00Z', undefined],
    // overlapping occurrences: the most recent one, which ends last
    ['overlapping occurrences', hourlyOverlapping, '2026-01-18T05:10:00Z', range('2026-01-18T05:00:00Z', '2026-01-18T06:30:00Z')],
    // one-off windows
    ['one-off, at start', migration, '2026-12-01T22:00:00Z', range('2026-12-01T22:00:00Z', '2026-12-02T02:00:00Z')],
    ['one-off, inside', migration, '2026-12-02T01:59:59.999Z', range('2026-12-01T22:00:00Z', '2026-12-02T02:00:00Z')],
    ['one-off, at end', migration, '2026-12-02T02:00:00Z', undefined],
    ['one-off, before', migration, '2026-12-01T21:59:59.999Z', undefined],
    ['one-off written with an offset', migrationWithOffset, '2026-12-01T22:00:00Z', range('2026-12-01T22:00:00Z', '2026-12-02T02:00:00Z')],
  ])('%s', (_, w, when, expected) => {
    expect(activeRange(w, at(when))).toEqual(expected);
  });

  test('agrees with node-cron matching minute by minute across the autumn change', () => {
    // An instant opens the window exactly when node-cron's match, in the window's zone, says so.
    const reference = cron.createTask('*/20 1-3 * * *', () => undefined, { timezone: 'Europe/Berlin' });
    void reference.destroy();
    const w = one({ cron: '*/20 1-3 * * *', duration: '10m', timezone: 'Europe/Berlin' });
    for (let t = at('2026-10-24T22:00:00Z'); t < at('2026-10-25T04:00:00Z'); t += 60_000) {
      let expected: number | undefined;
      for (let s = t; s > t - 10 * 60_000 && expected === undefined; s -= 60_000) if (reference.match(new Date(s))) expected = s;
      expect([new Date(t).toISOString(), activeRange(w, t)?.start]).toEqual([new Date(t).toISOString(), expected]);
    }
  });
});

describe('nextStart', () => {
  test.each<[Record<string, unknown>, string, string | undefined]>([
    [{ cron: '0 2 * * 0', duration: '2h' }, '2026-01-17T12:00:00Z', '2026-01-18T01:00:00Z'],
    [{ cron: '0 2 * * 0', duration: '2h' }, '2026-01-18T01:00:00Z', '2026-01-25T01:00:00Z'], // strictly after
    [{ cron: '0 2 * * 0', duration: '2h' }, '2026-03-28T12:00:00Z', '2026-03-29T01:00:00Z'], // 03:00 CEST, after the gap
    [{ cron: '0 2 * * 0', duration: '2h' }, '2026-03-29T01:00:00Z', '2026-04-05T00:00:00Z'],
    [{ cron: '30 2 * * *', duration: '1h' }, '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z'], // the repeated 02:30
    [{ cron: '30 2 * * *', duration: '1h' }, '2026-10-25T01:30:00Z', '2026-10-26T01:30:00Z'],
    [{ cron: '0 9 * * *', duration: '1h', timezone: 'America/New_York' }, '2026-03-06T15:00:00Z', '2026-03-07T14:00:00Z'],
    [{ cron: '0 9 * * *', duration: '1h', timezone: 'America/New_York' }, '2026-03-07T15:00:00Z', '2026-03-08T13:00:00Z'],
    // tokens node-cron judges: Patch Tuesday (second Tuesday), last day of the month, last Sunday
    [{ cron: '0 2 * * 2#2', duration: '4h' }, '2026-01-01T00:00:00Z', '2026-01-13T01:00:00Z'],
    [{ cron: '0 3 L * *', duration: '1h' }, '2026-02-01T00:00:00Z', '2026-02-28T02:00:00Z'],
    [{ cron: '0 4 * * 0L', duration: '1h' }, '2026-10-01T00:00:00Z', '2026-10-25T03:00:00Z'],
    // a yearly window; and one that comes round only every four years
    [{ cron: '0 0 1 1 *', duration: '1h', timezone: 'UTC' }, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    [{ cron: '0 0 29 2 *', duration: '1h', timezone: 'UTC' }, '2026-03-01T00:00:00Z', '2028-02-29T00:00:00Z'],
    [{ cron: '@daily', duration: '1h', timezone: 'UTC' }, '2026-01-01T12:00:00Z', '2026-01-02T00:00:00Z'],
    [{ start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z' }, '2026-11-30T00:00:00Z', '2026-12-01T22:00:00Z'],
    [{ start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z' }, '2026-12-01T22:00:00Z', undefined],
  ])('%j after %s', (raw, when, expected) => {
    expect(nextStart(one(raw), at(when))).toBe(expected === undefined ? undefined : at(expected));
  });

  test('each start it gives opens the window there', () => {
    const w = one({ cron: '15 */6 * * 1-5', duration: '30m', timezone: 'Europe/Berlin' });
    let t = at('2026-03-25T00:00:00Z');
    for (let i = 0; i < 40; i++) {
      const s = nextStart(w, t) as number;
      expect(s).toBeGreaterThan(t);
      expect(activeRange(w, s)).toEqual({ start: s, end: s + 30 * 60_000 });
      expect(activeRange(w, s - 1)).toBeUndefined();
      t = s;
    }
  });
});

describe('scope: check-name globs and labels', () => {
  test.each<[string[] | string | undefined, string, boolean]>([
    [['db-*', 'api'], 'db-main', true],
    [['db-*', 'api'], 'db-', true],
    [['db-*', 'api'], 'api', true],
    [['db-*', 'api'], 'api2', false],
    [['db-*', 'api'], 'xdb-main', false],
    ['web-?', 'web-1', true],
    ['web-?', 'web-10', false],
    ['web-?', 'web-', false],
    ['*', 'anything.at_all', true],
    [undefined, 'anything', true],
    ['db.*', 'db.replica', true],
    ['db.*', 'dbxreplica', false], // a dot is a dot
    ['*-prod', 'api-prod', true],
    ['*-prod', 'api-prod-2', false],
  ])('%j covers %s → %s', (checks, name, expected) => {
    expect(appliesTo(one({ cron: '0 2 * * 0', duration: '1h', checks }), name, {})).toBe(expected);
  });

  test.each<[Record<string, string>, Record<string, string> | undefined, boolean]>([
    [{ team: 'payments' }, { team: 'payments', env: 'prod' }, true],
    [{ team: 'payments' }, { team: 'search' }, false],
    [{ team: 'payments' }, {}, false],
    [{ team: 'payments' }, undefined, false],
    [{ team: 'payments', env: 'prod' }, { team: 'payments', env: 'prod' }, true],
    [{ team: 'payments', env: 'prod' }, { team: 'payments', env: 'staging' }, false],
    [{}, { team: 'search' }, true],
  ])('labels %j on a check with %j → %s', (labels, checkLabels, expected) => {
    expect(appliesTo(one({ cron: '0 2 * * 0', duration: '1h', labels }), 'api', checkLabels)).toBe(expected);
  });

  test('activeWindows: open and in scope', () => {
    const list = windows([
      { name: 'patching', cron: '0 2 * * 0', duration: '2h', labels: { team: 'payments' } },
      { name: 'db-migration', start: '2026-01-18T00:00:00Z', end: '2026-01-18T06:00:00Z', checks: ['db-*', 'api'] },
      { name: 'later', start: '2026-02-01T00:00:00Z', end: '2026-02-02T00:00:00Z' },
    ]);
    const names = (ws: MaintenanceWindow[]) => ws.map((w) => w.name);
    const t = at('2026-01-18T01:30:00Z');
    expect(names(activeWindows(list, t, 'db-main', { team: 'payments' }))).toEqual(['patching', 'db-migration']);
    expect(names(activeWindows(list, t, 'db-main', {}))).toEqual(['db-migration']);
    expect(names(activeWindows(list, t, 'web', { team: 'payments' }))).toEqual(['patching']);
    expect(names(activeWindows(list, t, 'web', {}))).toEqual([]);
    expect(names(activeWindows(list, at('2026-01-18T05:00:00Z'), 'api', { team: 'payments' }))).toEqual(['db-migration']);
    expect(names(activeWindows(list, t, '', {}, true))).toEqual(['patching', 'db-migration']);
  });
});

describe('config', () => {
  test('compiles both forms, with defaults', () => {
    const [patching, migration] = compileMaintenance(
      maintenanceSchema.parse([
        { name: 'patching', cron: '0 2 * * 0', duration: '2h' },
        { name: 'db-migration', start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z', checks: 'db-*' },
      ]),
      { timezone: 'America/New_York' },
    );
    expect(patching).toEqual({ name: 'patching', kind: 'cron', cron: '0 2 * * 0', durationMs: 2 * H, timezone: 'America/New_York', checks: ['*'], labels: {} });
    expect(migration).toEqual({
      name: 'db-migration',
      kind: 'once',
      start: at('2026-12-01T22:00:00Z'),
      end: at('2026-12-02T02:00:00Z'),
      checks: ['db-*'],
      labels: {},
    });
  });

  test('a cron window without a zone takes the one it is compiled with (the loader passes the host\'s)', () => {
    const [w] = compileMaintenance(maintenanceSchema.parse([{ name: 'x', cron: '0 2 * * 0', duration: '1h' }]), { timezone: 'Asia/Tokyo' });
    expect(w.kind === 'cron' && w.timezone).toBe('Asia/Tokyo');
  });

  test('compiling leaves no task in node-cron\'s registry', () => {
    const before = cron.getTasks().size;
    windows([{ name: 'a', cron: '0 2 * * *', duration: '1h' }, { name: 'b', cron: '0 3 * * *', duration: '1h' }]);
    expect(cron.getTasks().size).toBe(before);
  });

  test.each<[unknown[], (string | number)[], string | RegExp]>([
    [[{ name: 'x', cron: '0 2 * * 0', duration: '2h', start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z' }], [0], 'give either cron + duration (recurring) or start + end (one-off), not both'],
    [[{ name: 'x', cron: '0 2 * * 0', end: '2026-12-02T02:00:00Z' }], [0], 'give either cron + duration (recurring) or start + end (one-off), not both'],
    [[{ name: 'x' }], [0], 'a window needs cron + duration (recurring) or start + end (one-off)'],
    [[{ name: 'x', checks: ['db-*'] }], [0], 'a window needs cron + duration (recurring) or start + end (one-off)'],
    [[{ name: 'x', cron: '0 2 * * 0' }], [0, 'duration'], 'a cron window needs a duration, e.g. 2h'],
    [[{ name: 'x', duration: '2h' }], [0, 'cron'], 'duration goes with a cron schedule, e.g. cron: "0 2 * * 0"'],
    [[{ name: 'x', cron: '0 25 * * *', duration: '2h' }], [0, 'cron'], 'invalid cron "0 25 * * *": 25 is a invalid expression for hour'],
    [[{ name: 'x', cron: '0 2 * *', duration: '2h' }], [0, 'cron'], 'invalid cron "0 2 * *": expected 5 or 6 fields but got 4'],
    [[{ name: 'x', cron: '0 2 * * 0', duration: '32d' }], [0, 'duration'], 'must be at most 31d'],
    [[{ name: 'x', cron: '0 2 * * 0', duration: '500ms' }], [0, 'duration'], 'must be at least 1s'],
    [[{ name: 'x', cron: '0 2 * * 0', duration: '2h', timezone: 'Europe/Berln' }], [0, 'timezone'], /^unknown time zone "Europe\/Berln"/],
    [[{ name: 'x', start: '2026-12-01T22:00:00Z' }], [0, 'end'], 'a one-off window needs an end as well as a start'],
    [[{ name: 'x', end: '2026-12-01T22:00:00Z' }], [0, 'start'], 'a one-off window needs a start as well as an end'],
    [[{ name: 'x', start: '2026-12-02T02:00:00Z', end: '2026-12-01T22:00:00Z' }], [0, 'end'], 'end (2026-12-01T22:00:00Z) must be after start (2026-12-02T02:00:00Z)'],
    [[{ name: 'x', start: '2026-12-01T23:00:00+01:00', end: '2026-12-01T22:00:00Z' }], [0, 'end'], /^end \(2026-12-01T22:00:00Z\) must be after start/],
    [[{ name: 'x', start: '2026-12-01T22:00:00', end: '2026-12-02T02:00:00Z' }], [0, 'start'], 'expected an ISO-8601 time with an offset or Z, e.g. 2026-12-01T22:00:00Z'],
    [[{ name: 'x', start: 'tomorrow', end: '2026-12-02T02:00:00Z' }], [0, 'start'], 'expected an ISO-8601 time with an offset or Z, e.g. 2026-12-01T22:00:00Z'],
    [[{ name: 'x', start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z', timezone: 'UTC' }], [0, 'timezone'], 'timezone applies to cron windows; start and end carry their own offset'],
    [[{ name: 'x', cron: '0 2 * * 0', duration: '2h', checks: ['db-[12]'] }], [0, 'checks', 0], 'check-name globs are letters, digits, _ . - and the wildcards * and ?'],
    [[{ name: 'x', cron: '0 2 * * 0', duration: '2h', checks: 5 }], [0, 'checks'], 'expected a check-name glob such as "db-*", or a list of them'],
    [[{ name: 'x', cron: '0 2 * * 0', duration: '2h', check: ['db'] }], [0], /Unrecognized key: "check"/],
    [[{ name: 'bad name', cron: '0 2 * * 0', duration: '2h' }], [0, 'name'], 'window names are letters, digits and _ . -, starting with a letter or digit'],
    [
      [
        { name: 'patching', cron: '0 2 * * 0', duration: '2h' },
        { name: 'other', cron: '0 3 * * 0', duration: '2h' },
        { name: 'patching', start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z' },
      ],
      [2, 'name'],
      'duplicate window name "patching" (first used by maintenance[0])',
    ],
  ])('%j', (raw, path, message) => {
    const r = maintenanceSchema.safeParse(raw);
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0];
    expect(issue.path).toEqual(path);
    expect(issue.message).toMatch(message);
  });
});

describe('cost', () => {
  test('1,000 activeRange calls on a 2 h cron window take well under a second', () => {
    const w = one({ cron: '0 2 * * *', duration: '2h', timezone: 'Europe/Berlin' });
    activeRange(w, at('2026-01-01T00:00:00Z')); // compile outside the timing
    const start = performance.now();
    let open = 0;
    for (let i = 0; i < 1000; i++) if (activeRange(w, at('2026-01-01T00:00:00Z') + i * 7 * 60_000)) open++;
    const ms = performance.now() - start;
    expect(open).toBeGreaterThan(0);
    expect(ms).toBeLessThan(250);
  });
});

describe('expanded checks', () => {
  test('a window for an entry covers its expanded checks (disk → disk:/boot)', () => {
    const [w] = windows([{ name: 'x', start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z', checks: ['disk'] }]);
    expect(appliesTo(w, 'disk:/boot')).toBe(true);
    expect(appliesTo(w, 'diskette')).toBe(false);
  });
});
