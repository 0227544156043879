import { type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { EXTENDED_PAYLOAD_SIZE_ATTRIBUTE, PAYLOAD_S3_POINTER_CLASS } from '@sidestep/contracts';
import type { SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import type { FauxqsServer } from 'fauxqs';
import { z } from 'zod';
import { MAX_ERROR_MESSAGE_LENGTH, SchemaViolationError, sendToDeadLetterQueue } from '../src/index.ts';
import { type LocalSqs, startLocalSqs } from '../src/testing.ts';
import { sqsEvent } from './sqs-event.ts';

let local: LocalSqs;
let server: FauxqsServer;
let sqs: SQSClient;
let queueUrl: string;
let fifoQueueUrl: string;

beforeAll(async () => {
  local = await startLocalSqs();
  ({ server, sqs } = local);
  queueUrl = server.createQueue('sidestep-local-dlq-test-dlq').queueUrl;
  fifoQueueUrl = server.createQueue('sidestep-local-dlq-test-dlq.fifo', {
    attributes: { FifoQueue: 'true' },
  }).queueUrl;
});

afterAll(() => local.stop());

beforeEach(() => server.reset());

async function receiveOne(url: string): Promise<Message> {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
  );
  expect(Messages).toHaveLength(1);
  return Messages?.[0] as Message;
}

function stringAttributes(count: number): SQSMessageAttributes {
  return Object.fromEntries(
    Array.from({ length: count }, (_, i) => [`attr${i}`, { dataType: 'String', stringValue: `value${i}` }]),
  );
}

/** The attributes a dead-lettering gave a message that was then redriven. */
function earlierDeadLettering(): SQSMessageAttributes {
  return {
    'sidestep.error.type': { dataType: 'String', stringValue: 'OldError' },
    'sidestep.error.message': { dataType: 'String', stringValue: 'old reason' },
    'sidestep.source.messageId': { dataType: 'String', stringValue: 'old-id' },
    'sidestep.source.queueArn': { dataType: 'String', stringValue: 'arn:aws:sqs:us-east-1:1:old' },
  };
}

describe('sendToDeadLetterQueue', () => {
  it('keeps as many original attributes as fit beside its own and says which it dropped', async () => {
    const [record] = sqsEvent({ body: '{"a":1}', messageAttributes: stringAttributes(8) }).Records as [
      SQSRecord,
    ];

    const result = await sendToDeadLetterQueue(sqs, queueUrl, record, new Error('boom'));

    const message = await receiveOne(queueUrl);
    const names = Object.keys(message.MessageAttributes ?? {}).sort();
    expect(names).toHaveLength(10);
    expect(names).toEqual(
      [
        'attr0',
        'attr1',
        'attr2',
        'attr3',
        'attr4',
        'attr5',
        'sidestep.error.message',
        'sidestep.error.type',
        'sidestep.source.messageId',
        'sidestep.source.queueArn',
      ].sort(),
    );
    expect(result).toEqual({ deadLetterMessageId: message.MessageId, droppedAttributes: ['attr6', 'attr7'] });
    expect(message.Body).toBe('{"a":1}');
  });

  it('keeps binary and number attributes byte for byte', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const [record] = sqsEvent({
      body: 'x',
      messageAttributes: {
        blob: { dataType: 'Binary', binaryValue: bytes.toString('base64') },
        priority: { dataType: 'Number', stringValue: '5' },
      },
    }).Records as [SQSRecord];

    await sendToDeadLetterQueue(sqs, queueUrl, record, new Error('boom'));

    const attributes = (await receiveOne(queueUrl)).MessageAttributes ?? {};
    expect(Buffer.from(attributes.blob?.BinaryValue ?? new Uint8Array())).toEqual(bytes);
    expect(attributes.blob?.DataType).toBe('Binary');
    expect(attributes.priority).toMatchObject({ DataType: 'Number', StringValue: '5' });
  });

  it('replaces the reason of an earlier dead-lettering instead of keeping both', async () => {
    const [record] = sqsEvent({
      body: '{}',
      messageAttributes: earlierDeadLettering(),
    }).Records as [SQSRecord];
    const parsed = z.object({ id: z.string() }).safeParse({});
    if (parsed.success) throw new Error('expected a schema violation');
    const error = new SchemaViolationError(parsed.error);

    await sendToDeadLetterQueue(sqs, queueUrl, record, error);

    const attributes = (await receiveOne(queueUrl)).MessageAttributes ?? {};
    expect(attributes['sidestep.error.type']?.StringValue).toBe('SchemaViolationError');
    expect(attributes['sidestep.error.message']?.StringValue).toMatch(
      /^job payload violates its schema: id: /,
    );
  });

  it("keeps all of a redriven message's own attributes, its earlier reason taking none of their room", async () => {
    // Dead-lettered once (the sidestep.* ones first), redriven, and failing again.
    const [record] = sqsEvent({
      body: '{}',
      messageAttributes: { ...earlierDeadLettering(), ...stringAttributes(6) },
    }).Records as [SQSRecord];

    const result = await sendToDeadLetterQueue(sqs, queueUrl, record, new Error('boom'));

    const message = await receiveOne(queueUrl);
    expect(result.droppedAttributes).toEqual([]);
    expect(Object.keys(message.MessageAttributes ?? {}).sort()).toEqual(
      [
        ...Object.keys(stringAttributes(6)),
        'sidestep.error.message',
        'sidestep.error.type',
        'sidestep.source.messageId',
        'sidestep.source.queueArn',
      ].sort(),
    );
    expect(message.MessageAttributes?.['sidestep.error.type']?.StringValue).toBe('Error');
    expect(message.MessageAttributes?.['sidestep.source.messageId']?.StringValue).toBe(record.messageId);
  });

  it('keeps the claim-check marker of a pointer with more attributes than fit, wherever it was listed', async () => {
    const body = JSON.stringify([
      PAYLOAD_S3_POINTER_CLASS,
      { s3BucketName: 'sidestep-local-claims-000000000000', s3Key: 'payloads/mail/large-1' },
    ]);
    const [record] = sqsEvent({
      body,
      messageAttributes: {
        ...stringAttributes(8),
        [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]: { dataType: 'Number', stringValue: '2097152' },
      },
    }).Records as [SQSRecord];

    const result = await sendToDeadLetterQueue(sqs, queueUrl, record, new Error('boom'));

    const message = await receiveOne(queueUrl);
    expect(message.Body).toBe(body);
    expect(message.MessageAttributes?.[EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]).toMatchObject({
      DataType: 'Number',
      StringValue: '2097152',
    });
    expect(Object.keys(message.MessageAttributes ?? {})).toHaveLength(10);
    expect(result.droppedAttributes).toEqual(['attr5', 'attr6', 'attr7']);
  });

  it('truncates a long error message to a safe length', async () => {
    const [record] = sqsEvent({ body: '{}' }).Records as [SQSRecord];

    await sendToDeadLetterQueue(sqs, queueUrl, record, new Error('x'.repeat(10_000)));

    const attributes = (await receiveOne(queueUrl)).MessageAttributes ?? {};
    expect(attributes['sidestep.error.message']?.StringValue).toHaveLength(MAX_ERROR_MESSAGE_LENGTH);
  });

  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html:
  // a String value has the same restrictions on its content as the message body.
  it('writes a reason quoting characters SQS refuses with U+FFFD in their place, keeping every other character', async () => {
    const [record] = sqsEvent({ body: '{}' }).Records as [SQSRecord];

    await sendToDeadLetterQueue(
      sqs,
      queueUrl,
      record,
      new Error('payload.a\u0007b: unrecognized key; 𠮷田\uD800 ok'),
    );

    const attributes = (await receiveOne(queueUrl)).MessageAttributes ?? {};
    expect(attributes['sidestep.error.message']?.StringValue).toBe(
      'payload.a\uFFFDb: unrecognized key; 𠮷田\uFFFD ok',
    );
  });

  it('cuts a long reason without leaving half of a character above U+FFFF, which SQS would refuse', async () => {
    const [record] = sqsEvent({ body: '{}' }).Records as [SQSRecord];
    // 𠮷 (two UTF-16 units) straddles the cut at MAX_ERROR_MESSAGE_LENGTH - 1.
    const message = `${'x'.repeat(MAX_ERROR_MESSAGE_LENGTH - 2)}𠮷${'y'.repeat(10)}`;

    await sendToDeadLetterQueue(sqs, queueUrl, record, new Error(message));

    const reason =
      (await receiveOne(queueUrl)).MessageAttributes?.['sidestep.error.message']?.StringValue ?? '';
    // The half is dropped with the rest (shorten), rather than kept and written U+FFFD.
    expect(reason.isWellFormed()).toBe(true);
    expect(reason).toBe(`${'x'.repeat(MAX_ERROR_MESSAGE_LENGTH - 2)}…`);
  });

  it('sends records from a FIFO queue with their group and a deduplication id', async () => {
    const [record] = sqsEvent({ body: '{"fifo":true}' }).Records as [SQSRecord];
    record.attributes.MessageGroupId = 'customer-42';

    await sendToDeadLetterQueue(sqs, fifoQueueUrl, record, new Error('boom'));

    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: fifoQueueUrl, MessageSystemAttributeNames: ['All'] }),
    );
    expect(Messages?.[0]?.Attributes).toMatchObject({
      MessageGroupId: 'customer-42',
      MessageDeduplicationId: record.messageId,
    });
  });
});
