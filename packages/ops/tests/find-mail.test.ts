import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessDeniedException,
  type FilteredLogEvent,
  FilterLogEventsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { Ledger } from '@sidestep/ledger';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import {
  createOpsContext,
  findMail,
  MailRecordNotReleasableError,
  MailSearchError,
  releaseMail,
} from '../src/index.ts';
import { stagingContext } from './staging-context.ts';

// `sidestep mail find` on AWS: SES's event records (EventBridge events) in the log group, found with
// FilterLogEvents, and the mail-events rule's dead-letter queue; the verdict and its caveats.
const KEY = 'import.failed:imp_1';
const GROUP = '/aws/events/sidestep-staging-mail-events';
const DLQ_URL = 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/sidestep-staging-mail-events-dlq';
const NOW = new Date('2026-12-06T12:00:00Z');
const CLAIMED = new Date('2026-12-05T10:00:00Z');
const TRUNCATED = '{ $.detail.mail.headersTruncated IS TRUE }';

/** An SES event record as the rule writes it: the EventBridge event, the mail's headers in it. */
function sesRecord(
  eventType: string,
  options: { key?: string | null; time?: string; to?: string; headersTruncated?: boolean } = {},
): string {
  const key = options.key === undefined ? KEY : options.key;
  return JSON.stringify({
    version: '0',
    'detail-type': eventType === 'Send' ? 'Email Sent' : `Email ${eventType}`,
    source: 'aws.ses',
    time: options.time ?? '2026-12-05T10:00:02Z',
    detail: {
      eventType,
      mail: {
        timestamp: '2026-12-05T10:00:01.500Z',
        messageId: `0100-${eventType}`,
        destination: [options.to ?? 'ops@example.com'],
        headersTruncated: options.headersTruncated ?? false,
        headers: [
          { name: 'From', value: 'no-reply@mail.example.com' },
          ...(key === null ? [] : [{ name: 'X-Sidestep-Idempotency-Key', value: key }]),
        ],
        tags: { 'ses:configuration-set': ['sidestep-staging-mail'] },
      },
    },
  });
}

const logEvent = (message: string): FilteredLogEvent => ({
  message,
  timestamp: Date.parse('2026-12-05T10:00:02Z'),
});

/**
 * A staging context whose ledger has job imp_1 with mail `KEY` claimed at `claimedAt` (none: no
 * record), whose log group answers `byKey` to the key's filter and `truncated` to the headers-cut
 * one, and whose mail-events DLQ holds `deadLetters` (bodies), its attributes counting them visible
 * unless `dlqCounts` says otherwise (another reader holding some, or releasing them after this read).
 */
