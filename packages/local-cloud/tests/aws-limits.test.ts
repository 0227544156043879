import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type MessageAttributeValue,
  QueueNameExists,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { EVENT_BRIDGE_TARGET_PREFIX, eventBridgeApi } from '../src/event-bridge-api.ts';
import { createEventRouter } from '../src/event-router.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../src/local-names.ts';
import { createLocalStepFunctions, type LocalStepFunctions } from '../src/step-functions.ts';
import { STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi } from '../src/step-functions-api.ts';
import { LAMBDA_INVOKE } from '../src/task-integrations.ts';
import { errorNameOf } from './error-name-of.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

const MiB = 1024 * 1024;

/** Returns a task result of `$.bytes` characters, behind a catch-all Catch. */
const definition = {
  StartAt: 'Produce',
  States: {
    Produce: {
      Type: 'Task',
      Resource: LAMBDA_INVOKE,
      Parameters: { FunctionName: 'produce', 'Payload.$': '$' },
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Recovered' }],
      End: true,
    },
    Recovered: { Type: 'Succeed' },
  },
};

let endpoint: AwsEndpoint;
let sqs: SQSClient;
let s3: S3Client;
let sfn: SFNClient;
let events: EventBridgeClient;
let sfnLocal: LocalStepFunctions;
let queueUrl: string;

beforeAll(async () => {
  endpoint = await startAwsEndpoint({ port: 0 });
  const client = localClientConfig(endpoint.url);
  sqs = new SQSClient(client);
  s3 = new S3Client({ ...client, forcePathStyle: true });
  sfn = new SFNClient(client);
  events = new EventBridgeClient(client);
  sfnLocal = createLocalStepFunctions({
    stateMachines: [
      { name: 'limits', definition },
      // Runs until stopped.
      {
        name: 'waiting',
        definition: { StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: 3600, End: true } } },
      },
    ],
    integrations: {
      [LAMBDA_INVOKE]: async (parameters) => ({
        Payload: 'x'.repeat((parameters.Payload as { bytes: number }).bytes),
      }),
    },
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    reporter: createCollectingReporter().reporter,
  });
  endpoint.serveJsonApi(STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi(sfnLocal));
  endpoint.serveJsonApi(
    EVENT_BRIDGE_TARGET_PREFIX,
    eventBridgeApi({
      router: createEventRouter({ rules: [], reporter: createCollectingReporter().reporter }),
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
    }),
  );
  await endpoint.createBucket('sidestep-local-limits');
  queueUrl = await createQueue('limits');
});

/** The URL of a new queue named `QueueName`. */
async function createQueue(QueueName: string): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName }))).QueueUrl as string;
}

afterAll(async () => {
  for (const client of [sqs, s3, sfn, events]) client?.destroy();
  await sfnLocal?.stop();
  await endpoint?.stop();
});

/**
 * Sends `body` with `attributes` to `url` (taken) and one byte more of body (refused): a message of
 * exactly SQS's 1 MiB, body and attributes together, and the refusal of the byte past it.
 */
async function expectOneMiBExactly(
  url: string,
  body: string,
  attributes: Record<string, MessageAttributeValue>,
) {
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes: attributes }));
  expect(
    await errorNameOf(
      sqs.send(
        new SendMessageCommand({ QueueUrl: url, MessageBody: `${body}x`, MessageAttributes: attributes }),
      ),
    ),
  ).toBe('InvalidParameterValue');
}

