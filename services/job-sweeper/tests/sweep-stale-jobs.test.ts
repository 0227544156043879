import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ContractValidationError,
  MailSendJob,
  type MailSendJobInput,
  SweepStaleJobsOutput,
  validate,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import {
  describeEachDatabase,
  describeIfAvailable,
  type TestDatabase,
  testDatabases,
} from '@sidestep/db/testing';
import {
  deadlineMissedReason,
  fireJobEvent,
  handOverMissedReason,
  JOB_DEADLINE_SECONDS,
  lockJob,
} from '@sidestep/jobs';
import { SqlLedger } from '@sidestep/ledger';
import {
  MAX_STAGING_SEGMENTS,
  SMALL_LOCK_TABLE,
  stagingsOverflowingLockTable,
  withStagings,
} from '@sidestep/ledger/testing';
import { type FailureMailRefusal, StaleJobsNotFailedError } from '../src/errors.ts';
import { purgeExpired } from '../src/purge-expired.ts';
import type { MailQueue, MailQueueResult } from '../src/sweep-stale-jobs.ts';
import { sweepStaleJobs } from '../src/sweep-stale-jobs.ts';
import { expiredRecords } from './expired-records.ts';

const HOUR = 3600_000;
const notifyAddress = 'ops@example.com';

/** A mail queue that records what it was given and answers as told (sent by default). */
class FakeMailQueue implements MailQueue {
  readonly sent: MailSendJobInput[] = [];
  /** Results to give instead of `sent`, by mail id, once each. */
  readonly answers = new Map<string, MailQueueResult>();
  async send(mails: readonly MailSendJobInput[]): Promise<readonly MailQueueResult[]> {
    return mails.map((mail) => {
      const id = mail.id as string;
      const answer = this.answers.get(id);
      this.answers.delete(id);
      if (answer) return answer;
      // What the producer does: validate against the contract before sending, and report a mail
      // it refuses with the field, sending nothing.
      try {
        validate(MailSendJob, mail);
      } catch (error) {
        if (!(error instanceof ContractValidationError)) throw error;
        return { status: 'invalid', id, field: error.field ?? '(root)', message: error.message };
      }
      this.sent.push(mail);
      return { status: 'sent', id };
    });
  }
}