function searching(
  options: {
    byKey?: FilteredLogEvent[][];
    truncated?: FilteredLogEvent[];
    deadLetters?: string[];
    dlqCounts?: { visible: number; notVisible: number };
    claimedAt?: Date | null;
    /** The status of the key's send-once record, which the ledger releases only when INPROGRESS. */
    status?: string;
    /** The end of the record's lifetime. @default 19 days after its claim */
    expiresAt?: Date;
    /**
     * The end of its claim's in-progress window, which the ledger refuses to release it before.
     * @default a minute after its claim (over), none for a COMPLETED record
     */
    inProgressUntil?: Date | null;
    /** The ledger's read of the key's job fails (the record cannot be told). */
    ledgerFails?: boolean;
  } = {},
) {
  const staged = stagingContext();
  const claimedAt = options.claimedAt === undefined ? CLAIMED : options.claimedAt;
  const status = options.status ?? 'INPROGRESS';
  const inProgressUntil =
    options.inProgressUntil !== undefined
      ? options.inProgressUntil
      : claimedAt && status === 'INPROGRESS'
        ? new Date(claimedAt.getTime() + 60_000)
        : null;
  const ledgerCalls: string[] = [];
  const released: string[] = [];
  const audits: { action: string; result: string; details: Record<string, unknown> }[] = [];
  const ledger = {
    releaseMail: async (key: string) => {
      if (!claimedAt || status !== 'INPROGRESS') {
        throw new MailRecordNotReleasableError(key, claimedAt ? status : undefined);
      }
      // As the ledger: not before the claim's window is over (NOW: the test's clock).
      if (inProgressUntil && inProgressUntil.getTime() >= NOW.getTime()) {
        throw new MailRecordNotReleasableError(key, status, { inProgressUntil });
      }
      released.push(key);
      return { idempotencyKey: key, recordId: `fn#${key}`, released: 'deleted INPROGRESS record' };
    },
    appendAudit: async (entry: { action: string; result: string; details: Record<string, unknown> }) => {
      audits.push(entry);
    },
    describeJob: async (jobId: string) => {
      ledgerCalls.push(jobId);
      if (options.ledgerFails) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return sampleJobDetail({
        id: jobId,
        mails: claimedAt
          ? [
              {
                idempotencyKey: KEY,
                recordId: `fn#${KEY}`,
                status,
                createdAt: claimedAt,
                expiresAt: options.expiresAt ?? new Date(claimedAt.getTime() + 19 * 86_400_000),
                inProgressUntil,
              },
            ]
          : [],
      });
    },
  } as unknown as Ledger;
  const pages = options.byKey ?? [[]];
  // Another key's search finds nothing.
  staged.logs.on(FilterLogEventsCommand).resolves({ events: [] });
  pages.forEach((events, index) => {
    staged.logs
      .on(FilterLogEventsCommand, {
        filterPattern: `"${KEY}"`,
        ...(index === 0 ? {} : { nextToken: `t${index}` }),
      })
      .resolves({ events, ...(index < pages.length - 1 ? { nextToken: `t${index + 1}` } : {}) });
  });
  staged.logs
    .on(FilterLogEventsCommand, { filterPattern: TRUNCATED })
    .resolves({ events: options.truncated ?? [] });
  staged.sqs
    .on(GetQueueUrlCommand, { QueueName: 'sidestep-staging-mail-events-dlq' })
    .resolves({ QueueUrl: DLQ_URL });
  staged.sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({
      Messages: (options.deadLetters ?? []).map((body, index) => ({
        MessageId: `m-${index}`,
        ReceiptHandle: `r-${index}`,
        Body: body,
      })),
    })
    .resolves({ Messages: [] });
  staged.sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  const counts = options.dlqCounts ?? { visible: options.deadLetters?.length ?? 0, notVisible: 0 };
  staged.sqs.on(GetQueueAttributesCommand, { QueueUrl: DLQ_URL }).resolves({
    Attributes: {
      ApproximateNumberOfMessages: String(counts.visible),
      ApproximateNumberOfMessagesNotVisible: String(counts.notVisible),
    },
  });
  return {
    ...staged,
    ledgerCalls,
    released,
    audits,
    context: { ...staged.context, ledger: async () => ledger },
  };
}

