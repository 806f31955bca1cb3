import { hostTimeZone } from '../../agent/config/host-zone';
import { activeMs, addActive, compileCoverage, isActive, nextChange, type Timeframe } from '../../agent/incidents/coverage';
import { coverageSchema, PRESETS, timeframeSchema, timeframeSpecSchema } from '../../agent/incidents/coverage-schema';
import { isTimeZone, tzOffset, wallToInstant, zonedTime } from '../../agent/incidents/zoned-time';

// Every expectation below is hand-computed. Times carry their offset, so a reader can check them:
// Europe/Berlin is +01:00 (CET) until 2026-03-29 02:00 → 03:00 and again from 2026-10-25 03:00 → 02:00;
// America/New_York is -05:00 (EST) until 2026-03-08 02:00 → 03:00 and again from 2026-11-01 02:00 → 01:00.
// 2026-01-16 is a Friday; 2026-03-29 and 2026-10-25 are Sundays.
const at = (iso: string) => Date.parse(iso);
const H = 3_600_000;
const M = 60_000;

/** Compiles a coverage section with the presets, in a fixed host zone so no test depends on the machine's. */
function timeframes(raw: unknown, timezone = 'Europe/Berlin'): Map<string, Timeframe> {
  return compileCoverage(coverageSchema.parse(raw), { timezone });
}

const tf = timeframes({
  business: { days: 'mon-fri', hours: '08:00-18:00', timezone: 'Europe/Berlin' },
  'support-eu': [
    { days: ['mon-fri'], hours: ['08:00-12:00', '13:00-17:00'], timezone: 'Europe/Berlin' },
    { days: 'sat', hours: '10:00-14:00', timezone: 'Europe/Berlin' },
  ],
  nights: { days: 'mon-sun', hours: '22:00-06:00' },
  'friday-night': { days: 'fri', hours: '22:00-06:00' },
  evenings: { days: 'mon', hours: '18:00-24:00' },
  'long-weekend': { days: 'fri-mon' },
  sundays: { days: 'sun' },
  'berlin-2-to-3': { days: 'sun', hours: '02:00-03:00' },
  'berlin-230-to-4': { days: 'sun', hours: '02:30-04:00' },
  'ny-sundays': { days: 'sun', timezone: 'America/New_York' },
  'ny-8x5': { days: 'mon-fri', hours: '09:00-17:00', timezone: 'America/New_York' },
  'follow-the-sun': [
    { days: 'mon-fri', hours: '08:00-17:00', timezone: 'Europe/Berlin' },
    { days: 'mon-fri', hours: '08:00-17:00', timezone: 'America/New_York' },
  ],
  'all-week-in-two': [{ days: 'mon-fri' }, { days: 'sat-sun' }],
  'all-day-in-two': { hours: ['06:00-22:00', '22:00-06:00'] },
  'all-but-sunday': { days: 'mon-sat' },
});
const get = (name: string) => tf.get(name) as Timeframe;

describe('parsing days and hours', () => {
  test.each<[unknown, number[]]>([
    ['mon', [1]],
    ['Monday', [1]],
    ['MON-fri', [1, 2, 3, 4, 5]],
    ['sat-sun', [0, 6]],
    ['fri-mon', [0, 1, 5, 6]],
    ['sun-sat', [0, 1, 2, 3, 4, 5, 6]],
    ['mon, wed', [1, 3]],
    [['mon', 'wed-thu'], [1, 3, 4]],
    [undefined, [0, 1, 2, 3, 4, 5, 6]],
  ])('days %j → %j', (days, expected) => {
    expect(timeframeSpecSchema.parse({ days }).days).toEqual(expected);
  });

  test.each<[unknown, { start: number; end: number }[]]>([
    ['08:00-18:00', [{ start: 480, end: 1080 }]],
    ['8:30 - 9:15', [{ start: 510, end: 555 }]],
    ['18:00-24:00', [{ start: 1080, end: 1440 }]],
    ['22:00-06:00', [{ start: 1320, end: 1800 }]],
    ['22:00-00:00', [{ start: 1320, end: 1440 }]],
    [['08:00-12:00', '13:00-17:00'], [{ start: 480, end: 720 }, { start: 780, end: 1020 }]],
    [undefined, [{ start: 0, end: 1440 }]],
  ])('hours %j → %j', (hours, expected) => {
    expect(timeframeSpecSchema.parse({ hours }).hours).toEqual(expected);
  });

  test('a single spec and a list of specs both parse to a list', () => {
    expect(timeframeSchema.parse({ days: 'mon' })).toHaveLength(1);
    expect(timeframeSchema.parse([{ days: 'mon' }, { days: 'tue' }])).toHaveLength(2);
  });
});