describe('SQS limits', () => {
  // https://aws.amazon.com/about-aws/whats-new/2025/08/amazon-sqs-max-payload-size-1mib/
  it('takes a message of 1 MiB, body and attributes together, and refuses one byte more', async () => {
    const attributes = { type: { DataType: 'String', StringValue: 'mail.send' } };
    const attributeBytes = 'type'.length + 'String'.length + 'mail.send'.length;
    await expectOneMiBExactly(queueUrl, 'x'.repeat(MiB - attributeBytes), attributes);
  });

  it('keeps SQS’s own error codes as the SDK models them', async () => {
    expect(
      await errorNameOf(
        sqs.send(new SendMessageCommand({ QueueUrl: `${queueUrl}-missing`, MessageBody: 'x' })),
      ),
    ).toBe('QueueDoesNotExist');
  });

  // API_CreateQueue: an existing name with other attribute values is QueueNameExists, whose query code
  // (x-amzn-query-error) is QueueAlreadyExists; an error without a query code of its own
  // (InvalidAttributeValue) is sent under its name, unprefixed.
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
  it('names an existing queue’s CreateQueue with other attributes QueueNameExists, and a bad attribute InvalidAttributeValue, as the SDK reads SQS’s query codes', async () => {
    await sqs.send(
      new CreateQueueCommand({ QueueName: 'renamed-attributes', Attributes: { VisibilityTimeout: '30' } }),
    );
    const exists = await sqs
      .send(
        new CreateQueueCommand({ QueueName: 'renamed-attributes', Attributes: { VisibilityTimeout: '60' } }),
      )
      .catch((error: unknown) => error);
    expect(exists).toBeInstanceOf(QueueNameExists);
    expect(exists).toMatchObject({ name: 'QueueNameExists', Code: 'QueueAlreadyExists' });
    expect(
      await errorNameOf(
        sqs.send(
          new CreateQueueCommand({ QueueName: 'bad-attribute', Attributes: { VisibilityTimeout: 'soon' } }),
        ),
      ),
    ).toBe('InvalidAttributeValue');
  });

  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html: a body
  // may hold #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
  it('takes characters above U+FFFF (𠮷 of a Japanese surname, an emoji), alone and in batches, and refuses the control characters SQS refuses', async () => {
    const body = '{"fileName":"名簿-𠮷田 📊.csv"}';
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    const batch = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: body }] }),
    );
    expect(batch.Failed ?? []).toEqual([]);
    for (const refused of ['bell \u0007', 'nul \u0000', 'lone surrogate \uD842', 'not a character \uFFFE']) {
      expect(
        await errorNameOf(sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: refused }))),
      ).toBe('InvalidMessageContents');
    }
  });

  it('refuses batches of more than 10 entries', async () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({
      Id: `m${i}`,
      MessageBody: 'x',
      ReceiptHandle: 'r',
    }));
    expect(
      await errorNameOf(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))),
    ).toBe('TooManyEntriesInBatchRequest');
    expect(
      await errorNameOf(sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))),
    ).toBe('TooManyEntriesInBatchRequest');
  });

  it('refuses a batch whose messages add up to more than 1 MiB', async () => {
    const entries = [0, 1].map((i) => ({ Id: `m${i}`, MessageBody: 'x'.repeat(MiB / 2 + 1) }));
    expect(
      await errorNameOf(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))),
    ).toBe('BatchRequestTooLong');
  });

  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html:
  // "Amazon SQS lets you include structured metadata ... with messages using message attributes" (up
  // to 10 per message); SQS answers an eleventh with InvalidParameterValue and this message.
  const attributes = (count: number) =>
    Object.fromEntries(
      Array.from({ length: count }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: 'v' }]),
    );
  const tooManyAttributes = 'Number of message attributes [11] exceeds the allowed maximum [10].';

  it('takes 10 message attributes and refuses 11 with InvalidParameterValue, queueing nothing', async () => {
    const url = await createQueue('limits-attributes');
    await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: 'ten', MessageAttributes: attributes(10) }),
    );
    const error = await rejectionOf(
      sqs.send(
        new SendMessageCommand({ QueueUrl: url, MessageBody: 'eleven', MessageAttributes: attributes(11) }),
      ),
      Error,
    );
    expect(error).toMatchObject({ name: 'InvalidParameterValue', message: tooManyAttributes });
    expect((await endpoint.peek('limits-attributes'))?.map((message) => message.body)).toEqual(['ten']);
  });

  it('fails a batch entry with 11 message attributes on its own, in Failed, and sends the others', async () => {
    const url = await createQueue('limits-batch-attributes');
    const batch = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'ten', MessageBody: 'ten', MessageAttributes: attributes(10) },
          { Id: 'eleven', MessageBody: 'eleven', MessageAttributes: attributes(11) },
          { Id: 'none', MessageBody: 'none' },
        ],
      }),
    );
    expect(batch.Successful?.map((entry) => entry.Id)).toEqual(['ten', 'none']);
    expect(batch.Failed).toEqual([
      { Id: 'eleven', SenderFault: true, Code: 'InvalidParameterValue', Message: tooManyAttributes },
    ]);
    const alone = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [{ Id: 'eleven', MessageBody: 'eleven', MessageAttributes: attributes(11) }],
      }),
    );
    expect(alone.Successful ?? []).toEqual([]);
    expect(alone.Failed?.map((entry) => entry.Code)).toEqual(['InvalidParameterValue']);
    expect((await endpoint.peek('limits-batch-attributes'))?.map((message) => message.body).sort()).toEqual([
      'none',
      'ten',
    ]);
    // A batch SQS refuses whole is still refused whole, whatever its entries' attributes.
    expect(
      await errorNameOf(
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: [
              { Id: 'same', MessageBody: 'x', MessageAttributes: attributes(11) },
              { Id: 'same', MessageBody: 'y' },
            ],
          }),
        ),
      ),
    ).toBe('BatchEntryIdsNotDistinct');
  });

  // A batch entry's Id "can have up to 80 characters" of alphanumerics, hyphens and underscores
  // (API_SendMessageBatchRequestEntry); fauxqs took any length.
  it('takes a batch entry Id of 80 characters and refuses 81 with InvalidBatchEntryId', async () => {
    const url = await createQueue('limits-batch-ids');
    const batch = (Id: string) =>
      sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id, MessageBody: 'x' }] }));
    expect((await batch('i'.repeat(80))).Successful).toHaveLength(1);
    expect(await errorNameOf(batch('i'.repeat(81)))).toBe('InvalidBatchEntryId');
  });

  // DelaySeconds: "Valid values: 0 to 900" (API_SendMessage, SendMessageBatchRequestEntry).
  it('refuses a DelaySeconds outside 0-900, alone with InvalidParameterValue and in a batch as that entry’s failure', async () => {
    const url = await createQueue('limits-delay');
    for (const DelaySeconds of [901, -1, 3600]) {
      expect(
        await errorNameOf(
          sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds })),
        ),
      ).toBe('InvalidParameterValue');
    }
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'at most', DelaySeconds: 900 }));
    const batch = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'late', MessageBody: 'late', DelaySeconds: 901 },
          { Id: 'now', MessageBody: 'now' },
        ],
      }),
    );
    expect(batch.Successful?.map((entry) => entry.Id)).toEqual(['now']);
    expect(batch.Failed?.map((entry) => [entry.Id, entry.Code, entry.SenderFault])).toEqual([
      ['late', 'InvalidParameterValue', true],
    ]);
  });

  // "The Name, Type, Value, and the message body must not be empty or null"; names of A-Z, a-z, 0-9,
  // _, - and ., not starting with AWS. or Amazon., nor with or at the end a period, nor `..`; types
  // String, Number, Binary with an optional label
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html).
  it.each([
    ['a name starting with AWS.', { 'AWS.trace': { DataType: 'String', StringValue: 'x' } }],
    ['a name starting with amazon.', { 'amazon.x': { DataType: 'String', StringValue: 'x' } }],
    ['a name with two periods in a row', { 'a..b': { DataType: 'String', StringValue: 'x' } }],
    ['a name ending with a period', { 'a.': { DataType: 'String', StringValue: 'x' } }],
    ['a name with a space', { 'a b': { DataType: 'String', StringValue: 'x' } }],
    ['an unknown type', { kind: { DataType: 'Foo', StringValue: 'x' } }],
    ['an empty value', { kind: { DataType: 'String', StringValue: '' } }],
    ['a Number that is no number', { count: { DataType: 'Number', StringValue: 'abc' } }],
  ])('refuses a message attribute with %s with InvalidParameterValue', async (_case, MessageAttributes) => {
    expect(
      await errorNameOf(
        sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x', MessageAttributes })),
      ),
    ).toBe('InvalidParameterValue');
  });

  it('takes attributes at the edges of the rules: a labelled type, periods inside a name, a Number in exponent form', async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: 'x',
        MessageAttributes: {
          'sidestep.error.type': { DataType: 'String', StringValue: 'Boom' },
          size: { DataType: 'Number.bytes', StringValue: '1.5e3' },
          blob: { DataType: 'Binary', BinaryValue: new Uint8Array([1]) },
        },
      }),
    );
  });

  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html:
  // "All parts of the message attribute, including Name, Type, and Value, are part of the message size
  // restriction (1 MiB or 1,048,576 bytes)"; a Binary value is bytes ("any binary data"), which the JSON
  // protocol carries in base64: its size is the bytes', not the base64 text's (4/3 of them).
  it("counts a Binary attribute's bytes toward 1 MiB, not its base64 text's, alone and in a batch", async () => {
    const url = await createQueue('limits-binary');
    const blob = (bytes: number) => ({ blob: { DataType: 'Binary', BinaryValue: new Uint8Array(bytes) } });
    // 'blob' + 'Binary' + the bytes, and the body: 1 MiB exactly.
    await expectOneMiBExactly(
      url,
      'x'.repeat(MiB - 'blob'.length - 'Binary'.length - 300_000),
      blob(300_000),
    );
    const batch = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [0, 1].map((i) => ({ Id: `b${i}`, MessageBody: 'x', MessageAttributes: blob(400_000) })),
      }),
    );
    expect(batch.Successful?.map((entry) => entry.Id)).toEqual(['b0', 'b1']);
  });

  // API_MessageAttributeValue: "For string data types, the Value attribute has the same restrictions
  // on the content as the message body" (API_SendMessage: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to
  // #xFFFD | #x10000 to #x10FFFF), refused as a body's characters are.
  it('refuses a String or Number attribute value holding characters SQS refuses in a body, alone and as that batch entry', async () => {
    const url = await createQueue('limits-attribute-characters');
    for (const refused of ['bell \u0007', 'lone surrogate \uD842', 'not a character \uFFFE']) {
      const attributes = { reason: { DataType: 'String', StringValue: refused } };
      expect(
        await errorNameOf(
          sqs.send(
            new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageAttributes: attributes }),
          ),
        ),
      ).toBe('InvalidMessageContents');
      const batch = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: [
            { Id: 'refused', MessageBody: 'x', MessageAttributes: attributes },
            {
              Id: 'taken',
              MessageBody: 'y',
              MessageAttributes: { reason: { DataType: 'String', StringValue: '𠮷 ok' } },
            },
          ],
        }),
      );
      expect(batch.Failed?.map((entry) => [entry.Id, entry.Code])).toEqual([
        ['refused', 'InvalidMessageContents'],
      ]);
    }
    expect((await endpoint.peek('limits-attribute-characters'))?.map((message) => message.body)).toEqual([
      'y',
      'y',
      'y',
    ]);
  });

  it('fails a batch entry with an empty body on its own, as MissingParameter', async () => {
    const url = await createQueue('limits-batch-empty');
    const batch = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'empty', MessageBody: '' },
          { Id: 'full', MessageBody: 'x' },
        ],
      }),
    );
    expect(batch.Successful?.map((entry) => entry.Id)).toEqual(['full']);
    expect(batch.Failed?.map((entry) => [entry.Id, entry.Code])).toEqual([['empty', 'MissingParameter']]);
    expect((await endpoint.peek('limits-batch-empty'))?.map((message) => message.body)).toEqual(['x']);
  });
});

