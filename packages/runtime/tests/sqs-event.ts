import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

/**
 * The sample SQS event from the AWS Lambda documentation
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#example-standard-queue-message-event).
 */
const sample = JSON.parse(
  readFileSync(new URL('./events/sqs-event.json', import.meta.url), 'utf8'),
) as SQSEvent;

/** What a test changes in the documented record. */
export interface RecordOverrides {
  readonly body: string;
  readonly messageId?: string;
  readonly messageAttributes?: SQSMessageAttributes;
  readonly receiveCount?: number;
}

/** An SQS event in the documented shape, one record per entry, each with its own id and md5. */
export function sqsEvent(...records: RecordOverrides[]): SQSEvent {
  const template = sample.Records[0] as SQSRecord;
  return {
    Records: records.map(
      (overrides): SQSRecord => ({
        ...structuredClone(template),
        messageId: overrides.messageId ?? randomUUID(),
        body: overrides.body,
        md5OfBody: createHash('md5').update(overrides.body).digest('hex'),
        attributes: {
          ...template.attributes,
          ApproximateReceiveCount: String(overrides.receiveCount ?? 1),
        },
        messageAttributes: overrides.messageAttributes ?? structuredClone(template.messageAttributes),
      }),
    ),
  };
}

/** A Lambda context as the Node.js runtime passes it. */
export function lambdaContext(awsRequestId: string = randomUUID()): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'sidestep-local-test-service',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:sidestep-local-test-service',
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: '/aws/lambda/sidestep-local-test-service',
    logStreamName: '2026/11/24/[$LATEST]a1b2c3',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