describe('invalid timeframes are rejected with their messages', () => {
  test.each<[unknown, (string | number)[], string | RegExp]>([
    [{ x: { hours: '8-18' } }, ['x', 'hours'], 'expected a time range "HH:MM-HH:MM" such as "08:00-18:00", got "8-18"'],
    [{ x: { hours: '25:00-26:00' } }, ['x', 'hours'], /^"25:00" is not a time of day: hours 00-23, minutes 00-59 \(24:00 only as an end\)/],
    [{ x: { hours: '08:00-24:30' } }, ['x', 'hours'], /^"24:30" is not a time of day/],
    [{ x: { hours: '24:00-06:00' } }, ['x', 'hours'], /^"24:00" is not a time of day/],
    [{ x: { hours: '08:60-09:00' } }, ['x', 'hours'], /^"08:60" is not a time of day/],
    [{ x: { hours: '09:00-09:00' } }, ['x', 'hours'], '"09:00-09:00" starts and ends at the same time: leave hours out (or write 00:00-24:00) for the whole day'],
    [{ x: { days: 'funday' } }, ['x', 'days'], 'unknown day "funday": use mon, tue, wed, thu, fri, sat, sun (or the full names), or a range such as mon-fri'],
    [{ x: { days: 'mon-fry' } }, ['x', 'days'], /^unknown day "mon-fry"/],
    [{ x: { days: 'mon-tue-wed' } }, ['x', 'days'], /^unknown day "mon-tue-wed"/],
    // a type error inside a spec: zod fails the whole union, whose message names the field
    [{ x: { hours: 9 } }, ['x'], 'hours: expected time ranges such as "08:00-18:00", or a list of them'],
    [{ x: { days: 5 } }, ['x'], 'days: expected day names or ranges such as "mon-fri", or a list of them'],
    [{ x: { timezone: 1 } }, ['x'], 'timezone: expected string, received number'],
    [{ x: [{ days: 'mon' }, { timezone: 1 }] }, ['x'], '1.timezone: expected string, received number'],
    [{ x: [{ days: 'mon' }, { hours: 'late' }] }, ['x', 1, 'hours'], /^expected a time range/],
    [{ x: { timezone: 'Mars/Olympus' } }, ['x', 'timezone'], 'unknown time zone "Mars/Olympus": use an IANA name such as Europe/Berlin, America/New_York or UTC'],
    [{ x: { day: 'mon' } }, ['x'], /Unrecognized key: "day"/],
    [{ x: 'mon-fri' }, ['x'], 'expected a timeframe: { days, hours, timezone }, or a list of them'],
    [{ x: [] }, ['x'], 'a list of specs needs at least one'],
    [{ 'no spaces': {} }, ['no spaces'], 'timeframe names are letters, digits and _ . -, starting with a letter or digit'],
  ])('%j', (raw, path, message) => {
    const r = coverageSchema.safeParse(raw);
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0];
    expect(issue.path).toEqual(path);
    // A bad record key carries its reason inside (the config loader reports it that way too).
    expect(issue.code === 'invalid_key' ? issue.issues.map((i) => i.message).join('; ') : issue.message).toMatch(message);
  });
});

