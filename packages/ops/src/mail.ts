import { stat } from 'node:fs/promises';
import type { Message } from '@aws-sdk/client-sqs';
import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyHeaderValue, MAIL_TEMPLATE_NAMES } from '@sidestep/contracts';
import {
  jobMailKeys,
  type MailRecord,
  MailRecordNotReleasableError,
  type ReleasedMail,
} from '@sidestep/ledger';
import { deadLetterQueueName, mailEventLogGroupName } from '@sidestep/manifest';
import { describeCause } from '@sidestep/runtime';
import { auditedInLedger } from './audit.ts';
import { InvalidOptionError, MailMaybeSentError, MailSearchError } from './errors.ts';
import { filterLogGroup } from './log-search.ts';
import { MAIL_EVENTS } from './names.ts';
import type { OpsContext } from './ops-context.ts';
import { type OutboxMailHeaders, outboxMailsWithHeader } from './outbox.ts';
import { attributes, isAccessDenied, isMissingQueue, peekMessages, queueUrl } from './queues.ts';

/** Options of {@link releaseMail}: those of {@link findMail}, for the search it runs first. */
export interface ReleaseMailOptions extends FindMailOptions {
  /** Release without searching first (`--force`): the operator checked by hand. */
  readonly force?: boolean;
}

/** What {@link releaseMail} did, and what the search before it said. */
export interface CheckedReleasedMail extends ReleasedMail {
  /** The verdict of {@link findMail} that let the release through, or `not checked (--force)`. */
  readonly checked: MailVerdict | 'not checked (--force)';
}

/**
 * Releases the send-once record of mail `idempotencyKey` so a redrive of its message sends it. Only an
 * INPROGRESS record is released: that is the record a crash between sending and marking the mail
 * sent leaves behind (the mail-dispatcher dead-letters the message as "delivery outcome unknown"
 * and never reclaims it on its own). A released key is sent again, so the release first runs
 * {@link findMail} and goes ahead only on "not sent", or "no record" without a caveat; `force`
 * skips that search (the operator checked by hand, or the search cannot run). A COMPLETED record (the
 * mail was sent) is refused, and so is a key with no record, an INPROGRESS record whose send may still
 * be running (its in-progress window not over: the ledger refuses it until then), and an expired
 * record (the mail-dispatcher claims its key anew, so a redrive sends the mail with no release):
 * before the search when the ledger's read of the key's job shows it. Recorded in the audit trail, a
 * refusal too.
 *
 * @throws {MailMaybeSentError} the search says "sent", or "no record" with a caveat.
 * @throws {MailSearchError} the search could not run (then check by hand and `force`).
 * @throws {MailRecordNotReleasableError} no record for the key, it is not INPROGRESS, its send may
 *   still be running (`inProgressUntil`), or it expired (`expiredAt`).
 */
export async function releaseMail(
  context: OpsContext,
  idempotencyKey: string,
  options: ReleaseMailOptions = {},
): Promise<CheckedReleasedMail> {
  return auditedInLedger(context, 'mail-release', idempotencyKey, async (ledger) => {
    let checked: CheckedReleasedMail['checked'] = 'not checked (--force)';
    if (!options.force) {
      // The ledger's refusals its read shows first: a record it would not release needs no search.
      const now = options.now ?? new Date();
      const record = await mailRecordOf(context, idempotencyKey);
      if (record && mailRecordExpired(record, now)) {
        // The ledger would delete an expired INPROGRESS one, to no effect: a redrive sends it anyway.
        throw new MailRecordNotReleasableError(idempotencyKey, record.status, {
          expiredAt: new Date(record.expiresAt),
        });
      }
      if (record === null || (record !== undefined && record.status !== 'INPROGRESS')) {
        throw new MailRecordNotReleasableError(idempotencyKey, record?.status);
      }
      const inProgressUntil = record && stillSendingUntil(record, now);
      if (inProgressUntil) {
        throw new MailRecordNotReleasableError(idempotencyKey, record.status, { inProgressUntil });
      }
      const search = await searchMail(context, idempotencyKey, options, async () => record);
      if (search.verdict === 'sent' || search.caveats.length > 0) throw new MailMaybeSentError(search);
      checked = search.verdict;
    }
    return { ...(await ledger.releaseMail(idempotencyKey)), checked };
  });
}

