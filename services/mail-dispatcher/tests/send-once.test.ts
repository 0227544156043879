import { describe, expect, it } from '@jest/globals';
import { MailSendJob, validate } from '@sidestep/contracts';
import type { Queryable, QueryResult } from '@sidestep/db';
import { describeEachDatabase } from '@sidestep/db/testing';
import { PostgresPersistenceLayer } from '@sidestep/idempotency';
import { idempotencyRecordSeconds } from '@sidestep/manifest';
import type { Context } from 'aws-lambda';
import { service } from '../service.ts';
import { pacedSender, SendPacer } from '../src/adapters/send-pacer.ts';
import type { OutgoingMail } from '../src/domain/compose-mail.ts';
import type { MailSender } from '../src/domain/dispatch-mail.ts';
import {
  DeliveryOutcomeUnknownError,
  IdempotencyKeyReusedError,
  MailTransportError,
  type SendFailure,
} from '../src/errors.ts';
import { createSendOnce, IDEMPOTENCY_RECORD_TTL_SECONDS, SEND_DEADLINE_MARGIN_MS } from '../src/send-once.ts';

function context(remainingMs = 30_000): Context {
  return {
    awsRequestId: 'req-1',
    functionName: 'sidestep-test-mail-dispatcher',
    getRemainingTimeInMillis: () => remainingMs,
  } as unknown as Context;
}

function job(id: string, overrides: Record<string, unknown> = {}) {
  return validate(MailSendJob, {
    type: 'mail.send',
    version: 1,
    id,
    payload: {
      template: 'export.failed',
      to: 'ops@example.com',
      params: { jobId: 'exp_1', reason: 'database unavailable' },
      ...overrides,
    },
  });
}

/** Records every mail it is asked to send; optionally slow or hanging. */
function recordingSender(
  options: { delayMs?: number; hang?: boolean } = {},
): MailSender & { sent: OutgoingMail[] } {
  const sent: OutgoingMail[] = [];
  return {
    sent,
    async send(mail) {
      if (options.hang) await new Promise(() => {});
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      sent.push(mail);
      return { messageId: mail.messageId };
    },
  };
}