describe('presets', () => {
  test('always exist, in the host zone, and a user entry replaces one', () => {
    expect(Object.keys(PRESETS)).toEqual(['24x7', '24x5', '12x5', '8x5']);
    const plain = timeframes({});
    expect([...plain.keys()]).toEqual(['24x7', '24x5', '12x5', '8x5']);
    expect(plain.get('8x5')!.specs[0].timezone).toBe('Europe/Berlin');
    expect(timeframes({}, 'America/New_York').get('8x5')!.specs[0].timezone).toBe('America/New_York');
    // The host zone, as /etc/localtime names it (Etc/UTC where Intl would say UTC): the same clock.
    // (The config loader passes it; test/agent/config.test.ts proves the presets end up in it.)
    const host = compileCoverage(undefined, { timezone: hostTimeZone() }).get('8x5')!.specs[0].timezone;
    expect(isTimeZone(host)).toBe(true);
    expect(tzOffset(Date.now(), host)).toBe(tzOffset(Date.now(), Intl.DateTimeFormat().resolvedOptions().timeZone));
    const mine = timeframes({ '8x5': { days: 'mon-fri', hours: '08:00-16:00' } });
    expect(isActive(mine.get('8x5')!, at('2026-01-19T08:30:00+01:00'))).toBe(true);
    expect(isActive(plain.get('8x5')!, at('2026-01-19T08:30:00+01:00'))).toBe(false);
  });

  test.each<[string, string, boolean]>([
    ['24x7', '2026-01-17T03:00:00+01:00', true],
    ['24x5', '2026-01-17T12:00:00+01:00', false],
    ['24x5', '2026-01-19T00:00:00+01:00', true],
    ['24x5', '2026-01-16T23:59:59+01:00', true],
    ['12x5', '2026-01-19T07:59:00+01:00', false],
    ['12x5', '2026-01-19T08:00:00+01:00', true],
    ['12x5', '2026-01-19T19:59:00+01:00', true],
    ['12x5', '2026-01-19T20:00:00+01:00', false],
    ['8x5', '2026-01-19T08:59:00+01:00', false],
    ['8x5', '2026-01-19T09:00:00+01:00', true],
    ['8x5', '2026-01-19T16:59:59+01:00', true],
    ['8x5', '2026-01-19T17:00:00+01:00', false],
    ['8x5', '2026-01-17T12:00:00+01:00', false],
  ])('%s at %s → %s', (name, when, expected) => {
    expect(isActive(get(name), at(when))).toBe(expected);
  });
});

