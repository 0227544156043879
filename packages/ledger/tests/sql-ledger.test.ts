import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Database, migrate, migrations, type Queryable } from '@sidestep/db';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { HAND_OVER_DEADLINE_SECONDS, JOB_DEADLINE_SECONDS } from '@sidestep/jobs';
import {
  answerLedgerRequest,
  idempotencyRecordHash,
  type JobDetail,
  LedgerSchemaError,
  latestRedriveCount,
  ledgerResult,
  SqlLedger,
} from '../src/index.ts';
import { insertStagedImport, sampleImportStaging } from '../src/testing.ts';

async function insertExport(
  db: ReturnType<ReturnType<typeof suiteDatabase>>,
  id: string,
  state: string,
  createdAt: string,
) {
  await db.query(
    `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, created_at, updated_at, started_at, deadline_at)
     VALUES ($1, 'export', $2, $3, 'ops@example.com', $1, 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:first', $4, $4, $4, $4::timestamptz + interval '1 hour')`,
    [id, state, `req-${id}`, createdAt],
  );
}

/**
 * The mail-dispatcher's send-once record of mail `idempotencyKey` as Powertools writes it (its
 * function's name, `#`, the key's hash), in `status`: INPROGRESS is a send cut before the mail was
 * marked sent, its in-progress window over at `inProgressUntil` (a minute ago unless given: the
 * claiming invocation has ended). Gives the record's id.
 */
async function insertMailRecord(
  db: Queryable,
  idempotencyKey: string,
  status: 'INPROGRESS' | 'COMPLETED' = 'INPROGRESS',
  inProgressUntil = Date.now() - 60_000,
): Promise<string> {
  const recordId = `sidestep-local-mail-dispatcher#${idempotencyRecordHash(idempotencyKey)}`;
  await db.query(
    `INSERT INTO idempotency_records (id, status, expiry_timestamp, in_progress_expiry_timestamp)
     VALUES ($1, $2, 4102444800, $3)`,
    [recordId, status, inProgressUntil],
  );
  return recordId;
}

/**
 * `database`, with `play` run inside the ledger's transaction just before its first statement that
 * `before` matches: another session's commit, as that statement would find it. `played()` says
 * whether it ran.
 */
function interleaved(database: Database, before: RegExp, play: (tx: Queryable) => Promise<unknown>) {
  let played = false;
  const db: Database = {
    ...database,
    query: (sql, params) => database.query(sql, params),
    close: () => database.close(),
    kind: database.kind,
    transaction: (fn) =>
      database.transaction((tx) =>
        fn({
          query: async (sql, params) => {
            if (!played && before.test(sql)) {
              played = true;
              await play(tx);
            }
            return tx.query(sql, params);
          },
        }),
      ),
  };
  return { db, played: () => played };
}

