/**
 * Test support for sidestep's typed errors: the error a call throws (or a promise rejects with), as
 * its class, so a test can assert its `field`, `name` and other fields.
 *
 * @example
 * ```ts
 * import { thrownBy } from '@sidestep/contracts/testing';
 *
 * expect(thrownBy(() => validate(MailJob, job), ContractValidationError).field).toBe('payload.to');
 * ```
 */

/**
 * The error `fn` throws when it is a `type`; anything else `fn` throws is rethrown, and returning
 * normally fails the test.
 */
export function thrownBy<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name} to be thrown, but the call returned`);
}

/**
 * The error `promise` rejects with when it is a `type`; any other rejection is rethrown, and
 * resolving fails the test.
 */
export async function rejectionOf<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a rejection with ${type.name}, but the promise resolved`);
}
