import { createServer } from 'node:net';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from '@jest/globals';
import { SecretUnavailableError } from '@sidestep/runtime';
import pg from 'pg';
import {
  DatabaseConflictError,
  ExportRowCountMismatchError,
  ExportTargetError,
  InvalidHeaderError,
  SourceChangedError,
  SourceUnavailableError,
} from '../src/errors.ts';
import { isTransientFailure } from '../src/transient-failure.ts';

/** An S3 error as the SDK deserializes it: name, fault, HTTP status. */
function s3Error(name: string, httpStatusCode: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, attempts: 3 },
    message: name,
  });
}

/** A PostgreSQL error as `pg` raises it (pg-protocol's DatabaseError). */
function databaseError(code: string): pg.DatabaseError {
  const error = new pg.DatabaseError('message', 0, 'error');
  error.code = code;
  error.severity = 'ERROR';
  return error;
}

/** The error `pg` gives for a server that refuses the connection: a real one, on loopback. */
async function refusedConnection(): Promise<Error> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'x', database: 'x' });
  return client.connect().then(
    () => new Error('connected to a closed port'),
    (error: Error) => error,
  );
}

describe('isTransientFailure', () => {
  it('takes sidestep errors at their word: a conflict or a broken-off read reruns, a bad file does not', () => {
    expect(isTransientFailure(new DatabaseConflictError('40P01', 5, new Error('deadlock detected')))).toBe(
      true,
    );
    const brokenOff = new Error('read ECONNRESET');
    expect(isTransientFailure(new SourceUnavailableError('b', 'k', brokenOff, false))).toBe(true);
    expect(isTransientFailure(new InvalidHeaderError('missing', ['email']))).toBe(false);
    expect(isTransientFailure(new SourceChangedError('b', 'k', 'version v1', undefined))).toBe(false);
    expect(isTransientFailure(new SourceUnavailableError('b', 'k', s3Error('NoSuchKey', 404), true))).toBe(
      false,
    );
    expect(isTransientFailure(new ExportRowCountMismatchError(10, 9))).toBe(false);
  });

  it('classifies a wrapped S3 answer as the SDK classifies it, not by the wrapper default', () => {
    for (const [name, status] of [
      ['SlowDown', 503],
      ['InternalError', 500],
      ['ServiceUnavailable', 503],
    ] as const) {
      expect(isTransientFailure(new ExportTargetError('b', 'k', s3Error(name, status), false))).toBe(true);
    }
    for (const [name, status] of [
      ['InvalidRange', 416],
      ['InvalidObjectState', 403],
      ['NotImplemented', 501],
    ] as const) {
      expect(isTransientFailure(new SourceUnavailableError('b', 'k', s3Error(name, status), false))).toBe(
        false,
      );
    }
    // A secret the task's role may not read is a deploy mistake, not an outage.
    const secret = (cause: Error) =>
      new SecretUnavailableError('DATABASE_SECRET_ARN', 'cannot read the secret', { cause });
    expect(isTransientFailure(secret(s3Error('AccessDeniedException', 400)))).toBe(false);
    expect(isTransientFailure(secret(s3Error('ThrottlingException', 400)))).toBe(true);
  });

  it('reruns a lost or refused database connection, not a query the database rejects', async () => {
    const refused = await refusedConnection();
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
    expect(isTransientFailure(refused)).toBe(true);
    expect(isTransientFailure(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['08006', '08001', '40001', '40P01', '53300', '57P01', '57P03', '55P03']) {
      expect([code, isTransientFailure(databaseError(code))]).toEqual([code, true]);
    }
    // Check and unique violations, a missing table, a statement timeout, disk full: the same again.
    for (const code of ['23514', '23505', '42P01', '57014', '53100']) {
      expect([code, isTransientFailure(databaseError(code))]).toEqual([code, false]);
    }
  });

  // A refused password reaches the task only after the worker read the secret afresh (worker-client.ts):
  // a single-user rotation between the password's change and the secret's, which a rerun gets past.
  // https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html
  it('reruns a refused password (28P01), not an authorization refused otherwise (28000)', () => {
    expect(isTransientFailure(databaseError('28P01'))).toBe(true);
    expect(isTransientFailure(databaseError('28000'))).toBe(false);
  });

  it('does not rerun what it cannot tell is transient: a programming error, a thrown non-error', () => {
    expect(isTransientFailure(new TypeError("Cannot read properties of undefined (reading 'rows')"))).toBe(
      false,
    );
    expect(isTransientFailure('boom')).toBe(false);
    expect(isTransientFailure(undefined)).toBe(false);
  });
});
