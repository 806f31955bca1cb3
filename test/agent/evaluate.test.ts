import type { FieldSpec, Observation } from '../../checks/types';
import { ConditionError, judge, parseCondition, Status } from '../../agent/evaluate';
import { expectConditionError } from '../helpers/conditions';

const fields: Record<string, FieldSpec> = {
  status: { type: 'number', unit: 'none', help: '', reason: 'status' },
  latencyMs: { type: 'number', unit: 'ms', help: '' },
  uptimeSeconds: { type: 'number', unit: 'seconds', help: '' },
  certDaysLeft: { type: 'number', unit: 'days', help: '' },
  freeBytes: { type: 'number', unit: 'bytes', help: '' },
  usedPercent: { type: 'number', unit: 'percent', help: '' },
  state: { type: 'string', help: '' },
  matches: { type: 'boolean', help: '', reason: 'body' },
  anything: { type: 'any', help: '' },
};

describe('parseCondition: literals and operators', () => {
  test.each<[string, Record<string, unknown>, boolean]>([
    ['status == 200', { status: 200 }, true],
    ['status != 200', { status: 200 }, false],
    ['status >= 400', { status: 503 }, true],
    ['latencyMs > 2s', { latencyMs: 2500 }, true],
    ['latencyMs > 2s', { latencyMs: 1999 }, false],
    ['latencyMs <= 500ms', { latencyMs: 500 }, true],
    ['uptimeSeconds < 5m', { uptimeSeconds: 299 }, true],
    ['certDaysLeft < 14d', { certDaysLeft: 13.5 }, true],
    ['certDaysLeft < 14', { certDaysLeft: 20 }, false],
    ['freeBytes < 10GB', { freeBytes: 9e9 }, true],
    ['freeBytes < 1GiB', { freeBytes: 2 ** 30 }, false],
    ['usedPercent > 80%', { usedPercent: 80.1 }, true],
    ['usedPercent>80', { usedPercent: 79 }, false],
    ['state == "UP"', { state: 'UP' }, true],
    ["state == 'UP'", { state: 'DOWN' }, false],
    ['state == UP', { state: 'UP' }, true],
    ['state != UP', { state: 'DEGRADED' }, true],
    ['state =~ "^DEG"', { state: 'DEGRADED' }, true],
    ['state !~ /^UP$/', { state: 'UP' }, false],
    ['state =~ /^up$/i', { state: 'UP' }, true],
    ['state =~ /^up$/', { state: 'UP' }, false],
    ['matches == false', { matches: false }, true],
    ['matches != true', { matches: true }, false],
    ['anything > 5', { anything: 7 }, true],
    ['anything > 5', { anything: '7' }, true],
    ['anything == ok', { anything: 'ok' }, true],
    ['anything == true', { anything: true }, true],
    ['anything > 5', { anything: 'n/a' }, false],
    ['status == -1', { status: -1 }, true],
    ['latencyMs > 1.5e3', { latencyMs: 1600 }, true],
  ])('%s with %j → %s', (source, values, expected) => {
    expect(parseCondition(source, fields).test(values as never)).toBe(expected);
  });

  test('a condition on a value the run did not return does not decide', () => {
    expect(parseCondition('latencyMs > 100', fields).test({})).toBeUndefined();
  });

  test('the failure reason comes from the field', () => {
    expect(parseCondition('status != 200', fields).reason).toBe('status');
    expect(parseCondition('matches == false', fields).reason).toBe('body');
    expect(parseCondition('latencyMs > 1', fields).reason).toBe('threshold');
  });
});

describe('parseCondition: located errors', () => {
  test.each<[string, RegExp, number]>([
    ['latncyMs > 300', /unknown field "latncyMs"; did you mean "latencyMs"\?/, 0],
    ['  latencyMs 300', /expected an operator/, 12],
    ['latencyMs = 300', /"=" is not an operator; use "=="/, 10],
    ['latencyMs >', /expected a value after ">"/, 11],
    ['latencyMs > 10GB', /in milliseconds, not a size/, 12],
    ['freeBytes < 5s', /in bytes, not a duration/, 12],
    ['status > 80%', /in a plain number, not a percentage/, 9],
    ['status == "200"', /is a number; compare it with a number, not text/, 10],
    ['matches == 1', /is a boolean; compare it with true or false/, 11],
    ['matches > true', /booleans compare only with == or !=/, 10],
    ['status =~ "5.."', /"=~" matches text, but "status" is a number/, 7],
    ['state =~ "("', /invalid regular expression/, 9],
    ['state > "abc"', /">" compares numbers/, 8],
    ['latencyMs > fast', /"fast" is not a number/, 12],
    ['> 5', /expected "<field> <op> <value>"/, 0],
  ])('%j', (source, message, offset) => expectConditionError(source, fields, message, offset));
});

describe('judge', () => {
  const rules = {
    warn: [parseCondition('latencyMs > 300', fields)],
    crit: [parseCondition('status != 200', fields), parseCondition('latencyMs > 2s', fields)],
  };
  const obs = (values: Observation['values'], extra: Partial<Observation> = {}): Observation => ({ values, message: 'm', ...extra });

  test.each<[Observation, Status, string | undefined]>([
    [obs({ status: 200, latencyMs: 100 }), Status.Ok, undefined],
    [obs({ status: 200, latencyMs: 400 }), Status.Warning, 'threshold'],
    [obs({ status: 500, latencyMs: 400 }), Status.Critical, 'status'],
    [obs({ status: 200, latencyMs: 3000 }), Status.Critical, 'threshold'],
    [obs({ latencyMs: 5 }, { up: false, failure: 'refused' }), Status.Critical, 'refused'],
    [obs({}, { up: false }), Status.Critical, 'error'],
  ])('%j → %s', (o, status, reason) => {
    const v = judge(o, rules);
    expect(v.status).toBe(status);
    expect(v.reason).toBe(reason);
  });

  test('crit outranks warn and names the deciding condition', () => {
    expect(judge(obs({ status: 404, latencyMs: 1000 }), rules)).toEqual({ status: Status.Critical, reason: 'status', condition: 'status != 200' });
  });
});
