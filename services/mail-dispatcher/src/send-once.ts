import {
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { MailSendJob } from '@sidestep/contracts';
import { findIdempotencyOutcomeUnknown, PostgresPersistenceLayer } from '@sidestep/idempotency';
import { idempotencyRecordSeconds, SEND_DEADLINE_MARGIN_SECONDS } from '@sidestep/manifest';
import type { Context } from 'aws-lambda';
import { service } from '../service.ts';
import { idempotencyKeyOf } from './domain/compose-mail.ts';
import { type DispatchResult, dispatchMail, type MailSender } from './domain/dispatch-mail.ts';
import {
  DeliveryOutcomeUnknownError,
  IdempotencyKeyReusedError,
  MailTransportError,
  SentMailRecordNotCompletedError,
  UnsentMailRecordKeptError,
} from './errors.ts';

/** The mail queue's record lifetime: 19 days with SQS's default retention of 4 days. */
export const IDEMPOTENCY_RECORD_TTL_SECONDS = idempotencyRecordSeconds(service.queue);

/**
 * How long before the invocation's deadline the last send may start: time for SES's answer (or an
 * SMTP exchange) and for the outcome's record, within the function's 30 s; the mapping's batches are
 * sized for the rest (`pacedForSendRate`).
 */
export const SEND_DEADLINE_MARGIN_MS = SEND_DEADLINE_MARGIN_SECONDS * 1_000;

/** What {@link SendOnce} did: the dispatch's result, and whether it was this call that sent it. */
export interface SendOnceResult extends DispatchResult {
  /** True when nothing was sent: an earlier delivery of the key sent it, and its result is replayed. */
  readonly replayed: boolean;
}

export type SendOnce = (job: MailSendJob, context: Context) => Promise<SendOnceResult>;

/**
 * Wraps {@link dispatchMail} in Powertools idempotency keyed by the mail's idempotency key, with the
 * payload validated so a reused key with another mail is refused instead of silently replayed.
 *
 * Guarantee (README "Mail: exactly once?"): a key is sent at most once. Duplicates after success replay the
 * stored result; a concurrent duplicate sees the in-progress record and is retried later by SQS; a
 * crash after the send but before the record is marked completed leaves an in-progress record that
 * the store refuses to reclaim (`reclaimExpiredInProgress: false`), so the message is dead-lettered as
 * "outcome unknown" instead of being sent again. So does a send whose transport lost its answer after
 * it handed the mail over (`MailTransportError` with outcome `unknown`): Powertools deletes the
 * in-progress record of a function that throws, which would let the redelivery send it again, so that
 * record is kept, and this attempt is dead-lettered at once as `DeliveryOutcomeUnknownError`.
 *
 * Any other failure sent nothing, and its record is released (deleted) so that SQS's redelivery sends
 * the mail; the failure itself is what the call rejects with (a `rejected` send permanent, a
 * `not-sent` one transient). The store retries a release that meets a transient database error; one
 * that still fails would leave the record INPROGRESS, for the next copy to take as a send of unknown
 * outcome, so the call rejects with {@link UnsentMailRecordKeptError} instead: dead-lettered at once,
 * saying the mail was not sent and the record was kept.
 *
 * A mail that was sent is marked COMPLETED; the store retries that update too. One that still fails
 * leaves the record INPROGRESS, and the call rejects with {@link SentMailRecordNotCompletedError}:
 * dead-lettered at once, saying the mail was sent. Not a transient error: SQS's redelivery would meet
 * the record and be dead-lettered as "outcome unknown", a false account of a mail known sent. Not a
 * success either, though SQS would then delete the message and nothing would be sent twice: the
 * database's failure would show only in a log line, and the record, INPROGRESS either way, still
 * makes any later copy of the key (a duplicate delivery, a producer's resend within the record's
 * lifetime; after it a copy is sent again, as after a COMPLETED record) an "outcome unknown" dead
 * letter, which nothing would then explain. The dead letter tells the operator the truth where they
 * look, with the message id, explains such a later one, and its redrive sends nothing.
 */
export function createSendOnce(options: {
  readonly from: string;
  readonly sender: MailSender;
  readonly persistenceStore: BasePersistenceLayer;
}): SendOnce {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'key',
    payloadValidationJmesPath: 'job.payload',
    expiresAfterSeconds: IDEMPOTENCY_RECORD_TTL_SECONDS,
    throwOnNoIdempotencyKey: true,
  });
  // The requests whose mail this process dispatched, with the dispatch's result: Powertools returns
  // a replayed result without calling the function, so a request missing here was answered from the
  // store, and one found here whose call rejects was sent before its record failed.
  const dispatched = new WeakMap<object, DispatchResult>();
  // The requests whose send may have delivered: their in-progress record stays (see above).
  const handedOver = new WeakSet<object>();
  // The failure of each request that sent nothing, whose record Powertools then releases: it
  // rethrows that failure once the record is deleted, or a persistence error when it could not be.
  const unsent = new WeakMap<object, unknown>();
  const send = makeIdempotent(
    async (request: { key: string; job: MailSendJob; notAfter: number }) => {
      try {
        const result = await dispatchMail(request.job, options.from, options.sender, {
          notAfter: request.notAfter,
        });
        dispatched.set(request, result);
        return result;
      } catch (error) {
        if (error instanceof MailTransportError && error.outcome === 'unknown') handedOver.add(request);
        else unsent.set(request, error);
        throw error;
      }
    },
    { persistenceStore: keepingInProgress(options.persistenceStore, handedOver), config },
  );
  return async (job, context) => {
    // The in-progress record expires with the invocation's remaining time, as Powertools intends.
    config.registerLambdaContext(context);
    const key = idempotencyKeyOf(job);
    // A send paced by the send rate starts no later than this, so that it and the outcome's record
    // end within the invocation (the key and the payload check read only `key` and `job.payload`).
    const notAfter = Date.now() + context.getRemainingTimeInMillis() - SEND_DEADLINE_MARGIN_MS;
    const request = { key, job, notAfter };
    try {
      const result = await send(request);
      return { ...result, replayed: !dispatched.has(request) };
    } catch (error) {
      const sent = dispatched.get(request);
      if (sent) {
        // The mail went; only marking its record COMPLETED failed: see above.
        throw new SentMailRecordNotCompletedError(key, sent.messageId, databaseErrorOf(error));
      }
      const failure = unsent.get(request);
      if (unsent.has(request) && error !== failure) {
        throw new UnsentMailRecordKeptError(key, failure, databaseErrorOf(error));
      }
      if (error instanceof IdempotencyValidationError) throw new IdempotencyKeyReusedError(key, error);
      if (error instanceof MailTransportError && error.outcome === 'unknown') {
        throw new DeliveryOutcomeUnknownError(key, error, error.message);
      }
      const unknown = findIdempotencyOutcomeUnknown(error);
      if (unknown) throw new DeliveryOutcomeUnknownError(key, unknown);
      throw error;
    }
  };
}

/** The database's error in Powertools' IdempotencyPersistenceLayerError: its cause. */
function databaseErrorOf(error: unknown): unknown {
  return error instanceof Error && error.cause !== undefined ? error.cause : error;
}

/**
 * `store` as Powertools uses it, except that it does not delete the in-progress record of a request
 * in `keep` (Powertools deletes it when the function throws, passing the function's payload, which is
 * the request object itself): a {@link PostgresPersistenceLayer} is told the record stays, so the
 * mails claimed with it do not wait for its outcome. Every other member is the store's own, bound to
 * it (its private fields need it as `this`).
 */
function keepingInProgress(store: BasePersistenceLayer, keep: WeakSet<object>): BasePersistenceLayer {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'deleteRecord') {
        return async (data: Parameters<BasePersistenceLayer['deleteRecord']>[0]) => {
          if (typeof data === 'object' && data !== null && keep.has(data)) {
            if (target instanceof PostgresPersistenceLayer) target.keepInProgress(data);
            return;
          }
          await target.deleteRecord(data);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