/**
 * How long the log group keeps SES's event records, days: the smallest retention CloudWatch Logs
 * accepts that covers a mail's idempotency record (19 days: `idempotencyRecordSeconds`), as infra's
 * `MailEventLog` sets it (a test checks the two agree). A key claimed longer ago than this may have
 * had records that are gone.
 */
export const MAIL_EVENT_RETENTION_DAYS = 30;

/**
 * The event types that say SES did not send the mail: `Reject` (SES accepted it, found a virus in it
 * and rejected it, without trying to deliver it) and `Rendering Failure` (a templated send SES could
 * not render; https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
 * spells it with a space; the configuration set's event type is RENDERING_FAILURE). Every other type (Send,
 * Delivery, Bounce, Complaint, DeliveryDelay) follows an accepted send.
 */
const NOT_SENT_EVENT_TYPES: readonly string[] = ['Reject', 'Rendering Failure', 'RenderingFailure'];

/**
 * The dead letters of the mail-events rule `mail find` reads at most: past that it says the queue
 * holds at least that many.
 */
const MAIL_EVENT_DEAD_LETTERS_READ = 100;

/** One of SES's event records of a mail, as `mail find` shows it. */
export interface MailEventRecord {
  /** Where it was found: the log group, or the rule's dead-letter queue (EventBridge could not write it). */
  readonly source: 'log group' | 'dead-letter queue';
  /** `detail.eventType`: Send, Delivery, Bounce, Complaint, DeliveryDelay, Reject, Rendering Failure. */
  readonly eventType: string;
  /** When the event happened (the EventBridge event's time). */
  readonly at: Date | null;
  /** `detail.mail.timestamp`: when SES took the send request. */
  readonly sentAt: Date | null;
  /** `detail.mail.destination`: the recipients. */
  readonly destination: readonly string[];
  /** `detail.mail.headersTruncated`: SES cut the headers, so the key's may be missing. */
  readonly headersTruncated: boolean;
  /** `detail.mail.messageId`: SES's message id. */
  readonly messageId: string | null;
}

/** What `mail find` concludes. */
export type MailVerdict = 'sent' | 'not sent' | 'no record';

/** Why a "no record" may not mean the mail was not sent; each is given only when it holds. */
export interface MailSearchCaveat {
  readonly kind: 'headers-truncated' | 'dead-letters' | 'claim-before-retention' | 'claim-unknown';
  readonly message: string;
}

/** What `mail find <key>` found, and what to do. */
export interface MailSearch {
  readonly idempotencyKey: string;
  readonly verdict: MailVerdict;
  /**
   * The key's send-once record, as the ledger's read of it shows it (`sidestep job <jobId>`): its
   * status (`INPROGRESS`, `COMPLETED`); `expired <status>`, one past its lifetime, not purged yet,
   * which the mail-dispatcher's next claim takes anew as if it had none; `none`, a job's mail key with
   * no record (never claimed, or its record expired and was purged); `unknown`, the read cannot tell
   * (not a job's mail key, a job the ledger does not have, a ledger that could not be read). `mail
   * release` releases only an
   * INPROGRESS record, so the advice follows it.
   */
  readonly recordStatus: string;
  /** What to do, in a sentence: what `mail release` and `dlq redrive mail` would do with the key, as its record says. */
  readonly advice: string;
  /** What was read: the log group and the dead-letter queue, or the outbox directory. */
  readonly searched: readonly string[];
  /** The start of the window searched (AWS); null for the outbox (every mail of it). */
  readonly since: Date | null;
  /** When the key was claimed (its idempotency record's `created_at`, the ledger's), when known. */
  readonly claimedAt: Date | null;
  /** SES's records carrying the key (AWS), oldest first. */
  readonly records: readonly MailEventRecord[];
  /** The outbox's mails carrying the key (local). */
  readonly outbox: readonly OutboxMailHeaders[];
  /** Records of the window whose headers SES cut (given with a "no record"): match them by recipient and time. */
  readonly headersTruncated: readonly MailEventRecord[];
  readonly caveats: readonly MailSearchCaveat[];
}

/** Options of {@link findMail}. */
export interface FindMailOptions {
  /** The local cloud's outbox, `<state dir>/outbox` (required locally). */
  readonly outboxDir?: string;
  /** @default new Date() */
  readonly now?: Date;
}