describeEachDatabase('SqlLedger', (open) => {
  const db = suiteDatabase(open);

  it('refuses a write inside a read-only query transaction (SQLSTATE 25006)', async () => {
    const ledger = new SqlLedger(db());
    await expect(
      ledger.readOnly((tx) =>
        tx.query(`INSERT INTO operator_audit (operator, environment, action, target, details, result)
                  VALUES ('x', 'local', 'job-fail', 't', '{}', 'ok')`),
      ),
    ).rejects.toMatchObject({ message: expect.stringMatching(/read-only transaction/) });
    expect((await db().query('SELECT count(*)::int AS n FROM operator_audit')).rows[0]).toEqual({ n: 0 });
  });

  it('pages jobs newest first by keyset, filtered by state and kind, each job once, and offers no next page after the last job', async () => {
    // Same created_at for two jobs: the id breaks the tie, and microseconds survive the cursor.
    await insertExport(db(), 'exp_page_a', 'failed', '2026-11-24T10:00:00.000001Z');
    await insertExport(db(), 'exp_page_b', 'failed', '2026-11-24T10:00:00.000002Z');
    await insertExport(db(), 'exp_page_c', 'failed', '2026-11-24T10:00:00.000002Z');
    await insertExport(db(), 'exp_page_d', 'running', '2026-11-24T11:00:00Z');
    const ledger = new SqlLedger(db());

    const first = await ledger.listJobs({ status: 'failed', kind: 'export', limit: 2 });
    expect(first.jobs.map((job) => job.id)).toEqual(['exp_page_c', 'exp_page_b']);
    expect(first.next).not.toBeNull();
    const second = await ledger.listJobs({
      status: 'failed',
      kind: 'export',
      limit: 2,
      after: first.next ?? '',
    });
    expect(second.jobs.map((job) => job.id)).toEqual(['exp_page_a']);
    expect(second.next).toBeNull();
    // A last page the jobs fill exactly: no cursor to an empty page.
    const whole = await ledger.listJobs({ status: 'failed', kind: 'export', limit: 3 });
    expect(whole.jobs.map((job) => job.id)).toEqual(['exp_page_c', 'exp_page_b', 'exp_page_a']);
    expect(whole.next).toBeNull();
    expect((await ledger.listJobs({ kind: 'import' })).jobs).toEqual([]);
  });

  it("describes a running job with its last task's failure, which the workflow is rerunning it for", async () => {
    await insertExport(db(), 'exp_rerun', 'running', '2026-11-24T09:30:00Z');
    const reason =
      'cannot write s3://sidestep-local-exports/exports/exp_rerun/parts/part-00002.csv.gz: connect ECONNREFUSED';
    await db().query('UPDATE jobs SET worker_error = $2 WHERE id = $1', ['exp_rerun', reason]);
    const ledger = new SqlLedger(db());
    expect(await ledger.describeJob('exp_rerun')).toMatchObject({ state: 'running', workerError: reason });
    await db().query('UPDATE jobs SET worker_error = NULL WHERE id = $1', ['exp_rerun']);
    expect((await ledger.describeJob('exp_rerun')).workerError).toBeNull();
  });

  it("describes a running import's staging: bytes and records so far, segments validated, rows they rejected", async () => {
    await insertStagedImport(db(), 'imp_staged');
    // Another import's segment, validated with rejects: counted for that job only.
    await db().query(
      `INSERT INTO import_staging_segments (job_id, segment, table_name, records, rejected)
       VALUES ('imp_other', 0, 'import_staging_imp_other_0', 10, 7)`,
    );
    const ledger = new SqlLedger(db());
    // 53 segments: the first three validated with a reject each, 49 without, the last not validated yet.
    expect((await ledger.describeJob('imp_staged')).staging).toEqual(sampleImportStaging());
    // Before its first segment, and without the object's size.
    await db().query('DELETE FROM import_staging_segments WHERE job_id = $1', ['imp_staged']);
    await db().query('UPDATE import_stagings SET source_bytes = NULL WHERE job_id = $1', ['imp_staged']);
    expect((await ledger.describeJob('imp_staged')).staging).toMatchObject({
      bytesTotal: null,
      segmentsStaged: 0,
      segmentsValidated: 0,
      rowsRejectedSoFar: 0,
    });
  });

  it("describes a running export's progress as its task recorded it, and none before or for an import", async () => {
    await insertExport(db(), 'exp_progress', 'running', '2026-11-24T09:45:00Z');
    const ledger = new SqlLedger(db());
    expect((await ledger.describeJob('exp_progress')).exportProgress).toBeNull();
    await db().query(
      `INSERT INTO export_progress (job_id, rows, parts, bytes, updated_at)
       VALUES ('exp_progress', 4200000, 7, 58720256, '2026-12-04T10:21:03Z')`,
    );
    expect((await ledger.describeJob('exp_progress')).exportProgress).toEqual({
      rows: 4_200_000,
      parts: 7,
      bytes: 58_720_256,
      updatedAt: new Date('2026-12-04T10:21:03Z'),
    });
    await insertStagedImport(db(), 'imp_no_export_progress');
    expect((await ledger.describeJob('imp_no_export_progress')).exportProgress).toBeNull();
  });

  it('describes what became of the failure mail of a job the sweeper failed: pending with the last error, refused, queued; none when it did not, and the same through the wire', async () => {
    await insertExport(db(), 'exp_sweep_mail', 'failed', '2026-11-24T09:50:00Z');
    const ledger = new SqlLedger(db());
    expect((await ledger.describeJob('exp_sweep_mail')).sweepMail).toBeNull();
    const sweptAt = new Date('2026-11-24T11:00:00Z');
    await db().query(
      "UPDATE jobs SET swept_at = $1, sweep_mail_error = 'ThrottlingException: slow down' WHERE id = 'exp_sweep_mail'",
      [sweptAt],
    );
    expect((await ledger.describeJob('exp_sweep_mail')).sweepMail).toEqual({
      sweptAt,
      queuedAt: null,
      refusedAt: null,
      error: 'ThrottlingException: slow down',
    });
    const refusedAt = new Date('2026-11-24T11:15:00Z');
    await db().query(
      "UPDATE jobs SET sweep_mail_refused_at = $1, sweep_mail_error = 'payload.to: not a valid email' WHERE id = 'exp_sweep_mail'",
      [refusedAt],
    );
    const refused = { sweptAt, queuedAt: null, refusedAt, error: 'payload.to: not a valid email' };
    expect((await ledger.describeJob('exp_sweep_mail')).sweepMail).toEqual(refused);
    const answer = await answerLedgerRequest(
      ledger,
      { op: 'job.describe', jobId: 'exp_sweep_mail' },
      { actions: false },
    );
    expect((ledgerResult(JSON.stringify(answer)) as JobDetail).sweepMail).toEqual(refused);
  });

  it("describes a completed import's users written, which the batch-worker sets on the job", async () => {
    await insertStagedImport(db(), 'imp_written');
    const ledger = new SqlLedger(db());
    expect((await ledger.describeJob('imp_written')).usersWritten).toBeNull();
    await db().query("UPDATE jobs SET users_written = 3 WHERE id = 'imp_written'");
    expect((await ledger.describeJob('imp_written')).usersWritten).toBe(3);
  });

  it("describes a retried job's mails of every attempt so far, attempt 2's keyed <jobId>:2", async () => {
    await insertExport(db(), 'exp_mails_retried', 'registered', '2026-11-24T09:55:00Z');
    await db().query(`UPDATE jobs SET attempt = 2 WHERE id = 'exp_mails_retried'`);
    const firstMail = await insertMailRecord(db(), 'export.failed:exp_mails_retried', 'COMPLETED');
    // The retry's failure mail, cut before it was marked sent: the record an operator releases.
    const retryMail = await insertMailRecord(db(), 'export.failed:exp_mails_retried:2');
    const { mails } = await new SqlLedger(db()).describeJob('exp_mails_retried');
    expect(
      mails.map(({ idempotencyKey, recordId, status }) => ({ idempotencyKey, recordId, status })),
    ).toEqual(
      expect.arrayContaining([
        {
          idempotencyKey: 'export.failed:exp_mails_retried',
          recordId: firstMail,
          status: 'COMPLETED',
        },
        { idempotencyKey: 'export.failed:exp_mails_retried:2', recordId: retryMail, status: 'INPROGRESS' },
      ]),
    );
    expect(mails).toHaveLength(2);
  });

  // What mail release and a redrive will do with a record hangs on its two times: its in-progress
  // window (release refuses it until then) and its expiry (the mail-dispatcher claims an expired
  // record anew, so a redrive sends the mail again).
  it("describes a job's mail records with their expiry and in-progress window, revived through the wire", async () => {
    await insertExport(db(), 'exp_mail_times', 'failed', '2026-11-24T09:56:00Z');
    const until = Date.parse('2026-11-24T10:00:00.123Z');
    await insertMailRecord(db(), 'export.failed:exp_mail_times', 'INPROGRESS', until);
    // A COMPLETED record keeps the window of its claim (the mail-dispatcher's update to COMPLETED
    // leaves the column as it was: `sidestep job` showed "in progress until" for a sent mail), which
    // means nothing once the mail is marked sent.
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp, in_progress_expiry_timestamp)
       VALUES ($1, 'COMPLETED', 1766570400, $2)`,
      [`sidestep-local-mail-dispatcher#${idempotencyRecordHash('export.ready:exp_mail_times')}`, until],
    );
    const ledger = new SqlLedger(db());
    const times = (mails: JobDetail['mails']) =>
      Object.fromEntries(
        mails.map(({ idempotencyKey, expiresAt, inProgressUntil }) => [
          idempotencyKey,
          { expiresAt, inProgressUntil },
        ]),
      );
    const expected = {
      'export.failed:exp_mail_times': {
        expiresAt: new Date('2100-01-01T00:00:00Z'),
        inProgressUntil: new Date(until),
      },
      'export.ready:exp_mail_times': {
        expiresAt: new Date('2025-12-24T10:00:00Z'),
        inProgressUntil: null,
      },
    };
    expect(times((await ledger.describeJob('exp_mail_times')).mails)).toEqual(expected);
    const answer = await answerLedgerRequest(
      ledger,
      { op: 'job.describe', jobId: 'exp_mail_times' },
      { actions: false },
    );
    expect(times((ledgerResult(JSON.stringify(answer)) as JobDetail).mails)).toEqual(expected);
  });

  it('describes a job without a staging with none: an export, an import whose staging was dropped', async () => {
    await insertExport(db(), 'exp_no_staging', 'running', '2026-11-24T09:40:00Z');
    await insertStagedImport(db(), 'imp_dropped');
    // What the batch-worker does as the job completes or fails: its staging row and segments go.
    await db().query('SELECT drop_import_staging($1)', ['imp_dropped']);
    const ledger = new SqlLedger(db());
    expect((await ledger.describeJob('imp_dropped')).staging).toBeNull();
    expect((await ledger.describeJob('exp_no_staging')).staging).toBeNull();
  });

  it("pages a completed import's rejected rows by line, and answers none for a job without", async () => {
    await insertExport(db(), 'exp_no_rejects', 'succeeded', '2026-11-24T09:50:00Z');
    await insertStagedImport(db(), 'imp_rejects');
    await insertStagedImport(db(), 'imp_other_rejects');
    await db().query(`UPDATE jobs SET state = 'succeeded', rows_rejected = 5 WHERE id = 'imp_rejects'`);
    // Another job's rejected row at a line between: never on this job's pages.
    await db().query(
      `INSERT INTO import_rejected_rows (job_id, line, field, message)
       SELECT 'imp_rejects', line, 'email', 'is not a valid email address' FROM unnest(ARRAY[9, 3, 12, 4, 30]) AS line
       UNION ALL SELECT 'imp_other_rejects', 5, 'row', 'other job'`,
    );
    const ledger = new SqlLedger(db());
    const first = await ledger.listRejectedRows({ jobId: 'imp_rejects', limit: 2 });
    expect(first).toEqual({
      jobId: 'imp_rejects',
      state: 'succeeded',
      rowsRejected: 5,
      rows: [
        { line: 3, field: 'email', message: 'is not a valid email address' },
        { line: 4, field: 'email', message: 'is not a valid email address' },
      ],
      next: 4,
    });
    const second = await ledger.listRejectedRows({ jobId: 'imp_rejects', limit: 2, after: first.next ?? 0 });
    expect(second.rows.map((row) => row.line)).toEqual([9, 12]);
    const last = await ledger.listRejectedRows({ jobId: 'imp_rejects', limit: 2, after: second.next ?? 0 });
    expect(last).toMatchObject({ rows: [{ line: 30 }], next: null });
    // A running import (nothing rejected for good yet) and an export: no rows.
    await insertStagedImport(db(), 'imp_running_rejects');
    expect(await ledger.listRejectedRows({ jobId: 'imp_running_rejects' })).toEqual({
      jobId: 'imp_running_rejects',
      state: 'running',
      rowsRejected: null,
      rows: [],
      next: null,
    });
    expect(await ledger.listRejectedRows({ jobId: 'exp_no_rejects' })).toMatchObject({
      rows: [],
      next: null,
    });
    await expect(ledger.listRejectedRows({ jobId: 'imp_nope' })).rejects.toMatchObject({
      name: 'JobNotFoundError',
      field: 'jobId',
    });
    // Deleting the job deletes its rows.
    await db().query(`DELETE FROM jobs WHERE id = 'imp_rejects'`);
    expect(
      (await db().query(`SELECT count(*)::int AS n FROM import_rejected_rows WHERE job_id = 'imp_rejects'`))
        .rows,
    ).toEqual([{ n: 0 }]);
  });

  it("records an operator's reason holding a NUL, written \\u0000 (PostgreSQL text cannot hold one: 22021)", async () => {
    await insertExport(db(), 'exp_fail_nul', 'running', '2026-11-24T09:00:00Z');
    await new SqlLedger(db()).failJob('exp_fail_nul', 'pasted\u0000 from a log', 'local:alice');
    const { rows } = await db().query<{ error: string }>(`SELECT error FROM jobs WHERE id = 'exp_fail_nul'`);
    expect(rows).toEqual([{ error: 'pasted\\u0000 from a log' }]);
  });

  it('fails a running job as the operator, once', async () => {
    await insertExport(db(), 'exp_fail_1', 'running', '2026-11-24T09:00:00Z');
    const ledger = new SqlLedger(db());
    const failed = await ledger.failJob('exp_fail_1', 'worker task gone', 'local:alice');
    expect(failed).toMatchObject({
      jobId: 'exp_fail_1',
      kind: 'export',
      state: 'failed',
      attempt: 1,
      requestedBy: 'ops@example.com',
      // Registered without a locale: its failure mail says en, as its workflow's.
      locale: null,
    });
    await expect(ledger.failJob('exp_fail_1', 'again', 'local:alice')).rejects.toMatchObject({
      name: 'JobStateError',
      field: 'jobId',
    });
    const detail = await ledger.describeJob('exp_fail_1');
    expect(detail.transitions.at(-1)).toMatchObject({ event: 'fail', to: 'failed' });
  });

  // The claim's in-progress window is the claiming invocation's time (Powertools sets it to the
  // Lambda's deadline): before it ends the sender may still be sending, and a release would let a
  // redrive send the mail again while that send completes (its mark-sent then finding no record).
  it('refuses to release a mail whose send may still be running (its in-progress window not over), keeping the record', async () => {
    const key = 'export.failed:exp_still_sending';
    const until = Date.now() + 600_000;
    const recordId = await insertMailRecord(db(), key, 'INPROGRESS', until);
    await expect(new SqlLedger(db()).releaseMail(key)).rejects.toMatchObject({
      name: 'MailRecordNotReleasableError',
      field: 'idempotencyKey',
      status: 'INPROGRESS',
      inProgressUntil: new Date(until),
      message: `idempotencyKey: the mail record for "${key}" is INPROGRESS and its send may still be running until ${new Date(until).toISOString()} (the claiming invocation's deadline); release it after that`,
    });
    const { rows } = await db().query('SELECT id FROM idempotency_records WHERE id = $1', [recordId]);
    expect(rows).toEqual([{ id: recordId }]);
  });

  it('refuses to release a mail the dispatcher marked sent after the release read its record, and keeps the record', async () => {
    const key = 'export.failed:exp_sent_meanwhile';
    const recordId = await insertMailRecord(db(), key);
    // The dispatcher's mark-sent commits after the release read the record INPROGRESS, before its
    // delete: played inside the release's transaction, just before the delete.
    const racing = interleaved(db(), /^\s*DELETE FROM idempotency_records/, (tx) =>
      tx.query(`UPDATE idempotency_records SET status = 'COMPLETED' WHERE id = $1`, [recordId]),
    );
    await expect(new SqlLedger(racing.db).releaseMail(key)).rejects.toMatchObject({
      name: 'MailRecordNotReleasableError',
      field: 'idempotencyKey',
      // What the record is now, not "no mail record".
      status: 'COMPLETED',
    });
    expect(racing.played()).toBe(true);
    // Not deleted, so a redrive of the message replays the sent mail instead of sending it again.
    // (The refusal rolled back its transaction, the mark-sent played in it with it.)
    const { rows } = await db().query('SELECT id FROM idempotency_records WHERE id = $1', [recordId]);
    expect(rows).toEqual([{ id: recordId }]);
  });
});

