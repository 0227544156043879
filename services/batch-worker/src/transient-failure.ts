import { types } from 'node:util';
import { isDatabaseError, SidestepError } from '@sidestep/runtime';
import { isThrottlingError, isTransientError } from '@smithy/core/retry';

/**
 * Whether the same task run again a little later can pass where this one failed: the workflow then
 * reruns it after a growing wait (exit `TRANSIENT_FAILURE_EXIT_CODE`, 75) instead of failing the job.
 * An import keeps its staging and an export its stored parts for such a failure, so the rerun
 * resumes where this one stopped.
 *
 * - sidestep's own errors say so themselves (`permanent`): a bad header, too many rejected rows or
 *   a changed object fail the same way again; a database conflict or an S3 read that kept breaking
 *   off may not. One that wraps an AWS service's answer is as transient as that answer.
 * - AWS SDK errors (S3 after the SDK's own retries, Secrets Manager) and Node's network errors (also
 *   under `pg`: ECONNRESET, ECONNREFUSED, ETIMEDOUT, EPIPE, EHOSTUNREACH, ENETUNREACH, ENOTFOUND,
 *   EAI_AGAIN) are classified as the SDK's retry strategy classifies them (`@smithy/core/retry`):
 *   timeouts, network errors, throttling, and any 5xx but 501 Not Implemented. A 4xx is not transient.
 * - PostgreSQL's SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) of a
 *   lost or refused connection, a refused password or a rolled-back transaction
 *   ({@link TRANSIENT_SQLSTATES}), and the
 *   errors `pg` raises without a SQLSTATE when its connection breaks ({@link PG_CONNECTION_ERRORS}).
 *
 * Anything else (a programming error, a constraint violation, an unknown error) is not: rerunning it
 * three times with backoff would only delay the failure by minutes.
 */
export function isTransientFailure(error: unknown): boolean {
  if (error instanceof SidestepError) {
    if (error.permanent) return false;
    // An AWS answer the worker does not name as permanent (an S3 InvalidRange, an archived object's
    // InvalidObjectState, a secret's AccessDenied): the SDK's classification of it decides.
    const { cause } = error;
    return isError(cause) && '$metadata' in cause && '$fault' in cause ? isTransientCause(cause) : true;
  }
  return isError(error) && isTransientCause(error);
}

/** An `Error` of any realm (Node's own network errors are not of a vm context's `Error`). */
function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** {@link isTransientFailure} of an error from a library: the SDK, Node's network, `pg`. */
function isTransientCause(error: Error): boolean {
  if (isDatabaseError(error)) {
    const { code } = error;
    return TRANSIENT_SQLSTATES.some((prefix) => code.startsWith(prefix));
  }
  if (PG_CONNECTION_ERRORS.has(error.message)) return true;
  const sdkError = error as Parameters<typeof isTransientError>[0];
  return isTransientError(sdkError) || isThrottlingError(sdkError) || isSdkServerError(error);
}

/**
 * SQLSTATE classes and codes another try can pass: `08` connection exception, `40` transaction
 * rollback (serialization failure, deadlock), `53300` too many connections, `57P01` admin shutdown,
 * `57P02` crash shutdown, `57P03` cannot connect now (starting up, a failover), `55P03` lock not
 * available (a lock timeout behind another writer), `28P01` a refused password: it reaches the task
 * only after the secret was read afresh (`connectWorkerClient`), in a single-user rotation's window
 * between the password's change and the secret's, which a rerun gets past
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html). A password
 * that stays wrong fails the job after the workflow's reruns.
 */
const TRANSIENT_SQLSTATES = ['08', '40', '53300', '57P01', '57P02', '57P03', '55P03', '28P01'];

/**
 * What `pg` (8.x, lib/client.js) throws when the connection ends under a query or the connect times
 * out; these carry no SQLSTATE nor a Node error code.
 */
const PG_CONNECTION_ERRORS = new Set([
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
  'timeout expired',
]);

/**
 * A 5xx answer the SDK's classifier leaves out of `isTransientError` other than 501 Not Implemented,
 * which no rerun changes. (`isServerError` of `@smithy/core/retry` counts 501 too.)
 */
function isSdkServerError(error: Error): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && status >= 500 && status <= 599 && status !== 501;
}