/**
 * Whether a mail with header `X-Sidestep-Idempotency-Key: <idempotencyKey>` went out, for a mail
 * dead-lettered as "delivery outcome unknown", before `mail release` (README, "Mail whose outcome is
 * unknown"). A read: nothing is changed and nothing recorded.
 *
 * On AWS: SES's event records in `/aws/events/sidestep-<env>-mail-events`, found with CloudWatch Logs
 * FilterLogEvents (every page, by `nextToken`) for the key's header value as a quoted term, since the
 * key was claimed (its record's `created_at`, read from the ledger as `sidestep job` shows it) or, when
 * the ledger has no claim of it, over the group's whole retention; each match is kept only when its
 * header is the key exactly (a term matches longer keys too). The rule's dead-letter queue, which holds
 * the records EventBridge could not write, is read as `dlq show` reads it (received and at once made
 * visible again), and its approximate message counts after that: messages another reader (`dlq show`,
 * another `mail find`) holds are not received, but counted. A Send, Delivery, Bounce, Complaint or
 * DeliveryDelay record: "sent"; only Reject or Rendering Failure: "not sent"; none: "no record", with
 * the caveats that hold (records whose headers SES cut in the window, the dead-letter queue holding
 * messages, read or only counted, a claim older than the retention or unknown).
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
 *
 * Locally: the SMTP sink's outbox (`outboxDir`), a mail with the header: "sent"; none: "no record".
 *
 * The advice follows the verdict and the key's send-once record (`recordStatus`), as `mail release`
 * and a redrive treat it: INPROGRESS, release then redrive, once its in-progress window is over
 * (before, when it ends); none, or expired INPROGRESS, the redrive alone (the mail-dispatcher claims
 * a key without a record, or with an expired one, and sends it; `mail release` has nothing to
 * release); COMPLETED, neither (the mail-dispatcher counts it sent); expired COMPLETED, neither (a
 * redrive would send it again); unreadable, check it by hand.
 *
 * @throws {MailSearchError} a call refused (naming its IAM action) or what it reads missing (the log
 *   group, the dead-letter queue, the outbox).
 * @throws {InvalidOptionError} (`field: 'idempotencyKey'`) a key that cannot be a filter term.
 */
export function findMail(
  context: OpsContext,
  idempotencyKey: string,
  options: FindMailOptions = {},
): Promise<MailSearch> {
  return searchMail(context, idempotencyKey, options, () => mailRecordOf(context, idempotencyKey));
}

