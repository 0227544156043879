import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, beforeEach, expect, it } from '@jest/globals';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { z } from 'zod';
import { createTaskHandler, loggableError, PermanentError } from '../src/index.ts';
import { captureOutput, type OutputCapture } from '../src/output-capture.ts';
import { lambdaContext } from './sqs-event.ts';

/** Someone's record, as a failing row would quote it. */
const EMAIL = 'Jane.Doe@Example.com';

// PostgreSQL quotes the failing row in an error's DETAIL ("Failing row contains (...)", "Key
// (email)=(...) already exists."), a bind parameter's value in its CONTEXT (`where`) when
// log_parameter_max_length_on_error is set (a user-settable setting: a parameter group or ALTER ROLE
// turns it on for every session), and PGlite adds the statement's `params`. Powertools' Logger writes
// every enumerable property of a logged error and of its cause.
// https://www.postgresql.org/docs/current/runtime-config-logging.html#GUC-LOG-PARAMETER-MAX-LENGTH-ON-ERROR
describeEachDatabase('a database error in a log line', (open) => {
  const db = suiteDatabase(open);
  let output: OutputCapture;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  /** Inserts EMAIL into a table whose check refuses it, and throws what the database threw. */
  const failingInsert = () =>
    db().transaction(async (tx) => {
      await tx.query('SET LOCAL log_parameter_max_length_on_error = -1');
      await tx.query(
        'CREATE TEMP TABLE people (id int, email text CONSTRAINT people_email_lower CHECK (email = lower(email))) ON COMMIT DROP',
      );
      await tx.query('INSERT INTO people (id, email) VALUES ($1, $2)', [7, EMAIL]);
    });

  const handler = (wrap: boolean) =>
    createTaskHandler({
      schema: z.object({ jobId: z.string() }),
      subject: 'test input',
      run: async () => {
        try {
          await failingInsert();
        } catch (error) {
          throw wrap ? new PermanentError('the ledger refused the write', { cause: error }) : error;
        }
        return { output: null };
      },
      messages: { succeeded: 'task done', failed: 'task failed' },
      logger: new Logger({ serviceName: 'test-task' }),
    });

  it.each([
    ['thrown', false],
    ['the cause of the error thrown', true],
  ])(
    'logs the SQLSTATE, constraint and table of a database error %s, not the values of its row',
    async (_, wrap) => {
      const thrown = await handler(wrap)({ jobId: 'imp_1' }, lambdaContext('req-1')).catch(
        (error: unknown) => error,
      );
      output.restore();
      const database = (wrap ? (thrown as Error).cause : thrown) as Record<string, unknown>;
      // The database said it: the failing row is in the error as thrown.
      expect(JSON.stringify({ ...database })).toContain(EMAIL);

      const text = output
        .lines()
        .map((line) => JSON.stringify(line))
        .join('\n');
      expect(text).not.toContain(EMAIL);
      expect(text).not.toContain(EMAIL.toLowerCase());
      const failed = output.lines().find((line) => line.message === 'task failed') as {
        error: Record<string, unknown>;
      };
      const logged = (wrap ? failed.error.cause : failed.error) as Record<string, unknown>;
      expect(logged).toMatchObject({ code: '23514', constraint: 'people_email_lower', table: 'people' });
      expect(logged.message).toBe(
        'new row for relation "people" violates check constraint "people_email_lower"',
      );
    },
  );

  it('leaves the error itself as it was: the thrown error still has its detail', async () => {
    const error = (await failingInsert().catch((thrown: unknown) => thrown)) as Error & { detail?: string };
    const loggable = loggableError(error) as Error & { detail?: string; code?: string };
    expect(error.detail).toContain(EMAIL);
    expect(loggable.detail).toBeUndefined();
    expect(loggable.code).toBe('23514');
    expect(loggable).toBeInstanceOf(Error);
    expect(loggable.name).toBe(error.name);
  });
});
