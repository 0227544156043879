import { expect, it } from '@jest/globals';
import { describeEachDatabase } from '@sidestep/db/testing';
import { executionArn, failInput, statusSuite } from './status-handler-fixture.ts';

// A Catch hands the fail step the failed task's Error and Cause (a Lambda task's Cause is its error
// document; https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html), text
// that may hold U+0000. PostgreSQL text cannot hold it (22021) nor jsonb a \u0000 (22P05): the fail
// step threw the database's error and the job stayed running, its reason unrecorded.
describeEachDatabase('status-updater fail with a NUL in the Cause', (open) => {
  const suite = statusSuite(open);
  const { twice, job } = suite;

  async function runningExport(n: string) {
    const executionId = executionArn('export');
    const { jobId } = await twice({
      event: 'register',
      kind: 'export',
      expectedState: 'registered',
      executionId,
      request: { id: `nul-${n}`, requestedBy: 'ops@example.com', fileName: 'users' },
    });
    await twice({ event: 'start', jobId, expectedState: 'running', executionId });
    return { jobId, executionId };
  }

  it.each([
    [
      "a Lambda error document's message",
      { Error: 'X', Cause: JSON.stringify({ errorType: 'X', errorMessage: 'bad \u0000 byte' }) },
      'X: bad \\u0000 byte',
    ],
    [
      'a plain Cause',
      { Error: 'States.TaskFailed', Cause: 'bad \u0000 byte' },
      'States.TaskFailed: bad \\u0000 byte',
    ],
  ])(
    'fails the job with the NUL of %s written \\u0000, and records the Catch output',
    async (n, error, reason) => {
      const owned = await runningExport(n.replaceAll(/\W/g, ''));
      const failed = await twice(failInput(owned, error));
      expect(failed).toMatchObject({ state: 'failed', reason });
      expect(await job(owned.jobId)).toMatchObject({ state: 'failed', error: reason });
      const { rows } = await suite.db.query<{ data: { error: { Cause: string } } }>(
        `SELECT data FROM job_transitions WHERE job_id = $1 AND event = 'fail'`,
        [owned.jobId],
      );
      expect(rows.map((row) => row.data.error.Cause)).toEqual([error.Cause.replaceAll('\u0000', '\\u0000')]);
    },
  );
});