describe('isActive', () => {
  test.each<[string, string, boolean]>([
    // business, across a weekend (Fri 2026-01-16 → Mon 2026-01-19)
    ['business', '2026-01-16T17:59:00+01:00', true],
    ['business', '2026-01-16T18:00:00+01:00', false],
    ['business', '2026-01-17T12:00:00+01:00', false],
    ['business', '2026-01-18T23:59:00+01:00', false],
    ['business', '2026-01-19T07:59:59+01:00', false],
    ['business', '2026-01-19T08:00:00+01:00', true],
    ['business', '2026-01-16T16:59:00Z', true], // the same Friday 17:59 written in UTC
    // 24:00 as an end
    ['evenings', '2026-01-19T23:59:59+01:00', true],
    ['evenings', '2026-01-20T00:00:00+01:00', false],
    ['evenings', '2026-01-19T17:59:00+01:00', false],
    // overnight ranges belong to the day they start on
    ['nights', '2026-01-19T23:00:00+01:00', true],
    ['nights', '2026-01-20T03:00:00+01:00', true],
    ['nights', '2026-01-20T05:59:00+01:00', true],
    ['nights', '2026-01-20T06:00:00+01:00', false],
    ['nights', '2026-01-20T21:59:00+01:00', false],
    ['friday-night', '2026-01-16T22:00:00+01:00', true],
    ['friday-night', '2026-01-17T03:00:00+01:00', true],
    ['friday-night', '2026-01-16T03:00:00+01:00', false], // Thursday night is not Friday's
    ['friday-night', '2026-01-17T22:30:00+01:00', false],
    // fri-mon wraps round the week
    ['long-weekend', '2026-01-16T12:00:00+01:00', true],
    ['long-weekend', '2026-01-17T12:00:00+01:00', true],
    ['long-weekend', '2026-01-18T12:00:00+01:00', true],
    ['long-weekend', '2026-01-19T12:00:00+01:00', true],
    ['long-weekend', '2026-01-20T12:00:00+01:00', false],
    ['long-weekend', '2026-01-21T12:00:00+01:00', false],
    ['long-weekend', '2026-01-22T23:59:59+01:00', false],
    // several specs: any of them
    ['support-eu', '2026-01-19T11:59:00+01:00', true],
    ['support-eu', '2026-01-19T12:30:00+01:00', false],
    ['support-eu', '2026-01-19T13:00:00+01:00', true],
    ['support-eu', '2026-01-17T11:00:00+01:00', true],
    ['support-eu', '2026-01-17T14:00:00+01:00', false],
    ['support-eu', '2026-01-18T11:00:00+01:00', false],
    // a second zone: 09:00 in New York is 14:00Z in winter
    ['ny-8x5', '2026-01-19T13:59:00Z', false],
    ['ny-8x5', '2026-01-19T14:00:00Z', true],
    ['ny-8x5', '2026-01-19T21:59:00Z', true],
    ['ny-8x5', '2026-01-19T22:00:00Z', false],
  ])('%s at %s → %s', (name, when, expected) => {
    expect(isActive(get(name), at(when))).toBe(expected);
  });

  test('unions that cover the whole week are recognised as 24x7', () => {
    expect(get('24x7').always).toBe(true);
    expect(get('all-week-in-two').always).toBe(true);
    expect(get('all-day-in-two').always).toBe(true);
    expect(get('all-but-sunday').always).toBe(false);
    expect(get('business').always).toBe(false);
    // Two zones that together cover everything are not merged, but still answer correctly.
    expect(get('follow-the-sun').always).toBe(false);
  });
});

describe('nextChange', () => {
  test.each<[string, string, number]>([
    ['business', '2026-01-16T17:59:00+01:00', at('2026-01-16T18:00:00+01:00')],
    ['business', '2026-01-16T18:00:00+01:00', at('2026-01-19T08:00:00+01:00')],
    ['business', '2026-01-19T10:00:00+01:00', at('2026-01-19T18:00:00+01:00')],
    ['business', '2026-01-21T20:00:00+01:00', at('2026-01-22T08:00:00+01:00')],
    ['business', '2026-01-19T07:59:59.999+01:00', at('2026-01-19T08:00:00+01:00')],
    ['support-eu', '2026-01-19T12:00:00+01:00', at('2026-01-19T13:00:00+01:00')],
    ['support-eu', '2026-01-16T17:00:00+01:00', at('2026-01-17T10:00:00+01:00')],
    ['evenings', '2026-01-19T20:00:00+01:00', at('2026-01-20T00:00:00+01:00')],
    ['nights', '2026-01-19T23:00:00+01:00', at('2026-01-20T06:00:00+01:00')],
    ['friday-night', '2026-01-17T01:00:00+01:00', at('2026-01-17T06:00:00+01:00')],
    ['long-weekend', '2026-01-16T12:00:00+01:00', at('2026-01-20T00:00:00+01:00')],
    ['long-weekend', '2026-01-20T00:00:00+01:00', at('2026-01-23T00:00:00+01:00')],
    ['24x5', '2026-01-17T12:00:00+01:00', at('2026-01-19T00:00:00+01:00')],
    // the two zones' business days overlap, so they run on as one stretch: 07:00Z-22:00Z
    ['follow-the-sun', '2026-01-19T07:00:00Z', at('2026-01-19T22:00:00Z')],
    ['follow-the-sun', '2026-01-19T22:00:00Z', at('2026-01-20T07:00:00Z')],
    // Sunday 00:00 before the spring change is +01:00; Monday 00:00 after it is +02:00
    ['sundays', '2026-03-28T12:00:00+01:00', at('2026-03-29T00:00:00+01:00')],
    ['sundays', '2026-03-29T00:00:00+01:00', at('2026-03-30T00:00:00+02:00')],
    ['sundays', '2026-10-25T00:00:00+02:00', at('2026-10-26T00:00:00+01:00')],
    ['berlin-230-to-4', '2026-03-28T12:00:00Z', at('2026-03-29T01:00:00Z')],
  ])('%s after %s', (name, when, expected) => {
    expect(nextChange(get(name), at(when))).toBe(expected);
  });

  test('never, for a timeframe that is always active', () => {
    expect(nextChange(get('24x7'), at('2026-01-16T12:00:00Z'))).toBe(Infinity);
    expect(nextChange(get('all-day-in-two'), at('2026-01-16T12:00:00Z'))).toBe(Infinity);
  });

  test('is strictly after t, and isActive flips exactly there', () => {
    for (const name of ['business', 'support-eu', 'nights', 'follow-the-sun', 'sundays']) {
      let t = at('2026-03-20T00:00:00Z');
      for (let i = 0; i < 30; i++) {
        const next = nextChange(get(name), t);
        expect(next).toBeGreaterThan(t);
        expect(isActive(get(name), next)).toBe(!isActive(get(name), next - 1));
        expect(isActive(get(name), t)).toBe(isActive(get(name), next - 1));
        t = next;
      }
    }
  });
});

