import { classifyNetworkError } from '../../checks/types';
import { duration, formatDuration, parseDuration, parsePercent, parseSize, percent, size } from '../../checks/units';

describe('durations', () => {
  test.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(duration().parse(text)).toBe(ms);
  });

  test.each(['', '5', '5 minutes', 'm5', '1h 30m', '-5s', '5sec'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
    expect(duration().safeParse(text).success).toBe(false);
  });

  test('a number is milliseconds; bounds are enforced with a readable message', () => {
    expect(duration().parse(250)).toBe(250);
    const r = duration({ min: 1000 }).safeParse('500ms');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toBe('must be at least 1s');
  });

  test('a bare number under the minimum is explained as milliseconds, with the seconds it likely meant', () => {
    const msg = (d: ReturnType<typeof duration>, v: unknown) => d.safeParse(v).error?.issues.map((i) => i.message);
    expect(msg(duration({ min: 1000 }), 30)).toEqual(['must be at least 1s; a bare number is read as milliseconds (30 is 30ms): write 30s for 30 seconds']);
    // No suggestion where seconds would not fit either.
    expect(msg(duration({ min: 86_400_000 }), 90)).toEqual(['must be at least 1d; a bare number is read as milliseconds (90 is 90ms): write it with a unit (ms, s, m, h, d, w)']);
    expect(msg(duration({ min: 1000 }), 0)).toEqual(['must be at least 1s; a bare number is read as milliseconds (0 is 0ms): write it with a unit (ms, s, m, h, d, w)']);
    expect(msg(duration({ min: 1000 }), '500ms')).toEqual(['must be at least 1s']);
  });

  test('formatDuration round-trips', () => {
    for (const ms of [0, 500, 1000, 90_000, 5_400_000, 90_061_500]) {
      expect(parseDuration(formatDuration(ms)) ?? 0).toBe(ms);
    }
  });
});

describe('sizes and percents', () => {
  test.each([
    ['10GB', 10e9],
    ['512MiB', 512 * 2 ** 20],
    ['1.5kb', 1500],
    ['100B', 100],
    ['2 TiB', 2 * 2 ** 40],
  ])('%s = %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
    expect(size().parse(text)).toBe(bytes);
  });

  test.each(['10', 'GB', '10 G', '-1GB'])('%j is not a size', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });

  test('percents', () => {
    expect(parsePercent('80%')).toBe(80);
    expect(parsePercent('99.5 %')).toBe(99.5);
    expect(parsePercent('80')).toBeUndefined();
    expect(percent().parse('80%')).toBe(80);
    expect(percent().parse(42)).toBe(42);
    expect(percent().safeParse('150%').success).toBe(false);
  });
});

describe('classifyNetworkError', () => {
  test.each([
    [{ code: 'ECONNREFUSED' }, 'refused'],
    [{ code: 'ECONNRESET' }, 'refused'],
    [{ code: 'EHOSTUNREACH' }, 'refused'],
    [{ code: 'ENOTFOUND' }, 'dns'],
    [{ code: 'EAI_AGAIN' }, 'dns'],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'tls'],
    [{ code: 'CERT_HAS_EXPIRED' }, 'tls'],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'tls'],
    [{ code: 'EPROTO', message: 'write EPROTO 40E8:error:0A00010B:SSL routines:ssl3_get_record:wrong version number' }, 'tls'],
    [{ code: 'ETIMEDOUT' }, 'timeout'],
    [{ name: 'AbortError' }, 'timeout'],
    [{ code: 'ERR_CANCELED' }, 'timeout'],
    [{ message: 'socket hang up' }, 'refused'],
    [{ code: 'EWHATEVER' }, 'error'],
    [new Error('plain'), 'error'],
  ])('%j → %s', (err, reason) => {
    expect(classifyNetworkError(err)).toBe(reason);
  });
});