/**
 * Hands failed export `jobId` (its execution `first`) over to its retry, `<jobId>-attempt-2`, as
 * `sidestep job retry` does; gives both execution ARNs.
 */
async function handOverToAttempt2(ledger: SqlLedger, jobId: string, operator = 'a') {
  const execution = (name: string) =>
    `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:${name}`;
  const first = execution('first');
  const retry = execution(`${jobId}-attempt-2`);
  await ledger.handOverJob({ jobId, fromExecutionArn: first, executionArn: retry, attempt: 2, operator });
  return { first, retry };
}

/** Takes back {@link handOverToAttempt2}'s hand-over of `jobId` (attempt 1 failed with `boom`), and describes the job. */
async function takeBackFromAttempt2(
  ledger: SqlLedger,
  jobId: string,
  { first, retry }: { first: string; retry: string },
) {
  await ledger.takeBackJob({
    jobId,
    executionArn: retry,
    previous: { executionArn: first, attempt: 1, error: 'boom' },
  });
  return ledger.describeJob(jobId);
}

describeEachDatabase('SqlLedger.countJobs', (open) => {
  const db = suiteDatabase(open);

  it('counts the jobs registered and running now however old, and those that finished in the last 24 h', async () => {
    const now = Date.now();
    const hoursAgo = (hours: number) => new Date(now - hours * 3_600_000).toISOString();
    /** A job in `state`, created 30 days ago, its row last changed `updated` and finished `finished` hours ago. */
    const job = (id: string, state: string, updated: number, finished: number | null = null) =>
      db().query(
        `INSERT INTO jobs (id, kind, state, request_id, created_at, updated_at, finished_at)
         VALUES ($1, 'export', $2, $1, $3, $4, $5)`,
        [id, state, hoursAgo(720), hoursAgo(updated), finished === null ? null : hoursAgo(finished)],
      );
    await job('exp_registered_long_ago', 'registered', 720);
    await job('exp_registered', 'registered', 1);
    await job('exp_running_long_ago', 'running', 700);
    await job('exp_succeeded_1h', 'succeeded', 1, 1);
    await job('exp_succeeded_25h', 'succeeded', 25, 25);
    await job('exp_failed_1h', 'failed', 1, 1);
    await job('exp_failed_23h', 'failed', 23, 23);
    await job('exp_failed_25h', 'failed', 25, 25);
    // Finished 25 h ago, its row written since (nothing of the ledger's does): not finished lately.
    await job('exp_failed_25h_touched', 'failed', 1, 25);
    // A finished row without finished_at (written by hand) finished when it last changed.
    await job('exp_failed_by_hand', 'failed', 2);

    expect(await new SqlLedger(db()).countJobs(new Date(now - 24 * 3_600_000))).toEqual({
      registered: 2,
      running: 1,
      succeeded24h: 1,
      failed24h: 3,
    });
  });
});

