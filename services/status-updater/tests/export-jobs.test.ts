import { expect, it } from '@jest/globals';
import { describeEachDatabase } from '@sidestep/db/testing';
import { fireJobEvent, JOB_DEADLINE_SECONDS, lockJob } from '@sidestep/jobs';
import { racingOnJobs } from './racing-on-jobs.ts';
import {
  context,
  executionArn as executionOf,
  failInput,
  rejection,
  statusSuite,
} from './status-handler-fixture.ts';

let requests = 0;
const executionArn = () => executionOf('export');

/** The register step of the export workflow for a fresh `export.requested` message. */
function registerExport(executionId: string, requestId = `req-${++requests}`) {
  return {
    event: 'register',
    kind: 'export',
    expectedState: 'registered',
    executionId,
    request: {
      id: requestId,
      requestedBy: 'ops@example.com',
      fileName: 'users-2026-11-24',
      filter: { updatedSince: '2026-11-01T00:00:00Z', emailDomain: 'example.com' },
    },
  };
}

/** What the export-finalizer returns (`FinalizeExportOutput`), passed whole as finish's `result`. */
function finalized(jobId: string) {
  return {
    jobId,
    bucket: 'sidestep-test-exports',
    key: `exports/${jobId}/users-2026-11-24.csv.gz`,
    rows: 1000,
    bytes: 31234,
    crc64nvme: 'rosUhgp5mIg=',
    manifestKey: `exports/${jobId}/manifest.json`,
    downloadUrl: `http://127.0.0.1:4566/_sidestep/exports/${jobId}?token=t`,
    downloadExpiresAt: '2026-12-01T09:00:00.000Z',
  };
}