describe('S3 key length', () => {
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html: "The object key name is a
  // sequence of Unicode characters with UTF-8 encoding of up to 1,024 bytes long"; S3 answers a longer
  // one with 400 KeyTooLongError (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
  const bucket = 'sidestep-local-limits';
  const longest = `keys/${'é'.repeat(509)}x`; // 5 + 1018 + 1 = 1,024 bytes in 515 characters
  const tooLong = `${longest}x`;

  it('takes a key of 1,024 UTF-8 bytes and refuses 1,025 in PutObject, CreateMultipartUpload and CopyObject', async () => {
    expect(Buffer.byteLength(longest)).toBe(1024);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: longest, Body: 'x' }));
    expect(
      await errorNameOf(s3.send(new PutObjectCommand({ Bucket: bucket, Key: tooLong, Body: 'x' }))),
    ).toBe('KeyTooLongError');
    expect(
      await errorNameOf(s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: tooLong }))),
    ).toBe('KeyTooLongError');
    expect(
      await errorNameOf(
        s3.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: tooLong,
            CopySource: `${bucket}/${encodeURIComponent(longest)}`,
          }),
        ),
      ),
    ).toBe('KeyTooLongError');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'keys/' }));
    expect(listed.Contents?.map((object) => object.Key)).toEqual([longest]);
  });

  it('names the size and the limit in the error, as S3 does', async () => {
    const response = await fetch(`${endpoint.url}/${bucket}/${encodeURIComponent(tooLong)}`, {
      method: 'PUT',
      body: 'x',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(
      /<Code>KeyTooLongError<\/Code><Message>Your key is too long<\/Message><Size>1025<\/Size><MaxSizeAllowed>1024<\/MaxSizeAllowed>/,
    );
  });
});