describeEachDatabase('SqlLedger retry hand-over', (open) => {
  const db = suiteDatabase(open);

  it('refuses a hand-over from an execution the job no longer failed under, saying so', async () => {
    await insertExport(db(), 'exp_stale', 'failed', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const { rows } = await db().query<{ execution_id: string }>(
      `SELECT execution_id FROM jobs WHERE id = 'exp_stale'`,
    );
    await expect(
      ledger.handOverJob({
        jobId: 'exp_stale',
        fromExecutionArn: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:older',
        executionArn: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:retry',
        attempt: 2,
        operator: 'local:alice',
      }),
    ).rejects.toMatchObject({
      name: 'JobStateError',
      field: 'jobId',
      message: `jobId: job exp_stale is failed, but it failed under execution ${rows[0]?.execution_id ?? '(none)'}, not the arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:older this retry read: retry it again`,
    });
  });

  it("hands a failed job to the retry's execution as attempt 2, whose mails are keyed apart, and takes it back", async () => {
    await insertExport(db(), 'exp_retry', 'failed', '2026-11-24T08:00:00Z');
    await db().query(`UPDATE jobs SET error = 'boom' WHERE id = 'exp_retry'`);
    const ledger = new SqlLedger(db());
    const { first, retry } = await handOverToAttempt2(ledger, 'exp_retry', 'local:alice');

    const detail = await ledger.describeJob('exp_retry');
    expect(detail).toMatchObject({ state: 'registered', attempt: 2, executionId: retry });
    // The register step the retry's execution replays: its mails are `<template>:exp_retry:2`.
    expect(detail.transitions.at(-1)?.data).toMatchObject({ output: { attemptKey: 'exp_retry:2' } });
    await expect(
      ledger.handOverJob({
        jobId: 'exp_retry',
        fromExecutionArn: first,
        executionArn: retry,
        attempt: 2,
        operator: 'x',
      }),
    ).rejects.toMatchObject({ name: 'JobStateError' });

    expect(await takeBackFromAttempt2(ledger, 'exp_retry', { first, retry })).toMatchObject({
      state: 'failed',
      attempt: 1,
      executionId: first,
      error: 'boom',
    });
  });

  it("takes back a hand-over with the whole failed row: row errors, counts, worker error, result, times, the sweeper's mail record", async () => {
    await insertExport(db(), 'exp_evidence', 'failed', '2026-11-24T08:00:00Z');
    await db().query(
      `UPDATE jobs SET error = 'boom', worker_error = 'disk full', worker_error_permanent = true, rows_total = 7, rows_imported = 5, rows_rejected = 2,
         row_errors = '[{"line":3,"field":"email","message":"not an email"}]', bytes = 99, result_key = 'exports/x',
         finished_at = '2026-11-24T08:30:00Z', swept_at = '2026-11-24T08:30:00Z',
         sweep_mail_refused_at = '2026-11-24T08:30:00Z', sweep_mail_error = 'payload.to: not a valid email'
         WHERE id = 'exp_evidence'`,
    );
    const columns =
      'state, attempt, execution_id, error, worker_error, worker_error_permanent, rows_total, rows_imported, rows_rejected, row_errors, bytes, result_key, started_at, finished_at, deadline_at, swept_at, sweep_mail_queued_at, sweep_mail_refused_at, sweep_mail_error';
    const row = async () =>
      (await db().query(`SELECT ${columns} FROM jobs WHERE id = 'exp_evidence'`)).rows[0];
    const before = await row();
    const ledger = new SqlLedger(db());
    const { first, retry } = await handOverToAttempt2(ledger, 'exp_evidence');
    expect(await row()).toMatchObject({
      state: 'registered',
      bytes: null,
      row_errors: null,
      worker_error: null,
      worker_error_permanent: null,
      swept_at: null,
      sweep_mail_refused_at: null,
      sweep_mail_error: null,
    });

    await ledger.takeBackJob({
      jobId: 'exp_evidence',
      executionArn: retry,
      previous: { executionArn: first, attempt: 1, error: 'boom' },
    });
    expect(await row()).toEqual(before);
    expect((await ledger.describeJob('exp_evidence')).transitions).toEqual([]);
  });

  it("gives the handed-over job a deadline for its execution to take it by, and the take-back puts back the failed row's, none or one", async () => {
    const deadline = async (jobId: string) =>
      (
        await db().query<{ deadline_at: Date | null; seconds: number | null }>(
          `SELECT deadline_at, extract(epoch FROM deadline_at - updated_at)::int AS seconds FROM jobs WHERE id = $1`,
          [jobId],
        )
      ).rows[0];
    await insertExport(db(), 'exp_deadline', 'failed', '2026-11-24T08:00:00Z');
    // A job failed before its start set it (its execution ended at RegisterJob) has none.
    await insertExport(db(), 'exp_no_deadline', 'failed', '2026-11-24T08:00:00Z');
    await db().query(`UPDATE jobs SET deadline_at = NULL WHERE id = 'exp_no_deadline'`);
    const ledger = new SqlLedger(db());
    for (const jobId of ['exp_deadline', 'exp_no_deadline']) {
      const before = await deadline(jobId);
      const { first, retry } = await handOverToAttempt2(ledger, jobId);
      // From the hand-over's own time: the job-sweeper fails it past this if its execution never takes it.
      expect(await deadline(jobId)).toMatchObject({ seconds: HAND_OVER_DEADLINE_SECONDS });
      await ledger.takeBackJob({
        jobId,
        executionArn: retry,
        previous: { executionArn: first, attempt: 1, error: null },
      });
      expect((await deadline(jobId))?.deadline_at).toEqual(before?.deadline_at);
    }
    expect((await deadline('exp_no_deadline'))?.deadline_at).toBeNull();
  });

  it("starts a retried export's attempt 2 with no progress of attempt 1, which a take-back restores", async () => {
    await insertExport(db(), 'exp_retry_progress', 'failed', '2026-11-24T08:00:00Z');
    const progress = {
      rows: 4_200_000,
      parts: 7,
      bytes: 58_720_256,
      updatedAt: new Date('2026-11-24T08:20:00Z'),
    };
    await db().query(
      `INSERT INTO export_progress (job_id, rows, parts, bytes, updated_at)
       VALUES ('exp_retry_progress', $1, $2, $3, $4)`,
      [progress.rows, progress.parts, progress.bytes, progress.updatedAt],
    );
    const ledger = new SqlLedger(db());
    expect((await ledger.describeJob('exp_retry_progress')).exportProgress).toEqual(progress);

    const handOver = await handOverToAttempt2(ledger, 'exp_retry_progress');
    // Attempt 2 has read no row yet: attempt 1's count would be told as its own.
    expect(await ledger.describeJob('exp_retry_progress')).toMatchObject({
      state: 'registered',
      attempt: 2,
      exportProgress: null,
    });

    expect(await takeBackFromAttempt2(ledger, 'exp_retry_progress', handOver)).toMatchObject({
      state: 'failed',
      attempt: 1,
      exportProgress: progress,
    });
  });

  it("keeps the job's locale through a hand-over and its take-back, and job fail answers it for the failure mail", async () => {
    await insertExport(db(), 'exp_ja', 'failed', '2026-11-24T08:00:00Z');
    await db().query(`UPDATE jobs SET error = 'boom', locale = 'ja' WHERE id = 'exp_ja'`);
    const locale = async () =>
      (await db().query<{ locale: string | null }>(`SELECT locale FROM jobs WHERE id = 'exp_ja'`)).rows[0]
        ?.locale;
    const ledger = new SqlLedger(db());
    const { first, retry } = await handOverToAttempt2(ledger, 'exp_ja');
    const handedOver = await locale();
    await ledger.takeBackJob({
      jobId: 'exp_ja',
      executionArn: retry,
      previous: { executionArn: first, attempt: 1, error: 'boom' },
    });
    const takenBack = await locale();
    await handOverToAttempt2(ledger, 'exp_ja');
    const failed = await ledger.failJob('exp_ja', 'retry stuck', 'local:alice');
    expect([handedOver, takenBack, failed.locale]).toEqual(['ja', 'ja', 'ja']);
  });

  it("keeps a retried import's source size (bytes) through the hand-over, which an export's result size is not", async () => {
    await insertStagedImport(db(), 'imp_retry_bytes');
    const execution = (name: string) =>
      `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:${name}`;
    await db().query(
      `UPDATE jobs SET state = 'failed', execution_id = $2, bytes = 580280729, error = 'boom' WHERE id = $1`,
      ['imp_retry_bytes', execution('first')],
    );
    await new SqlLedger(db()).handOverJob({
      jobId: 'imp_retry_bytes',
      fromExecutionArn: execution('first'),
      executionArn: execution('imp_retry_bytes-attempt-2'),
      attempt: 2,
      operator: 'local:alice',
    });
    const { rows } = await db().query<{ state: string; bytes: string | null }>(
      `SELECT state, bytes FROM jobs WHERE id = 'imp_retry_bytes'`,
    );
    expect(rows).toEqual([{ state: 'registered', bytes: '580280729' }]);
  });

  it("keeps attempt 1's transitions when it takes a hand-over back, deleting only the retry's", async () => {
    await insertExport(db(), 'exp_trail', 'failed', '2026-11-24T08:00:00Z');
    // Attempt 1's audit trail, under the execution the job failed under.
    await db().query(
      `INSERT INTO job_transitions (job_id, event, from_state, to_state, execution_id)
       SELECT id, step.event, step.from_state, step.to_state, execution_id FROM jobs,
         (VALUES (1, 'register', NULL, 'registered'), (2, 'start', 'registered', 'running'),
                 (3, 'fail', 'running', 'failed')) AS step (n, event, from_state, to_state)
       WHERE id = 'exp_trail' ORDER BY step.n`,
    );
    const ledger = new SqlLedger(db());
    const trail = async () =>
      (await ledger.describeJob('exp_trail')).transitions.map(({ event, executionId }) => ({
        event,
        executionId,
      }));
    const before = await trail();
    const { first, retry } = await handOverToAttempt2(ledger, 'exp_trail');
    expect(await trail()).toEqual([...before, { event: 'register', executionId: retry }]);
    await ledger.takeBackJob({
      jobId: 'exp_trail',
      executionArn: retry,
      previous: { executionArn: first, attempt: 1, error: null },
    });
    expect(before.map((step) => step.event)).toEqual(['register', 'start', 'fail']);
    expect(await trail()).toEqual(before);
  });

  it('ignores a take-back delivered late, after the job was handed to a newer retry: that retry keeps it', async () => {
    await insertExport(db(), 'exp_late_back', 'failed', '2026-11-24T08:00:00Z');
    await db().query(`UPDATE jobs SET error = 'boom' WHERE id = 'exp_late_back'`);
    const ledger = new SqlLedger(db());
    const { first, retry } = await handOverToAttempt2(ledger, 'exp_late_back');
    const takeBack = {
      jobId: 'exp_late_back',
      executionArn: retry,
      previous: { executionArn: first, attempt: 1, error: 'boom' },
    };
    await ledger.takeBackJob(takeBack);
    // The operator retries again: another execution, attempt 2 again.
    const newer = `${retry}-again`;
    await ledger.handOverJob({
      jobId: 'exp_late_back',
      fromExecutionArn: first,
      executionArn: newer,
      attempt: 2,
      operator: 'local:alice',
    });
    // The first take-back again (a duplicate Invoke answered late): the job is not the first retry's.
    await ledger.takeBackJob(takeBack);
    expect(await ledger.describeJob('exp_late_back')).toMatchObject({
      state: 'registered',
      attempt: 2,
      executionId: newer,
      error: null,
      transitions: [{ event: 'register', executionId: newer }],
    });
  });

  it("does not take back a job the retry's execution has already started", async () => {
    await insertExport(db(), 'exp_started', 'failed', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const { first, retry } = await handOverToAttempt2(ledger, 'exp_started');
    await db().query(`UPDATE jobs SET state = 'running' WHERE id = 'exp_started'`);
    await ledger.takeBackJob({
      jobId: 'exp_started',
      executionArn: retry,
      previous: { executionArn: first, attempt: 1, error: null },
    });
    expect(await ledger.describeJob('exp_started')).toMatchObject({
      state: 'running',
      attempt: 2,
      executionId: retry,
    });
  });
});

describeEachDatabase('SqlLedger redrive claim', (open) => {
  const db = suiteDatabase(open);
  const execution = (name: string) =>
    `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:${name}`;
  const handOver = (ledger: SqlLedger, jobId: string, fromRedriveCount?: number) =>
    ledger.handOverJob({
      jobId,
      fromExecutionArn: execution('first'),
      executionArn: execution(`${jobId}-attempt-2`),
      attempt: 2,
      operator: 'local:bob',
      ...(fromRedriveCount === undefined ? {} : { fromRedriveCount }),
    });

  it('refuses a hand-over from the execution a redrive claimed, by a retry that looked before that redrive ran, naming jobId', async () => {
    await insertExport(db(), 'exp_claimed', 'failed', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_claimed', executionArn: execution('first'), redriveCount: 1 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice' });
    for (const seen of [undefined, 0, 1]) {
      await expect(handOver(ledger, 'exp_claimed', seen)).rejects.toMatchObject({
        name: 'JobStateError',
        field: 'jobId',
        message: expect.stringContaining(`a redrive of ${execution('first')} (its redrive 2) claimed it`),
      });
    }
    expect(await ledger.describeJob('exp_claimed')).toMatchObject({ state: 'failed', attempt: 1 });
    // A retry that saw the claimed redrive counted (it ran, and ended again) hands the job over.
    await handOver(ledger, 'exp_claimed', 2);
    expect(await ledger.describeJob('exp_claimed')).toMatchObject({
      state: 'registered',
      executionId: execution('exp_claimed-attempt-2'),
    });
  });

  it('withdraws a claim its refused redrive releases, so a retry hands the job over', async () => {
    await insertExport(db(), 'exp_released', 'failed', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_released', executionArn: execution('first'), redriveCount: 0 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice' });
    await ledger.releaseRedrive(claim);
    await handOver(ledger, 'exp_released', 0);
    expect(await ledger.describeJob('exp_released')).toMatchObject({ state: 'registered', attempt: 2 });
  });

  it("answers the execution's redrive count after its latest claimed redrive, 0 with none or once released", async () => {
    await insertExport(db(), 'exp_latest', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const latest = () => latestRedriveCount(db(), 'exp_latest', execution('first'));
    expect(await latest()).toBe(0);
    await ledger.claimRedrive({
      jobId: 'exp_latest',
      executionArn: execution('first'),
      redriveCount: 0,
      operator: 'local:alice',
    });
    expect(await latest()).toBe(1);
    const second = { jobId: 'exp_latest', executionArn: execution('first'), redriveCount: 1 };
    await ledger.claimRedrive({ ...second, operator: 'local:alice' });
    expect(await latest()).toBe(2);
    // Another execution's claims are not this one's.
    expect(await latestRedriveCount(db(), 'exp_latest', execution('other'))).toBe(0);
    await ledger.releaseRedrive(second);
    expect(await latest()).toBe(1);
  });

  // A redrive does not rerun the steps that succeeded (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html):
  // its StartJob, which set the job's deadline, is not run again, and the deadline sweep would fail
  // the redrive's job at the deadline of the job's start, passed already or hours too soon.
  /** The claims of job `jobId`: each one's count and the deadline it set, if it did. */
  async function claims(jobId: string) {
    const { rows } = await db().query<{ data: { redrive: Record<string, unknown> } }>(
      `SELECT data FROM job_transitions WHERE job_id = $1 AND event = 'redrive' ORDER BY id`,
      [jobId],
    );
    return rows.map((row) => row.data.redrive);
  }
  /** Job `jobId`'s deadline, after `claim` ran, as the database's clock set it around the claim. */
  async function deadlineAround(jobId: string, claim: () => Promise<void>) {
    const clock = async () => (await db().query<{ now: Date }>('SELECT now() AS now')).rows[0]?.now as Date;
    const before = await clock();
    await claim();
    const after = await clock();
    const { deadlineAt } = await new SqlLedger(db()).describeJob(jobId);
    return { before, after, deadlineAt: deadlineAt as Date };
  }
  /** `seconds` after the claim's time, as the database's clock had it around the claim. */
  function expectSecondsAfter(claimed: { before: Date; after: Date; deadlineAt: Date }, seconds: number) {
    expect(claimed.deadlineAt.getTime()).toBeGreaterThanOrEqual(claimed.before.getTime() + seconds * 1000);
    expect(claimed.deadlineAt.getTime()).toBeLessThanOrEqual(claimed.after.getTime() + seconds * 1000);
  }

  it("sets a running job's deadline anew when a redrive claims it, as long after the claim as its start set it, and records it on the claim", async () => {
    // Started 2026-11-24 08:00 with a deadline an hour later: long passed, the job still running.
    await insertExport(db(), 'exp_deadline', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const first = { jobId: 'exp_deadline', executionArn: execution('first'), operator: 'local:alice' };
    const claimed = await deadlineAround('exp_deadline', () =>
      ledger.claimRedrive({ ...first, redriveCount: 0 }),
    );
    expectSecondsAfter(claimed, 3600);
    expect(await claims('exp_deadline')).toEqual([
      {
        redriveCount: 0,
        operator: 'local:alice',
        deadline: {
          previous: '2026-11-24T09:00:00.000Z',
          deadlineAt: claimed.deadlineAt.toISOString(),
          seconds: 3600,
        },
      },
    ]);
    // A duplicate of the claim changes nothing; the next redrive's claim keeps the start's span (an
    // hour), not the time from the start to the deadline the first claim set.
    await ledger.claimRedrive({ ...first, redriveCount: 0 });
    expect((await ledger.describeJob('exp_deadline')).deadlineAt).toEqual(claimed.deadlineAt);
    const second = await deadlineAround('exp_deadline', () =>
      ledger.claimRedrive({ ...first, redriveCount: 1 }),
    );
    expectSecondsAfter(second, 3600);
    expect((await claims('exp_deadline')).map((claim) => claim.deadline)).toEqual([
      expect.objectContaining({ seconds: 3600 }),
      undefined,
      {
        previous: claimed.deadlineAt.toISOString(),
        deadlineAt: second.deadlineAt.toISOString(),
        seconds: 3600,
      },
    ]);
  });

  it("gives a running job without a start's deadline the deadline a start without deadlineSeconds sets", async () => {
    await insertExport(db(), 'exp_no_deadline', 'running', '2026-11-24T08:00:00Z');
    await db().query(`UPDATE jobs SET started_at = NULL, deadline_at = NULL WHERE id = 'exp_no_deadline'`);
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_no_deadline', executionArn: execution('first'), redriveCount: 0 };
    const claimed = await deadlineAround('exp_no_deadline', () =>
      ledger.claimRedrive({ ...claim, operator: 'local:alice' }),
    );
    const seconds = JOB_DEADLINE_SECONDS.export;
    expectSecondsAfter(claimed, seconds);
    expect((await claims('exp_no_deadline'))[0]?.deadline).toEqual({
      previous: null,
      deadlineAt: claimed.deadlineAt.toISOString(),
      seconds,
    });
  });

  it('leaves the deadline of a job not running (failed, registered) as it is', async () => {
    for (const state of ['failed', 'registered']) {
      const jobId = `exp_claim_${state}`;
      await insertExport(db(), jobId, state, '2026-11-24T08:00:00Z');
      const ledger = new SqlLedger(db());
      await ledger.claimRedrive({
        jobId,
        executionArn: execution('first'),
        redriveCount: 0,
        operator: 'local:alice',
      });
      expect((await ledger.describeJob(jobId)).deadlineAt).toEqual(new Date('2026-11-24T09:00:00Z'));
      expect(await claims(jobId)).toEqual([{ redriveCount: 0, operator: 'local:alice' }]);
    }
  });

  // ops' Lambda ledger sends a release again when its answer is lost, and Lambda may run one Invoke
  // twice (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html): a copy of a release
  // can land after the operator's next redrive of the execution claimed the job at the same count.
  it('releases only the claim its redrive made: a copy of a release landing after a new claim of the same count leaves that claim and its deadline', async () => {
    await insertExport(db(), 'exp_release_copy', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_release_copy', executionArn: execution('first'), redriveCount: 0 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice', requestId: 'claim-a' });
    const releaseA = { ...claim, claimRequestId: 'claim-a' };
    await ledger.releaseRedrive(releaseA);
    await ledger.claimRedrive({ ...claim, operator: 'local:alice', requestId: 'claim-b' });
    const { deadlineAt } = await ledger.describeJob('exp_release_copy');
    await ledger.releaseRedrive(releaseA);
    expect(await claims('exp_release_copy')).toEqual([
      expect.objectContaining({ redriveCount: 0, requestId: 'claim-b' }),
    ]);
    expect((await ledger.describeJob('exp_release_copy')).deadlineAt).toEqual(deadlineAt);
    expect(deadlineAt).not.toEqual(new Date('2026-11-24T09:00:00Z'));
  });

  it('changes nothing more than once for a release delivered twice at once, of a claim delivered twice', async () => {
    await insertExport(db(), 'exp_release_at_once', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_release_at_once', executionArn: execution('first'), redriveCount: 0 };
    const claimA = { ...claim, operator: 'local:alice', requestId: 'claim-a' };
    await ledger.claimRedrive(claimA);
    await ledger.claimRedrive(claimA);
    const releaseA = { ...claim, claimRequestId: 'claim-a' };
    await Promise.all([ledger.releaseRedrive(releaseA), ledger.releaseRedrive(releaseA)]);
    expect(await claims('exp_release_at_once')).toEqual([]);
    expect((await ledger.describeJob('exp_release_at_once')).deadlineAt).toEqual(
      new Date('2026-11-24T09:00:00Z'),
    );
    await ledger.claimRedrive({ ...claimA, requestId: 'claim-b' });
    const { deadlineAt } = await ledger.describeJob('exp_release_at_once');
    await Promise.all([ledger.releaseRedrive(releaseA), ledger.releaseRedrive(releaseA)]);
    expect(await claims('exp_release_at_once')).toHaveLength(1);
    expect((await ledger.describeJob('exp_release_at_once')).deadlineAt).toEqual(deadlineAt);
  });

  it('keeps the deadline a released claim set while another claim of its count stands: that redrive may run', async () => {
    await insertExport(db(), 'exp_release_other', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_release_other', executionArn: execution('first'), redriveCount: 0 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice', requestId: 'claim-a' });
    await ledger.claimRedrive({ ...claim, operator: 'local:bob', requestId: 'claim-b' });
    const { deadlineAt } = await ledger.describeJob('exp_release_other');
    await ledger.releaseRedrive({ ...claim, claimRequestId: 'claim-a' });
    expect(await claims('exp_release_other')).toEqual([expect.objectContaining({ requestId: 'claim-b' })]);
    expect((await ledger.describeJob('exp_release_other')).deadlineAt).toEqual(deadlineAt);
  });

  // An ops from before claims carried their request's id sends neither id: its release withdraws
  // only claims recorded without one, never a newer ops' claim.
  it("withdraws, for a release without the claim's request id, only claims recorded without one", async () => {
    await insertExport(db(), 'exp_release_old', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_release_old', executionArn: execution('first'), redriveCount: 0 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice' });
    await ledger.releaseRedrive(claim);
    expect(await claims('exp_release_old')).toEqual([]);
    await ledger.claimRedrive({ ...claim, operator: 'local:alice', requestId: 'claim-b' });
    await ledger.releaseRedrive(claim);
    expect(await claims('exp_release_old')).toEqual([expect.objectContaining({ requestId: 'claim-b' })]);
  });

  // A released claim is a redrive that did not run: nothing runs the job, and the claim's deadline
  // would keep it `running` (and its failure unmailed) for another span of its start.
  it('puts back the deadline a released claim replaced, the one before its duplicates too', async () => {
    await insertExport(db(), 'exp_deadline_released', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_deadline_released', executionArn: execution('first'), redriveCount: 0 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice' });
    await ledger.claimRedrive({ ...claim, operator: 'local:alice' });
    await ledger.releaseRedrive(claim);
    expect((await ledger.describeJob('exp_deadline_released')).deadlineAt).toEqual(
      new Date('2026-11-24T09:00:00Z'),
    );
    expect(await claims('exp_deadline_released')).toEqual([]);
  });

  it('keeps a deadline set since the released claim set its own (a later start), and a released claim of a job no longer running', async () => {
    await insertExport(db(), 'exp_deadline_moved', 'running', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    const claim = { jobId: 'exp_deadline_moved', executionArn: execution('first'), redriveCount: 0 };
    await ledger.claimRedrive({ ...claim, operator: 'local:alice' });
    const moved = new Date('2027-01-01T00:00:00Z');
    await db().query(`UPDATE jobs SET deadline_at = $1 WHERE id = 'exp_deadline_moved'`, [moved]);
    await ledger.releaseRedrive(claim);
    expect((await ledger.describeJob('exp_deadline_moved')).deadlineAt).toEqual(moved);

    await insertExport(db(), 'exp_deadline_ended', 'running', '2026-11-24T08:00:00Z');
    const ended = { ...claim, jobId: 'exp_deadline_ended' };
    await ledger.claimRedrive({ ...ended, operator: 'local:alice' });
    const { deadlineAt } = await ledger.describeJob('exp_deadline_ended');
    await db().query(`UPDATE jobs SET state = 'failed' WHERE id = 'exp_deadline_ended'`);
    await ledger.releaseRedrive(ended);
    expect((await ledger.describeJob('exp_deadline_ended')).deadlineAt).toEqual(deadlineAt);
  });

  it('refuses a redrive claim of an execution the job was handed over from, naming jobId, and records none', async () => {
    await insertExport(db(), 'exp_handed', 'failed', '2026-11-24T08:00:00Z');
    const ledger = new SqlLedger(db());
    await handOver(ledger, 'exp_handed', 0);
    await expect(
      ledger.claimRedrive({
        jobId: 'exp_handed',
        executionArn: execution('first'),
        redriveCount: 0,
        operator: 'local:alice',
      }),
    ).rejects.toMatchObject({
      name: 'JobStateError',
      field: 'jobId',
      message: expect.stringContaining(`it was retried as ${execution('exp_handed-attempt-2')} (attempt 2)`),
    });
    const { rows } = await db().query(
      `SELECT 1 FROM job_transitions WHERE job_id = 'exp_handed' AND event = 'redrive'`,
    );
    expect(rows).toHaveLength(0);
  });
});

