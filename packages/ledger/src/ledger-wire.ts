import type { LedgerResponse } from '@sidestep/contracts';
import { LedgerError, LedgerInvokeError } from './errors.ts';

/** The result fields that are `Date`s in the {@link Ledger}'s types and ISO strings on the wire. */
const DATE_FIELDS = new Set([
  'at',
  'createdAt',
  'updatedAt',
  'deadlineAt',
  'sweptAt',
  'queuedAt',
  'refusedAt',
  'expiresAt',
  'inProgressUntil',
]);

/**
 * The result of an `ops-ledger` answer (its invocation payload, JSON), with the dates revived, or the
 * ledger's error rebuilt with its `name`, `message` and `field` (by name, not by class: the caller
 * reads them as it reads a local ledger's errors).
 *
 * @throws {LedgerError} the ledger's expected error.
 * @throws {LedgerInvokeError} a payload that is not a ledger response.
 */
export function ledgerResult(payload: string): unknown {
  let response: LedgerResponse;
  try {
    response = JSON.parse(payload, (key, value: unknown) =>
      DATE_FIELDS.has(key) && typeof value === 'string' ? new Date(value) : value,
    ) as LedgerResponse;
  } catch (error) {
    throw new LedgerInvokeError(`ops-ledger answered something that is not JSON: ${payload.slice(0, 200)}`, {
      cause: error,
    });
  }
  if (response?.ok === true) return response.result;
  if (response?.ok === false && typeof response.error?.name === 'string') {
    const error = new LedgerError(response.error.message, {
      ...(response.error.field ? { field: response.error.field } : {}),
    });
    Object.defineProperty(error, 'name', { value: response.error.name });
    throw error;
  }
  throw new LedgerInvokeError(
    `ops-ledger answered something that is not a ledger response: ${payload.slice(0, 200)}`,
  );
}