describe('EventBridge PutEvents size', () => {
  // Counted as https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html says
  // (Time 14 bytes if present, Source, DetailType, Detail and each of Resources in UTF-8), summed over
  // the request's entries, against 1 MiB since 2026-01-29
  // (https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb/;
  // 256 KB before); over it, EventBridge refuses the whole request.
  const LIMIT = 1024 * 1024;
  const resource = 'arn:aws:s3:::sidestep-local-imports';
  /** A Detail of exactly `bytes` UTF-8 bytes, mostly 2-byte characters (a count of characters is half). */
  const detailOf = (bytes: number) =>
    `{"p":"${'é'.repeat(Math.floor((bytes - 8) / 2))}${'x'.repeat((bytes - 8) % 2)}"}`;
  const entry = (detailBytes: number, time?: Date): PutEventsRequestEntry => ({
    Source: 'sidestep.test',
    DetailType: 'Size Probe',
    Detail: detailOf(detailBytes),
    Resources: [resource],
    ...(time ? { Time: time } : {}),
  });
  const fixed =
    Buffer.byteLength('sidestep.test') + Buffer.byteLength('Size Probe') + Buffer.byteLength(resource);
  const time = new Date('2026-11-24T03:00:00Z');

  it('takes entries adding up to 1 MiB and refuses one byte more with ValidationException', async () => {
    const rest = LIMIT - 2 * (fixed + 14) - 1000;
    expect(Buffer.byteLength(detailOf(rest))).toBe(rest);
    const taken = await events.send(
      new PutEventsCommand({ Entries: [entry(1000, time), entry(rest, time)] }),
    );
    expect(taken.FailedEntryCount).toBe(0);
    const error = await rejectionOf(
      events.send(new PutEventsCommand({ Entries: [entry(1000, time), entry(rest + 1, time)] })),
      Error,
    );
    expect(error).toMatchObject({
      name: 'ValidationException',
      message: 'Total size of the entries in the request is over the limit.',
    });
    // Without Time, each entry counts 14 bytes less.
    const untimed = await events.send(new PutEventsCommand({ Entries: [entry(1000), entry(rest + 28)] }));
    expect(untimed.FailedEntryCount).toBe(0);
  });
});