describeEachDatabase('createSendOnce', (open) => {
  async function setup(sender: MailSender) {
    const database = await open();
    const persistenceStore = new PostgresPersistenceLayer({ database, reclaimExpiredInProgress: false });
    return { database, sendOnce: createSendOnce({ from: 'sidestep@example.com', sender, persistenceStore }) };
  }

  it('sends a redelivered job once and replays the first result', async () => {
    const sender = recordingSender();
    const { database, sendOnce } = await setup(sender);
    const first = await sendOnce(job('m-1'), context());
    const second = await sendOnce(job('m-1'), context());
    expect(sender.sent).toHaveLength(1);
    expect(first.replayed).toBe(false);
    expect(second).toEqual({ ...first, replayed: true });
    await database.close();
  });

  it('sends once for two messages that share an idempotency key', async () => {
    const sender = recordingSender();
    const { database, sendOnce } = await setup(sender);
    await sendOnce(job('m-1', { idempotencyKey: 'export-exp_1-failed' }), context());
    await sendOnce(job('m-2', { idempotencyKey: 'export-exp_1-failed' }), context());
    expect(sender.sent).toHaveLength(1);
    await database.close();
  });

  it('lets only one of two concurrent duplicates send; the other is told to retry', async () => {
    const sender = recordingSender({ delayMs: 100 });
    const { database, sendOnce } = await setup(sender);
    const outcomes = await Promise.allSettled([
      sendOnce(job('m-1'), context()),
      sendOnce(job('m-1'), context()),
    ]);
    expect(sender.sent).toHaveLength(1);
    const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const reason = (rejected[0] as PromiseRejectedResult).reason as Error & { permanent?: boolean };
    expect(reason.name).toBe('IdempotencyAlreadyInProgressError');
    expect(reason.permanent).not.toBe(true); // retried by SQS, then replayed
    await database.close();
  });

  it('refuses the same key with a different mail as a permanent error', async () => {
    const sender = recordingSender();
    const { database, sendOnce } = await setup(sender);
    await sendOnce(job('m-1', { idempotencyKey: 'k' }), context());
    const attempt = sendOnce(job('m-2', { idempotencyKey: 'k', to: 'someone-else@example.com' }), context());
    await expect(attempt).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    await expect(attempt).rejects.toMatchObject({ permanent: true, field: 'payload.idempotencyKey' });
    expect(sender.sent).toHaveLength(1);
    await database.close();
  });

  it('does not send again after an attempt died mid-send: the outcome is unknown, so at most once', async () => {
    let entered = () => {};
    const sending = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const { database, sendOnce: crashing } = await setup({
      send: () => {
        entered();
        return new Promise(() => {});
      },
    });
    // The first attempt starts sending and never finishes (the sandbox died); its in-progress
    // record expires with the invocation's remaining time (20 ms here). The retry comes after that.
    const first = crashing(job('m-1'), context(20)).then(() => {
      throw new Error('the first attempt finished');
    });
    await Promise.race([sending, first]);
    const { rows } = await database.query<{ until: string }>(
      "SELECT in_progress_expiry_timestamp AS until FROM idempotency_records WHERE status = 'INPROGRESS'",
    );
    expect(rows).toHaveLength(1);
    const expiresAt = Number(rows[0]?.until);
    while (Date.now() <= expiresAt) {
      await new Promise((resolve) => setTimeout(resolve, expiresAt - Date.now() + 1));
    }

    const sender = recordingSender();
    const persistenceStore = new PostgresPersistenceLayer({ database, reclaimExpiredInProgress: false });
    const retry = createSendOnce({ from: 'sidestep@example.com', sender, persistenceStore });
    const attempt = retry(job('m-1'), context());
    await expect(attempt).rejects.toBeInstanceOf(DeliveryOutcomeUnknownError);
    // The reason the DLQ keeps says how to check: by the header every mail carries its key in.
    await expect(attempt).rejects.toMatchObject({
      permanent: true,
      message: expect.stringContaining(
        'a mail that was delivered has the header "X-Sidestep-Idempotency-Key: m-1" (`sidestep mail find m-1` looks for it); if none has, `sidestep mail release m-1`',
      ),
    });
    expect(sender.sent).toHaveLength(0);
    await database.close();
  });

  /** A sender whose first send fails as `outcome`, then sends. */
  function failingOnce(outcome: SendFailure): MailSender & { attempts: number; sent: OutgoingMail[] } {
    const sender = { attempts: 0, sent: [] as OutgoingMail[] };
    return Object.assign(sender, {
      async send(mail: OutgoingMail) {
        sender.attempts += 1;
        if (sender.attempts === 1) {
          throw new MailTransportError(
            'mail transport smtp failed: Connection closed unexpectedly',
            new Error('x'),
            outcome,
          );
        }
        sender.sent.push(mail);
        return { messageId: mail.messageId };
      },
    });
  }

  it('does not send again after the transport lost its answer once it handed the mail over: dead-lettered at once, record kept', async () => {
    const sender = failingOnce('unknown');
    const { database, sendOnce } = await setup(sender);
    // 20 ms of the invocation left: the in-progress record stops counting as in progress then.
    const first = sendOnce(job('m-lost'), context(20));
    await expect(first).rejects.toBeInstanceOf(DeliveryOutcomeUnknownError);
    await expect(first).rejects.toMatchObject({
      permanent: true,
      message: expect.stringContaining('Connection closed unexpectedly'),
    });
    const { rows } = await database.query<{ status: string }>('SELECT status FROM idempotency_records');
    expect(rows).toEqual([{ status: 'INPROGRESS' }]);
    // A redelivery (or a redrive) after that finds the record and sends nothing.
    await new Promise((resolve) => setTimeout(resolve, 80));
    await expect(sendOnce(job('m-lost'), context())).rejects.toBeInstanceOf(DeliveryOutcomeUnknownError);
    expect({ attempts: sender.attempts, sent: sender.sent.length }).toEqual({ attempts: 1, sent: 0 });
    await database.close();
  });

  // The mails of one batch are claimed together, and each one's sent record waits (up to the store's
  // cohort wait) for its batch-mates' outcomes, to be recorded in one statement. A mail whose outcome
  // is unknown keeps its in-progress record and records nothing: its batch-mates must not wait for it
  // (with the default second, the wait could push their records past the invocation's deadline).
  it("records a batch-mate's sent mail without waiting for a mail whose outcome is unknown", async () => {
    const database = await open();
    const sender: MailSender = {
      async send(mail) {
        if (mail.to.includes('lost@example.com')) {
          throw new MailTransportError('answer lost', new Error('Connection closed unexpectedly'), 'unknown');
        }
        return { messageId: mail.messageId };
      },
    };
    // A wait longer than the test's own: a batch-mate held for it cannot finish in time.
    const persistenceStore = new PostgresPersistenceLayer({
      database,
      reclaimExpiredInProgress: false,
      cohortWaitMs: 600_000,
    });
    const sendOnce = createSendOnce({ from: 'sidestep@example.com', sender, persistenceStore });
    const [lost, sent] = await Promise.allSettled([
      sendOnce(job('m-unknown', { to: 'lost@example.com' }), context()),
      Promise.race([
        sendOnce(job('m-mate'), context()),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('held for the unknown outcome')), 10_000).unref(),
        ),
      ]),
    ]);
    expect(lost).toMatchObject({ status: 'rejected', reason: expect.any(DeliveryOutcomeUnknownError) });
    expect(sent).toMatchObject({ status: 'fulfilled', value: { replayed: false } });
    const { rows } = await database.query<{ status: string }>(
      'SELECT status FROM idempotency_records ORDER BY status',
    );
    expect(rows).toEqual([{ status: 'COMPLETED' }, { status: 'INPROGRESS' }]);
    await database.close();
  });

  it('sends on the redelivery after a failure before the mail was handed over: the record is released', async () => {
    const sender = failingOnce('not-sent');
    const { database, sendOnce } = await setup(sender);
    await expect(sendOnce(job('m-retry'), context())).rejects.toMatchObject({
      name: 'MailTransportError',
      permanent: false,
    });
    await expect(sendOnce(job('m-retry'), context())).resolves.toMatchObject({ replayed: false });
    expect({ attempts: sender.attempts, sent: sender.sent.length }).toEqual({ attempts: 2, sent: 1 });
    await database.close();
  });

  /**
   * `database`, except that its first `failures` statements matching `statement` fail as an RDS
   * failover fails a statement: 57P01, the server terminated the connection (transient). The
   * workflows budget for failovers; the dispatcher must too. `failed` counts the matching statements.
   */
  function blipping(
    database: Queryable,
    statement: RegExp,
    failures: number,
  ): Queryable & { failed: number } {
    const blips = {
      failed: 0,
      query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
        if (statement.test(sql) && ++blips.failed <= failures) {
          return Promise.reject(
            Object.assign(new Error('terminating connection due to administrator command'), {
              code: '57P01',
            }),
          );
        }
        return database.query<R>(sql, params);
      },
    };
    return blips;
  }

  /** {@link setup} on a database whose first `failures` statements matching `statement` blip. */
  async function setupBlipping(sender: MailSender, statement: RegExp, failures: number) {
    const database = await open();
    const blips = blipping(database, statement, failures);
    const persistenceStore = new PostgresPersistenceLayer({
      database: blips,
      reclaimExpiredInProgress: false,
    });
    const sendOnce = createSendOnce({ from: 'sidestep@example.com', sender, persistenceStore });
    /** SQS delivers the message again after its visibility timeout: past the first invocation's end. */
    const afterVisibilityTimeout = () =>
      database.query(
        'UPDATE idempotency_records SET in_progress_expiry_timestamp = in_progress_expiry_timestamp - 60000',
      );
    return { database, blips, sendOnce, afterVisibilityTimeout };
  }

  describe("a send that did not happen, whose record's release meets a database blip", () => {
    const setupBlippingDeletes = (sender: MailSender, failures: number) =>
      setupBlipping(sender, /^\s*DELETE FROM idempotency_records/, failures);

    it('surfaces the transport error, transient, and sends on the redelivery', async () => {
      const sender = failingOnce('not-sent');
      const { database, sendOnce, afterVisibilityTimeout } = await setupBlippingDeletes(sender, 1);
      await expect(sendOnce(job('m-blip'), context())).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'not-sent',
        permanent: false,
      });
      await afterVisibilityTimeout();
      await expect(sendOnce(job('m-blip'), context())).resolves.toMatchObject({ replayed: false });
      expect({ attempts: sender.attempts, sent: sender.sent.length }).toEqual({ attempts: 2, sent: 1 });
      await database.close();
    });

    it("dead-letters a rejected mail at once with the transport's reason, and a redrive sends it", async () => {
      const sender = failingOnce('rejected');
      const { database, sendOnce, afterVisibilityTimeout } = await setupBlippingDeletes(sender, 1);
      await expect(sendOnce(job('m-rejected'), context())).rejects.toMatchObject({
        name: 'MailTransportError',
        outcome: 'rejected',
        permanent: true,
        message: expect.stringContaining('Connection closed unexpectedly'),
      });
      const { rows } = await database.query('SELECT status FROM idempotency_records');
      expect(rows).toEqual([]);
      // An operator mends the cause (the sender's identity, the address) and redrives the message.
      await afterVisibilityTimeout();
      await expect(sendOnce(job('m-rejected'), context())).resolves.toMatchObject({ replayed: false });
      expect(sender.sent).toHaveLength(1);
      await database.close();
    });

    it('sends once when the message is then delivered twice', async () => {
      const sender = failingOnce('not-sent');
      const { database, sendOnce, afterVisibilityTimeout } = await setupBlippingDeletes(sender, 1);
      await expect(sendOnce(job('m-twice'), context())).rejects.toMatchObject({ name: 'MailTransportError' });
      await afterVisibilityTimeout();
      const outcomes = await Promise.allSettled([
        sendOnce(job('m-twice'), context()),
        sendOnce(job('m-twice'), context()),
      ]);
      const reasons = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
      expect(reasons.map((reason) => (reason as Error).name)).not.toContain('DeliveryOutcomeUnknownError');
      await expect(sendOnce(job('m-twice'), context())).resolves.toMatchObject({ replayed: true });
      expect(sender.sent).toHaveLength(1);
      await database.close();
    });

    it('dead-letters the mail at once, saying it was not sent and its record was kept, when the release never succeeds', async () => {
      const sender = failingOnce('not-sent');
      const { database, blips, sendOnce } = await setupBlippingDeletes(sender, Number.POSITIVE_INFINITY);
      const failure = await sendOnce(job('m-kept'), context()).catch((error: unknown) => error);
      // Permanent: a redelivery would meet the record as a send of unknown outcome, which it is not.
      expect(failure).toMatchObject({
        name: 'UnsentMailRecordKeptError',
        permanent: true,
        idempotencyKey: 'm-kept',
        cause: expect.objectContaining({ name: 'MailTransportError', outcome: 'not-sent' }),
      });
      const { message } = failure as Error;
      for (const part of [
        'mail not sent for idempotency key "m-kept": MailTransportError: mail transport smtp failed: Connection closed unexpectedly',
        'its send-once record could not be released (Error: terminating connection due to administrator command)',
        '`sidestep mail release m-kept` and redrive',
      ]) {
        expect(message).toContain(part);
      }
      expect(blips.failed).toBeGreaterThan(1);
      const { rows } = await database.query('SELECT status FROM idempotency_records');
      expect(rows).toEqual([{ status: 'INPROGRESS' }]);
      expect(sender.sent).toHaveLength(0);
      await database.close();
    });
  });

  // SES or SMTP took the mail; then the database drops the connection (an RDS failover) as the
  // record is marked COMPLETED. The mail was sent: it must neither count as a failure SQS retries
  // nor come back as "delivery outcome unknown" though it is known.
  describe('a sent mail whose COMPLETED record meets a database blip', () => {
    const setupBlippingUpdates = (sender: MailSender, failures: number) =>
      setupBlipping(sender, /^\s*UPDATE idempotency_records AS record\s+SET status = /, failures);

    it('reports the mail sent and marks it COMPLETED: a redelivery replays it', async () => {
      const sender = recordingSender();
      const { database, blips, sendOnce, afterVisibilityTimeout } = await setupBlippingUpdates(sender, 1);
      await expect(sendOnce(job('m-upd'), context())).resolves.toMatchObject({ replayed: false });
      expect(blips.failed).toBe(2);
      const { rows } = await database.query<{ status: string }>('SELECT status FROM idempotency_records');
      expect(rows).toEqual([{ status: 'COMPLETED' }]);
      await afterVisibilityTimeout();
      await expect(sendOnce(job('m-upd'), context())).resolves.toMatchObject({ replayed: true });
      expect(sender.sent).toHaveLength(1);
      await database.close();
    });

    it('reports a whole batch sent through one blip of its one UPDATE', async () => {
      const sender = recordingSender();
      const { database, sendOnce } = await setupBlippingUpdates(sender, 1);
      const ids = Array.from({ length: 10 }, (_, index) => `m-batch-${index}`);
      const outcomes = await Promise.allSettled(ids.map((id) => sendOnce(job(id), context())));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(10).fill('fulfilled'));
      const { rows } = await database.query<{ status: string }>('SELECT status FROM idempotency_records');
      expect(rows).toEqual(Array(10).fill({ status: 'COMPLETED' }));
      expect(sender.sent).toHaveLength(10);
      await database.close();
    });

    /** The reason every mail's dead letter must give when the record is never marked. */
    function expectSentRecordNotCompleted(failure: unknown, key: string) {
      expect(failure).toMatchObject({
        name: 'SentMailRecordNotCompletedError',
        permanent: true,
        idempotencyKey: key,
        messageId: expect.any(String),
        cause: expect.objectContaining({ code: '57P01' }),
      });
      const { message } = failure as Error;
      for (const part of [
        `mail sent for idempotency key "${key}"`,
        'its send-once record could not be marked COMPLETED (Error: terminating connection due to administrator command)',
        'do not redrive',
      ]) {
        expect(message).toContain(part);
      }
    }

    it('dead-letters the mail at once, saying it was sent and its record was not marked, when the update never succeeds; a redrive sends nothing', async () => {
      const sender = recordingSender();
      const { database, blips, sendOnce, afterVisibilityTimeout } = await setupBlippingUpdates(
        sender,
        Number.POSITIVE_INFINITY,
      );
      const failure = await sendOnce(job('m-unmarked'), context()).catch((error: unknown) => error);
      expectSentRecordNotCompleted(failure, 'm-unmarked');
      expect(blips.failed).toBeGreaterThan(1);
      const { rows } = await database.query('SELECT status FROM idempotency_records');
      expect(rows).toEqual([{ status: 'INPROGRESS' }]);
      // An operator redrives it anyway: the record still stands, so nothing is sent twice.
      await afterVisibilityTimeout();
      await expect(sendOnce(job('m-unmarked'), context())).rejects.toBeInstanceOf(
        DeliveryOutcomeUnknownError,
      );
      expect(sender.sent).toHaveLength(1);
      await database.close();
    });

    it('dead-letters every mail of a batch whose UPDATE never succeeds with that reason', async () => {
      const sender = recordingSender();
      const { database, sendOnce } = await setupBlippingUpdates(sender, Number.POSITIVE_INFINITY);
      const ids = ['m-lost-0', 'm-lost-1', 'm-lost-2'];
      const outcomes = await Promise.allSettled(ids.map((id) => sendOnce(job(id), context())));
      outcomes.forEach((outcome, index) => {
        expect(outcome.status).toBe('rejected');
        if (outcome.status === 'rejected') expectSentRecordNotCompleted(outcome.reason, ids[index] as string);
      });
      expect(sender.sent).toHaveLength(3);
      await database.close();
    });
  });

  it("keeps a send's in-progress record for the invocation's remaining time, not the record's lifetime", async () => {
    const { database, sendOnce: cut } = await setup(recordingSender({ hang: true }));
    const startedAt = Date.now();
    // Cut mid-send with 30 s of the function's timeout left: the record must stop counting as in
    // progress then, not after the 19 days a completed record is kept.
    void cut(job('m-2'), context(30_000));
    let row: { status: string; in_progress_expiry_timestamp: string; expiry_timestamp: string } | undefined;
    for (let tries = 0; !row && tries < 100; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ({
        rows: [row],
      } = await database.query<NonNullable<typeof row>>(
        'SELECT status, in_progress_expiry_timestamp, expiry_timestamp FROM idempotency_records',
      ));
    }
    expect(row?.status).toBe('INPROGRESS');
    const inProgressUntil = Number(row?.in_progress_expiry_timestamp);
    expect(inProgressUntil).toBeGreaterThanOrEqual(startedAt + 29_000);
    expect(inProgressUntil).toBeLessThanOrEqual(Date.now() + 30_000);
    // The record itself lives on (seconds since the epoch), so a duplicate is recognised for weeks.
    expect(Number(row?.expiry_timestamp)).toBeGreaterThan(
      startedAt / 1000 + IDEMPOTENCY_RECORD_TTL_SECONDS - 60,
    );
    await database.close();
  });

  it("gives back a mail whose turn at the send rate would come after the invocation's deadline, and sends it when delivered again", async () => {
    const inner = recordingSender();
    // Real time, but waits that return at once: only the order of the slots matters here.
    const pacer = new SendPacer(0.5, { sleep: async () => {} });
    const { database, sendOnce } = await setup(pacedSender(inner, pacer));
    // One second of sending left: the first mail goes at once, the second's turn is 2 s later.
    const remaining = SEND_DEADLINE_MARGIN_MS + 1_000;
    await sendOnce(job('m-1'), context(remaining));
    await expect(sendOnce(job('m-2'), context(remaining))).rejects.toMatchObject({
      name: 'SendDeferredError',
      deferred: true,
    });
    expect(inner.sent).toHaveLength(1);
    // Its idempotency record was released: the redelivery, with time to wait, sends it.
    const again = await sendOnce(job('m-2'), context(30_000));
    expect(again.replayed).toBe(false);
    expect(inner.sent.map((mail) => mail.to)).toEqual([['ops@example.com'], ['ops@example.com']]);
    await database.close();
  });
});

describe('the send-once record', () => {
  const day = 24 * 60 * 60;

  it('outlives every copy of a mail message not redriven: the queue retention, the DLQ retention and a day', () => {
    // A message waits up to its queue's retention, and is then dead-lettered as a new message the DLQ
    // keeps 14 days; a redrive starts a redriven message's retention again.
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
    expect(idempotencyRecordSeconds({ ...service.queue, messageRetentionSeconds: 14 * day })).toBe(
      (14 + 14 + 1) * day,
    );
    // The mail queue states no retention: SQS's default of 4 days.
    expect(IDEMPOTENCY_RECORD_TTL_SECONDS).toBe((4 + 14 + 1) * day);
  });
});
