import type { FieldSpec } from '../../checks/types';
import { ConditionError, parseCondition } from '../../agent/evaluate';

/** Asserts that `source` fails to parse against `fields` with `message`, pointing at `offset`. */
export function expectConditionError(source: string, fields: Record<string, FieldSpec>, message: RegExp, offset: number): void {
  let err: unknown;
  try {
    parseCondition(source, fields);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConditionError);
  expect((err as ConditionError).message).toMatch(message);
  expect((err as ConditionError).offset).toBe(offset);
}