describe('activeMs and addActive: SLA clocks that pause outside the timeframe', () => {
  test.each<[string, string, string, number]>([
    ['8x5', '2026-01-16T16:00:00+01:00', '2026-01-19T12:00:00+01:00', 4 * H],
    ['business', '2026-01-16T12:00:00+01:00', '2026-01-19T12:00:00+01:00', 10 * H],
    ['business', '2026-01-17T00:00:00+01:00', '2026-01-19T00:00:00+01:00', 0],
    ['business', '2026-01-19T00:00:00+01:00', '2026-01-26T00:00:00+01:00', 50 * H],
    ['support-eu', '2026-01-19T00:00:00+01:00', '2026-01-26T00:00:00+01:00', 5 * 8 * H + 4 * H],
    ['nights', '2026-01-19T00:00:00+01:00', '2026-01-20T00:00:00+01:00', 8 * H],
    ['24x7', '2026-01-16T16:00:00+01:00', '2026-01-19T12:00:00+01:00', 68 * H],
    ['follow-the-sun', '2026-01-19T00:00:00Z', '2026-01-20T00:00:00Z', 15 * H],
    ['business', '2026-01-19T12:00:00+01:00', '2026-01-19T12:00:00+01:00', 0],
    ['business', '2026-01-19T12:00:00+01:00', '2026-01-19T11:00:00+01:00', 0],
  ])('%s from %s to %s', (name, from, to, expected) => {
    expect(activeMs(get(name), at(from), at(to))).toBe(expected);
  });

  test.each<[string, string, number, string]>([
    // 9-17: Friday 16-17 is 1 h, Monday 9-12 the other 3 h
    ['8x5', '2026-01-16T16:00:00+01:00', 4 * H, '2026-01-19T12:00:00+01:00'],
    ['8x5', '2026-01-17T10:00:00+01:00', 1 * H, '2026-01-19T10:00:00+01:00'],
    ['8x5', '2026-01-16T17:00:00+01:00', 30 * M, '2026-01-19T09:30:00+01:00'],
    // a deadline that lands on the end of a day is that end, not the next morning
    ['8x5', '2026-01-19T08:00:00+01:00', 8 * H, '2026-01-19T17:00:00+01:00'],
    ['8x5', '2026-01-19T08:00:00+01:00', 16 * H, '2026-01-20T17:00:00+01:00'],
    // ten business days (80 h) from Monday morning: two weeks on
    ['8x5', '2026-01-19T09:00:00+01:00', 80 * H, '2026-01-30T17:00:00+01:00'],
    ['support-eu', '2026-01-16T16:00:00+01:00', 3 * H, '2026-01-17T12:00:00+01:00'],
    ['24x7', '2026-01-16T16:00:00+01:00', 4 * H, '2026-01-16T20:00:00+01:00'],
    ['business', '2026-01-16T16:00:00+01:00', 0, '2026-01-16T16:00:00+01:00'],
  ])('%s from %s plus %d ms', (name, from, ms, due) => {
    const d = addActive(get(name), at(from), ms);
    expect(d).toBe(at(due));
    expect(activeMs(get(name), at(from), d)).toBe(ms);
  });

  test('a timeframe that is never active has no deadline', () => {
    const never: Timeframe = { name: 'never', specs: [], always: false };
    expect(addActive(never, at('2026-01-16T16:00:00Z'), H)).toBe(Infinity);
    expect(nextChange(never, at('2026-01-16T16:00:00Z'))).toBe(Infinity);
    expect(isActive(never, at('2026-01-16T16:00:00Z'))).toBe(false);
    expect(activeMs(never, at('2026-01-01T00:00:00Z'), at('2026-02-01T00:00:00Z'))).toBe(0);
  });

  test('long spans are summed exactly: 2026 has 261 weekdays', () => {
    expect(activeMs(get('8x5'), at('2026-01-01T00:00:00+01:00'), at('2027-01-01T00:00:00+01:00'))).toBe(261 * 8 * H);
  });
});

