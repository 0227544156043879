import type { MessageAttributeValue, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSMessageAttribute, SQSRecord } from 'aws-lambda';

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
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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
 */
export async function sendToDeadLetterQueue(
  sqs: SQSClient,
  queueUrl: string,
  record: SQSRecord,
  error: { readonly name: string; readonly message: string },
): Promise<DeadLetterResult> {
  const own: Record<string, MessageAttributeValue> = {
    [DEAD_LETTER_ATTRIBUTES.errorType]: { DataType: 'String', StringValue: error.name || 'Error' },
    [DEAD_LETTER_ATTRIBUTES.errorMessage]: {
      DataType: 'String',
      StringValue: truncate(error.message || '(no message)', MAX_ERROR_MESSAGE_LENGTH),
    },
    [DEAD_LETTER_ATTRIBUTES.sourceMessageId]: { DataType: 'String', StringValue: record.messageId },
  };
  if (record.eventSourceARN) {
    own[DEAD_LETTER_ATTRIBUTES.sourceQueueArn] = { DataType: 'String', StringValue: record.eventSourceARN };
  }
  const room = MAX_MESSAGE_ATTRIBUTES - Object.keys(own).length;
  // An earlier dead-lettering's attributes (a redriven message failing again) are replaced, not kept twice.
  const originals = Object.entries(record.messageAttributes ?? {}).filter(
    ([name]) => !Object.hasOwn(own, name),
  );
  const kept = originals.slice(0, room);
  const droppedAttributes = originals.slice(room).map(([name]) => name);

  const input: SendMessageCommandInput = {
    QueueUrl: queueUrl,
    MessageBody: record.body,
    MessageAttributes: {
      ...Object.fromEntries(kept.map(([name, value]) => [name, toSendAttribute(value)])),
      ...own,
    },
  };
  // A FIFO source queue has a FIFO dead-letter queue, which requires a group and a deduplication id.
  const groupId = record.attributes.MessageGroupId;
  if (groupId) {
    input.MessageGroupId = groupId;
    input.MessageDeduplicationId = record.messageId;
  }
  // Loaded on the first dead-lettering, not at cold start (most invocations never dead-letter).
  const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
  const output = await sqs.send(new SendMessageCommand(input));
  return { deadLetterMessageId: output.MessageId, droppedAttributes };
}
