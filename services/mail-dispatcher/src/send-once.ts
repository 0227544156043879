import {
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { MailSendJob } from '@sidestep/contracts';
import { findIdempotencyOutcomeUnknown } from '@sidestep/idempotency';
import type { Context } from 'aws-lambda';
import { idempotencyKeyOf } from './domain/compose-mail.ts';
import { type DispatchResult, dispatchMail, type MailSender } from './domain/dispatch-mail.ts';
import { DeliveryOutcomeUnknownError, IdempotencyKeyReusedError } from './errors.ts';

/**
 * How long a sent mail's record is kept: longer than a message can live in the queue and its DLQ
 * (4 + 14 days), so a redriven duplicate is still recognised.
 */
export const IDEMPOTENCY_RECORD_TTL_SECONDS = 21 * 24 * 60 * 60;

export type SendOnce = (job: MailSendJob, context: Context) => Promise<DispatchResult>;

/**
 * Wraps {@link dispatchMail} in Powertools idempotency keyed by the mail's idempotency key, with the
 * payload validated so a reused key with another mail is refused instead of silently replayed.
 *
 * Guarantee (README "Exactly once?"): a key is sent at most once. Duplicates after success replay the
 * stored result; a concurrent duplicate sees the in-progress record and is retried later by SQS; a
 * crash after the send but before the record is marked completed leaves an in-progress record that
 * the store refuses to reclaim (`reclaimExpiredInProgress: false`), so the message is dead-lettered as
 * "outcome unknown" instead of being sent again.
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
  const send = makeIdempotent(
    async (request: { key: string; job: MailSendJob }) =>
      dispatchMail(request.job, options.from, options.sender),
    { persistenceStore: options.persistenceStore, config },
  );
  return async (job, context) => {
    // The in-progress record expires with the invocation's remaining time, as Powertools intends.
    config.registerLambdaContext(context);
    const key = idempotencyKeyOf(job);
    try {
      return await send({ key, job });
    } catch (error) {
      if (error instanceof IdempotencyValidationError) throw new IdempotencyKeyReusedError(key, error);
      const unknown = findIdempotencyOutcomeUnknown(error);
      if (unknown) throw new DeliveryOutcomeUnknownError(key, unknown);
      throw error;
    }
  };
}
