import { describe, expect, it } from '@jest/globals';
import { connectPostgres } from '@sidestep/db/postgres';
import { describeEachDatabase } from '@sidestep/db/testing';
import { fireJobEvent, lockJob } from '@sidestep/jobs';
import { racingOnJobs } from './racing-on-jobs.ts';
import {
  context,
  executionArn as executionOf,
  failInput,
  rejection,
  statusHandler,
  statusSuite,
} from './status-handler-fixture.ts';

let objects = 0;
const executionArn = () => executionOf('import');

/** A register input for a fresh S3 object (unversioned bucket: ETag only). */
function registerInput(executionId: string, etag = `"etag-${++objects}"`) {
  return {
    event: 'register',
    kind: 'import',
    expectedState: 'registered',
    executionId,
    source: { bucket: 'sidestep-test-imports', key: `imports/batch-${objects}/users.csv`, etag, size: 2048 },
  };
}

describeEachDatabase('status-updater handler', (open) => {
  const suite = statusSuite(open);
  const { handler, twice, refusedTwice, job, transitions } = suite;

  /** A job a new execution registered (each step twice). */
  async function registeredImport() {
    const executionId = executionArn();
    const { jobId } = await twice(registerInput(executionId));
    return { jobId, executionId };
  }

  /** What the batch-worker does in the transaction that commits the rows: its counts and `finish`. */
  async function completeAsWorker(
    jobId: string,
    rows: { imported: number; rejected: number },
    firedBy: string,
  ) {
    await suite.db.transaction(async (tx) => {
      await tx.query(
        'UPDATE jobs SET rows_total = $2, rows_imported = $3, rows_rejected = $4 WHERE id = $1',
        [jobId, rows.imported + rows.rejected, rows.imported, rows.rejected],
      );
      const locked = await lockJob(tx, jobId);
      if (!locked) throw new Error(`job ${jobId} is gone`);
      await fireJobEvent(tx, locked, 'finish', { firedBy });
    });
  }

  /** A job a new execution registered and started (each step twice). */
  async function runningImport() {
    const { jobId, executionId } = await registeredImport();
    await twice({ event: 'start', jobId, expectedState: 'running', executionId });
    return { jobId, executionId };
  }

  it('registers, starts and finishes a job, each step twice, with the counts the worker recorded', async () => {
    const executionId = executionArn();
    const input = registerInput(executionId);
    const registered = await twice(input);
    expect(registered).toMatchObject({
      kind: 'import',
      state: 'registered',
      executionId,
      duplicate: false,
      fileName: 'users.csv',
      rows: null,
      reason: null,
    });
    expect(registered.jobId).toMatch(/^imp_[0-9a-f-]{36}$/);
    const { jobId } = registered;

    const started = await twice({ event: 'start', jobId, expectedState: 'running', executionId });
    expect(started).toMatchObject({ jobId, state: 'running', duplicate: false, rows: null });

    // What the batch-worker writes (and all it writes) when its import commits.
    const rowErrors = [
      { line: 152, field: 'email', message: 'not a valid email address' },
      { line: 733, field: 'row', message: 'expected 3 fields, got 2' },
    ];
    await suite.db.query(
      `UPDATE jobs SET rows_total = 1000, rows_imported = 998, rows_rejected = 2, row_errors = $2, users_written = 990,
         updated_at = now() WHERE id = $1`,
      [jobId, JSON.stringify(rowErrors)],
    );
    const finished = await twice({ event: 'finish', jobId, expectedState: 'succeeded', executionId });
    expect(finished).toEqual({
      jobId,
      kind: 'import',
      state: 'succeeded',
      executionId,
      attemptKey: jobId,
      duplicate: false,
      fileName: 'users.csv',
      rows: { total: 1000, imported: 998, rejected: 2, written: 990 },
      rejectedSamples: [
        { line: 152, field: 'email', reason: 'not a valid email address' },
        { line: 733, field: 'row', reason: 'expected 3 fields, got 2' },
      ],
      reason: null,
      requestedBy: null,
      downloadUrl: null,
      resultKey: null,
      bytes: 2048,
    });

    const row = await job(jobId);
    expect(row).toMatchObject({
      state: 'succeeded',
      source_bucket: 'sidestep-test-imports',
      source_key: input.source.key,
      source_version: input.source.etag.replaceAll('"', ''),
      execution_id: executionId,
      bytes: '2048',
    });
    expect(row?.started_at).toBeInstanceOf(Date);
    expect(row?.finished_at).toBeInstanceOf(Date);
    // One audit row per event applied, none for the second deliveries.
    expect(await transitions(jobId)).toEqual([
      { event: 'register', from_state: null, to_state: 'registered', execution_id: executionId },
      { event: 'start', from_state: 'registered', to_state: 'running', execution_id: executionId },
      { event: 'finish', from_state: 'running', to_state: 'succeeded', execution_id: executionId },
    ]);
  });

  it("fails a running job with the worker's reason, twice, and keeps the first reason", async () => {
    const { jobId, executionId } = await runningImport();
    await suite.db.query(
      `UPDATE jobs SET rows_total = 0, rows_imported = 0, rows_rejected = 0,
       worker_error = 'line 1: missing required column email' WHERE id = $1`,
      [jobId],
    );
    const fail = failInput(
      { jobId, executionId },
      { Error: 'States.TaskFailed', Cause: '{"StoppedReason":"Essential container in task exited"}' },
    );
    const failed = await twice(fail);
    expect(failed).toMatchObject({
      state: 'failed',
      reason: 'line 1: missing required column email',
      rows: { total: 0, imported: 0, rejected: 0 },
    });
    // A re-run with another Catch output is still the same step: the recorded output, unchanged.
    expect(await handler({ ...fail, error: { Error: 'Other' } }, context)).toEqual(failed);
    expect(await job(jobId)).toMatchObject({
      state: 'failed',
      error: 'line 1: missing required column email',
    });
    expect((await transitions(jobId)).map((t) => t.event)).toEqual(['register', 'start', 'fail']);
  });

  it('drops the staging an interrupted import kept when the job fails without its worker', async () => {
    const { jobId, executionId } = await runningImport();
    // What the batch-worker leaves after a task stopped mid-file: its staging table with a segment
    // and its rejects table, registered (db migrations 5 and 7).
    await suite.db.query(`CREATE UNLOGGED TABLE import_staging_test_fail (record text)`);
    await suite.db.query(
      `CREATE UNLOGGED TABLE import_staging_test_fail_0 () INHERITS (import_staging_test_fail)`,
    );
    await suite.db.query(`CREATE UNLOGGED TABLE import_staging_test_fail_rejects (line bigint)`);
    await suite.db.query(
      `INSERT INTO import_stagings (job_id, table_name, columns, byte_offset, lines)
       VALUES ($1, 'import_staging_test_fail', '[]', 100, 3)`,
      [jobId],
    );
    await suite.db.query(
      `INSERT INTO import_staging_segments (job_id, segment, table_name, records)
       VALUES ($1, 0, 'import_staging_test_fail_0', 2)`,
      [jobId],
    );
    await twice(failInput({ jobId, executionId }, { Error: 'States.TaskFailed', Cause: '{}' }));
    const stagings = await suite.db.query(
      'SELECT job_id FROM import_stagings WHERE job_id = $1 UNION ALL SELECT job_id FROM import_staging_segments WHERE job_id = $1',
      [jobId],
    );
    const tables = await suite.db.query<{ name: string }>(
      `SELECT tablename AS name FROM pg_tables WHERE tablename LIKE 'import_staging_test_fail%'`,
    );
    expect({ stagings: stagings.rows.length, tables: tables.rows }).toEqual({ stagings: 0, tables: [] });
  });

  it('fails a registered job with the reason taken from the Lambda error document', async () => {
    const { jobId, executionId } = await registeredImport();
    const cause = JSON.stringify({
      errorType: 'JobLedgerUnavailableError',
      errorMessage: 'connection refused',
    });
    const failed = await twice(
      failInput({ jobId, executionId }, { Error: 'JobLedgerUnavailableError', Cause: cause }),
    );
    expect(failed).toMatchObject({
      state: 'failed',
      rows: null,
      reason: 'JobLedgerUnavailableError: connection refused',
    });
  });

  it("keeps the register's locale (the notify locale) on the job for the failure mail sent in the workflow's place, null without one", async () => {
    const { jobId } = await twice({ ...registerInput(executionArn()), locale: 'ja' });
    const english = await twice(registerInput(executionArn()));
    expect([(await job(jobId))?.locale, (await job(english.jobId))?.locale]).toEqual(['ja', null]);
  });

  it("takes the locale of the execution that owns the job on its register's replay (a retry's, after the locale changed)", async () => {
    // An operator's retry hands the job to a new execution (on the state machine's current definition,
    // its current notify locale), whose register is a replay: its mails are in that locale, so the
    // job's failure mail, sent in the workflow's place under the same key, must be too.
    const input = registerInput(executionArn());
    const { jobId } = await twice(input);
    expect((await job(jobId))?.locale).toBeNull();
    const replayed = await twice({ ...input, locale: 'ja' });
    expect(replayed).toMatchObject({ jobId, duplicate: false });
    expect((await job(jobId))?.locale).toBe('ja');
    // A replay naming no locale (a definition before the locale) leaves it.
    await twice(input);
    expect((await job(jobId))?.locale).toBe('ja');
  });

  it('tells another execution of the same object that it is a duplicate and records nothing for it', async () => {
    const owner = executionArn();
    const input = registerInput(owner);
    const { jobId } = await twice(input);
    const other = executionArn();
    const duplicate = await twice({ ...input, executionId: other });
    expect(duplicate).toMatchObject({ jobId, duplicate: true, executionId: owner, state: 'registered' });

    const error = await rejection(
      handler({ event: 'start', jobId, expectedState: 'running', executionId: other }, context),
    );
    expect(error).toMatchObject({ name: 'ExecutionMismatchError', permanent: true, field: 'executionId' });
    expect(await transitions(jobId)).toHaveLength(1);
    expect(await job(jobId)).toMatchObject({ state: 'registered', execution_id: owner });
  });

  it('imports a new version of the same key as a new job', async () => {
    const input = registerInput(executionArn(), '"v-1"');
    const first = await twice(input);
    const second = await twice({
      ...registerInput(executionArn(), '"v-2"'),
      source: { ...input.source, etag: '"v-2"' },
    });
    expect(second.duplicate).toBe(false);
    expect(second.jobId).not.toBe(first.jobId);
  });

  it('imports a re-upload of the same bytes (same ETag, new S3 event sequencer) as a new job', async () => {
    const input = registerInput(executionArn(), '"same-bytes"');
    const first = await twice({ ...input, source: { ...input.source, sequencer: '0062A1B2C3D4E5F601' } });
    const again = await twice({
      ...registerInput(executionArn()),
      source: { ...input.source, sequencer: '0062A1B2C3D4E5F602' },
    });
    expect(again.duplicate).toBe(false);
    expect(again.jobId).not.toBe(first.jobId);
    // A second delivery of the same event is still the same job.
    const redelivered = await twice({
      ...registerInput(executionArn()),
      source: { ...input.source, sequencer: '0062A1B2C3D4E5F602' },
    });
    expect(redelivered).toMatchObject({ jobId: again.jobId, duplicate: true });
  });

  it('makes one job of concurrent registers of one object, whichever executions send them', async () => {
    const [first, second, third] = [executionArn(), executionArn(), executionArn()];
    const input = registerInput(first);
    // Four transactions (three executions, the first one delivered twice) race on one S3 object.
    const senders = [first, second, third, first];
    const outputs = await racingOnJobs(suite.db, senders.length, () =>
      Promise.all(senders.map((executionId) => handler({ ...input, executionId }, context))),
    );
    const jobIds = new Set(outputs.map((output) => output.jobId));
    expect(jobIds.size).toBe(1);
    const { rows } = await suite.db.query<{ count: string }>(
      'SELECT count(*) FROM jobs WHERE source_key = $1',
      [input.source.key],
    );
    expect(rows[0]?.count).toBe('1');
    // Whoever won owns the job: its deliveries say not-duplicate, every other execution's say duplicate.
    const owner = outputs[0]?.executionId;
    expect(outputs.every((output) => output.executionId === owner)).toBe(true);
    expect(outputs.map((output, index) => output.duplicate === (senders[index] !== owner))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(await transitions([...jobIds][0] as string)).toEqual([
      { event: 'register', from_state: null, to_state: 'registered', execution_id: owner },
    ]);
  });

  it('refuses an impossible transition with InvalidTransitionError and changes nothing', async () => {
    const { jobId, executionId } = await registeredImport();
    for (const error of await refusedTwice({
      event: 'finish',
      jobId,
      expectedState: 'succeeded',
      executionId,
    })) {
      expect(error.name).toBe('InvalidTransitionError');
      expect(error).toMatchObject({ permanent: true, jobId, event: 'finish', from: 'registered' });
    }
    expect(await job(jobId)).toMatchObject({ state: 'registered', finished_at: null });
    expect(await transitions(jobId)).toHaveLength(1);
  });

  it('answers a fail on a job that succeeded with the succeeded job and changes nothing', async () => {
    const { jobId, executionId } = await runningImport();
    await suite.db.query(
      'UPDATE jobs SET rows_total = 1, rows_imported = 1, rows_rejected = 0 WHERE id = $1',
      [jobId],
    );
    await twice({ event: 'finish', jobId, expectedState: 'succeeded', executionId });
    const before = await transitions(jobId);
    // A step after FinishJob failed (or FinishJob's answer was lost): the rows are committed, the
    // workflow must learn that rather than fail the job.
    expect(await twice(failInput({ jobId, executionId }, { Error: 'SQS.Throttled' }))).toMatchObject({
      jobId,
      state: 'succeeded',
      reason: null,
      rows: { total: 1, imported: 1, rejected: 0 },
    });
    expect(await job(jobId)).toMatchObject({ state: 'succeeded', error: null });
    expect(await transitions(jobId)).toEqual(before);
  });

  it('answers finish and fail with the succeeded job when the batch-worker completed it in its commit', async () => {
    const { jobId, executionId } = await runningImport();
    await completeAsWorker(jobId, { imported: 2, rejected: 1 }, 'batch-worker:task-1');
    const before = await transitions(jobId);

    // The task was killed after its COMMIT: the workflow catches States.TaskFailed and fails the job.
    const failed = await twice(
      failInput({ jobId, executionId }, { Error: 'States.TaskFailed', Cause: '{}' }),
    );
    expect(failed).toMatchObject({ jobId, state: 'succeeded', reason: null, rows: { imported: 2 } });
    // FinishJob after the commit (a re-run, or a first call whose answer timed out).
    const finished = await twice({ event: 'finish', jobId, expectedState: 'succeeded', executionId });
    expect(finished).toMatchObject({
      jobId,
      state: 'succeeded',
      rows: { total: 3, imported: 2, rejected: 1 },
    });
    expect(await job(jobId)).toMatchObject({ state: 'succeeded', error: null });
    expect(await transitions(jobId)).toEqual(before);
  });

  it("sets the job's deadline from the start's deadlineSeconds (the workflow's longest wait), and refuses one under a minute", async () => {
    const { jobId, executionId } = await registeredImport();
    const before = Date.now();
    await twice({ event: 'start', jobId, expectedState: 'running', executionId, deadlineSeconds: 27_420 });
    const deadline = ((await job(jobId))?.deadline_at as Date | undefined)?.getTime() ?? 0;
    expect(deadline).toBeGreaterThan(before + 27_420_000 - 5_000);
    expect(deadline).toBeLessThan(Date.now() + 27_420_000 + 5_000);

    const other = await registeredImport();
    expect(
      await rejection(
        handler(
          { event: 'start', jobId: other.jobId, expectedState: 'running', executionId, deadlineSeconds: 30 },
          context,
        ),
      ),
    ).toMatchObject({ name: 'InvalidInputError', permanent: true, field: 'deadlineSeconds' });
  });

  it('replays an output recorded before rows.written with it null: the import workflow reads that path', async () => {
    const { jobId, executionId } = await runningImport();
    // A batch-worker of the deploy before completed the job as the execution, and recorded the output
    // its FinishJob replays without `rows.written`.
    await completeAsWorker(jobId, { imported: 3, rejected: 0 }, executionId);
    await suite.db.query(
      `UPDATE job_transitions SET data = data #- '{output,rows,written}' WHERE job_id = $1 AND event = 'finish'`,
      [jobId],
    );
    const finished = await twice({ event: 'finish', jobId, expectedState: 'succeeded', executionId });
    expect(finished.rows).toEqual({ total: 3, imported: 3, rejected: 0, written: null });
  });

  it('refuses to finish an import whose worker recorded no counts, and lets it fail instead', async () => {
    const { jobId, executionId } = await runningImport();
    const error = await rejection(
      handler({ event: 'finish', jobId, expectedState: 'succeeded', executionId }, context),
    );
    expect(error).toMatchObject({ name: 'RowCountsMissingError', permanent: true, jobId });
    expect(await job(jobId)).toMatchObject({ state: 'running', finished_at: null });
    const cause = JSON.stringify({ errorType: error.name, errorMessage: error.message });
    expect(await twice(failInput({ jobId, executionId }, { Error: error.name, Cause: cause }))).toMatchObject(
      { state: 'failed', reason: `RowCountsMissingError: ${error.message}` },
    );
  });

  it('rolls back an event whose resulting state is not the expected one', async () => {
    const { jobId, executionId } = await registeredImport();
    for (const error of await refusedTwice({
      event: 'start',
      jobId,
      expectedState: 'succeeded',
      executionId,
    })) {
      expect(error).toMatchObject({
        name: 'UnexpectedStateError',
        permanent: true,
        field: 'expectedState',
        expected: 'succeeded',
        actual: 'running',
      });
    }
    expect(await job(jobId)).toMatchObject({ state: 'registered', started_at: null });
    expect(await transitions(jobId)).toHaveLength(1);
    // The same step with the right expectation then applies normally.
    expect(await twice({ event: 'start', jobId, expectedState: 'running', executionId })).toMatchObject({
      state: 'running',
    });
  });

  it('refuses a wrong expectedState on a first register, a replayed step and a finish of a job that succeeded', async () => {
    /** Both deliveries of `input` refused UnexpectedStateError, the job `actual` rather than `expected`. */
    async function refusedAsUnexpected(input: Record<string, unknown>, actual: string) {
      const expected = { name: 'UnexpectedStateError', permanent: true, field: 'expectedState', actual };
      expect(await refusedTwice(input)).toEqual([
        expect.objectContaining({ ...expected, expected: input.expectedState }),
        expect.objectContaining({ ...expected, expected: input.expectedState }),
      ]);
    }
    // A first register: refused and rolled back, so no job of the object exists.
    const input = registerInput(executionArn());
    await refusedAsUnexpected({ ...input, expectedState: 'running' }, 'registered');
    const registered = await suite.db.query('SELECT id FROM jobs WHERE source_key = $1', [input.source.key]);
    expect(registered.rows).toEqual([]);

    // A step applied, then delivered again with another expectation: the replay is refused too.
    const { jobId, executionId } = await runningImport();
    await refusedAsUnexpected({ event: 'start', jobId, expectedState: 'succeeded', executionId }, 'running');

    // A finish of a job the batch-worker completed in its commit, expecting another state.
    await completeAsWorker(jobId, { imported: 1, rejected: 0 }, 'batch-worker:task-1');
    await refusedAsUnexpected({ event: 'finish', jobId, expectedState: 'failed', executionId }, 'succeeded');
    expect(await job(jobId)).toMatchObject({ state: 'succeeded' });
  });

  it('names an unknown job and invalid input', async () => {
    const executionId = executionArn();
    expect(
      await rejection(
        handler({ event: 'start', jobId: 'imp_missing', expectedState: 'running', executionId }, context),
      ),
    ).toMatchObject({ name: 'JobNotFoundError', permanent: true, jobId: 'imp_missing' });
    expect(
      await rejection(handler({ event: 'start', expectedState: 'running', executionId }, context)),
    ).toMatchObject({
      name: 'InvalidInputError',
      permanent: true,
      field: 'jobId',
    });
    const unversioned = registerInput(executionId);
    expect(
      await rejection(
        handler({ ...unversioned, source: { ...unversioned.source, etag: undefined } }, context),
      ),
    ).toMatchObject({ name: 'InvalidInputError', field: 'source.versionId' });
    expect(await rejection(handler('not an object', context))).toMatchObject({ name: 'InvalidInputError' });
  });
});

describe('status-updater handler without a database', () => {
  it('throws the retryable JobLedgerUnavailableError when PostgreSQL refuses connections', async () => {
    // Port 1 on loopback: nothing listens, so connecting fails with ECONNREFUSED.
    const unreachable = connectPostgres({ url: 'postgres://sidestep:x@127.0.0.1:1/sidestep', max: 1 });
    const handler = statusHandler(async () => unreachable);
    try {
      const error = await rejection(handler(registerInput(executionArn()), context));
      expect(error).toMatchObject({ name: 'JobLedgerUnavailableError', permanent: false });
      expect(error.message).toContain('ECONNREFUSED');
    } finally {
      await unreachable.close();
    }
  });

  it('passes a bug through unchanged instead of calling it transient', async () => {
    const handler = statusHandler(async () => {
      throw new TypeError('not a function');
    });
    expect(await rejection(handler(registerInput(executionArn()), context))).toMatchObject({
      name: 'TypeError',
    });
  });
});
