import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sqsAuthorization } from '@sidestep/iam';
import type { EventBridgeEvent } from './event-router.ts';
import { AccessDeniedError, assertAuthorizedForRule, type LocalIam } from './local-iam.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-names.ts';

/** A rule's target and the dead-letter queue EventBridge sends its undelivered events to. */
export interface RuleTargetDeadLetter {
  readonly ruleArn: string;
  readonly targetArn: string;
  /** The target's DLQ, `sidestep-<env>-<rule>-dlq` as infra names it. */
  readonly queueName: string;
  /** Its URL: the queue is created with the rule, as infra creates it with the stack. */
  readonly queueUrl: string;
  readonly sqs: SQSClient;
  /** Checks the DLQ's SendMessage as EventBridge for the rule, on the queue's policy. */
  readonly iam: LocalIam;
}

/**
 * EventBridge could not deliver a rule's event to its target (its FailedInvocations metric): the
 * error code EventBridge gives the event in the DLQ, and where the event went.
 */
export class RuleDeliveryFailedError extends Error {
  override readonly name = 'RuleDeliveryFailedError';
  /** The DLQ's `ERROR_CODE`, e.g. `NO_PERMISSIONS`. */
  readonly errorCode: string;
  /** The DLQ holding the event; `undefined` when sending it there failed too (the event is lost). */
  readonly deadLetterQueue: string | undefined;
  /**
   * @param deadLetter the DLQ the event went to, or why sending it there failed.
   */
  constructor(
    errorCode: string,
    reason: string,
    deadLetter: { readonly queue: string } | { readonly sendError: unknown },
  ) {
    const where =
      'queue' in deadLetter
        ? `the event is in ${deadLetter.queue}`
        : `sending it to the target's dead-letter queue failed too (InvocationsFailedToBeSentToDLQ: ${
            deadLetter.sendError instanceof Error
              ? deadLetter.sendError.message
              : String(deadLetter.sendError)
          }), so the event is lost`;
    super(`${errorCode}: ${reason}; EventBridge does not retry it: ${where}`);
    this.errorCode = errorCode;
    this.deadLetterQueue = 'queue' in deadLetter ? deadLetter.queue : undefined;
  }
}

/**
 * Runs one delivery of a rule's event to a target without a role, as EventBridge does for a target
 * with a dead-letter queue: a call the target's policy refuses (`deliver` throws AccessDeniedError)
 * is not retried, "for errors that result from missing permissions to a target ... EventBridge
 * sends these events directly to the target DLQ"
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html): the event as the
 * body, with `RULE_ARN`, `TARGET_ARN`, `ERROR_CODE` (`NO_PERMISSIONS`) and `ERROR_MESSAGE`. That
 * send is EventBridge's too, so the DLQ's queue policy must allow it for the rule. The delivery
 * then fails with {@link RuleDeliveryFailedError}, which the event router reports. Any other error
 * of `deliver` is rethrown as it is.
 */
export async function deliverOrDeadLetter(
  event: EventBridgeEvent,
  target: RuleTargetDeadLetter,
  deliver: () => Promise<void> | void,
): Promise<void> {
  try {
    await deliver();
    return;
  } catch (error) {
    if (!(error instanceof AccessDeniedError)) throw error;
    const errorCode = 'NO_PERMISSIONS';
    try {
      await sendToDeadLetterQueue(event, target, errorCode, error.message);
    } catch (sendError) {
      throw new RuleDeliveryFailedError(errorCode, error.message, { sendError });
    }
    throw new RuleDeliveryFailedError(errorCode, error.message, { queue: target.queueName });
  }
}

async function sendToDeadLetterQueue(
  event: EventBridgeEvent,
  target: RuleTargetDeadLetter,
  errorCode: string,
  errorMessage: string,
): Promise<void> {
  const { queueName, queueUrl, sqs } = target;
  assertAuthorizedForRule(
    target.iam,
    target.ruleArn,
    sqsAuthorization('SendMessage', { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID, queueName }),
  );
  // A queue deleted since is not made again: EventBridge's send fails, and the event is lost.
  const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify(event),
      MessageAttributes: {
        RULE_ARN: attribute(target.ruleArn),
        TARGET_ARN: attribute(target.targetArn),
        ERROR_CODE: attribute(errorCode),
        ERROR_MESSAGE: attribute(errorMessage),
      },
    }),
  );
}
