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

/**
 * An email address of exactly `length` characters (70 to 318) that is valid but for its length: a
 * local part of 64 octets, RFC 5321's limit on it (4.5.3.1.1), and a domain of labels of at most 63
 * octets (RFC 1035 2.3.4), so only the limit on the whole address (254, `MAX_EMAIL_LENGTH`) can
 * refuse it.
 *
 * @example emailAddressOfLength(254) // 'aaa…a@ddd…d.ddd…d.example.com'
 */
export function emailAddressOfLength(length: number): string {
  const domainLength = length - 65;
  if (domainLength < 5 || domainLength > 253) throw new RangeError(`no such address of ${length} characters`);
  const labels = Array.from({ length: Math.ceil(domainLength / 60) }, () => 'd'.repeat(59));
  const domain = `${labels.join('.')}.example.com`.slice(-domainLength).replace(/^[.-]+/, 'e');
  return `${'a'.repeat(64)}@${domain}`;
}
