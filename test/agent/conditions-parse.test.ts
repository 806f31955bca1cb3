import fc from 'fast-check';
import type { FieldSpec } from '../../checks/types';
import { ConditionError, parseCondition } from '../../agent/evaluate';
import { History } from '../../agent/conditions/history';
import { historySpec } from '../../agent/conditions/rules';
import { expectConditionError } from '../helpers/conditions';

const fields: Record<string, FieldSpec> = {
  status: { type: 'number', unit: 'none', help: '', reason: 'status' },
  latencyMs: { type: 'number', unit: 'ms', help: '' },
  freeBytes: { type: 'number', unit: 'bytes', help: '' },
  usedPercent: { type: 'number', unit: 'percent', help: '' },
  requests: { type: 'number', unit: 'count', help: '' },
  state: { type: 'string', help: '' },
  matches: { type: 'boolean', help: '', reason: 'body' },
  anything: { type: 'any', help: '' },
};

describe('and, or, not and parentheses', () => {
  test.each<[string, Record<string, unknown>, boolean | undefined]>([
    ['status != 200 or latencyMs > 1s', { status: 200, latencyMs: 1500 }, true],
    ['status != 200 or latencyMs > 1s', { status: 200, latencyMs: 15 }, false],
    ['status == 200 and latencyMs > 1s', { status: 200, latencyMs: 1500 }, true],
    ['status == 200 and latencyMs > 1s', { status: 500, latencyMs: 1500 }, false],
    // and binds tighter than or
    ['status == 500 or status == 200 and latencyMs > 1s', { status: 500, latencyMs: 5 }, true],
    ['(status == 500 or status == 200) and latencyMs > 1s', { status: 500, latencyMs: 5 }, false],
    ['not status == 200', { status: 200 }, false],
    ['not (status == 200 or state == UP)', { status: 500, state: 'DOWN' }, true],
    ['not not matches == true', { matches: true }, true],
    // three-valued logic: an absent value decides nothing unless the other side does
    ['latencyMs > 1s and status == 200', { status: 200 }, undefined],
    ['latencyMs > 1s and status == 200', { status: 500 }, false],
    ['latencyMs > 1s or status == 200', { status: 200 }, true],
    ['latencyMs > 1s or status == 200', { status: 500 }, undefined],
    ['not latencyMs > 1s', {}, undefined],
    // bare text stops at and/or, keeps other words
    ['state == UP and status == 200', { state: 'UP', status: 200 }, true],
    ['state == going down', { state: 'going down' }, true],
    ['state =~ ^(UP|OK)$ or status == 1', { state: 'OK', status: 0 }, true],
    ['(state == UP)', { state: 'UP' }, true],
    ['state == "a and b"', { state: 'a and b' }, true],
  ])('%s with %j → %s', (source, values, expected) => {
    expect(parseCondition(source, fields).test(values as never)).toBe(expected);
  });

  test('a single comparison keeps its field, operator and converted value; a compound one its first field', () => {
    expect(parseCondition('latencyMs > 2s', fields)).toMatchObject({ field: 'latencyMs', op: '>', value: 2000 });
    const c = parseCondition('avg(latencyMs, 5m) > 300 or status != 200', fields);
    expect(c).toMatchObject({ field: 'latencyMs', reason: 'threshold' });
    expect(c.op).toBeUndefined();
    expect(parseCondition('count_over(status != 200, 10m) >= 3', fields).reason).toBe('status');
  });

  test('a function result compares in its unit: the field\'s, a count, or a percentage', () => {
    expect(() => parseCondition('p95(latencyMs, 15m) > 800ms', fields)).not.toThrow();
    expect(() => parseCondition('predict(freeBytes, 6h, 24h) < 1GB', fields)).not.toThrow();
    expect(() => parseCondition('ratio_over(status != 200, 1h) > 5%', fields)).not.toThrow();
    expect(() => parseCondition('count_over(status != 200, 1h) > 5%', fields)).toThrow(/a count, not a percentage/);
  });
});