describe('findMail on AWS', () => {
  it('says "sent" for a Send record with the key, searching from its claim, and lists each record', async () => {
    const { context, logs } = searching({
      byKey: [
        [logEvent(sesRecord('Send')), logEvent(sesRecord('Delivery', { time: '2026-12-05T10:00:09Z' }))],
      ],
    });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({
      verdict: 'sent',
      advice: expect.stringContaining('do not release it'),
      searched: [GROUP, 'sidestep-staging-mail-events-dlq'],
      claimedAt: CLAIMED,
      since: new Date(CLAIMED.getTime() - 60_000),
      caveats: [],
      headersTruncated: [],
    });
    expect(found.records).toEqual([
      {
        source: 'log group',
        eventType: 'Send',
        at: new Date('2026-12-05T10:00:02Z'),
        sentAt: new Date('2026-12-05T10:00:01.500Z'),
        destination: ['ops@example.com'],
        headersTruncated: false,
        messageId: '0100-Send',
      },
      expect.objectContaining({ eventType: 'Delivery', at: new Date('2026-12-05T10:00:09Z') }),
    ]);
    expect(
      logs.commandCalls(FilterLogEventsCommand, { filterPattern: `"${KEY}"` })[0]?.args[0].input,
    ).toEqual({
      logGroupName: GROUP,
      filterPattern: `"${KEY}"`,
      startTime: CLAIMED.getTime() - 60_000,
      endTime: NOW.getTime(),
    });
  });

  it('does not search for records whose headers SES cut once a record says "sent": they cannot change it', async () => {
    const { context, logs } = searching({
      byKey: [[logEvent(sesRecord('Send'))]],
      truncated: [logEvent(sesRecord('Send', { key: null, headersTruncated: true }))],
    });
    expect((await findMail(context, KEY, { now: NOW })).verdict).toBe('sent');
    expect(logs.commandCalls(FilterLogEventsCommand).map((call) => call.args[0].input.filterPattern)).toEqual(
      [`"${KEY}"`],
    );
  });

  it('reads every page of the search (nextToken), the record on the last one', async () => {
    const { context, logs } = searching({ byKey: [[], [], [logEvent(sesRecord('Send'))]] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.verdict).toBe('sent');
    expect(
      logs
        .commandCalls(FilterLogEventsCommand, { filterPattern: `"${KEY}"` })
        .map((call) => call.args[0].input.nextToken),
    ).toEqual([undefined, 't1', 't2']);
  });

  it('says "not sent" for only a Reject or Rendering Failure record: release and redrive', async () => {
    for (const eventType of ['Reject', 'Rendering Failure']) {
      const { context } = searching({ byKey: [[logEvent(sesRecord(eventType))]] });
      const found = await findMail(context, KEY, { now: NOW });
      expect(found.verdict).toBe('not sent');
      expect(found.advice).toBe(
        `SES did not send it (${eventType} only): sidestep mail release ${KEY}, then sidestep dlq redrive mail`,
      );
      expect(found.caveats).toEqual([]);
    }
  });

  it('says "sent" when a Reject comes with a Send (a record that SES accepted it wins)', async () => {
    const { context } = searching({ byKey: [[logEvent(sesRecord('Reject')), logEvent(sesRecord('Send'))]] });
    expect((await findMail(context, KEY, { now: NOW })).verdict).toBe('sent');
  });

  it('says "no record", with no caveat, when nothing carries the key: a longer key the term also matches is another mail', async () => {
    const { context } = searching({ byKey: [[logEvent(sesRecord('Send', { key: `${KEY}:2` }))]] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({ verdict: 'no record', records: [], caveats: [], headersTruncated: [] });
    expect(found.advice).toContain(`sidestep mail release ${KEY}, then sidestep dlq redrive mail`);
  });

  it('says, with a "no record", how many records of the window have headers SES cut, and lists them', async () => {
    const cut = sesRecord('Send', { key: null, headersTruncated: true, to: 'someone@example.com' });
    const { context, logs } = searching({ truncated: [logEvent(cut)] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.verdict).toBe('no record');
    expect(found.caveats).toEqual([
      {
        kind: 'headers-truncated',
        message: expect.stringMatching(/^1 record\(s\) since 2026-12-05T09:59:00.000Z/),
      },
    ]);
    expect(found.advice).toMatch(/^cannot tell \(headers-truncated\)/);
    expect(found.headersTruncated).toEqual([
      expect.objectContaining({ destination: ['someone@example.com'], headersTruncated: true }),
    ]);
    expect(logs.commandCalls(FilterLogEventsCommand, { filterPattern: TRUNCATED })).toHaveLength(1);
  });

  it('says, with a "no record", that the mail-events DLQ holds records the group did not get', async () => {
    const { context, sqs } = searching({ deadLetters: [sesRecord('Send', { key: 'export.ready:exp_9' })] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.verdict).toBe('no record');
    expect(found.caveats).toEqual([
      {
        kind: 'dead-letters',
        message: expect.stringContaining('sidestep-staging-mail-events-dlq holds 1 record(s)'),
      },
    ]);
    // Read as `dlq show` reads: made visible again at once.
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)[0]?.args[0].input.Entries).toEqual([
      { Id: '0', ReceiptHandle: 'r-0', VisibilityTimeout: 0 },
    ]);
  });

  it('says, with a "no record", that the mail-events DLQ holds records another reader hid as it was read', async () => {
    // `dlq show mail-events` or another `mail find` received them (hidden 30 s): this receive got none.
    const { context } = searching({ dlqCounts: { visible: 0, notVisible: 1 } });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.verdict).toBe('no record');
    expect(found.caveats).toEqual([
      {
        kind: 'dead-letters',
        message: expect.stringContaining(
          'sidestep-staging-mail-events-dlq holds 1 record(s) this search could not read (1 held by another reader',
        ),
      },
    ]);
  });

  it('says, with a "no record", that the mail-events DLQ holds more records than were read', async () => {
    // Made visible again by another reader only after this receive ended.
    const { context } = searching({ dlqCounts: { visible: 2, notVisible: 0 } });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.caveats.map((caveat) => caveat.kind)).toEqual(['dead-letters']);
    expect(found.caveats[0]?.message).toContain(
      'holds 2 record(s) this search could not read (2 visible but not received: released by another reader after this search read, or beyond the',
    );
  });

  it("counts a record of the key in the mail-events DLQ: a Send there is 'sent'", async () => {
    const { context } = searching({ deadLetters: [sesRecord('Send')] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.verdict).toBe('sent');
    expect(found.records).toEqual([
      expect.objectContaining({ source: 'dead-letter queue', eventType: 'Send' }),
    ]);
  });

  it('searches the whole retention, and says so, for a key claimed before it', async () => {
    const claimedAt = new Date(NOW.getTime() - 31 * 86_400_000);
    const { context, logs } = searching({ claimedAt });
    const found = await findMail(context, KEY, { now: NOW });
    const retentionStart = new Date(NOW.getTime() - 30 * 86_400_000);
    expect(found).toMatchObject({ verdict: 'no record', since: retentionStart, claimedAt });
    expect(found.caveats).toEqual([
      { kind: 'claim-before-retention', message: expect.stringContaining(claimedAt.toISOString()) },
    ]);
    expect(logs.commandCalls(FilterLogEventsCommand)[0]?.args[0].input.startTime).toBe(
      retentionStart.getTime(),
    );
  });

  it("searches the whole retention for a key the ledger has no claim of (not a job's mail key), and says so", async () => {
    const { context, ledgerCalls, logs } = searching();
    const found = await findMail(context, 'mail-123', { now: NOW });
    expect(ledgerCalls).toEqual([]);
    expect(found).toMatchObject({ verdict: 'no record', claimedAt: null });
    expect(found.caveats.map((caveat) => caveat.kind)).toEqual(['claim-unknown']);
    expect(logs.commandCalls(FilterLogEventsCommand)[0]?.args[0].input).toMatchObject({
      filterPattern: '"mail-123"',
      startTime: NOW.getTime() - 30 * 86_400_000,
    });
  });

  it('looks the claim up by the job the key names', async () => {
    const { context, ledgerCalls } = searching();
    await findMail(context, 'export.failed:exp_7:2', { now: NOW });
    expect(ledgerCalls).toEqual(['exp_7']);
  });

  it('fails naming logs:FilterLogEvents and the statement that grants it when access is denied', async () => {
    const { context, logs } = searching();
    logs
      .on(FilterLogEventsCommand)
      .rejects(new AccessDeniedException({ message: 'not authorized', $metadata: {} }));
    const error = await findMail(context, KEY, { now: NOW }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MailSearchError);
    expect(error).toMatchObject({
      field: 'logGroup',
      action: 'logs:FilterLogEvents',
      resource: GROUP,
      message: expect.stringContaining('SearchMailEvents'),
    });
  });

  it('fails naming the log group when it does not exist', async () => {
    const { context, logs } = searching();
    logs
      .on(FilterLogEventsCommand)
      .rejects(
        new ResourceNotFoundException({ message: 'The specified log group does not exist.', $metadata: {} }),
      );
    await expect(findMail(context, KEY, { now: NOW })).rejects.toMatchObject({
      name: 'MailSearchError',
      field: 'logGroup',
      action: null,
      message: expect.stringContaining(`log group ${GROUP} does not exist`),
    });
  });

  it('fails naming sqs:ReceiveMessage when the mail-events DLQ may not be read', async () => {
    const { context, sqs } = searching();
    sqs
      .on(ReceiveMessageCommand)
      .rejects(new SQSServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {} }));
    await expect(findMail(context, KEY, { now: NOW })).rejects.toMatchObject({
      name: 'MailSearchError',
      field: 'queue',
      action: 'sqs:ReceiveMessage',
      resource: 'sidestep-staging-mail-events-dlq',
    });
  });

  it('refuses a key that cannot be a filter term as written, naming the field', async () => {
    const { context, logs } = searching();
    await expect(findMail(context, 'a"b', { now: NOW })).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'idempotencyKey',
    });
    expect(logs.commandCalls(FilterLogEventsCommand)).toHaveLength(0);
  });
});