describe('DST through the time zone database', () => {
  test.each<[number, number, number, number, number, string, string]>([
    [2026, 1, 16, 9, 0, 'Europe/Berlin', '2026-01-16T08:00:00Z'],
    [2026, 7, 1, 9, 0, 'Europe/Berlin', '2026-07-01T07:00:00Z'],
    [2026, 3, 29, 1, 59, 'Europe/Berlin', '2026-03-29T00:59:00Z'],
    [2026, 3, 29, 2, 0, 'Europe/Berlin', '2026-03-29T01:00:00Z'], // skipped: the instant after the gap
    [2026, 3, 29, 2, 30, 'Europe/Berlin', '2026-03-29T01:00:00Z'],
    [2026, 3, 29, 3, 0, 'Europe/Berlin', '2026-03-29T01:00:00Z'],
    [2026, 10, 25, 2, 30, 'Europe/Berlin', '2026-10-25T00:30:00Z'], // repeated: the first occurrence
    [2026, 10, 25, 3, 0, 'Europe/Berlin', '2026-10-25T02:00:00Z'],
    [2026, 3, 28, 24, 0, 'Europe/Berlin', '2026-03-28T23:00:00Z'], // 24:00 rolls over
    [2026, 3, 8, 2, 30, 'America/New_York', '2026-03-08T07:00:00Z'],
    [2026, 11, 1, 1, 30, 'America/New_York', '2026-11-01T05:30:00Z'],
    [2026, 11, 1, 2, 0, 'America/New_York', '2026-11-01T07:00:00Z'],
    [2026, 6, 1, 12, 0, 'UTC', '2026-06-01T12:00:00Z'],
    [2026, 6, 1, 12, 0, 'Asia/Kolkata', '2026-06-01T06:30:00Z'],
  ])('zonedTime(%d-%d-%d %d:%d, %s) = %s', (y, m, d, hh, mm, tz, iso) => {
    expect(zonedTime(y, m, d, hh, mm, tz)).toBe(at(iso));
  });

  test('wallToInstant keeps milliseconds', () => {
    expect(wallToInstant(Date.UTC(2026, 0, 16, 9, 0, 0, 250), 'Europe/Berlin')).toBe(at('2026-01-16T08:00:00.250Z'));
  });

  test.each<[string, string, string, number]>([
    // a 00:00-24:00 day is 23 h on the spring change and 25 h on the autumn one
    ['sundays', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z', 23 * H],
    ['sundays', '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z', 25 * H],
    ['sundays', '2026-10-17T12:00:00Z', '2026-10-19T12:00:00Z', 24 * H],
    ['24x7', '2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00', 23 * H],
    ['24x7', '2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00', 25 * H],
    // 02:00-03:00 does not exist on the spring Sunday and is lived twice on the autumn one
    ['berlin-2-to-3', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z', 0],
    ['berlin-2-to-3', '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z', 2 * H],
    ['berlin-2-to-3', '2026-10-17T12:00:00Z', '2026-10-19T12:00:00Z', 1 * H],
    // 02:30-04:00 on the spring Sunday starts when the clock shows 03:00
    ['berlin-230-to-4', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z', 1 * H],
    // the week of the spring change still has five full business days
    ['business', '2026-03-23T00:00:00+01:00', '2026-03-30T00:00:00+02:00', 50 * H],
    ['business', '2026-03-30T08:00:00+02:00', '2026-03-30T18:00:00+02:00', 10 * H],
    // New York
    ['ny-sundays', '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z', 23 * H],
    ['ny-sundays', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z', 25 * H],
  ])('activeMs %s from %s to %s', (name, from, to, expected) => {
    expect(activeMs(get(name), at(from), at(to))).toBe(expected);
  });

  test.each<[string, string, boolean]>([
    ['business', '2026-03-30T06:30:00Z', true], // 08:30 CEST
    ['business', '2026-03-23T06:30:00Z', false], // 07:30 CET
    ['business', '2026-10-26T07:00:00Z', true], // 08:00 CET
    ['business', '2026-10-23T06:00:00Z', true], // 08:00 CEST
    ['berlin-230-to-4', '2026-03-29T00:59:59Z', false],
    ['berlin-230-to-4', '2026-03-29T01:00:00Z', true],
    ['berlin-230-to-4', '2026-03-29T01:59:59Z', true],
    ['berlin-230-to-4', '2026-03-29T02:00:00Z', false],
    ['berlin-2-to-3', '2026-10-25T00:30:00Z', true], // 02:30 CEST
    ['berlin-2-to-3', '2026-10-25T01:30:00Z', true], // 02:30 CET
    ['berlin-2-to-3', '2026-10-25T02:00:00Z', false], // 03:00 CET
    ['ny-8x5', '2026-03-09T13:00:00Z', true], // 09:00 EDT
    ['ny-8x5', '2026-03-06T13:00:00Z', false], // 08:00 EST
  ])('%s at %s → %s', (name, when, expected) => {
    expect(isActive(get(name), at(when))).toBe(expected);
  });

  test.each<[string, string, number, string]>([
    // started Friday 16:00 CET, due Monday 12:00 CEST: 67 h of wall time, 4 h of business time
    ['8x5', '2026-03-27T16:00:00+01:00', 4 * H, '2026-03-30T12:00:00+02:00'],
    ['8x5', '2026-10-23T16:00:00+02:00', 4 * H, '2026-10-26T12:00:00+01:00'],
    ['ny-8x5', '2026-03-06T16:00:00-05:00', 4 * H, '2026-03-09T12:00:00-04:00'],
    ['24x7', '2026-03-29T00:00:00+01:00', 24 * H, '2026-03-30T01:00:00+02:00'],
  ])('addActive %s from %s plus %d ms', (name, from, ms, due) => {
    expect(addActive(get(name), at(from), ms)).toBe(at(due));
  });
});

describe('cost', () => {
  test('isActive and a day-long addActive stay in microseconds', () => {
    const business = get('business');
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) {
      const t = at('2026-01-05T00:00:00Z') + i * 7 * M;
      isActive(business, t);
      addActive(business, t, 4 * H);
    }
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