describe('located errors', () => {
  test.each<[string, RegExp, number]>([
    ['avgg(latencyMs, 5m) > 3', /unknown function "avgg"; did you mean "avg"\?/, 0],
    ['status == 1 and p100(latencyMs, 5m) > 3', /unknown function "p100" \(percentiles are p1 to p99/, 16],
    ['avg(latncyMs, 5m) > 3', /unknown field "latncyMs"; did you mean "latencyMs"\?/, 4],
    ['avg > 3', /"avg" is a function: write avg\(<field>, <window>\)/, 0],
    ['avg(latencyMs) > 3', /avg takes more arguments: avg\(<field>, <window>\)/, 13],
    ['avg(latencyMs, 5m, 1h) > 3', /too many arguments/, 17],
    ['predict(freeBytes, 6h) < 0', /predict takes more arguments: predict\(<field>, <window>, <horizon>\)/, 21],
    ['avg(latencyMs, soon) > 3', /expected a window such as 5m or 1h, not "soon"/, 15],
    ['avg(latencyMs, 8d) > 3', /window 8d is longer than the history kept \(at most 7d\)/, 15],
    ['avg(latencyMs, 0s) > 3', /window must be longer than 0/, 15],
    ['predict(freeBytes, 6h, 400d) < 0', /horizon 400d is too far/, 23],
    ['avg(state, 5m) > 3', /avg needs a number; "state" is a string/, 4],
    ['rate(usedPercent, 5m) > 3', /rate reads a counter; "usedPercent" is a percentage/, 5],
    ['count_over(avg(latencyMs, 5m) > 3, 1h) > 2', /windows do not nest/, 11],
    ['(status == 200', /unbalanced "\(": no "\)" closes it/, 0],
    ['status == 200)', /unbalanced "\)": no "\(" to close/, 13],
    ['avg(latencyMs, 5m > 3', /expected "\)"/, 18],
    ['status == 200 latencyMs > 3', /"200 latencyMs > 3" is not a number/, 10],
    ['(status == 200) latencyMs > 3', /expected "and", "or" or the end/, 16],
    ['status == 200 and', /expected "<field> <op> <value>"/, 17],
    ['status == 200 and (latencyMs > 3 or)', /expected "<field> <op> <value>"/, 35],
    ['state == "open', /unterminated quoted text/, 9],
    ['status == 1 and latncyMs > 3', /unknown field "latncyMs"/, 16],
    ['not > 3', /expected "<field> <op> <value>"/, 4],
  ])('%j', (source, message, offset) => expectConditionError(source, fields, message, offset));

  test('windows are listed with where they are written', () => {
    expect(parseCondition('avg(latencyMs, 5m) > 1 or p95(latencyMs, 1h) > 2', fields).windows).toEqual([
      { ms: 300_000, at: 15 },
      { ms: 3_600_000, at: 41 },
    ]);
  });
});

describe('history needs', () => {
  test('a plain condition keeps no history; windows keep their series for the longest window', () => {
    expect(historySpec({ warn: [parseCondition('latencyMs > 3', fields)], crit: [] })).toBeUndefined();
    const spec = historySpec({
      warn: [parseCondition('avg(latencyMs, 5m) > 3', fields)],
      crit: [parseCondition('count_over(status != 200, 1h) >= 3 or predict(freeBytes, 6h, 1d) < 0', fields)],
    });
    expect(spec).toMatchObject({ series: ['?status != 200', 'freeBytes', 'latencyMs'], keepMs: 6 * 3_600_000, keepSamples: 1 });
  });

  test('without a history a window cannot say', () => {
    const c = parseCondition('avg(latencyMs, 5m) > 3', fields);
    expect(c.test({ latencyMs: 10 })).toBeUndefined();
    const h = new History({ series: c.series, keepMs: 300_000, keepSamples: 1 });
    h.append(1000);
    h.set('latencyMs', 10);
    expect(c.test({ latencyMs: 10 }, { history: h, now: 1000 })).toBe(true);
  });
});

describe('any text', () => {
  // Built from the grammar's own pieces, so that most strings get deep before they fail.
  const piece = fc.constantFrom(
    'status', 'latencyMs', 'state', 'avg', 'p95', 'count_over', 'predict', 'not', 'and', 'or', '(', ')', ',', ' ', '==', '>', '=~', '!',
    '5m', '24h', '9d', '200', '"x', "'", '/a/', '300ms', '10GB', '80%', 'true', 'nope', '\\',
  );
  test('parses or fails with a ConditionError located inside it, never anything else', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (parts) => {
        const text = parts.join(parts.length % 2 ? ' ' : '');
        try {
          const c = parseCondition(text, fields);
          expect(typeof c.test({ status: 200, latencyMs: 5, state: 'x' })).not.toBe('object');
        } catch (err) {
          expect(err).toBeInstanceOf(ConditionError);
          expect((err as ConditionError).offset).toBeGreaterThanOrEqual(0);
          expect((err as ConditionError).offset).toBeLessThanOrEqual(text.length);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