describeEachDatabase('status-updater export jobs', (open) => {
  const suite = statusSuite(open);
  const { handler, twice, refusedTwice, job, transitions } = suite;
  /** Registers and starts an export job of a fresh execution. */
  async function runningExport() {
    const executionId = executionArn();
    const { jobId } = await twice(registerExport(executionId));
    await twice({ event: 'start', jobId, expectedState: 'running', executionId });
    return { jobId, executionId };
  }

  it('registers an export by its request, starts it with a deadline and finishes it with the finalizer result, each step twice', async () => {
    const executionId = executionArn();
    const input = registerExport(executionId);
    const registered = await twice(input);
    expect(registered).toMatchObject({
      kind: 'export',
      state: 'registered',
      duplicate: false,
      fileName: 'users-2026-11-24',
      requestedBy: 'ops@example.com',
      downloadUrl: null,
      rows: null,
    });
    expect(registered.jobId).toMatch(/^exp_[0-9a-f-]{36}$/);
    const { jobId } = registered;
    expect(await job(jobId)).toMatchObject({
      request_id: input.request.id,
      requested_by: 'ops@example.com',
      export_filter: input.request.filter,
      file_name: 'users-2026-11-24',
      deadline_at: null,
      source_bucket: null,
    });

    const before = Date.now();
    await twice({ event: 'start', jobId, expectedState: 'running', executionId });
    const started = await job(jobId);
    const deadline = (started?.deadline_at as Date | undefined)?.getTime() ?? 0;
    // A start without deadlineSeconds: now() + the kind's default, read by the database clock
    // (loopback: within a few seconds of this one).
    const allowed = JOB_DEADLINE_SECONDS.export * 1000;
    expect(deadline).toBeGreaterThan(before + allowed - 5_000);
    expect(deadline).toBeLessThan(Date.now() + allowed + 5_000);

    const result = finalized(jobId);
    const finished = await twice({ event: 'finish', jobId, expectedState: 'succeeded', executionId, result });
    expect(finished).toEqual({
      jobId,
      kind: 'export',
      state: 'succeeded',
      executionId,
      attemptKey: jobId,
      duplicate: false,
      fileName: 'users-2026-11-24',
      rows: { total: 1000, imported: 0, rejected: 0, written: null },
      rejectedSamples: [],
      reason: null,
      requestedBy: 'ops@example.com',
      downloadUrl: result.downloadUrl,
      resultKey: result.key,
      bytes: 31234,
    });
    expect(await job(jobId)).toMatchObject({
      state: 'succeeded',
      rows_total: '1000',
      bytes: '31234',
      result_key: result.key,
      download_url: result.downloadUrl,
      // Kept for the export.ready mail the job-sweeper sends if the execution ends before NotifyReady.
      download_expires_at: new Date(result.downloadExpiresAt),
    });
    expect(await transitions(jobId)).toEqual([
      { event: 'register', from_state: null, to_state: 'registered', execution_id: executionId },
      { event: 'start', from_state: 'registered', to_state: 'running', execution_id: executionId },
      { event: 'finish', from_state: 'running', to_state: 'succeeded', execution_id: executionId },
    ]);
  });

  it('registers one job per request: another execution of the same message is a duplicate, even when they race', async () => {
    const [first, second, third] = [executionArn(), executionArn(), executionArn()];
    const input = registerExport(first);
    // Four transactions (three executions, the first one delivered twice) race on one request,
    // held at a lock barrier on PostgreSQL so a check-then-insert register would make two jobs.
    const outputs = await racingOnJobs(suite.db, 4, () =>
      Promise.all(
        [first, second, third, first].map((executionId) => handler({ ...input, executionId }, context)),
      ),
    );
    expect(new Set(outputs.map((output) => output.jobId)).size).toBe(1);
    const owner = outputs[0]?.executionId;
    expect(outputs.map((output) => output.duplicate)).toEqual(
      [first, second, third, first].map((executionId) => executionId !== owner),
    );
    const { rows } = await suite.db.query<{ count: string }>(
      'SELECT count(*) FROM jobs WHERE request_id = $1',
      [input.request.id],
    );
    expect(rows[0]?.count).toBe('1');
    expect(await transitions(outputs[0]?.jobId as string)).toHaveLength(1);
    // A duplicate execution (whichever lost the race) cannot move the owner's job.
    const duplicate = [first, second, third].find((executionId) => executionId !== owner);
    const moved = await rejection(
      handler(
        { event: 'start', jobId: outputs[0]?.jobId, expectedState: 'running', executionId: duplicate },
        context,
      ),
    );
    expect(moved.name).toBe('ExecutionMismatchError');
  });

  it('refuses a request that reuses another request’s id (another requester or other users), permanently and with the reason', async () => {
    const input = registerExport(executionArn());
    const { jobId } = await twice(input);
    for (const request of [
      { ...input.request, requestedBy: 'someone-else@example.com' },
      { ...input.request, filter: { emailDomain: 'other.example' } },
    ]) {
      const error = await rejection(handler({ ...input, executionId: executionArn(), request }, context));
      expect(error).toMatchObject({
        name: 'RequestConflictError',
        field: 'request.id',
        permanent: true,
        jobId,
      });
      expect(error.message).toContain(
        `request ${input.request.id} was already used by another export request`,
      );
      // The first requester's address is not told to the second.
      expect(error.message).not.toContain(input.request.requestedBy);
    }
    // The same request delivered again (even on another day, with another default file name) is a duplicate.
    const again = await handler(
      { ...input, executionId: executionArn(), request: { ...input.request, fileName: 'users-2026-11-25' } },
      context,
    );
    expect(again).toMatchObject({ jobId, duplicate: true });
    expect(await transitions(jobId)).toHaveLength(1);
  });

  it('keeps a request id apart from the same id of another kind, and a filterless export selects everyone', async () => {
    const { jobId } = await twice({
      ...registerExport(executionArn()),
      request: { id: 'shared-id', requestedBy: 'a@example.com', fileName: 'all-users', filter: null },
    });
    expect(await job(jobId)).toMatchObject({ request_id: 'shared-id', export_filter: null });
    const again = await twice({
      ...registerExport(executionArn()),
      request: { id: 'shared-id-2', requestedBy: 'a@example.com', fileName: 'all-users' },
    });
    expect(again.jobId).not.toBe(jobId);
  });

  it("keeps the request's locale on the job for the failure mail sent in the workflow's place, null without one", async () => {
    const japanese = registerExport(executionArn());
    const { jobId } = await twice({ ...japanese, request: { ...japanese.request, locale: 'ja' } });
    const english = await twice(registerExport(executionArn()));
    expect([(await job(jobId))?.locale, (await job(english.jobId))?.locale]).toEqual(['ja', null]);
  });

  it("refuses to finish an export without the finalizer's result, and an import's finish with one", async () => {
    const { jobId, executionId } = await runningExport();
    for (const error of await refusedTwice({
      event: 'finish',
      jobId,
      expectedState: 'succeeded',
      executionId,
    })) {
      expect(error).toMatchObject({
        name: 'ExportResultMissingError',
        permanent: true,
        field: 'result',
        jobId,
      });
    }
    expect(await job(jobId)).toMatchObject({ state: 'running', result_key: null });
    const failed = await twice(
      failInput({ jobId, executionId }, { Error: 'ExportResultMissingError', Cause: 'no result' }),
    );
    expect(failed).toMatchObject({ state: 'failed', reason: 'ExportResultMissingError: no result' });

    const importExecution = executionArn();
    const imported = await twice({
      event: 'register',
      kind: 'import',
      expectedState: 'registered',
      executionId: importExecution,
      source: { bucket: 'sidestep-test-imports', key: 'imports/export-test.csv', etag: '"e1"' },
    });
    await twice({
      event: 'start',
      jobId: imported.jobId,
      expectedState: 'running',
      executionId: importExecution,
    });
    await suite.db.query(
      'UPDATE jobs SET rows_total = 1, rows_imported = 1, rows_rejected = 0 WHERE id = $1',
      [imported.jobId],
    );
    const error = await rejection(
      handler(
        {
          event: 'finish',
          jobId: imported.jobId,
          expectedState: 'succeeded',
          executionId: importExecution,
          result: finalized(imported.jobId),
        },
        context,
      ),
    );
    expect(error).toMatchObject({ name: 'InvalidInputError', field: 'result' });
    expect(await job(imported.jobId)).toMatchObject({ state: 'running', deadline_at: expect.any(Date) });
  });

  it("answers the workflow's own fail with the sweeper's reason once the sweeper failed the job, and records nothing", async () => {
    const { jobId, executionId } = await runningExport();
    const sweptAt = new Date('2030-01-01T00:00:00Z');
    await suite.db.transaction(async (tx) => {
      const row = await lockJob(tx, jobId);
      if (!row) throw new Error('job vanished');
      await fireJobEvent(tx, row, 'fail', { firedBy: 'job-sweeper:test', reason: 'no progress', sweptAt });
    });
    const output = await twice(
      failInput({ jobId, executionId }, { Error: 'States.Timeout', Cause: 'task timed out' }),
    );
    expect(output).toMatchObject({ state: 'failed', reason: 'no progress', requestedBy: 'ops@example.com' });
    expect(await transitions(jobId)).toEqual([
      expect.objectContaining({ event: 'register' }),
      expect.objectContaining({ event: 'start' }),
      { event: 'fail', from_state: 'running', to_state: 'failed', execution_id: 'job-sweeper:test' },
    ]);
    // Finishing after the sweep is still refused: the mail said it failed.
    const finish = await rejection(
      handler(
        { event: 'finish', jobId, expectedState: 'succeeded', executionId, result: finalized(jobId) },
        context,
      ),
    );
    expect(finish).toMatchObject({ name: 'InvalidTransitionError', from: 'failed' });
    expect(await job(jobId)).toMatchObject({ swept_at: sweptAt, result_key: null });
  });

  it('still refuses to fail twice a job its own workflow failed (only a sweep is answered)', async () => {
    const { jobId, executionId } = await runningExport();
    await twice(failInput({ jobId, executionId }, { Error: 'X', Cause: 'y' }));
    const other = await rejection(handler(failInput({ jobId, executionId: executionArn() }), context));
    expect(other.name).toBe('ExecutionMismatchError');
    expect(await transitions(jobId)).toHaveLength(3);
  });
});