describeEachDatabase('answerLedgerRequest', (open) => {
  const db = suiteDatabase(open);

  it('answers a query, and an action only through the actions alias', async () => {
    const ledger = new SqlLedger(db());
    const entry = {
      operator: 'arn:aws:sts::1:assumed-role/operator/alice',
      environment: 'staging',
      action: 'job-fail',
      target: 'exp_1',
      details: { reason: 'gone' },
      result: 'ok',
      error: null,
    };
    const refused = await answerLedgerRequest(ledger, { op: 'audit.append', entry }, { actions: false });
    expect(refused).toMatchObject({ ok: false, error: { name: 'LedgerRequestError', field: 'op' } });
    expect(await answerLedgerRequest(ledger, { op: 'audit.append', entry }, { actions: true })).toEqual({
      ok: true,
      result: null,
    });
    const answer = await answerLedgerRequest(ledger, { op: 'audit.list' }, { actions: false });
    // Through the wire as the Lambda adapter reads it: the dates come back as dates.
    const [listed] = ledgerResult(JSON.stringify(answer)) as { at: Date; operator: string }[];
    expect(listed?.operator).toBe(entry.operator);
    expect(listed?.at).toBeInstanceOf(Date);
  });

  it("answers a job's staging with its date, which the Lambda adapter's decoding revives", async () => {
    await insertStagedImport(db(), 'imp_wire');
    const answer = await answerLedgerRequest(
      new SqlLedger(db()),
      { op: 'job.describe', jobId: 'imp_wire' },
      { actions: false },
    );
    const { staging } = ledgerResult(JSON.stringify(answer)) as JobDetail;
    expect(staging).toEqual(sampleImportStaging());
    expect(staging?.updatedAt).toBeInstanceOf(Date);
  });

  it("answers an import's rejected rows page by page, and refuses a page that is not one", async () => {
    await insertStagedImport(db(), 'imp_wire_rejects');
    await db().query(
      `INSERT INTO import_rejected_rows (job_id, line, field, message) VALUES ('imp_wire_rejects', 2, 'external_id', 'is empty')`,
    );
    const ledger = new SqlLedger(db());
    const answer = await answerLedgerRequest(
      ledger,
      { op: 'job.rejected-rows', jobId: 'imp_wire_rejects' },
      { actions: false },
    );
    expect(ledgerResult(JSON.stringify(answer))).toMatchObject({
      rows: [{ line: 2, field: 'external_id', message: 'is empty' }],
      next: null,
    });
    for (const [request, field] of [
      [{ op: 'job.rejected-rows', jobId: 'imp_wire_rejects', limit: 501 }, 'limit'],
      [{ op: 'job.rejected-rows', jobId: 'imp_wire_rejects', after: -1 }, 'after'],
      [{ op: 'job.rejected-rows' }, 'jobId'],
    ] as const) {
      expect(await answerLedgerRequest(ledger, request, { actions: false })).toMatchObject({
        ok: false,
        error: { name: 'LedgerRequestError', field },
      });
    }
  });

  it('answers a bad field and a missing job as named errors, not thrown', async () => {
    const ledger = new SqlLedger(db());
    expect(
      await answerLedgerRequest(ledger, { op: 'jobs.list', status: 'lost' }, { actions: false }),
    ).toMatchObject({
      ok: false,
      error: { name: 'LedgerRequestError', field: 'status' },
    });
    const missing = await answerLedgerRequest(
      ledger,
      { op: 'job.describe', jobId: 'imp_nope' },
      { actions: false },
    );
    expect(() => ledgerResult(JSON.stringify(missing))).toThrow(
      expect.objectContaining({ name: 'JobNotFoundError', field: 'jobId' }),
    );
  });
});