describeEachDatabase('sweepStaleJobs', (open) => {
  let db: Database;
  let ids = 0;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(() => db.close());

  /**
   * A job registered by an execution and started through the ledger (so its deadline is what
   * `start` sets: the database's now + the kind's deadline), or left in `state`.
   */
  async function job(
    kind: 'import' | 'export',
    state: 'registered' | 'running' | 'succeeded' = 'running',
    fields: { requestedBy?: string | null; locale?: string } = {},
  ): Promise<string> {
    const id = `${kind === 'import' ? 'imp' : 'exp'}_sweep_${++ids}`;
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, request_id, requested_by, execution_id)
       VALUES ($1, $2, 'registered', $3, $4, $5, $6, $7, $8, $9)`,
      kind === 'import'
        ? [
            id,
            kind,
            'sidestep-test-imports',
            `imports/${id}.csv`,
            'v1',
            `${id}.csv`,
            null,
            null,
            `arn:e:${id}`,
          ]
        : [
            id,
            kind,
            null,
            null,
            null,
            'users-2026-11-24',
            `req-${id}`,
            fields.requestedBy === undefined ? 'a@example.com' : fields.requestedBy,
            `arn:e:${id}`,
          ],
    );
    if (fields.locale) await db.query('UPDATE jobs SET locale = $2 WHERE id = $1', [id, fields.locale]);
    if (state === 'registered') return id;
    await db.transaction(async (tx) => {
      const { rows } = await tx.query<Parameters<typeof fireJobEvent>[1]>(
        'SELECT id, kind, state, execution_id, file_name, rows_total, rows_imported, rows_rejected, worker_error, error, requested_by, result_key, download_url, bytes, deadline_at, swept_at FROM jobs WHERE id = $1 FOR UPDATE',
        [id],
      );
      await fireJobEvent(tx, rows[0] as Parameters<typeof fireJobEvent>[1], 'start', {
        firedBy: `arn:e:${id}`,
      });
    });
    if (state === 'succeeded') await db.query("UPDATE jobs SET state = 'succeeded' WHERE id = $1", [id]);
    return id;
  }
  async function row(id: string) {
    const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0] as Record<string, unknown>;
  }
  async function transitions(id: string) {
    const { rows } = await db.query<Record<string, unknown>>(
      'SELECT event, from_state, to_state, execution_id, data FROM job_transitions WHERE job_id = $1 ORDER BY id',
      [id],
    );
    return rows;
  }
  /** Every stale job of earlier tests is swept with an ever later virtual clock: start clean. */
  async function sweepAway(now: Date) {
    await sweepStaleJobs(db, new FakeMailQueue(), { now, sweeperId: 'job-sweeper:cleanup', notifyAddress });
  }

  it('fails the jobs running past their deadline, and only those, with the reason, the audit row and one mail each; sweeping twice changes nothing', async () => {
    const stuckExport = await job('export');
    const stuckImport = await job('import');
    const registered = await job('export', 'registered');
    const succeeded = await job('import', 'succeeded');
    const deadline = (await row(stuckExport)).deadline_at as Date;
    // A virtual clock: one minute past the deadline (the deadline itself is 2 h after start).
    const now = new Date(deadline.getTime() + 60_000);
    const fresh = await job('export'); // started now: its deadline is 2 h away even for the virtual clock
    await db.query('UPDATE jobs SET deadline_at = $2 WHERE id = $1', [fresh, new Date(now.getTime() + HOUR)]);

    const mails = new FakeMailQueue();
    const first = validate(
      SweepStaleJobsOutput,
      await sweepStaleJobs(db, mails, { now, sweeperId: 'job-sweeper:req-1', notifyAddress }),
    );
    const second = await sweepStaleJobs(db, mails, {
      now: new Date(now.getTime() + 15 * 60_000),
      sweeperId: 'job-sweeper:req-2',
      notifyAddress,
    });

    const failedIds = first.failed.map((swept) => swept.jobId).sort();
    expect(failedIds).toEqual([stuckExport, stuckImport].sort());
    expect(first.mailed.map((swept) => swept.jobId).sort()).toEqual(failedIds);
    expect(second).toEqual({
      sweptAt: new Date(now.getTime() + 15 * 60_000).toISOString(),
      failed: [],
      mailed: [],
    });

    for (const id of [stuckExport, stuckImport]) {
      const stuck = await row(id);
      const reason = `no progress before the deadline (${(stuck.deadline_at as Date).toISOString()})`;
      expect(stuck).toMatchObject({
        state: 'failed',
        error: reason,
        swept_at: now,
        sweep_mail_queued_at: now,
      });
      expect(await transitions(id)).toEqual([
        expect.objectContaining({ event: 'start', execution_id: `arn:e:${id}` }),
        expect.objectContaining({
          event: 'fail',
          from_state: 'running',
          to_state: 'failed',
          execution_id: 'job-sweeper:req-1',
          data: expect.objectContaining({ output: expect.objectContaining({ state: 'failed', reason }) }),
        }),
      ]);
    }
    for (const [id, state] of [
      [registered, 'registered'],
      [succeeded, 'succeeded'],
      [fresh, 'running'],
    ] as const) {
      expect(await row(id)).toMatchObject({ state, swept_at: null });
    }

    // One mail per failed job, the envelope the job's own workflow would send.
    expect(mails.sent).toHaveLength(2);
    const exportReason = (await row(stuckExport)).error;
    expect(mails.sent.find((mail) => mail.id === `export.failed:${stuckExport}`)).toEqual({
      type: 'mail.send',
      version: 1,
      id: `export.failed:${stuckExport}`,
      payload: {
        template: 'export.failed',
        to: 'a@example.com',
        // A job registered without a locale (null) is mailed in English, as its workflow mails it.
        locale: 'en',
        jobId: stuckExport,
        idempotencyKey: `export.failed:${stuckExport}`,
        params: { jobId: stuckExport, reason: exportReason },
      },
    });
    expect(mails.sent.find((mail) => mail.id === `import.failed:${stuckImport}`)?.payload).toMatchObject({
      template: 'import.failed',
      to: notifyAddress,
      locale: 'en',
      params: { jobId: stuckImport, fileName: `${stuckImport}.csv` },
    });
  });

  it("mails a job's failure in the locale its register kept (jobs.locale), as its workflow would", async () => {
    const japaneseExport = await job('export', 'running', { locale: 'ja' });
    const japaneseImport = await job('import', 'running', { locale: 'ja' });
    const deadline = (await row(japaneseImport)).deadline_at as Date;
    const mails = new FakeMailQueue();
    await sweepStaleJobs(db, mails, {
      now: new Date(deadline.getTime() + 60_000),
      sweeperId: 'job-sweeper:ja',
      notifyAddress,
    });
    expect(
      [japaneseExport, japaneseImport].map((id) => {
        const mail = mails.sent.find((sent) => sent.payload.jobId === id);
        return [mail?.payload.template, mail?.payload.locale];
      }),
    ).toEqual([
      ['export.failed', 'ja'],
      ['import.failed', 'ja'],
    ]);
  });

  // A redrive does not run the StartJob that set the deadline again (it succeeded:
  // https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html); the ledger's claim
  // of the redrive sets it anew instead, so the sweep does not fail the job the redrive runs.
  it('leaves a running job past its deadline that a redrive claimed to the redrive until its new deadline, and fails one unclaimed or whose claim was released', async () => {
    const [redriven, unclaimed, released] = [await job('import'), await job('import'), await job('export')];
    // Started an hour more than the deadline a start sets ago: passed an hour ago, the jobs still running.
    const ago = `${Math.max(JOB_DEADLINE_SECONDS.import, JOB_DEADLINE_SECONDS.export) + 3600} seconds`;
    await db.query(
      `UPDATE jobs SET started_at = started_at - $2::interval, deadline_at = deadline_at - $2::interval
         WHERE id = ANY($1)`,
      [[redriven, unclaimed, released], ago],
    );
    const ledger = new SqlLedger(db);
    const claim = (jobId: string) => ({ jobId, executionArn: `arn:e:${jobId}`, redriveCount: 0 });
    await ledger.claimRedrive({ ...claim(redriven), operator: 'local:alice' });
    await ledger.claimRedrive({ ...claim(released), operator: 'local:alice' });
    await ledger.releaseRedrive(claim(released));

    const now = new Date(Date.now() + 60_000);
    const swept = await sweepStaleJobs(db, new FakeMailQueue(), {
      now,
      sweeperId: 'job-sweeper:redrive',
      notifyAddress,
    });
    const ours = (jobs: readonly { jobId: string }[]) =>
      jobs.map((job) => job.jobId).filter((id) => [redriven, unclaimed, released].includes(id));
    expect(ours(swept.failed).sort()).toEqual([unclaimed, released].sort());
    const deadline = (await row(redriven)).deadline_at as Date;
    expect(await row(redriven)).toMatchObject({ state: 'running', swept_at: null });
    expect(deadline.getTime()).toBeGreaterThan(now.getTime() + 8 * HOUR);

    // The redrive's own deadline still bounds it.
    const late = await sweepStaleJobs(db, new FakeMailQueue(), {
      now: new Date(deadline.getTime() + 60_000),
      sweeperId: 'job-sweeper:redrive-late',
      notifyAddress,
    });
    expect(ours(late.failed)).toEqual([redriven]);
    expect(await row(redriven)).toMatchObject({
      state: 'failed',
      error: `no progress before the deadline (${deadline.toISOString()})`,
    });
  });

  it('keeps a mail that could not be queued pending, and queues it on the next sweep without failing the job again', async () => {
    const stuck = await job('export');
    const now = new Date(((await row(stuck)).deadline_at as Date).getTime() + 1);
    await sweepAway(new Date(now.getTime() - 2));
    const mails = new FakeMailQueue();
    mails.answers.set(`export.failed:${stuck}`, {
      status: 'failed',
      id: 'x',
      message: 'ThrottlingException: slow down',
    });
    const error = await sweepStaleJobs(db, mails, { now, sweeperId: 'job-sweeper:a', notifyAddress }).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({ name: 'FailureMailNotQueuedError', permanent: false, jobIds: [stuck] });
    // Still pending (not refused), with why the last try failed for the operator to see.
    expect(await row(stuck)).toMatchObject({
      state: 'failed',
      swept_at: now,
      sweep_mail_queued_at: null,
      sweep_mail_refused_at: null,
      sweep_mail_error: 'ThrottlingException: slow down',
    });

    const later = new Date(now.getTime() + 15 * 60_000);
    const retried = await sweepStaleJobs(db, mails, {
      now: later,
      sweeperId: 'job-sweeper:b',
      notifyAddress,
    });
    expect(retried.failed).toEqual([]);
    expect(retried.mailed.map((swept) => swept.jobId)).toEqual([stuck]);
    expect(mails.sent.map((mail) => mail.id)).toEqual([`export.failed:${stuck}`]);
    expect(await row(stuck)).toMatchObject({ sweep_mail_queued_at: later, sweep_mail_error: null });
    expect((await transitions(stuck)).filter((t) => t.event === 'fail')).toHaveLength(1);
  });

  it('names the job and field of a mail the contract refuses, still mails the others, records the refusal on the job and claims it no more', async () => {
    const noRequester = await job('export', 'running', { requestedBy: null });
    const other = await job('import');
    const now = new Date(((await row(other)).deadline_at as Date).getTime() + 1);
    const mails = new FakeMailQueue();
    const offered: string[] = [];
    const failing: MailQueue = {
      send: async (list) =>
        Promise.all(
          list.map(async (mail): Promise<MailQueueResult> => {
            offered.push(mail.id as string);
            const result = MailSendJob.safeParse(mail);
            if (!result.success) {
              return {
                status: 'invalid',
                id: mail.id as string,
                field: 'payload.to',
                message: 'Invalid email address',
              };
            }
            return (await mails.send([mail]))[0] as MailQueueResult;
          }),
        ),
    };
    const error = await sweepStaleJobs(db, failing, { now, sweeperId: 'job-sweeper:c', notifyAddress }).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({
      name: 'FailureMailRefusedError',
      permanent: true,
      jobIds: [noRequester],
      field: 'payload.to',
    });
    expect(mails.sent.map((mail) => mail.id)).toContain(`import.failed:${other}`);
    expect(await row(other)).toMatchObject({ state: 'failed', sweep_mail_queued_at: now });
    // The ledger says the mail was refused, when and why, and that it was never queued.
    expect(await row(noRequester)).toMatchObject({
      state: 'failed',
      sweep_mail_queued_at: null,
      sweep_mail_refused_at: now,
      sweep_mail_error: 'payload.to: Invalid email address',
    });

    // The next sweeps (the schedule's, or Lambda's retry of this one) neither offer it again nor fail.
    const later = new Date(now.getTime() + 15 * 60_000);
    offered.length = 0;
    for (const sweeperId of ['job-sweeper:d', 'job-sweeper:d']) {
      await expect(
        sweepStaleJobs(db, failing, { now: later, sweeperId, notifyAddress }),
      ).resolves.toMatchObject({
        mailed: [],
      });
    }
    expect(offered).not.toContain(`export.failed:${noRequester}`);
    expect(await row(noRequester)).toMatchObject({ sweep_mail_refused_at: now, sweep_mail_queued_at: null });
  });

  it('reports every refusal once, by the sweep that records it, beside a transient failure of the same sweep', async () => {
    // In the order the sweep claims them: by id (same swept_at).
    const refused = [
      await job('export', 'running', { requestedBy: null }),
      await job('export', 'running', { requestedBy: null }),
    ].sort();
    const throttled = await job('export');
    const deadline = async (id: string) => (await row(id)).deadline_at as Date;
    const [firstDeadline] = (await Promise.all([...refused, throttled].map(deadline))).sort(
      (a, b) => a.getTime() - b.getTime(),
    );
    await sweepAway(new Date((firstDeadline as Date).getTime() - 1));
    const now = new Date((await deadline(throttled)).getTime() + 1);
    const mails = new FakeMailQueue();
    mails.answers.set(`export.failed:${throttled}`, {
      status: 'failed',
      id: 'x',
      message: 'ThrottlingException: slow down',
    });
    const reported: FailureMailRefusal[] = [];
    const sweep = (sweeperId: string) =>
      sweepStaleJobs(db, mails, {
        now,
        sweeperId,
        notifyAddress,
        onRefused: (refusal) => reported.push(refusal),
      });

    // The transient failure is thrown (retryable, so Lambda retries) and names the refusals too.
    const error = await sweep('job-sweeper:m1').catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({
      name: 'FailureMailNotQueuedError',
      permanent: false,
      jobIds: [throttled],
      refusedJobIds: refused,
    });
    for (const id of refused) expect((error as Error).message).toContain(`${id} (payload.to: `);
    expect(reported).toEqual(
      refused.map((jobId) => ({
        jobId,
        field: 'payload.to',
        refusal: expect.stringMatching(/^payload\.to: /),
      })),
    );

    // Lambda's retry queues the throttled mail and reports no refusal again.
    await expect(sweep('job-sweeper:m1')).resolves.toMatchObject({
      mailed: [expect.objectContaining({ jobId: throttled })],
    });
    expect(reported).toHaveLength(2);
  });

  it('names every job whose mail the contract refuses in the error it throws', async () => {
    // In the order the sweep claims them: by id (same swept_at).
    const refused = [
      await job('export', 'running', { requestedBy: null }),
      await job('export', 'running', { requestedBy: null }),
    ].sort();
    const deadline = async (id: string) => (await row(id)).deadline_at as Date;
    const [first, last] = (await Promise.all(refused.map(deadline))).sort(
      (a, b) => a.getTime() - b.getTime(),
    );
    await sweepAway(new Date((first as Date).getTime() - 1));
    const now = new Date((last as Date).getTime() + 1);
    const reported: string[] = [];
    const sweep = () =>
      sweepStaleJobs(db, new FakeMailQueue(), {
        now,
        sweeperId: 'job-sweeper:m2',
        notifyAddress,
        onRefused: (refusal) => reported.push(refusal.jobId),
      });
    await expect(sweep()).rejects.toMatchObject({
      name: 'FailureMailRefusedError',
      permanent: true,
      jobIds: refused,
      field: 'payload.to',
      refusals: refused.map((jobId) => ({ jobId, field: 'payload.to', refusal: expect.any(String) })),
    });
    // Delivered twice: the second sweep neither throws nor reports them again.
    await expect(sweep()).resolves.toMatchObject({ failed: [], mailed: [] });
    expect(reported).toEqual(refused);
  });

  it('tries a mail SQS fails while its job is within the retention, then records it given up, once, so the retention deletes the job', async () => {
    const DAY = 24 * HOUR;
    const failing = await job('export');
    const recovering = await job('import');
    const deadline = async (id: string) => (await row(id)).deadline_at as Date;
    await sweepAway(new Date((await deadline(failing)).getTime() - 1));
    const now = new Date((await deadline(recovering)).getTime() + 1);
    // SQS fails the export's mail at every try, the import's until the sweep of day 15.
    const mails = new FakeMailQueue();
    let recovered = false;
    const queue: MailQueue = {
      send: async (list) =>
        Promise.all(
          list.map(async (mail): Promise<MailQueueResult> => {
            const id = mail.id as string;
            if (id === `export.failed:${failing}` || (id === `import.failed:${recovering}` && !recovered)) {
              return { status: 'failed', id, message: 'ThrottlingException: slow down' };
            }
            return (await mails.send([mail]))[0] as MailQueueResult;
          }),
        ),
    };
    const reported: FailureMailRefusal[] = [];
    const sweep = (at: Date) =>
      sweepStaleJobs(db, queue, {
        now: at,
        sweeperId: 'job-sweeper:r',
        notifyAddress,
        retentionDays: 14,
        onRefused: (refusal) => reported.push(refusal),
      });

    // Within the 14 days (the job failed at the sweep's `now`, 13 days before): pending, tried again.
    for (const at of [now, new Date(now.getTime() + 13 * DAY)]) {
      await expect(sweep(at)).rejects.toMatchObject({
        name: 'FailureMailNotQueuedError',
        jobIds: [recovering, failing].sort(),
      });
    }
    expect(await row(failing)).toMatchObject({ sweep_mail_refused_at: null, sweep_mail_queued_at: null });

    // Past them: one last try; SQS takes the import's mail, the export's is given up and recorded.
    recovered = true;
    const past = new Date(now.getTime() + 15 * DAY);
    const error = await sweep(past).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'FailureMailRefusedError', permanent: true, jobIds: [failing] });
    const givenUp = 'not queued within 14 days: ThrottlingException: slow down';
    expect(reported).toEqual([{ jobId: failing, field: null, refusal: givenUp }]);
    expect(await row(failing)).toMatchObject({
      sweep_mail_queued_at: null,
      sweep_mail_refused_at: past,
      sweep_mail_error: givenUp,
    });
    expect(await row(recovering)).toMatchObject({ sweep_mail_queued_at: past, sweep_mail_refused_at: null });
    expect(mails.sent.map((mail) => mail.id)).toContain(`import.failed:${recovering}`);

    // Delivered twice: nothing is tried or reported again, and the retention deletes the job.
    await expect(sweep(past)).resolves.toMatchObject({ mailed: [] });
    expect(reported).toHaveLength(1);
    await purgeExpired(db, { purgeExpired: async () => 0 }, { now: past, retentionDays: 14 });
    expect((await db.query('SELECT id FROM jobs WHERE id = $1', [failing])).rows).toEqual([]);
  });

  /** `count` exports (`<prefix>_0`...) that succeeded at `finishedAt`; their ids. */
  async function finishedExports(prefix: string, count: number, finishedAt: Date): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, n) => `${prefix}_${n}`);
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, updated_at, finished_at)
       SELECT id, 'export', 'succeeded', id, 'a@example.com', 'users', 'arn:e:' || id, $2, $2 FROM unnest($1::text[]) AS id`,
      [ids, finishedAt],
    );
    return ids;
  }

  // README, Purge: "a backlog goes over the next sweeps (`purged.complete` false until it is gone)".
  it('purges a backlog batch after batch until one is short, at most `batches` of each kind per sweep, the rest on the next', async () => {
    // Finished before any other test's job: only these are past the cutoff.
    const finishedAt = new Date('2001-01-01T00:00:00Z');
    const now = new Date('2001-02-01T00:00:00Z');
    const ids = await finishedExports('exp_backlog', 5, finishedAt);
    await db.query(
      `INSERT INTO operator_audit (at, operator, environment, action, target, result)
       SELECT $2, 'someone', 'test', 'job-fail', id, 'ok' FROM unnest($1::text[]) AS id`,
      [ids, finishedAt],
    );
    const records = expiredRecords(5);
    const sweep = () => purgeExpired(db, records, { now, retentionDays: 14, batchSize: 2, batches: 2 });
    expect(await sweep()).toMatchObject({
      idempotencyRecords: 4,
      jobs: 4,
      operatorAudit: 4,
      complete: false,
    });
    expect(await sweep()).toMatchObject({ idempotencyRecords: 1, jobs: 1, operatorAudit: 1, complete: true });
    expect((await db.query('SELECT id FROM jobs WHERE id = ANY($1)', [ids])).rows).toEqual([]);
    expect((await db.query('SELECT id FROM operator_audit WHERE target = ANY($1)', [ids])).rows).toEqual([]);
  });

  it('stops starting batches once its time budget is spent, each kind taking its turn, so one backlog does not starve the others', async () => {
    const finishedAt = new Date('2000-06-01T00:00:00Z');
    const now = new Date('2000-07-01T00:00:00Z');
    const ids = await finishedExports('exp_budget', 3, finishedAt);
    // A backlog of records far larger than the budget, ahead of the jobs in each turn.
    const records = expiredRecords(1_000);
    // A clock that moves 10 ms each time it is read; a budget of 15 ms: two turns (the first is always taken).
    let time = 0;
    const clock = () => {
      const at = time;
      time += 10;
      return at;
    };
    const purged = await purgeExpired(db, records, {
      now,
      retentionDays: 14,
      batchSize: 2,
      timeBudgetMs: 15,
      clock,
    });
    expect(purged).toMatchObject({ idempotencyRecords: 4, jobs: 3, complete: false });
    expect((await db.query('SELECT id FROM jobs WHERE id = ANY($1)', [ids])).rows).toEqual([]);
  });

  it("mails a retried attempt's failure though the first attempt's mail was refused", async () => {
    const noRequester = await job('export', 'running', { requestedBy: null });
    const now = new Date(((await row(noRequester)).deadline_at as Date).getTime() + 1);
    await sweepAway(new Date(now.getTime() - 2));
    await expect(
      sweepStaleJobs(db, new FakeMailQueue(), { now, sweeperId: 'job-sweeper:e', notifyAddress }),
    ).rejects.toMatchObject({ name: 'FailureMailRefusedError', jobIds: [noRequester] });
    expect(await row(noRequester)).toMatchObject({ sweep_mail_refused_at: now });

    // An operator fixes the requester and retries; attempt 2 is stuck too.
    await db.query("UPDATE jobs SET requested_by = 'fixed@example.com' WHERE id = $1", [noRequester]);
    await new SqlLedger(db).handOverJob({
      jobId: noRequester,
      fromExecutionArn: `arn:e:${noRequester}`,
      executionArn: `arn:e:${noRequester}:2`,
      attempt: 2,
      operator: 'someone',
    });
    expect(await row(noRequester)).toMatchObject({ sweep_mail_refused_at: null, sweep_mail_error: null });
    const later = new Date(now.getTime() + HOUR);
    await db.query("UPDATE jobs SET state = 'running', deadline_at = $2 WHERE id = $1", [noRequester, now]);
    const mails = new FakeMailQueue();
    const swept = await sweepStaleJobs(db, mails, { now: later, sweeperId: 'job-sweeper:f', notifyAddress });
    expect(swept.mailed.map((mailed) => mailed.mailId)).toEqual([`export.failed:${noRequester}:2`]);
    expect(mails.sent.map((mail) => mail.payload.to)).toEqual(['fixed@example.com']);
  });

  it("mails a retried attempt's failure though the previous release's hand-over left the first attempt's refusal on the job", async () => {
    // Rolled back to a release before migration 15's columns, an operator's retry (its handOverJob)
    // clears swept_at and sweep_mail_queued_at but not sweep_mail_refused_at / sweep_mail_error.
    const id = await job('export');
    const deadline = (await row(id)).deadline_at as Date;
    await sweepAway(new Date(deadline.getTime() - 2));
    await db.query(
      `UPDATE jobs SET attempt = 2, sweep_mail_refused_at = $2, sweep_mail_error = 'body: refused (attempt 1)'
       WHERE id = $1`,
      [id, new Date(deadline.getTime() - HOUR)],
    );
    const mails = new FakeMailQueue();
    const now = new Date(deadline.getTime() + 1);
    const swept = await sweepStaleJobs(db, mails, { now, sweeperId: 'job-sweeper:g', notifyAddress });
    expect(swept.mailed.map((mailed) => mailed.mailId)).toEqual([`export.failed:${id}:2`]);
    expect(await row(id)).toMatchObject({
      swept_at: now,
      sweep_mail_queued_at: now,
      sweep_mail_refused_at: null,
      sweep_mail_error: null,
    });
  });

  it("fails a job handed to a retry whose execution never took it, past the hand-over's deadline, saying so, and mails it; not one its execution started", async () => {
    const ledger = new SqlLedger(db);
    /** A job that failed under its first execution, handed over to attempt 2 as `sidestep job retry` does. */
    const handedOver = async () => {
      const id = await job('export');
      await ledger.failJob(id, 'boom', 'local:alice');
      const executionArn = `arn:aws:states:us-east-1:000000000000:execution:sidestep-export:${id}-attempt-2`;
      await ledger.handOverJob({
        jobId: id,
        fromExecutionArn: `arn:e:${id}`,
        executionArn,
        attempt: 2,
        operator: 'local:alice',
      });
      return { id, executionArn };
    };
    const neverStarted = await handedOver();
    const started = await handedOver();
    await db.transaction(async (tx) => {
      const locked = await lockJob(tx, started.id);
      if (!locked) throw new Error(`no job ${started.id}`);
      await fireJobEvent(tx, locked, 'start', { firedBy: started.executionArn });
    });
    const deadline = (await row(neverStarted.id)).deadline_at as Date;
    expect(deadline).toBeInstanceOf(Date);
    await sweepAway(new Date(deadline.getTime() - 2));
    const now = new Date(deadline.getTime() + 1);
    const mails = new FakeMailQueue();
    const swept = await sweepStaleJobs(db, mails, { now, sweeperId: 'job-sweeper:h', notifyAddress });

    const reason = handOverMissedReason(neverStarted.executionArn, deadline);
    expect(reason).toContain(`execution ${neverStarted.id}-attempt-2 never took the job`);
    expect(swept.failed).toEqual([
      {
        jobId: neverStarted.id,
        kind: 'export',
        deadlineAt: deadline.toISOString(),
        reason,
        mailId: `export.failed:${neverStarted.id}:2`,
      },
    ]);
    expect(await row(neverStarted.id)).toMatchObject({
      state: 'failed',
      error: reason,
      swept_at: now,
      sweep_mail_queued_at: now,
    });
    expect((await transitions(neverStarted.id)).at(-1)).toMatchObject({
      event: 'fail',
      from_state: 'registered',
      to_state: 'failed',
      execution_id: 'job-sweeper:h',
    });
    expect(mails.sent.map((mail) => [mail.id, mail.payload.params])).toEqual([
      [`export.failed:${neverStarted.id}:2`, { jobId: neverStarted.id, reason }],
    ]);
    // Its StartJob set the deadline of a running job: swept at that one, not the hand-over's.
    expect(await row(started.id)).toMatchObject({ state: 'running', swept_at: null });
    const startedDeadline = (await row(started.id)).deadline_at as Date;
    const later = new Date(startedDeadline.getTime() + 1);
    await sweepStaleJobs(db, mails, { now: later, sweeperId: 'job-sweeper:i', notifyAddress });
    expect(await row(started.id)).toMatchObject({
      state: 'failed',
      error: deadlineMissedReason(startedDeadline),
    });
  });

  it('queues each mail once when a second sweep runs while the first is still sending (SKIP LOCKED)', async () => {
    const stuck = [await job('import'), await job('export')];
    const now = new Date(((await row(stuck[1] as string)).deadline_at as Date).getTime() + 1);
    const sent = new FakeMailQueue();
    let sending!: () => void;
    const firstSending = new Promise<void>((resolve) => {
      sending = resolve;
    });
    let secondDone!: () => void;
    const secondSettled = new Promise<void>((resolve) => {
      secondDone = resolve;
    });
    // The first sweep holds its pending mails' rows locked while it sends. On PostgreSQL the second
    // sweep runs meanwhile, skips them and finishes; PGlite runs one transaction at a time, so there
    // the second waits for the first and the grace period lets the first go on.
    const slow: MailQueue = {
      send: async (mails) => {
        sending();
        await Promise.race([secondSettled, new Promise((resolve) => setTimeout(resolve, 300))]);
        return sent.send(mails);
      },
    };
    const first = sweepStaleJobs(db, slow, { now, sweeperId: 'job-sweeper:first', notifyAddress });
    await firstSending;
    const second = await sweepStaleJobs(db, sent, { now, sweeperId: 'job-sweeper:second', notifyAddress });
    secondDone();
    const firstOutput = await first;
    expect(firstOutput.failed.map((swept) => swept.jobId).sort()).toEqual([...stuck].sort());
    expect(second).toMatchObject({ failed: [], mailed: [] });
    expect(sent.sent.map((mail) => mail.id).sort()).toEqual(
      [`export.failed:${stuck[1]}`, `import.failed:${stuck[0]}`].sort(),
    );
    for (const id of stuck) {
      expect((await transitions(id)).filter((t) => t.event === 'fail')).toHaveLength(1);
      expect(await row(id)).toMatchObject({ state: 'failed', sweep_mail_queued_at: now });
    }
  });

  it('fails each stuck job once when two sweeps run at once', async () => {
    const stuck = [await job('export'), await job('import'), await job('export')];
    const now = new Date(((await row(stuck[2] as string)).deadline_at as Date).getTime() + 1);
    const mails = new FakeMailQueue();
    const outputs = await Promise.all(
      ['x', 'y'].map((name) =>
        sweepStaleJobs(db, mails, { now, sweeperId: `job-sweeper:${name}`, notifyAddress }),
      ),
    );
    expect(outputs.flatMap((output) => output.failed.map((swept) => swept.jobId)).sort()).toEqual(
      [...stuck].sort(),
    );
    expect(mails.sent.map((mail) => mail.id).sort()).toEqual(
      stuck.map((id) => `${id.startsWith('imp') ? 'import' : 'export'}.failed:${id}`).sort(),
    );
    for (const id of stuck) expect((await transitions(id)).filter((t) => t.event === 'fail')).toHaveLength(1);
  });

  /**
   * Makes failing job `jobId` throw with SQLSTATE `code`, as its staging's drop does when it runs out
   * of lock_timeout behind a dead worker session: a trigger refusing its `fail` audit row (the same
   * on PGlite and PostgreSQL, where a held lock would need a second session). Returns its removal.
   */
  async function failThrows(jobId: string, code: string): Promise<() => Promise<void>> {
    const name = `refuse_fail_${jobId}`;
    await db.query(
      `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'refused for the test: %', NEW.job_id USING ERRCODE = '${code}'; END $$`,
    );
    await db.query(
      `CREATE TRIGGER ${name} BEFORE INSERT ON job_transitions FOR EACH ROW
       WHEN (NEW.job_id = '${jobId}') EXECUTE FUNCTION ${name}()`,
    );
    return async () => {
      await db.query(`DROP TRIGGER ${name} ON job_transitions`);
      await db.query(`DROP FUNCTION ${name}()`);
    };
  }

  /** Two stale jobs, `first`'s deadline a minute before `behind`'s; `now` just past both. */
  async function oneBehindAnother(kinds: ['import' | 'export', 'import' | 'export']) {
    const first = await job(kinds[0]);
    const behind = await job(kinds[1]);
    await db.query("UPDATE jobs SET deadline_at = deadline_at - interval '1 minute' WHERE id = $1", [first]);
    await sweepAway(new Date(((await row(first)).deadline_at as Date).getTime() - 1));
    return { first, behind, now: new Date(((await row(behind)).deadline_at as Date).getTime() + 1) };
  }

  it('fails and mails the stale job behind one whose fail throws, then throws naming that one (transient), which the retry fails', async () => {
    const { first: blocked, behind, now } = await oneBehindAnother(['import', 'export']);
    // 55P03 lock_not_available: what lock_timeout raises, a cause a retry may cure.
    const mend = await failThrows(blocked, '55P03');
    const mails = new FakeMailQueue();
    try {
      const error = await sweepStaleJobs(db, mails, {
        now,
        sweeperId: 'job-sweeper:blocked',
        notifyAddress,
      }).catch((thrown: unknown) => thrown);
      // The job behind it was failed and mailed by the same sweep; the blocked one is untouched.
      expect(await row(behind)).toMatchObject({ state: 'failed', swept_at: now, sweep_mail_queued_at: now });
      expect(mails.sent.map((mail) => mail.id)).toEqual([`export.failed:${behind}`]);
      expect(error).toBeInstanceOf(StaleJobsNotFailedError);
      expect(error).toMatchObject({ permanent: false, jobIds: [blocked], mailError: undefined });
      expect((error as Error).message).toContain(`1 job(s): ${blocked} (`);
      expect((error as Error).message).toContain(`refused for the test: ${blocked}`);
      expect(await row(blocked)).toMatchObject({ state: 'running' });
      expect((await transitions(blocked)).map((t) => t.event)).toEqual(['start']);
    } finally {
      await mend();
    }

    // The cause gone, the retry fails it and mails it, and nothing twice.
    const retried = await sweepStaleJobs(db, mails, { now, sweeperId: 'job-sweeper:retry', notifyAddress });
    expect(retried.failed.map((swept) => swept.jobId)).toEqual([blocked]);
    expect(mails.sent.map((mail) => mail.id)).toEqual([
      `export.failed:${behind}`,
      `import.failed:${blocked}`,
    ]);
    for (const id of [blocked, behind])
      expect((await transitions(id)).filter((t) => t.event === 'fail')).toHaveLength(1);
  });

  it('stops at a job whose fail finds the database unreachable, leaving the jobs behind it to the retry', async () => {
    const { first: cut, behind, now } = await oneBehindAnother(['import', 'export']);
    // 08006 connection_failure: every job after it would wait out its own connect timeout and fail
    // the same way, so the sweep stops there instead of running out of Lambda's time.
    const mend = await failThrows(cut, '08006');
    const mails = new FakeMailQueue();
    try {
      const error = await sweepStaleJobs(db, mails, {
        now,
        sweeperId: 'job-sweeper:cut',
        notifyAddress,
      }).catch((thrown: unknown) => thrown);
      expect(await row(behind)).toMatchObject({ state: 'running' });
      expect(error).toBeInstanceOf(StaleJobsNotFailedError);
      expect(error).toMatchObject({ permanent: false, jobIds: [cut] });
    } finally {
      await mend();
    }
  });

  it("throws a fail's cause no retry cures as its cause (permanent), naming the same sweep's mail not queued too", async () => {
    const { first: broken, behind, now } = await oneBehindAnother(['export', 'export']);
    // P0001 raise_exception: no outage, a bug, which must surface as one.
    const mend = await failThrows(broken, 'P0001');
    const mails = new FakeMailQueue();
    mails.answers.set(`export.failed:${behind}`, {
      status: 'failed',
      id: 'x',
      message: 'ThrottlingException: slow down',
    });
    try {
      const error = await sweepStaleJobs(db, mails, {
        now,
        sweeperId: 'job-sweeper:broken',
        notifyAddress,
      }).catch((thrown: unknown) => thrown);
      expect(await row(behind)).toMatchObject({
        state: 'failed',
        sweep_mail_queued_at: null,
        sweep_mail_error: 'ThrottlingException: slow down',
      });
      expect(await row(broken)).toMatchObject({ state: 'running' });
      expect(error).toBeInstanceOf(StaleJobsNotFailedError);
      expect(error).toMatchObject({
        permanent: true,
        jobIds: [broken],
        mailError: expect.objectContaining({ name: 'FailureMailNotQueuedError', jobIds: [behind] }),
        cause: expect.objectContaining({ code: 'P0001' }),
      });
      expect((error as Error).message).toContain(
        `; and FailureMailNotQueuedError: failure mails not queued for 1 job(s): ${behind} (ThrottlingException: slow down)`,
      );
    } finally {
      await mend();
    }
    // Nothing left stale or pending for a test added after this one: the broken job failed, both mailed.
    await sweepAway(now);
  });
});

