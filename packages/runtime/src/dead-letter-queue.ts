import type { MessageAttributeValue, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import {
  CLAIM_CHECK_MARKER_ATTRIBUTES,
  CLAIM_CHECK_PREFIXES,
  messageSize,
  NOT_SQS_TEXT,
  SQS_MESSAGE_SIZE_LIMIT_BYTES,
  shorten,
} from '@sidestep/contracts';
import type { SQSMessageAttribute, SQSRecord } from 'aws-lambda';
import type { ClaimCheckStore } from './claim-check.ts';

/** Message attributes the runtime adds to every dead-lettered message. */
export const DEAD_LETTER_ATTRIBUTES = {
  /** The error's `name`, e.g. `SchemaViolationError`. */
  errorType: 'sidestep.error.type',
  /** The error's message (names the field or reason), truncated to {@link MAX_ERROR_MESSAGE_LENGTH}. */
  errorMessage: 'sidestep.error.message',
  /** The message id the job had on its source queue. */
  sourceMessageId: 'sidestep.source.messageId',
  /** The source queue's ARN, so an operator's redrive knows where the message came from. */
  sourceQueueArn: 'sidestep.source.queueArn',
} as const;

/** SQS accepts at most 10 message attributes per message. */
export const MAX_MESSAGE_ATTRIBUTES = 10;

/**
 * Upper bound for `sidestep.error.message`. Attribute values count towards the message size limit,
 * and the original body may already be close to it; the full message is in the logs.
 */
export const MAX_ERROR_MESSAGE_LENGTH = 1024;

/** What {@link sendToDeadLetterQueue} did with the original message attributes. */
export interface DeadLetterResult {
  /** The MessageId the dead-letter queue assigned. */
  readonly deadLetterMessageId: string | undefined;
  /** Original attributes that did not fit next to the runtime's own (SQS allows 10). */
  readonly droppedAttributes: readonly string[];
  /**
   * Where the body went when body and attributes together were over the SQS limit: the dead-letter
   * message is then a claim-check pointer to it. `undefined` when the body went as it was.
   */
  readonly claimCheck?: { readonly bucket: string; readonly key: string };
}

/**
 * `text` as a String attribute's value SQS takes: "the Value attribute has the same restrictions on
 * the content as the message body" (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html),
 * so a reason quoting a control character (a zod message naming a key written as `"a\u0007b"`) would
 * fail the dead-letter send, and the message would be moved later by the redrive policy without its
 * reason. Each refused character becomes U+FFFD.
 */
function sqsText(text: string): string {
  return text.replace(NOT_SQS_TEXT, '\uFFFD');
}

/** Lambda's event shape (camelCase, binary as base64) back to SendMessage's shape. */
function toSendAttribute(value: SQSMessageAttribute): MessageAttributeValue {
  if (value.dataType.startsWith('Binary')) {
    return { DataType: value.dataType, BinaryValue: Buffer.from(value.binaryValue ?? '', 'base64') };
  }
  return { DataType: value.dataType, StringValue: value.stringValue ?? '' };
}

/**
 * Sends a record that failed permanently to the dead-letter queue: the original body unchanged, the
 * original message attributes (as many as fit beside the runtime's own), and the reason as
 * `sidestep.error.*` attributes. The caller then lets the source queue delete the record.
 *
 * This is a direct SendMessage instead of SQS's redrive policy because the redrive only moves a
 * message after maxReceiveCount receives: a payload that can never succeed would be retried that
 * many times first, and the redriven copy would not say why it failed.
 *
 * The reason never gets lost to the size limit: when the body and the attributes together exceed
 * what SQS accepts (a body near 1 MiB fits alone, not with the reason beside it), the body is stored
 * in the claim-check bucket under `dead-letters/<source queue>/<message id>` and the dead-letter
 * message is a claim-check pointer to it, with the reason. Without a `claimCheck` store such a send
 * fails, so the caller reports the record for a retry instead of losing it.
 */
export async function sendToDeadLetterQueue(
  sqs: SQSClient,
  queueUrl: string,
  record: SQSRecord,
  error: { readonly name: string; readonly message: string },
  options: { readonly claimCheck?: ClaimCheckStore } = {},
): Promise<DeadLetterResult> {
  const own: Record<string, MessageAttributeValue> = {
    [DEAD_LETTER_ATTRIBUTES.errorType]: { DataType: 'String', StringValue: sqsText(error.name || 'Error') },
    [DEAD_LETTER_ATTRIBUTES.errorMessage]: {
      DataType: 'String',
      // Cut, then cleaned: a cut through a surrogate pair leaves half of it, which SQS refuses too.
      StringValue: sqsText(shorten(error.message || '(no message)', MAX_ERROR_MESSAGE_LENGTH)),
    },
    [DEAD_LETTER_ATTRIBUTES.sourceMessageId]: { DataType: 'String', StringValue: record.messageId },
  };
  if (record.eventSourceARN) {
    own[DEAD_LETTER_ATTRIBUTES.sourceQueueArn] = { DataType: 'String', StringValue: record.eventSourceARN };
  }
  const message = (body: string, runtime: Record<string, MessageAttributeValue>) => {
    const room = MAX_MESSAGE_ATTRIBUTES - Object.keys(runtime).length;
    // An earlier dead-lettering's attributes (a redriven message failing again) are replaced, not kept twice.
    // A claim check's marker goes first: without it the pointer body would not read as one.
    const originals = Object.entries(record.messageAttributes ?? {})
      .filter(([name]) => !Object.hasOwn(runtime, name))
      .sort(
        ([a], [b]) =>
          Number(CLAIM_CHECK_MARKER_ATTRIBUTES.includes(b)) -
          Number(CLAIM_CHECK_MARKER_ATTRIBUTES.includes(a)),
      );
    const kept = originals.slice(0, room);
    const attributes = {
      ...Object.fromEntries(kept.map(([name, value]) => [name, toSendAttribute(value)])),
      ...runtime,
    };
    return { body, attributes, dropped: originals.slice(room).map(([name]) => name) };
  };
  let sent = message(record.body, own);
  let claimCheck: DeadLetterResult['claimCheck'];
  if (messageSize(sent.body, sent.attributes) > SQS_MESSAGE_SIZE_LIMIT_BYTES && options.claimCheck) {
    const sourceQueue = record.eventSourceARN?.split(':').at(-1) || 'unknown-queue';
    const stored = await options.claimCheck.store(
      CLAIM_CHECK_PREFIXES.deadLetters,
      `${sourceQueue}/${record.messageId}`,
      record.body,
    );
    sent = message(stored.body, { ...(stored.attributes as Record<string, MessageAttributeValue>), ...own });
    claimCheck = stored.pointer;
  }
  const droppedAttributes = sent.dropped;

  const input: SendMessageCommandInput = {
    QueueUrl: queueUrl,
    MessageBody: sent.body,
    MessageAttributes: sent.attributes,
  };
  // A FIFO source queue has a FIFO dead-letter queue, which requires a group and a deduplication id.
  const groupId = record.attributes.MessageGroupId;
  if (groupId) {
    input.MessageGroupId = groupId;
    input.MessageDeduplicationId = record.messageId;
  }
  // Loaded on the first dead-lettering, not at cold start (most invocations never dead-letter).
  const { SendMessageCommand } = await import('./dead-letter-sqs.ts');
  const output = await sqs.send(new SendMessageCommand(input));
  return { deadLetterMessageId: output.MessageId, droppedAttributes, ...(claimCheck ? { claimCheck } : {}) };
}
