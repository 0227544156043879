import { ContractValidationError, validate } from '../src/index.ts';
import { thrownBy } from '../src/testing.ts';

/** The ContractValidationError `fn` throws; any other outcome fails the test. */
export function validationErrorOf(fn: () => unknown): ContractValidationError {
  return thrownBy(fn, ContractValidationError);
}

/** The field `validate(schema, value)` names when it refuses `value`. */
export function fieldOf(schema: Parameters<typeof validate>[0], value: unknown): string {
  return validationErrorOf(() => validate(schema, value)).field;
}