// A stale import's staging row is held FOR UPDATE by a worker session (one streaming a segment, or one
// whose task died and whose connection the server has not noticed gone yet): failing that job drops
// its staging, which must wait for the session. The sweep leaves that job to a later sweep, as it
// leaves a job row its workflow holds (SKIP LOCKED), and fails the others, instead of waiting for it
// (or failing the whole sweep at lock_timeout). Two sessions at once: PostgreSQL only (PGlite serves
// one connection at a time).
const postgres = testDatabases().find((backend) => backend.name === 'postgres');
describeIfAvailable(postgres?.available ?? false)(
  'sweepStaleJobs [postgres, a staging held by a worker session]',
  () => {
    let db: Database;
    beforeAll(async () => {
      db = await (postgres as NonNullable<typeof postgres>).open();
    });
    afterAll(() => db?.close());

    /** An import running since 9 hours, its deadline an hour ago. */
    async function staleImport(id: string): Promise<void> {
      await db.query(
        `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, deadline_at, started_at)
       VALUES ($1, 'import', 'running', 'sidestep-test-imports', $2, 'v1', $2, 'arn:e:' || $1,
               now() - interval '1 hour', now() - interval '9 hours')`,
        [id, `imports/${id}.csv`],
      );
    }

    it('leaves an import whose staging a worker session holds to a later sweep, and fails the other stale jobs', async () => {
      await staleImport('imp_held');
      await staleImport('imp_other');
      await db.query(
        `INSERT INTO import_stagings (job_id, table_name, columns, byte_offset, lines)
       VALUES ('imp_held', 'import_staging_imp_held', '[]', 0, 0)`,
      );
      const now = new Date();
      const release = Promise.withResolvers<void>();
      const locked = Promise.withResolvers<void>();
      const holder = db.transaction(async (tx) => {
        await tx.query(`SELECT 1 FROM import_stagings WHERE job_id = 'imp_held' FOR UPDATE`);
        locked.resolve();
        await release.promise;
      });
      await locked.promise;
      try {
        const output = await Promise.race([
          sweepStaleJobs(db, new FakeMailQueue(), { now, sweeperId: 'job-sweeper:held', notifyAddress }),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('the sweep waited for the held staging')), 10_000).unref(),
          ),
        ]);
        expect(output.failed.map((swept) => swept.jobId)).toEqual(['imp_other']);
      } finally {
        release.resolve();
        await holder;
      }
      const { rows: held } = await db.query(`SELECT state FROM jobs WHERE id = 'imp_held'`);
      expect(held).toEqual([{ state: 'running' }]);
      // Released, it is swept by the next sweep, its staging dropped with it.
      const next = await sweepStaleJobs(db, new FakeMailQueue(), {
        now,
        sweeperId: 'job-sweeper:next',
        notifyAddress,
      });
      expect(next.failed.map((swept) => swept.jobId)).toEqual(['imp_held']);
      const { rows } = await db.query(`SELECT job_id FROM import_stagings WHERE job_id = 'imp_held'`);
      expect(rows).toEqual([]);
    });
  },
);

