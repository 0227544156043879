import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';

/** Where a queue lives, to fill `eventSourceARN` and `awsRegion` as Lambda does. */
export interface QueueLocation {
  readonly arn: string;
  readonly region: string;
}

/**
 * A record exactly as Lambda's SQS event source mapping delivers it. Lambda sends
 * `md5OfMessageAttributes: null` when a message has no attributes, which `@types/aws-lambda` does
 * not model, hence the override.
 */
export type SqsEventRecord = Omit<SQSRecord, 'md5OfMessageAttributes'> & {
  md5OfMessageAttributes: string | null;
};

/** The event Lambda passes to a function subscribed to an SQS queue. */
export interface SqsEvent {
  Records: SqsEventRecord[];
}

/** A received SQS message that has everything a record needs. */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
  readonly field: string;
  constructor(field: string) {
    super(`received SQS message has no ${field}`);
    this.field = field;
  }
}

/**
 * Turns ReceiveMessage output into the event Lambda builds: camelCase record fields, system
 * attributes as strings, message attributes in Lambda's `{ stringValue, stringListValues,
 * binaryListValues, dataType }` shape (binary values base64), `eventSource: 'aws:sqs'`.
 * See https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#example-standard-queue-message-event
 */
export function toSqsEvent(messages: readonly Message[], queue: QueueLocation): SqsEvent {
  return { Records: messages.map((message) => toSqsEventRecord(message, queue)) };
}

function toSqsEventRecord(message: Message, queue: QueueLocation): SqsEventRecord {
  if (!message.MessageId) throw new MalformedMessageError('MessageId');
  if (!message.ReceiptHandle) throw new MalformedMessageError('ReceiptHandle');
  const system = message.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: system.ApproximateReceiveCount ?? '1',
    SentTimestamp: system.SentTimestamp ?? String(Date.now()),
    SenderId: system.SenderId ?? '000000000000',
    ApproximateFirstReceiveTimestamp: system.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  // FIFO and tracing attributes appear only when SQS has them, as on AWS.
  for (const key of [
    'SequenceNumber',
    'MessageGroupId',
    'MessageDeduplicationId',
    'AWSTraceHeader',
  ] as const) {
    const value = system[key];
    if (value !== undefined) attributes[key] = value;
  }
  const messageAttributes: Record<string, SQSMessageAttribute> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = toLambdaAttribute(value);
  }
  return {
    messageId: message.MessageId,
    receiptHandle: message.ReceiptHandle,
    body: message.Body ?? '',
    attributes,
    messageAttributes,
    md5OfMessageAttributes: message.MD5OfMessageAttributes ?? null,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: queue.region,
  };
}

function toLambdaAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const attribute: SQSMessageAttribute = {
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map((binary) => Buffer.from(binary).toString('base64')),
    dataType: value.DataType ?? 'String',
  };
  if (value.StringValue !== undefined) attribute.stringValue = value.StringValue;
  if (value.BinaryValue !== undefined)
    attribute.binaryValue = Buffer.from(value.BinaryValue).toString('base64');
  return attribute;
}