// The advice names what `mail release` and `dlq redrive mail` will do with the key's send-once record.
describe("findMail's advice by the key's send-once record", () => {
  const RELEASE = `sidestep mail release ${KEY}`;
  const REDRIVE = 'sidestep dlq redrive mail';

  it('advises release, then redrive, for an INPROGRESS record, and gives its status', async () => {
    const { context } = searching({ byKey: [[logEvent(sesRecord('Reject'))]] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({ verdict: 'not sent', recordStatus: 'INPROGRESS' });
    expect(found.advice).toBe(`SES did not send it (Reject only): ${RELEASE}, then ${REDRIVE}`);
  });

  it('advises the redrive alone for a job mail key with no record: the mail-dispatcher claims the key and sends it', async () => {
    const { context } = searching({ claimedAt: null, byKey: [[logEvent(sesRecord('Reject'))]] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({ verdict: 'not sent', recordStatus: 'none' });
    expect(found.advice).not.toContain(RELEASE);
    expect(found.advice).toMatch(
      /no send-once record, so nothing to release.*sidestep dlq redrive mail alone sends it/,
    );
  });

  it('cannot tell about a key with no record and no SES record, and says a redrive would send it', async () => {
    const { context } = searching({ claimedAt: null });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({ verdict: 'no record', recordStatus: 'none' });
    expect(found.caveats).toEqual([
      { kind: 'claim-unknown', message: expect.stringMatching(/^the key has no send-once record/) },
    ]);
    expect(found.advice).toMatch(
      /^cannot tell \(claim-unknown\): .*before redriving: with no send-once record/,
    );
    expect(found.advice).not.toContain(RELEASE);
  });

  it('advises neither release nor redrive for a COMPLETED record: the mail-dispatcher counts the mail sent', async () => {
    for (const byKey of [[[]], [[logEvent(sesRecord('Reject'))]]]) {
      const { context } = searching({ status: 'COMPLETED', byKey });
      const found = await findMail(context, KEY, { now: NOW });
      expect(found.recordStatus).toBe('COMPLETED');
      expect(found.advice).toMatch(/its send-once record is COMPLETED.*do not release or redrive it/);
      expect(found.advice).not.toContain(RELEASE);
    }
  });

  it('says when the record cannot be read, and advises checking it by hand', async () => {
    const { context, warnings } = searching({ ledgerFails: true, byKey: [[logEvent(sesRecord('Reject'))]] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({ verdict: 'not sent', recordStatus: 'unknown' });
    expect(found.advice).toMatch(
      /its send-once record could not be read: check it by hand \(sidestep job imp_1\)/,
    );
    expect(warnings).toEqual([expect.stringContaining('ECONNREFUSED')]);
  });

  it('says to delete, not leave, the dead letter of a sent mail with no record: a redrive would send it again', async () => {
    const { context } = searching({ claimedAt: null, byKey: [[logEvent(sesRecord('Send'))]] });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found.verdict).toBe('sent');
    expect(found.advice).toMatch(
      /do not release it; delete its dead letter: .*a redrive would send it again/,
    );
  });

  it('says when release becomes possible for an INPROGRESS record whose send may still be running, instead of advising it', async () => {
    const until = new Date('2026-12-06T12:05:00Z');
    for (const byKey of [[[]], [[logEvent(sesRecord('Reject'))]]]) {
      const { context } = searching({ inProgressUntil: until, byKey });
      const found = await findMail(context, KEY, { now: NOW });
      expect(found.recordStatus).toBe('INPROGRESS');
      expect(found.advice).toMatch(
        /its send-once record is INPROGRESS and its send may still be running until 2026-12-06T12:05:00\.000Z .*mail release refuses it until then: run sidestep mail find import\.failed:imp_1 again after that/,
      );
      expect(found.advice).not.toContain(RELEASE);
    }
  });

  // The mail-dispatcher claims the key of an expired record (not purged yet) anew, whatever its
  // status, as one without a record (PostgresPersistenceLayer's claim): a redrive sends the mail.
  it('treats an expired INPROGRESS record as none, as the mail-dispatcher does: the redrive alone sends it', async () => {
    const { context } = searching({
      expiresAt: new Date('2026-12-06T11:59:59Z'),
      byKey: [[logEvent(sesRecord('Reject'))]],
    });
    const found = await findMail(context, KEY, { now: NOW });
    expect(found).toMatchObject({ verdict: 'not sent', recordStatus: 'expired INPROGRESS' });
    expect(found.advice).toMatch(
      /its send-once record \(INPROGRESS\) expired at 2026-12-06T11:59:59\.000Z.*nothing to release.*sidestep dlq redrive mail alone sends it/,
    );
    expect(found.advice).not.toContain(RELEASE);
    // With a caveat: check first, then the redrive alone.
    const unsure = searching({
      expiresAt: new Date('2026-12-06T11:59:59Z'),
      deadLetters: [sesRecord('Send', { key: 'other' })],
    });
    const caveated = await findMail(unsure.context, KEY, { now: NOW });
    expect(caveated.advice).toMatch(
      /^cannot tell \(dead-letters\): .*before redriving: its send-once record \(INPROGRESS\) expired at .*nothing to release, and sidestep dlq redrive mail sends it$/,
    );
  });

  it('says a redrive would send again the mail of an expired COMPLETED record: delete its dead letter', async () => {
    for (const byKey of [[[]], [[logEvent(sesRecord('Reject'))]], [[logEvent(sesRecord('Send'))]]]) {
      const { context } = searching({
        status: 'COMPLETED',
        expiresAt: new Date('2026-12-06T11:00:00Z'),
        byKey,
      });
      const found = await findMail(context, KEY, { now: NOW });
      expect(found.recordStatus).toBe('expired COMPLETED');
      expect(found.advice).toContain('COMPLETED) expired at 2026-12-06T11:00:00.000Z');
      expect(found.advice).toMatch(/a redrive would send it again/);
      expect(found.advice).toMatch(/delete its dead letter/);
      expect(found.advice).not.toContain(RELEASE);
      expect(found.advice).not.toMatch(/redrive sends nothing/);
    }
  });

  it('advises mail release exactly where mail release goes ahead', async () => {
    const expired = new Date('2026-12-06T11:00:00Z');
    const states = [
      {},
      { status: 'COMPLETED' },
      { claimedAt: null },
      { inProgressUntil: new Date('2026-12-06T12:05:00Z') },
      { expiresAt: expired },
      { status: 'COMPLETED', expiresAt: expired },
    ];
    const searches = [[[]], [[logEvent(sesRecord('Reject'))]], [[logEvent(sesRecord('Send'))]]];
    for (const state of states) {
      for (const byKey of searches) {
        const { context, released } = searching({ ...state, byKey });
        const found = await findMail(context, KEY, { now: NOW });
        await releaseMail(context, KEY, { now: NOW }).catch(() => undefined);
        expect({ state, verdict: found.verdict, advised: found.advice.includes(RELEASE) }).toEqual({
          state,
          verdict: found.verdict,
          advised: released.length > 0,
        });
      }
    }
  });
});

// `mail release` runs the same search first: a mail that went out, or may have, is not released.
describe('releaseMail after the search', () => {
  it('refuses, naming mail find and --force, a mail the search says was sent, and audits the refusal', async () => {
    const { context, released, audits } = searching({ byKey: [[logEvent(sesRecord('Send'))]] });
    const error = await releaseMail(context, KEY, { now: NOW }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      name: 'MailMaybeSentError',
      field: 'idempotencyKey',
      verdict: 'sent',
      message: expect.stringMatching(/sidestep mail find import\.failed:imp_1.*--force/),
    });
    expect(released).toEqual([]);
    expect(audits).toMatchObject([{ action: 'mail-release', result: 'error' }]);
  });

  it('refuses a "no record" with a caveat, naming it', async () => {
    const { context, released } = searching({ deadLetters: [sesRecord('Send', { key: 'other' })] });
    await expect(releaseMail(context, KEY, { now: NOW })).rejects.toMatchObject({
      name: 'MailMaybeSentError',
      verdict: 'no record',
      caveats: ['dead-letters'],
    });
    expect(released).toEqual([]);
  });

  it('refuses a mail whose search read an empty DLQ while another reader held its records', async () => {
    const { context, released } = searching({ dlqCounts: { visible: 0, notVisible: 1 } });
    await expect(releaseMail(context, KEY, { now: NOW })).rejects.toMatchObject({
      name: 'MailMaybeSentError',
      verdict: 'no record',
      caveats: ['dead-letters'],
    });
    expect(released).toEqual([]);
  });

  it('releases a mail the search says was not sent, or has no record of without a caveat, saying so', async () => {
    for (const [byKey, verdict] of [
      [[[logEvent(sesRecord('Reject'))]], 'not sent'],
      [[[]], 'no record'],
    ] as const) {
      const { context, released, audits } = searching({ byKey: byKey.map((page) => [...page]) });
      expect(await releaseMail(context, KEY, { now: NOW })).toEqual({
        idempotencyKey: KEY,
        recordId: `fn#${KEY}`,
        released: 'deleted INPROGRESS record',
        checked: verdict,
      });
      expect(released).toEqual([KEY]);
      expect(audits).toMatchObject([{ action: 'mail-release', result: 'ok', details: { checked: verdict } }]);
    }
  });

  /** Releases KEY with its record as `state` says: refused as `refusal` says, before any search, audited. */
  async function refusedBeforeSearching(
    state: Parameters<typeof searching>[0],
    refusal: Record<string, unknown>,
  ): Promise<void> {
    const { context, logs, sqs, released, audits } = searching(state);
    await expect(releaseMail(context, KEY, { now: NOW })).rejects.toMatchObject({
      name: 'MailRecordNotReleasableError',
      field: 'idempotencyKey',
      ...refusal,
    });
    expect(logs.commandCalls(FilterLogEventsCommand)).toHaveLength(0);
    expect(sqs.calls()).toHaveLength(0);
    expect(released).toEqual([]);
    expect(audits).toMatchObject([{ action: 'mail-release', result: 'error' }]);
  }

  it('refuses a record the ledger would not release before searching: no search, no release, audited', async () => {
    await refusedBeforeSearching({ status: 'COMPLETED' }, { status: 'COMPLETED' });
  });

  it('refuses, before searching, an INPROGRESS record whose send may still be running, saying until when', async () => {
    const until = new Date('2026-12-06T12:05:00Z');
    await refusedBeforeSearching(
      { inProgressUntil: until },
      {
        status: 'INPROGRESS',
        inProgressUntil: until,
        message: expect.stringContaining('may still be running until 2026-12-06T12:05:00.000Z'),
      },
    );
  });

  it('refuses, before searching, an expired record: the mail-dispatcher claims its key anew, so the redrive alone sends it', async () => {
    const expiredAt = new Date('2026-12-06T11:00:00Z');
    await refusedBeforeSearching(
      { expiresAt: expiredAt },
      {
        status: 'INPROGRESS',
        expiredAt,
        message: expect.stringMatching(
          /expired at 2026-12-06T11:00:00\.000Z.*a redrive sends it without a release/,
        ),
      },
    );
  });

  it('refuses, before searching, a job mail key the ledger has no record of', async () => {
    await refusedBeforeSearching({ claimedAt: null }, { status: undefined });
  });

  it('releases with force without searching', async () => {
    const { context, logs, sqs, released } = searching({ byKey: [[logEvent(sesRecord('Send'))]] });
    expect(await releaseMail(context, KEY, { force: true })).toMatchObject({
      checked: 'not checked (--force)',
    });
    expect(released).toEqual([KEY]);
    expect(logs.calls()).toHaveLength(0);
    expect(sqs.calls()).toHaveLength(0);
  });

  it('fails, releasing nothing, when the search cannot run', async () => {
    const { context, logs, released } = searching();
    logs.on(FilterLogEventsCommand).rejects(new AccessDeniedException({ message: 'no', $metadata: {} }));
    await expect(releaseMail(context, KEY, { now: NOW })).rejects.toMatchObject({ name: 'MailSearchError' });
    expect(released).toEqual([]);
  });
});

describe('findMail locally', () => {
  const dir = mkdtempSync(join(tmpdir(), 'find-mail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const context = createOpsContext({ environment: 'local', warn: () => {} });
  /** The local context, its ledger holding job imp's (or `key`'s job's) mail record of `status` (null: none). */
  const withRecord = (status: string | null | 'fails', key = 'import.failed:imp') => {
    const jobId = key.split(':')[1] ?? '';
    const ledger = {
      describeJob: async () => {
        if (status === 'fails') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return sampleJobDetail({
          id: jobId,
          mails:
            status === null
              ? []
              : [
                  {
                    idempotencyKey: key,
                    recordId: `fn#${key}`,
                    status,
                    createdAt: CLAIMED,
                    expiresAt: new Date('2100-01-01T00:00:00Z'),
                    inProgressUntil: null,
                  },
                ],
        });
      },
    } as unknown as Ledger;
    return { ...context, ledger: async () => ledger };
  };
  const mail = (key: string, extra = '') =>
    `From: a@example.com\r\nTo: ops@example.com\r\nSubject: =?UTF-8?Q?Import_failed=3A_u.csv?=\r\n${extra}X-Sidestep-Idempotency-Key:\r\n ${key}\r\nMessage-ID: <m@x>\r\n\r\nX-Sidestep-Idempotency-Key: ${KEY}\r\n`;
  writeFileSync(join(dir, '2026-12-05T10-00-00-a.eml'), mail(KEY));
  writeFileSync(join(dir, '2026-12-05T10-00-01-b.eml'), mail(`${KEY}:2`));
  // The sink's temp file of a mail being written: not a mail of the outbox yet.
  writeFileSync(join(dir, '.2026-12-05T10-00-02-c.eml.tmp'), mail(KEY));

  it('says "sent" with the outbox mail whose header (folded) is the key exactly', async () => {
    const found = await findMail(withRecord('INPROGRESS', KEY), KEY, { outboxDir: dir });
    expect(found).toMatchObject({ verdict: 'sent', searched: [dir], caveats: [], records: [] });
    expect(found.outbox).toEqual([
      {
        file: '2026-12-05T10-00-00-a.eml',
        to: 'ops@example.com',
        subject: 'Import failed: u.csv',
        date: null,
        messageId: '<m@x>',
      },
    ]);
  });

  it('says "no record" for a key that is only the start of a mail\'s key', async () => {
    const found = await findMail(withRecord('INPROGRESS'), 'import.failed:imp', { outboxDir: dir });
    expect(found).toMatchObject({ verdict: 'no record', outbox: [], recordStatus: 'INPROGRESS' });
    expect(found.advice).toContain('sidestep mail release import.failed:imp, then sidestep dlq redrive mail');
  });

  it("advises by the key's send-once record: release for INPROGRESS, the redrive alone for none, neither for COMPLETED", async () => {
    const key = 'import.failed:imp_2';
    const advice = async (status: string | null | 'fails') =>
      (await findMail(withRecord(status, key), key, { outboxDir: dir })).advice;
    expect(await advice('INPROGRESS')).toBe(
      `no mail in the outbox carries the key: sidestep mail release ${key}, then sidestep dlq redrive mail`,
    );
    expect(await advice(null)).toMatch(
      /^no mail in the outbox carries the key, and it has no send-once record, so nothing to release .*sidestep dlq redrive mail alone sends it/,
    );
    expect(await advice('COMPLETED')).toMatch(
      /its send-once record is COMPLETED.*do not release or redrive it/,
    );
    expect(await advice('fails')).toMatch(/its send-once record could not be read: check it by hand/);
  });

  it('fails, rather than say "no record", for an outbox that is not there', async () => {
    await expect(findMail(context, KEY, { outboxDir: join(dir, 'missing') })).rejects.toMatchObject({
      name: 'MailSearchError',
      field: 'stateDir',
    });
  });

  afterAll(() => context.close());
});
