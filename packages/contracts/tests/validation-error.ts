import { ContractValidationError, validate } from '../src/index.ts';

/** The ContractValidationError `fn` throws; any other outcome fails the test. */
export function validationErrorOf(fn: () => unknown): ContractValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ContractValidationError) return error;
    throw error;
  }
  throw new Error('expected a ContractValidationError');
}

/** The field `validate(schema, value)` names when it refuses `value`. */
export function fieldOf(schema: Parameters<typeof validate>[0], value: unknown): string {
  return validationErrorOf(() => validate(schema, value)).field;
}