// A synchronous Invoke whose answer is lost (a reset connection, the client's socket timeout) is sent
// again by the SDK, and the function runs the same request twice: "your function may be invoked
// multiple times" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html,
// https://repost.aws/knowledge-center/lambda-function-retry-timeout-sdk). Each action answers its
// duplicate as it answered the first, and changes the ledger once.
describeEachDatabase('answerLedgerRequest, an action delivered twice (a duplicate Invoke)', (open) => {
  const db = suiteDatabase(open);
  const twice = async (request: Record<string, unknown>) => {
    const ledger = new SqlLedger(db(), { notifyAddress: 'ops@example.com' });
    const first = await answerLedgerRequest(ledger, request, { actions: true });
    return { first, second: await answerLedgerRequest(ledger, request, { actions: true }) };
  };
  const execution = (name: string) =>
    `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:${name}`;
  const transitions = async (jobId: string) =>
    (
      await db().query<{ event: string; execution_id: string }>(
        'SELECT event, execution_id FROM job_transitions WHERE job_id = $1 ORDER BY id',
        [jobId],
      )
    ).rows;

  /** `sidestep job retry`'s hand-over of failed export `jobId` from `first` to attempt 2. */
  const handOverRequest = (jobId: string) => ({
    op: 'job.hand-over',
    jobId,
    fromExecutionArn: execution('first'),
    executionArn: execution(`${jobId}-attempt-2`),
    attempt: 2,
    operator: 'arn:aws:sts::1:assumed-role/operator/alice',
  });

  it('answers a hand-over delivered twice as the first, and hands the job over once', async () => {
    await insertExport(db(), 'exp_twice_hand', 'failed', '2026-11-24T08:00:00Z');
    const handOver = handOverRequest('exp_twice_hand');
    const { first, second } = await twice(handOver);
    expect(first).toEqual({ ok: true, result: null });
    expect(second).toEqual(first);
    expect(await new SqlLedger(db()).describeJob('exp_twice_hand')).toMatchObject({
      state: 'registered',
      attempt: 2,
      executionId: handOver.executionArn,
    });
    expect(await transitions('exp_twice_hand')).toEqual([
      { event: 'register', execution_id: handOver.executionArn },
    ]);
    // Not a duplicate: another operator's, another attempt's or another previous owner's hand-over.
    for (const other of [
      { operator: 'arn:aws:sts::1:assumed-role/operator/bob' },
      { attempt: 3 },
      { fromExecutionArn: execution('other') },
    ]) {
      expect(
        await answerLedgerRequest(new SqlLedger(db()), { ...handOver, ...other }, { actions: true }),
      ).toMatchObject({ ok: false, error: { name: 'JobStateError', field: 'jobId' } });
    }
  });

  it("leaves a hand-over's deadline as the first delivery set it when the hand-over is delivered again", async () => {
    await insertExport(db(), 'exp_twice_deadline', 'failed', '2026-11-24T08:00:00Z');
    const handOver = handOverRequest('exp_twice_deadline');
    const deadline = async () =>
      (
        await db().query<{ deadline_at: Date | null }>(
          `SELECT deadline_at FROM jobs WHERE id = 'exp_twice_deadline'`,
        )
      ).rows[0]?.deadline_at;
    const ledger = new SqlLedger(db());
    expect(await answerLedgerRequest(ledger, handOver, { actions: true })).toEqual({
      ok: true,
      result: null,
    });
    expect(await deadline()).toBeInstanceOf(Date);
    // Marked, so a duplicate that set the deadline again (to its own now) would show.
    const marked = new Date('2026-11-24T09:00:00Z');
    await db().query(`UPDATE jobs SET deadline_at = $1 WHERE id = 'exp_twice_deadline'`, [marked]);
    expect(await answerLedgerRequest(ledger, handOver, { actions: true })).toEqual({
      ok: true,
      result: null,
    });
    expect(await deadline()).toEqual(marked);
  });

  it('answers a redrive claim delivered twice as the first, and the retry it refuses, through the wire, as JobStateError', async () => {
    await insertExport(db(), 'exp_twice_claim', 'failed', '2026-11-24T08:00:00Z');
    const answered = { ok: true, result: null };
    expect(
      await twice({
        op: 'job.claim-redrive',
        jobId: 'exp_twice_claim',
        executionArn: execution('first'),
        redriveCount: 0,
        operator: 'arn:aws:sts::1:assumed-role/operator/alice',
      }),
    ).toEqual({ first: answered, second: answered });
    const handOver = {
      op: 'job.hand-over',
      jobId: 'exp_twice_claim',
      fromExecutionArn: execution('first'),
      executionArn: execution('exp_twice_claim-attempt-2'),
      attempt: 2,
      operator: 'arn:aws:sts::1:assumed-role/operator/bob',
      fromRedriveCount: 0,
    };
    expect(await answerLedgerRequest(new SqlLedger(db()), handOver, { actions: true })).toMatchObject({
      ok: false,
      error: { name: 'JobStateError', field: 'jobId' },
    });
    const release = {
      op: 'job.release-redrive',
      jobId: 'exp_twice_claim',
      executionArn: execution('first'),
      redriveCount: 0,
    };
    expect(await answerLedgerRequest(new SqlLedger(db()), release, { actions: true })).toEqual({
      ok: true,
      result: null,
    });
    expect(await answerLedgerRequest(new SqlLedger(db()), handOver, { actions: true })).toEqual({
      ok: true,
      result: null,
    });
  });

  it('answers a fail delivered twice with the recorded result, so the failure mail is still queued', async () => {
    await insertExport(db(), 'exp_twice_fail', 'running', '2026-11-24T08:00:00Z');
    const fail = {
      op: 'job.fail',
      jobId: 'exp_twice_fail',
      reason: 'worker task gone',
      operator: 'arn:aws:sts::1:assumed-role/operator/alice',
    };
    const { first, second } = await twice(fail);
    expect(first).toEqual({
      ok: true,
      result: {
        jobId: 'exp_twice_fail',
        kind: 'export',
        state: 'failed',
        reason: 'worker task gone',
        attempt: 1,
        fileName: 'exp_twice_fail',
        requestedBy: 'ops@example.com',
        locale: null,
        recipient: 'ops@example.com',
      },
    });
    expect(second).toEqual(first);
    expect(await transitions('exp_twice_fail')).toEqual([
      { event: 'fail', execution_id: `operator:${fail.operator}` },
    ]);
    // Not a duplicate: another reason, another operator.
    for (const other of [
      { reason: 'something else' },
      { operator: 'arn:aws:sts::1:assumed-role/operator/bob' },
    ]) {
      expect(
        await answerLedgerRequest(new SqlLedger(db()), { ...fail, ...other }, { actions: true }),
      ).toMatchObject({ ok: false, error: { name: 'JobStateError', field: 'jobId' } });
    }
  });

  // A redrive claim (claimRedrive, a `redrive` transition) may land between a fail or a hand-over and
  // its duplicate Invoke (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html): the
  // duplicate still answers as the first did, the claim kept in the job's history.
  it.each([
    [
      'a fail',
      'running',
      {
        op: 'job.fail',
        reason: 'worker task gone',
        operator: 'arn:aws:sts::1:assumed-role/operator/alice',
      },
      () => execution('first'),
      'fail',
    ],
    [
      'a hand-over',
      'failed',
      {
        op: 'job.hand-over',
        fromExecutionArn: execution('first'),
        attempt: 2,
        operator: 'arn:aws:sts::1:assumed-role/operator/alice',
      },
      (jobId: string) => execution(`${jobId}-attempt-2`),
      'register',
    ],
  ] as const)(
    'answers %s delivered again after a redrive claim of the job as the first',
    async (_, state, action, owner, event) => {
      const jobId = `exp_twice_claimed_${event}`;
      await insertExport(db(), jobId, state, '2026-11-24T08:00:00Z');
      const request = {
        ...action,
        jobId,
        ...(event === 'register' ? { executionArn: owner(jobId) } : {}),
      };
      const ledger = new SqlLedger(db(), { notifyAddress: 'ops@example.com' });
      const first = await answerLedgerRequest(ledger, request, { actions: true });
      expect(first).toMatchObject({ ok: true });
      const claim = {
        op: 'job.claim-redrive',
        jobId,
        executionArn: owner(jobId),
        redriveCount: 0,
        operator: 'arn:aws:sts::1:assumed-role/operator/bob',
      };
      expect(await answerLedgerRequest(ledger, claim, { actions: true })).toEqual({ ok: true, result: null });
      expect(await answerLedgerRequest(ledger, request, { actions: true })).toEqual(first);
      expect((await transitions(jobId)).map((transition) => transition.event)).toEqual([event, 'redrive']);
    },
  );

  it('answers a take-back delivered twice as the first, and restores the failed row once', async () => {
    await insertExport(db(), 'exp_twice_back', 'failed', '2026-11-24T08:00:00Z');
    await db().query(`UPDATE jobs SET error = 'boom' WHERE id = 'exp_twice_back'`);
    const { first: from, retry } = await handOverToAttempt2(new SqlLedger(db()), 'exp_twice_back');
    const { first, second } = await twice({
      op: 'job.take-back',
      jobId: 'exp_twice_back',
      executionArn: retry,
      previous: { executionArn: from, attempt: 1, error: 'boom' },
    });
    expect(first).toEqual({ ok: true, result: null });
    expect(second).toEqual(first);
    expect(await new SqlLedger(db()).describeJob('exp_twice_back')).toMatchObject({
      state: 'failed',
      attempt: 1,
      executionId: from,
      error: 'boom',
      transitions: [],
    });
  });

  it('appends an audit entry delivered twice once, by the request id its details carry', async () => {
    const entry = (requestId: string) => ({
      operator: 'arn:aws:sts::1:assumed-role/operator/alice',
      environment: 'staging',
      action: 'job-fail',
      target: 'exp_twice_audit',
      details: { reason: 'gone', auditRequestId: requestId },
      result: 'ok',
      error: null,
    });
    const { first, second } = await twice({ op: 'audit.append', entry: entry('req-1') });
    expect(first).toEqual({ ok: true, result: null });
    expect(second).toEqual(first);
    // Another request with the same entry (the operator did it again) is its own row.
    await twice({ op: 'audit.append', entry: entry('req-2') });
    // Two copies at once, each on its own ledger (connection), append one entry.
    const append = { op: 'audit.append', entry: entry('req-3') };
    const copies = await Promise.all(
      [1, 2].map(() => answerLedgerRequest(new SqlLedger(db()), append, { actions: true })),
    );
    expect(copies).toEqual([first, first]);
    // The id is unique in the trail (migration 13's index), not only among the recent entries.
    await db().query(
      `UPDATE operator_audit SET at = now() - interval '2 days' WHERE target = 'exp_twice_audit'`,
    );
    await twice({ op: 'audit.append', entry: entry('req-1') });
    const { rows } = await db().query<{ id: string }>(
      `SELECT details->>'auditRequestId' AS id FROM operator_audit WHERE target = 'exp_twice_audit' ORDER BY id`,
    );
    expect(rows).toEqual([{ id: 'req-1' }, { id: 'req-2' }, { id: 'req-3' }]);
    // An entry without an id (the direct ledger's) is always appended.
    const unnamed = { ...entry('x'), details: { reason: 'gone' }, target: 'exp_twice_unnamed' };
    await twice({ op: 'audit.append', entry: unnamed });
    expect(
      (await db().query(`SELECT 1 FROM operator_audit WHERE target = 'exp_twice_unnamed'`)).rows,
    ).toHaveLength(2);
  });

  it('answers a mail release delivered twice (its request id) as the first, and refuses another release', async () => {
    const key = 'export.failed:exp_twice_mail:1';
    const hash = idempotencyRecordHash(key);
    const recordId = `sidestep-local-mail-dispatcher#${hash}`;
    /** The dispatcher claims the key and is cut before marking the mail sent. */
    const claimCut = () => insertMailRecord(db(), key);
    const release = (requestId?: string) => ({
      op: 'mail.release',
      idempotencyKey: key,
      ...(requestId === undefined ? {} : { requestId }),
    });
    const released = {
      ok: true,
      result: { idempotencyKey: key, recordId, released: 'deleted INPROGRESS record' },
    };
    const notReleasable = {
      ok: false,
      error: { name: 'MailRecordNotReleasableError', field: 'idempotencyKey' },
    };
    const answer = (request: Record<string, unknown>) =>
      answerLedgerRequest(new SqlLedger(db()), request, { actions: true });
    const records = async () =>
      (
        await db().query<{ status: string }>(
          `SELECT status FROM idempotency_records WHERE split_part(id, '#', 2) = $1`,
          [hash],
        )
      ).rows;

    await claimCut();
    const { first, second } = await twice(release('req-release-1'));
    expect(first).toEqual(released);
    expect(second).toEqual(first);
    // The send-once store no longer has the key (a redrive of the mail claims it anew), and holds
    // nothing of the release: `job show` lists the dispatcher's records only.
    expect(await records()).toEqual([]);
    // Another release of the key (the operator runs the command again) is a new request: refused.
    expect(await answer(release('req-release-2'))).toMatchObject(notReleasable);
    expect(await answer(release())).toMatchObject(notReleasable);

    // The redrive's send is cut again: the first release's duplicate still answers as the first did,
    // and leaves the new claim alone; a new release releases it.
    await claimCut();
    expect(await answer(release('req-release-1'))).toEqual(released);
    expect(await records()).toEqual([{ status: 'INPROGRESS' }]);
    expect(await answer(release('req-release-3'))).toEqual(released);
    expect(await records()).toEqual([]);

    // Two copies of one release at once, each on its own ledger (connection), release once.
    await claimCut();
    expect(await Promise.all([1, 2].map(() => answer(release('req-release-4'))))).toEqual([
      released,
      released,
    ]);
    expect(await records()).toEqual([]);
    // A copy that reads the records just after the first copy committed (the record gone, the
    // release recorded) answers as the first did too: here the first copy's commit is played inside
    // the second's transaction, between its look for a recorded release and its read of the records.
    await claimCut();
    const copy = interleaved(db(), /^\s*SELECT [^;]* FROM idempotency_records/, async (tx) => {
      await tx.query('DELETE FROM idempotency_records WHERE id = $1', [recordId]);
      await tx.query(
        'INSERT INTO mail_releases (request_id, idempotency_key, record_id) VALUES ($1, $2, $3)',
        ['req-release-5', key, recordId],
      );
    });
    expect(
      await answerLedgerRequest(new SqlLedger(copy.db), release('req-release-5'), { actions: true }),
    ).toEqual(released);
    expect(copy.played()).toBe(true);
    // Without a request id (the direct ledger's release), a release is refused once the record is gone.
    await claimCut();
    expect(await answer(release())).toEqual(released);
    expect(await answer(release())).toMatchObject(notReleasable);
    // A key never released is still refused.
    expect(
      await answer({
        op: 'mail.release',
        idempotencyKey: 'export.failed:exp_never:1',
        requestId: 'req-never',
      }),
    ).toMatchObject(notReleasable);
  });
});

