import { MIN_PARTIAL, longestSecretBytes, scrub, scrubAndCut, scrubDeep, setSecrets } from '../../agent/secrets';
import { secretPieces } from '../helpers/secrets';

const TOKEN = 'kw-admin-9f8e7d6c5b4a321'; // 24 characters, as in the issue

beforeEach(() => setSecrets([TOKEN, 'short']));
afterEach(() => setSecrets([]));

describe('scrub', () => {
  test.each([
    ['whole', `token ${TOKEN} seen`, 'token [REDACTED] seen'],
    ['cut at the end', `token ${TOKEN.slice(0, 23)}`, 'token [REDACTED]'],
    ['cut, then an ellipsis', `token ${TOKEN.slice(0, 10)}…`, 'token [REDACTED]…'],
    ['cut, then three dots', `token ${TOKEN.slice(0, 10)}...`, 'token [REDACTED]...'],
    ['cut inside quotes and brackets', `(it holds "${TOKEN.slice(0, 8)}")`, '(it holds "[REDACTED]")'],
    ['JSON-quoted, cut', JSON.stringify(`reply: ${TOKEN.slice(0, 12)}`), '"reply: [REDACTED]"'],
    ['a piece shorter than the minimum stays', `ends in ${TOKEN.slice(0, MIN_PARTIAL - 1)}`, `ends in ${TOKEN.slice(0, MIN_PARTIAL - 1)}`],
    ['the minimum piece goes', `ends in ${TOKEN.slice(0, MIN_PARTIAL)}`, 'ends in [REDACTED]'],
    ['a prefix not at the end stays (ordinary words are not secrets)', `${TOKEN.slice(0, 8)} and more`, `${TOKEN.slice(0, 8)} and more`],
    ['a whole secret and a cut one', `${TOKEN} then ${TOKEN.slice(0, 15)}`, '[REDACTED] then [REDACTED]'],
    ['short secrets are whole-matched only', 'a short story: shor', 'a [REDACTED] story: shor'],
    ['nothing to do', 'all fine here', 'all fine here'],
  ])('%s', (_name, text, want) => {
    expect(scrub(text)).toBe(want);
  });

  test('a secret that repeats its own start is found at the longest overlap', () => {
    setSecrets(['abcabcabd-1234']);
    expect(scrub('x abcabcab')).toBe('x [REDACTED]');
    expect(scrub('x abcabcabcab')).toBe('x abc[REDACTED]');
  });

  test('extra values are scrubbed whole and cut', () => {
    expect(scrub('env says hunter2-secret-value and hunter2-sec', ['hunter2-secret-value'])).toBe('env says [REDACTED] and [REDACTED]');
  });

  test('a long text with a long secret is scrubbed quickly', () => {
    const pem = `-----BEGIN PRIVATE KEY-----${'Q'.repeat(3000)}-----END PRIVATE KEY-----`;
    setSecrets([pem]);
    const text = `${'x'.repeat(100_000)}${pem.slice(0, 2000)}`;
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) expect(scrub(text)).toBe(`${'x'.repeat(100_000)}[REDACTED]`);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('scrubAndCut', () => {
  test('scrubs first, then cuts: no piece of the token survives wherever the cut lands', () => {
    for (let at = 0; at < 60; at++) {
      const text = `${'m'.repeat(at)}${TOKEN} after the token`;
      const out = scrubAndCut(text, 40);
      expect(out.length).toBeLessThanOrEqual(40);
      expect(secretPieces(out, TOKEN)).toEqual([]);
    }
  });

  test('short texts are unchanged but scrubbed; long ones end in an ellipsis', () => {
    expect(scrubAndCut(`ok ${TOKEN}`, 100)).toBe('ok [REDACTED]');
    expect(scrubAndCut('abcdefghij', 5)).toBe('abcd…');
  });

  test('never half a marker or half a surrogate pair', () => {
    expect(scrubAndCut(`1234567 ${TOKEN} tail`, 14)).toBe('1234567 …');
    expect(scrubAndCut('abc😀def', 5)).toBe('abc…');
  });
});

test('scrubDeep scrubs each string of an object on its own', () => {
  const v = { a: [`${TOKEN.slice(0, 9)}`, 3, true], b: { c: `x ${TOKEN} y` }, n: null };
  expect(scrubDeep(v)).toEqual({ a: ['[REDACTED]', 3, true], b: { c: 'x [REDACTED] y' }, n: null });
});

test('longestSecretBytes counts the config secrets and the extra ones', () => {
  expect(longestSecretBytes()).toBe(TOKEN.length);
  expect(longestSecretBytes(['é'.repeat(20)])).toBe(40);
});