/** {@link findMail}, the key's record in the ledger read by `recordOf` (for the advice; on AWS, its claim time too). */
async function searchMail(
  context: OpsContext,
  idempotencyKey: string,
  options: FindMailOptions,
  recordOf: () => Promise<MailRecord | null | undefined>,
): Promise<MailSearch> {
  const header = idempotencyKeyHeaderValue(idempotencyKey);
  const now = options.now ?? new Date();
  if (context.environment === 'local') {
    return findInOutbox(idempotencyKey, header, options.outboxDir, recordOf, now);
  }
  // The record is JSON: its header value is written as a JSON string. A quote or backslash in it (an
  // escaped control character) or a character outside ASCII (an RFC 2047 encoded word in the record)
  // cannot be matched as written.
  const term = JSON.stringify(header).slice(1, -1);
  if (/["\\]|[^\x20-\x7e]/.test(term)) {
    throw new InvalidOptionError(
      `idempotencyKey: "${idempotencyKey}" cannot be searched for as a filter term (a quote, a backslash or a character outside ASCII): search ${mailEventLogGroupName(context.environment)} by hand (README, "Mail whose outcome is unknown")`,
      { field: 'idempotencyKey' },
    );
  }
  const retentionStart = new Date(now.getTime() - MAIL_EVENT_RETENTION_DAYS * 86_400_000);
  const record = await recordOf();
  const claimedAt = record ? new Date(record.createdAt) : null;
  // A minute before the claim: the database's clock and EventBridge's need not agree to the second.
  const since =
    claimedAt && claimedAt.getTime() - 60_000 > retentionStart.getTime()
      ? new Date(claimedAt.getTime() - 60_000)
      : retentionStart;
  const group = mailEventLogGroupName(context.environment);
  const [logged, deadLetters] = await Promise.all([
    filterRecords(context, group, `"${term}"`, since, now),
    readDeadLetters(context),
  ]);
  const records = [
    ...logged.filter((record) => record.key === header),
    ...deadLetters.records.filter((record) => record.key === header),
  ].map(({ key: _key, ...record }) => record);
  const others = deadLetters.read - deadLetters.records.filter((record) => record.key === header).length;
  const verdict = verdictOf(records);
  const caveats: MailSearchCaveat[] = [];
  // Records whose headers SES cut can only change a "no record": searched for then alone.
  const truncated =
    verdict === 'no record'
      ? await filterRecords(context, group, '{ $.detail.mail.headersTruncated IS TRUE }', since, now)
      : [];
  if (verdict === 'no record') {
    if (truncated.length > 0) {
      caveats.push({
        kind: 'headers-truncated',
        message: `${truncated.length} record(s) since ${since.toISOString()} have headers SES cut (headersTruncated), so the key may be missing from them: match them by recipient and time`,
      });
    }
    // Messages another reader holds (`dlq show mail-events`, another `mail find`: received, hidden
    // until released) are not received here, so the queue's own counts, read after this receive, say
    // whether it holds more than was read.
    const unread = Math.max(
      deadLetters.notVisible,
      deadLetters.visible + deadLetters.notVisible - deadLetters.read,
    );
    if (others > 0 || unread > 0) {
      const read = `${others}${deadLetters.read >= MAIL_EVENT_DEAD_LETTERS_READ ? ' or more' : ''} record(s) EventBridge could not write to the group (sidestep dlq show mail-events)`;
      const held = deadLetters.notVisible;
      const notReceived = unread - held;
      const why = [
        held > 0
          ? `${held} held by another reader, such as dlq show mail-events or another mail find, as it read`
          : '',
        notReceived > 0
          ? `${notReceived} visible but not received: released by another reader after this search read, or beyond the ${MAIL_EVENT_DEAD_LETTERS_READ} it reads`
          : '',
      ].filter((part) => part !== '');
      const notRead = `${unread} record(s) this search could not read (${why.join('; ')}: SQS's approximate counts; search again)`;
      caveats.push({
        kind: 'dead-letters',
        message: `${deadLetters.queue} holds ${others > 0 ? read : ''}${others > 0 && unread > 0 ? ', and about ' : ''}${unread > 0 ? notRead : ''}: records may be missing from the group`,
      });
    }
    if (claimedAt === null) {
      caveats.push({
        kind: 'claim-unknown',
        message: `${record === null ? 'the key has no send-once record (never claimed, or its record expired and was purged)' : "the ledger has no claim of this key (not a job's mail, or its job is gone)"}: searched the group's whole ${MAIL_EVENT_RETENTION_DAYS}-day retention, and a mail claimed before that has no records left`,
      });
    } else if (claimedAt.getTime() < retentionStart.getTime()) {
      caveats.push({
        kind: 'claim-before-retention',
        message: `the key was claimed ${claimedAt.toISOString()}, more than the group's ${MAIL_EVENT_RETENTION_DAYS}-day retention ago: its records may be gone`,
      });
    }
  }
  const types = [...new Set(records.map((record) => record.eventType))].join(', ');
  const found = {
    sent: `SES accepted it (${types})`,
    'not sent': `SES did not send it (${types} only)`,
    'no record': 'no record of a mail with the key',
  }[verdict];
  return {
    idempotencyKey,
    verdict,
    recordStatus: recordStatusOf(record, now),
    advice: adviceOf(
      idempotencyKey,
      {
        verdict,
        found,
        caveats,
        // SES's records of a send just cut may not be in the group yet.
        ...(verdict === 'no record'
          ? {
              wait: ' (SES publishes its records within minutes, on a best-effort basis: wait for a send just cut)',
            }
          : {}),
      },
      record,
      now,
    ),
    searched: [group, deadLetters.queue],
    since,
    claimedAt,
    records,
    outbox: [],
    headersTruncated: truncated.map(({ key: _key, ...cut }) => cut),
    caveats,
  };
}

/** The local cloud's answer: the outbox's mails with the key's header. */
async function findInOutbox(
  idempotencyKey: string,
  header: string,
  outboxDir: string | undefined,
  recordOf: () => Promise<MailRecord | null | undefined>,
  now: Date,
): Promise<MailSearch> {
  if (!outboxDir) {
    throw new InvalidOptionError('stateDir: the local outbox to search was not given', { field: 'stateDir' });
  }
  try {
    await stat(outboxDir);
  } catch (error) {
    // Said, not taken for "no record": a wrong state dir would have the mail released and sent twice.
    throw new MailSearchError(
      'stateDir',
      `no outbox at ${outboxDir} (${(error as NodeJS.ErrnoException).code ?? describeCause(error)}): the local cloud's SMTP sink keeps it in <state dir>/outbox; name the state dir npm start was given with --state-dir`,
      { resource: outboxDir, cause: error },
    );
  }
  const outbox = await outboxMailsWithHeader(outboxDir, IDEMPOTENCY_KEY_HEADER, header);
  const verdict: MailVerdict = outbox.length > 0 ? 'sent' : 'no record';
  const record = await recordOf();
  const found = verdict === 'sent' ? 'the SMTP sink accepted it' : 'no mail in the outbox carries the key';
  return {
    idempotencyKey,
    verdict,
    recordStatus: recordStatusOf(record, now),
    advice: adviceOf(idempotencyKey, { verdict, found, caveats: [] }, record, now),
    searched: [outboxDir],
    since: null,
    claimedAt: null,
    records: [],
    outbox,
    headersTruncated: [],
    caveats: [],
  };
}

function verdictOf(records: readonly MailEventRecord[]): MailVerdict {
  if (records.some((record) => !NOT_SENT_EVENT_TYPES.includes(record.eventType))) return 'sent';
  return records.length > 0 ? 'not sent' : 'no record';
}

function recordStatusOf(record: MailRecord | null | undefined, now: Date): string {
  if (record === undefined) return 'unknown';
  if (record === null) return 'none';
  return mailRecordExpired(record, now) ? `expired ${record.status}` : record.status;
}

/**
 * Whether the record's lifetime ended before `now`: the mail-dispatcher's next claim of its key then
 * takes it anew, whatever its status, as a key without a record (PostgresPersistenceLayer's claim
 * replaces a record whose `expiry_timestamp` is past), until the job-sweeper purges it. `sidestep
 * job` and the console's job page mark such a record {@link MAIL_RECORD_EXPIRED}.
 */
export function mailRecordExpired(record: Pick<MailRecord, 'expiresAt'>, now: Date = new Date()): boolean {
  return new Date(record.expiresAt).getTime() < now.getTime();
}

/** What an expired send-once record ({@link mailRecordExpired}) means, as a job's mails are listed. */
export const MAIL_RECORD_EXPIRED = 'expired: a redrive sends it again';

/**
 * The end of an INPROGRESS record's in-progress window when it is not over at `now` (its send may
 * still be running, and the ledger refuses to release it before then); undefined otherwise.
 */
function stillSendingUntil(record: MailRecord, now: Date): Date | undefined {
  if (record.status !== 'INPROGRESS' || record.inProgressUntil === null) return undefined;
  const until = new Date(record.inProgressUntil);
  return until.getTime() >= now.getTime() ? until : undefined;
}

/**
 * What to do about mail `idempotencyKey`, as `mail release` and `dlq redrive mail` would treat it:
 * `found` says what the search found (its verdict), `record` is the key's send-once record as
 * {@link mailRecordOf} read it, at `now`. `mail release` releases only an INPROGRESS record, once
 * its in-progress window is over; a redrive of a key without a record is claimed and sent
 * (`PostgresPersistenceLayer`'s claim inserts the record), and so is one of an expired record, whatever
 * its status (the claim replaces it); one of a live COMPLETED record replays its result, sending nothing.
 */
function adviceOf(
  idempotencyKey: string,
  search: {
    readonly verdict: MailVerdict;
    readonly found: string;
    readonly caveats: readonly MailSearchCaveat[];
    /** Said after the release advice: why the operator might wait first. */
    readonly wait?: string;
  },
  record: MailRecord | null | undefined,
  now: Date,
): string {
  const { verdict, found, caveats } = search;
  const redrive = 'sidestep dlq redrive mail';
  const release = `sidestep mail release ${idempotencyKey}, then ${redrive}`;
  // An expired record is none to the mail-dispatcher's next claim: a redrive sends the mail.
  const expired =
    record && mailRecordExpired(record, now)
      ? `its send-once record (${record.status}) expired at ${new Date(record.expiresAt).toISOString()}, so the mail-dispatcher claims the key anew, as one without a record`
      : undefined;
  if (verdict === 'sent') {
    return record === null || expired
      ? `${found}: do not release it; delete its dead letter: ${expired ?? 'the key has no send-once record'}, so a redrive would send it again`
      : `${found}: do not release it; leave its dead letter in the DLQ or delete it`;
  }
  if (expired && record?.status === 'COMPLETED') {
    return `${found}, but the mail-dispatcher marked it sent, and ${expired}: a redrive would send it again, so do not release or redrive it: delete its dead letter`;
  }
  if (expired) {
    return caveats.length > 0
      ? `cannot tell (${caveats.map((caveat) => caveat.kind).join(', ')}): check the records below, or ask the recipient, before redriving: ${expired}: nothing to release, and ${redrive} sends it`
      : `${found}, and ${expired}: nothing to release (mail release refuses it): ${redrive} alone sends it`;
  }
  if (record?.status === 'COMPLETED') {
    return `${found}, but its send-once record is COMPLETED: the mail-dispatcher counts it sent, so do not release or redrive it (mail release refuses it; a redrive sends nothing while the record lives, and sends it again once it expired): delete its dead letter`;
  }
  const [, jobId] = idempotencyKey.split(':');
  const byHand = jobId ? `sidestep job ${jobId}` : "the ledger's idempotency_records";
  if (record && record.status !== 'INPROGRESS') {
    return `${found}, but its send-once record is ${record.status}, not INPROGRESS: mail release refuses it; check the record by hand (${byHand})`;
  }
  const sendingUntil = record && stillSendingUntil(record, now);
  if (sendingUntil) {
    return `${found}, but its send-once record is INPROGRESS and its send may still be running until ${sendingUntil.toISOString()} (the claiming invocation's deadline): mail release refuses it until then: run sidestep mail find ${idempotencyKey} again after that`;
  }
  if (caveats.length > 0) {
    return `cannot tell (${caveats.map((caveat) => caveat.kind).join(', ')}): check the records below, or ask the recipient, before ${record === null ? `redriving: with no send-once record there is nothing to release, and ${redrive} sends it` : 'releasing'}`;
  }
  if (record === null) {
    return `${found}, and it has no send-once record, so nothing to release (mail release refuses it): ${redrive} alone sends it (the mail-dispatcher claims a key without a record and sends it)`;
  }
  if (record === undefined) {
    return `${found}, but its send-once record could not be read: check it by hand (${byHand}): INPROGRESS, ${release}; none, ${redrive} alone; COMPLETED, neither (the mail-dispatcher counts it sent)`;
  }
  return `${found}: ${release}${search.wait ?? ''}`;
}

/**
 * The key's idempotency record (its `created_at` is the key's claim time), which a job's mail key
 * (`<template>:<jobId>[:<attempt>]`) finds among the job's mails as `sidestep job` shows them. Null
 * when the job's mail keys include it and it has no record; undefined when the read cannot tell:
 * another key, a job the ledger does not have, or a ledger that could not be read (said).
 */
async function mailRecordOf(
  context: OpsContext,
  idempotencyKey: string,
): Promise<MailRecord | null | undefined> {
  const [template, jobId] = idempotencyKey.split(':');
  if (!jobId || !MAIL_TEMPLATE_NAMES.some((name) => name === template)) return undefined;
  try {
    const job = await (await context.ledger()).describeJob(jobId);
    const record = job.mails.find((mail) => mail.idempotencyKey === idempotencyKey);
    if (record) return record;
    return jobMailKeys(jobId, job.attempt).includes(idempotencyKey) ? null : undefined;
  } catch (error) {
    // By name: the ops-ledger function's errors come back as LedgerErrors named after theirs.
    if ((error as Error).name !== 'JobNotFoundError') {
      context.warn(
        `cannot read the send-once record of ${idempotencyKey} from the ledger (${describeCause(error)}): the advice cannot tell what mail release would do, and on AWS the search covers the group's whole retention`,
      );
    }
    return undefined;
  }
}

/** An SES event record (an EventBridge event, JSON) with the key its header carries; null when unreadable. */
type KeyedRecord = MailEventRecord & { readonly key: string | null };

function parseRecord(text: string, source: MailEventRecord['source']): KeyedRecord | null {
  let event: {
    time?: unknown;
    detail?: {
      eventType?: unknown;
      mail?: {
        timestamp?: unknown;
        messageId?: unknown;
        destination?: unknown;
        headersTruncated?: unknown;
        headers?: unknown;
      };
    };
  };
  try {
    event = JSON.parse(text);
  } catch {
    return null;
  }
  const mail = event?.detail?.mail;
  if (!mail || typeof event.detail?.eventType !== 'string') return null;
  const date = (value: unknown) => {
    const parsed = typeof value === 'string' ? new Date(value) : null;
    return parsed && Number.isFinite(parsed.getTime()) ? parsed : null;
  };
  const headers = Array.isArray(mail.headers) ? (mail.headers as { name?: unknown; value?: unknown }[]) : [];
  const keyHeader = headers.find(
    (entry) =>
      typeof entry?.name === 'string' && entry.name.toLowerCase() === IDEMPOTENCY_KEY_HEADER.toLowerCase(),
  );
  return {
    source,
    eventType: event.detail.eventType,
    at: date(event.time),
    sentAt: date(mail.timestamp),
    destination: Array.isArray(mail.destination) ? mail.destination.map(String) : [],
    headersTruncated: mail.headersTruncated === true,
    messageId: typeof mail.messageId === 'string' ? mail.messageId : null,
    key: typeof keyHeader?.value === 'string' ? keyHeader.value : null,
  };
}

/** Every record of `group` matching `pattern` between `since` and `until`, page by page, oldest first. */
async function filterRecords(
  context: OpsContext,
  group: string,
  pattern: string,
  since: Date,
  until: Date,
): Promise<KeyedRecord[]> {
  const events = await filterLogGroup(
    context,
    { group, pattern, startTime: since.getTime(), endTime: until.getTime() },
    { statement: 'SearchMailEvents', error: MailSearchError },
  );
  if (events === undefined) {
    throw new MailSearchError(
      'logGroup',
      `log group ${group} does not exist in ${await context.region()}: the stack creates it (MailEventLog); search the recipient's copy instead`,
      { resource: group },
    );
  }
  const records: KeyedRecord[] = [];
  for (const event of events) {
    const record = parseRecord(event.message ?? '', 'log group');
    if (record)
      records.push({ ...record, at: record.at ?? (event.timestamp ? new Date(event.timestamp) : null) });
  }
  return records;
}

/**
 * The mail-events rule's dead letters, read as `dlq show` reads them, and the queue's message counts
 * (GetQueueAttributes) read after them: a message another reader holds is not received.
 */
async function readDeadLetters(context: OpsContext): Promise<{
  readonly queue: string;
  readonly read: number;
  /** The queue's `ApproximateNumberOfMessages` and `ApproximateNumberOfMessagesNotVisible`, after the read. */
  readonly visible: number;
  readonly notVisible: number;
  readonly records: KeyedRecord[];
}> {
  const queue = deadLetterQueueName(context.environment, MAIL_EVENTS);
  let messages: Message[];
  let counts: Record<string, string>;
  try {
    const url = await queueUrl(context, queue);
    messages = await peekMessages(context, url, MAIL_EVENT_DEAD_LETTERS_READ);
    // After the receive, whose own messages it released: what is still not visible another reader holds.
    counts = await attributes(context, url);
  } catch (error) {
    if (isAccessDenied(error)) {
      throw new MailSearchError(
        'queue',
        `access denied reading ${queue} (sqs:GetQueueUrl, sqs:ReceiveMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes): the operator policy's statement ReadRuleDeadLetters (sidestep-${context.environment}-operator) grants it`,
        { action: 'sqs:ReceiveMessage', resource: queue, cause: error },
      );
    }
    if (isMissingQueue(error)) {
      throw new MailSearchError(
        'queue',
        `queue ${queue} does not exist: the stack creates it with the log group (MailEventLog)`,
        { resource: queue, cause: error },
      );
    }
    throw error;
  }
  return {
    queue,
    read: messages.length,
    visible: Number(counts.ApproximateNumberOfMessages ?? 0),
    notVisible: Number(counts.ApproximateNumberOfMessagesNotVisible ?? 0),
    records: messages.flatMap((message) => {
      const record = parseRecord(message.Body ?? '', 'dead-letter queue');
      return record ? [record] : [];
    }),
  };
}