// A current tool (`sidestep job <id> --database-url ...`) against the database of an environment not
// yet deployed, still at migration 14: describeJob reads 0015's sweep_mail_refused_at, which PostgreSQL
// refuses with undefined_column, 42703 (https://www.postgresql.org/docs/current/errcodes-appendix.html).
describeEachDatabase('SqlLedger on a database at another migration', (open) => {
  let database: Database | undefined;
  const db = () => {
    if (!database) throw new Error('opened in beforeAll');
    return database;
  };
  beforeAll(async () => {
    database = await open({ migrate: false });
    await migrate(database, { migrations: migrations.filter((migration) => migration.version <= 14) });
    await insertExport(database, 'exp_old_schema', 'failed', '2026-11-24T10:00:00Z');
  });
  afterAll(() => database?.close());
  const latest = migrations.at(-1);

  it('says the database is at an older migration than the tool, naming both, instead of a bare missing column', async () => {
    const ledger = new SqlLedger(db());
    const refused = ledger.describeJob('exp_old_schema');
    await expect(refused).rejects.toThrow(LedgerSchemaError);
    await expect(refused).rejects.toMatchObject({
      field: 'database',
      databaseMigration: '0014-mail-releases',
      toolMigration: `${String(latest?.version).padStart(4, '0')}-${latest?.name}`,
      message: expect.stringMatching(
        /^database: the ledger's database is at migration 0014-mail-releases, older than this tool's \d{4}-.*column "sweep_mail_refused_at" does not exist.*deploy/,
      ),
    });
    // What reads the columns both migrations have still answers.
    expect((await ledger.listJobs({ limit: 5 })).jobs.map((job) => job.id)).toEqual(['exp_old_schema']);
  });

  it('says so of a missing table too (42P01)', async () => {
    await expect(
      new SqlLedger(db()).readOnly((tx) => tx.query('SELECT 1 FROM no_such_table')),
    ).rejects.toThrow(LedgerSchemaError);
  });

  it('says the database is newer than the tool when it is (an older tool on a deployed database)', async () => {
    await db().query(
      `INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'from-the-future', 'x')`,
    );
    try {
      await expect(new SqlLedger(db()).describeJob('exp_old_schema')).rejects.toMatchObject({
        name: 'LedgerSchemaError',
        message: expect.stringContaining('at migration 0999-from-the-future, newer than this tool'),
      });
    } finally {
      await db().query('DELETE FROM schema_migrations WHERE version = 999');
    }
  });
  it('says what it could not tell when schema_migrations cannot be read (a role without SELECT on it)', async () => {
    await db().query('ALTER TABLE schema_migrations RENAME TO schema_migrations_away');
    try {
      await expect(new SqlLedger(db()).describeJob('exp_old_schema')).rejects.toMatchObject({
        name: 'LedgerSchemaError',
        databaseMigration: null,
        message: expect.stringContaining('its schema_migrations could not be read (42703: column'),
      });
    } finally {
      await db().query('ALTER TABLE schema_migrations_away RENAME TO schema_migrations');
    }
  });
});

describeEachDatabase('SqlLedger on a database at its migration', (open) => {
  const db = suiteDatabase(open);

  it('leaves a missing column the migrations do not explain as PostgreSQL said it', async () => {
    const refused = new SqlLedger(db()).readOnly((tx) => tx.query('SELECT no_such_column FROM jobs'));
    await expect(refused).rejects.toMatchObject({ code: '42703' });
    await expect(refused).rejects.not.toThrow(LedgerSchemaError);
  });
});

describe('ledgerResult', () => {
  it('refuses a payload that is not a ledger response', () => {
    expect(() => ledgerResult('{"errorType":"Runtime.ImportModuleError"}')).toThrow(
      expect.objectContaining({ name: 'LedgerInvokeError' }),
    );
  });
});
