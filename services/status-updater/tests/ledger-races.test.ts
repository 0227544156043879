import { expect, it } from '@jest/globals';
import { describeEachDatabase } from '@sidestep/db/testing';
import {
  fireJobEvent,
  JobNotFoundError,
  lockJob,
  recordTransition,
  snapshot,
  statusOutput,
} from '@sidestep/jobs';
import { racingOnJobs } from './racing-on-jobs.ts';
import { context, executionArn as executionOf, failInput, statusSuite } from './status-handler-fixture.ts';

let objects = 0;
const executionArn = () => executionOf('import');

/** A register input for a fresh S3 object (unversioned bucket: ETag only). */
function registerInput(executionId: string) {
  objects += 1;
  return {
    event: 'register',
    kind: 'import',
    expectedState: 'registered',
    executionId,
    source: {
      bucket: 'sidestep-test-imports',
      key: `imports/races-${objects}/users.csv`,
      etag: `"races-${objects}"`,
      size: 2048,
    },
  };
}

describeEachDatabase('status-updater on a job others move too', (open) => {
  const suite = statusSuite(open);
  const { handler, twice, job, transitions } = suite;

  /** A job a new execution registered and started (each step twice), with its register input. */
  async function runningImport() {
    const executionId = executionArn();
    const register = registerInput(executionId);
    const { jobId } = await twice(register);
    await twice({ event: 'start', jobId, expectedState: 'running', executionId });
    return { jobId, executionId, register };
  }

  /**
   * An operator's `job fail` as @sidestep/ledger's SqlLedger.failJob fires it (the status-updater
   * does not depend on the ledger package): lock the job, fire `fail` as `operator:<name>`.
   */
  function failAsOperator(jobId: string) {
    return suite.db.transaction(async (tx) => {
      const locked = await lockJob(tx, jobId);
      if (!locked) throw new JobNotFoundError(jobId);
      return fireJobEvent(tx, locked, 'fail', {
        firedBy: 'operator:someone',
        reason: 'failed by an operator',
        data: { operator: 'someone' },
      });
    });
  }

  /**
   * An operator's retry as @sidestep/ledger's SqlLedger.handOverJob does it (the columns that matter
   * here): the failed job goes back to `registered`, owned by `executionId` as attempt 2, and the
   * hand-over is recorded as that execution's `register`.
   */
  function handOver(jobId: string, executionId: string) {
    return suite.db.transaction(async (tx) => {
      const failed = await lockJob(tx, jobId);
      if (failed?.state !== 'failed') throw new Error(`job ${jobId} is not failed`);
      const { rows } = await tx.query<Parameters<typeof snapshot>[0]>(
        `UPDATE jobs SET state = 'registered', attempt = 2, execution_id = $2, error = NULL,
           started_at = NULL, finished_at = NULL, deadline_at = NULL, updated_at = now()
         WHERE id = $1 RETURNING *`,
        [jobId, executionId],
      );
      const row = rows[0];
      if (!row) throw new JobNotFoundError(jobId);
      await recordTransition(
        tx,
        jobId,
        'register',
        'failed',
        statusOutput(snapshot(row), false),
        executionId,
        {
          retry: { attempt: 2, previousExecutionArn: failed.execution_id, operator: 'someone' },
        },
      );
    });
  }

  it("applies one of a workflow's finish and an operator's fail racing on a running job, the other refused", async () => {
    const { jobId, executionId } = await runningImport();
    await suite.db.query(
      'UPDATE jobs SET rows_total = 3, rows_imported = 3, rows_rejected = 0 WHERE id = $1',
      [jobId],
    );
    // Both transactions reach the jobs table before either commits (on PostgreSQL; PGlite runs them
    // one after the other): the job's row lock is all that keeps them from both moving it.
    const [finish, fail] = await racingOnJobs(suite.db, 2, () =>
      Promise.allSettled([
        handler({ event: 'finish', jobId, expectedState: 'succeeded', executionId }, context),
        failAsOperator(jobId),
      ]),
    );
    const applied = [finish, fail].filter((outcome) => outcome.status === 'fulfilled');
    expect(applied).toHaveLength(1);
    const refused = [finish, fail].find((outcome) => outcome.status === 'rejected');
    expect(refused?.reason).toMatchObject({ name: 'InvalidTransitionError' });

    const terminal = (await transitions(jobId)).filter((transition) => transition.from_state === 'running');
    expect(terminal).toHaveLength(1);
    expect((await job(jobId))?.state).toBe(terminal[0]?.to_state);
  });

  it("starts a job handed over to a retry's execution, not answering with attempt 1's start", async () => {
    const { jobId, executionId, register } = await runningImport();
    await twice(failInput({ jobId, executionId }, { Error: 'States.Timeout' }));
    const retry = executionArn();
    await handOver(jobId, retry);

    await twice({ ...register, executionId: retry });
    const started = await twice({ event: 'start', jobId, expectedState: 'running', executionId: retry });
    expect(started).toMatchObject({ jobId, state: 'running', executionId: retry, attemptKey: `${jobId}:2` });
    expect(await job(jobId)).toMatchObject({ state: 'running', execution_id: retry, attempt: 2 });
    expect((await transitions(jobId)).slice(-1)).toEqual([
      { event: 'start', from_state: 'registered', to_state: 'running', execution_id: retry },
    ]);
  });

  it('replays an output recorded before attemptKey with the job id, the key its mails had then', async () => {
    const { jobId, executionId } = await runningImport();
    await suite.db.query(
      `UPDATE job_transitions SET data = data #- '{output,attemptKey}' WHERE job_id = $1 AND event = 'start'`,
      [jobId],
    );
    const replayed = await handler({ event: 'start', jobId, expectedState: 'running', executionId }, context);
    expect(replayed).toMatchObject({ jobId, state: 'running', attemptKey: jobId });
  });
});