// Failing an import drops its staging (`drop_import_staging`): its table and every segment, each a
// table of its own, whose locks the dropping transaction holds until it ends. The server's shared lock
// table has room for a few thousand (https://www.postgresql.org/docs/15/runtime-config-locks.html):
// a sweep that failed all its stale jobs in one transaction failed with 53200 "out of shared memory"
// on ~12 stale imports of 256 segments, on every sweep, forever (it always picks the same oldest
// jobs), and no stale job was failed, not even one with nothing staged behind them. PGlite's lock
// table is as large as PostgreSQL's default (64 x 100), and it failed there too. The case runs on
// PGlite only, started with a lock table of 2,000 (SMALL_LOCK_TABLE): the same overflow with ~1,300
// tables to make and drop instead of ~3,900 (3 s instead of 10-14 s, and 16-27 s on PostgreSQL).
const pglite = testDatabases().find((backend) => backend.name === 'pglite') as TestDatabase;
describe('sweepStaleJobs, stale imports with large stagings [pglite]', () => {
  let db: Database;
  beforeAll(async () => {
    db = await pglite.open({ pgliteSettings: SMALL_LOCK_TABLE });
  });
  afterAll(() => db?.close());

  it('fails every stale import however many tables their stagings hold in all, and the job behind them, dropping every staging', async () => {
    const imports = await stagingsOverflowingLockTable(db);
    const ids = Array.from({ length: imports }, (_, n) => `imp_locks_${String(n).padStart(2, '0')}`);
    // Their deadlines an hour apart, oldest first, hours ago; the export's after the last of them.
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, started_at, deadline_at)
       SELECT id, 'import', 'running', 'sidestep-test-imports', 'imports/' || id || '.csv', 'v1', id || '.csv',
              'arn:e:' || id, now() - interval '100 hours', now() - (100 - n) * interval '1 hour'
       FROM unnest($1::text[]) WITH ORDINALITY AS job (id, n)`,
      [ids],
    );
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, started_at, deadline_at)
       VALUES ('exp_locks', 'export', 'running', 'req-exp_locks', 'a@example.com', 'users', 'arn:e:exp_locks',
               now() - interval '10 hours', now() - interval '1 hour')`,
    );
    await withStagings(db, ids, MAX_STAGING_SEGMENTS, async (tablesLeft) => {
      expect(await tablesLeft()).toBe(imports * (MAX_STAGING_SEGMENTS + 2));
      const output = await sweepStaleJobs(db, new FakeMailQueue(), {
        now: new Date(),
        sweeperId: 'job-sweeper:locks',
        notifyAddress,
      });

      const all = [...ids, 'exp_locks'];
      expect(output.failed.map((swept) => swept.jobId)).toEqual(all);
      expect(output.mailed.map((swept) => swept.jobId).sort()).toEqual([...all].sort());
      const { rows: states } = await db.query<{ state: string; fails: number }>(
        `SELECT state, (SELECT count(*)::int FROM job_transitions WHERE job_id = jobs.id AND event = 'fail') AS fails
         FROM jobs WHERE id = ANY($1) ORDER BY id`,
        [all],
      );
      expect(states).toEqual(all.map(() => ({ state: 'failed', fails: 1 })));
      expect(
        (await db.query('SELECT job_id FROM import_stagings WHERE job_id = ANY($1)', [ids])).rows,
      ).toEqual([]);
      expect(
        (await db.query('SELECT job_id FROM import_staging_segments WHERE job_id = ANY($1)', [ids])).rows,
      ).toEqual([]);
      expect(await tablesLeft()).toBe(0);
    });
  }, 300_000);
});