describe('S3 multipart limits', () => {
  async function upload(key: string, partSizes: readonly number[]) {
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'sidestep-local-limits', Key: key }),
    );
    const parts = [];
    for (const [index, size] of partSizes.entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({
          Bucket: 'sidestep-local-limits',
          Key: key,
          UploadId,
          PartNumber: index + 1,
          Body: Buffer.alloc(size, 1),
        }),
      );
      parts.push({ ETag, PartNumber: index + 1 });
    }
    return s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sidestep-local-limits',
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  it('refuses a part under 5 MiB that is not the last with EntityTooSmall', async () => {
    expect(await errorNameOf(upload('small-first.csv', [5 * MiB - 1, 10]))).toBe('EntityTooSmall');
  });

  it('takes a last part of any size', async () => {
    const done = await upload('small-last.csv', [5 * MiB, 10]);
    expect(done.Key).toBe('small-last.csv');
  });
});

describe('Step Functions StopExecution', () => {
  // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html: cause "Maximum
  // length of 32768", error "Maximum length of 256"; a longer one is a ValidationException, and nothing
  // is stopped.
  it('refuses a cause over 32,768 characters or an error over 256, leaving the execution running, and takes both at the limit', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: sfnLocal.stateMachineArn('waiting'), input: '{}' }),
    );
    for (const reason of [{ cause: 'c'.repeat(32_769) }, { error: 'e'.repeat(257) }]) {
      expect(await errorNameOf(sfn.send(new StopExecutionCommand({ executionArn, ...reason })))).toBe(
        'ValidationException',
      );
    }
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');
    await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'e'.repeat(256), cause: 'c'.repeat(32_768) }),
    );
    expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
      status: 'ABORTED',
      error: 'e'.repeat(256),
    });
  });
});

describe('Step Functions payload limits', () => {
  it('refuses a StartExecution input over 256 KiB', async () => {
    const padding = 'x'.repeat(256 * 1024);
    expect(
      await errorNameOf(
        sfn.send(
          new StartExecutionCommand({
            stateMachineArn: sfnLocal.stateMachineArn('limits'),
            input: JSON.stringify({ bytes: 1, padding }),
          }),
        ),
      ),
    ).toBe('ValidationException');
  });

  it('fails the execution with States.DataLimitExceeded when a task returns over 256 KiB, past a States.ALL Catch', async () => {
    const stateMachineArn = sfnLocal.stateMachineArn('limits');
    const small = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: '{"bytes":1000}' }));
    expect((await sfnLocal.waitForExecution(small.executionArn as string)).status).toBe('SUCCEEDED');

    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, input: JSON.stringify({ bytes: 256 * 1024 }) }),
    );
    await sfnLocal.waitForExecution(executionArn as string);
    expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
      status: 'FAILED',
      error: 'States.DataLimitExceeded',
      cause: `The state/task '${LAMBDA_INVOKE}' returned a result with a size exceeding the maximum number of bytes service limit.`,
    });
    const history = sfnLocal.describeExecution(executionArn as string).history;
    expect(history.at(-1)).toMatchObject({
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'States.DataLimitExceeded' },
    });
  });
});
