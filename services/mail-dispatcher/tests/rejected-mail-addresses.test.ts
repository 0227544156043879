import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import { type LocalSqs, startLocalSqs } from '@sidestep/runtime/testing';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { SMTPServer } from 'smtp-server';

/** The recipient every refusal below names: it must reach neither the logs nor the DLQ's attributes. */
const RECIPIENT = 'jane.doe@example.com';
const DLQ_NAME = 'sidestep-test-mail-dlq';

// SES v2 SendEmail in the sandbox, to a recipient that is not a verified identity: HTTP 400
// MessageRejected naming the address (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error;
// in the sandbox every recipient must be verified too:
// https://docs.aws.amazon.com/ses/latest/dg/verify-addresses-and-domains.html).
const ses = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'MessageRejected' });
    response.end(
      JSON.stringify({
        message: `Email address is not verified. The following identities failed the check in region EU-WEST-1: ${RECIPIENT}`,
      }),
    );
  });
});

// An SMTP relay refusing the recipient as Postfix words it: the reply names the address, and
// nodemailer's error carries it again as `rejected` and `rejectedErrors[].recipient`.
const smtp = new SMTPServer({
  logger: false,
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  closeTimeout: 100,
  onRcptTo(address, _session, callback) {
    callback(
      Object.assign(
        new Error(
          `5.1.1 <${address.address}>: Recipient address rejected: User unknown in virtual mailbox table`,
        ),
        { responseCode: 550 },
      ),
    );
  },
});

let postgres: EmbeddedPostgres;
let local: LocalSqs;
let deadLetterQueueUrl: string;

beforeAll(async () => {
  [postgres, local] = await Promise.all([startEmbeddedPostgres(), startLocalSqs()]);
  local.server.createQueue(DLQ_NAME);
  // The path form: the host of the emulator's own (`sqs.<region>.127.0.0.1`) is no valid URL host,
  // which the SDK's queue URL check warns about.
  deadLetterQueueUrl = `${local.endpoint}/000000000000/${DLQ_NAME}`;
  await new Promise<void>((resolve) => ses.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  ses.closeAllConnections();
  await new Promise<void>((resolve) => ses.close(() => resolve()));
  await local.stop();
  await postgres.close();
});

afterEach(() => {
  jest.restoreAllMocks();
});

function record(id: string): SQSRecord {
  const body = JSON.stringify({
    type: 'mail.send',
    version: 1,
    id,
    payload: {
      template: 'export.failed',
      to: RECIPIENT,
      params: { jobId: 'exp_1', reason: 'database unavailable' },
      jobId: 'exp_1',
    },
  });
  return {
    messageId: `m-${id}`,
    receiptHandle: `r-${id}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:sidestep-test-mail',
    awsRegion: 'eu-west-1',
  };
}

const lambdaContext = {
  awsRequestId: 'req-1',
  functionName: 'sidestep-test-mail-dispatcher',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:sidestep-test-mail-dispatcher',
  memoryLimitInMB: '512',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

/**
 * Loads src/handler.ts afresh with `transport`'s environment (it reads its configuration and creates
 * its sender at cold start), runs it on one mail job, and returns the batch response, everything
 * written to stdout and stderr (where Powertools logs), and the dead-lettered message's attributes.
 */
async function runHandler(transport: Record<string, string>, id: string) {
  const saved = { ...process.env };
  Object.assign(process.env, {
    ...transport,
    AWS_ENDPOINT_URL_SQS: local.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    DATABASE_URL: postgres.url,
    MAIL_FROM: 'no-reply@mail.example.com',
    DEAD_LETTER_QUEUE_URL: deadLetterQueueUrl,
    POWERTOOLS_SERVICE_NAME: 'mail-dispatcher',
    POWERTOOLS_DEV: '',
  });
  const written: string[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
  }
  let response: SQSBatchResponse | undefined;
  try {
    await jest.isolateModulesAsync(async () => {
      const { handler } = await import('../src/handler.ts');
      response = await handler({ Records: [record(id)] } as SQSEvent, lambdaContext);
    });
  } finally {
    jest.restoreAllMocks();
    process.env = saved;
  }
  const { Messages = [] } = await local.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: deadLetterQueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
    }),
  );
  expect(Messages).toHaveLength(1);
  const attributes = Object.fromEntries(
    Object.entries(Messages[0]!.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue]),
  );
  return { response, output: written.join(''), attributes };
}

describe('mail-dispatcher handler: a mail the transport rejects', () => {
  it('logs and dead-letters an SES sandbox refusal with its code and reason, without the recipient’s address', async () => {
    const { response, output, attributes } = await runHandler(
      {
        MAIL_TRANSPORT: 'ses',
        AWS_ENDPOINT_URL_SESV2: `http://127.0.0.1:${(ses.address() as AddressInfo).port}`,
      },
      'ses-1',
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(output).toContain('job dead-lettered');
    expect(output).toContain('MessageRejected');
    expect(output).toContain('The following identities failed the check in region EU-WEST-1: <address>');
    expect(output).not.toContain(RECIPIENT);
    expect(attributes['sidestep.error.type']).toBe('MailTransportError');
    expect(attributes['sidestep.error.message']).toMatch(/MessageRejected.*HTTP 400/);
    expect(attributes['sidestep.error.message']).toContain(
      'Email address is not verified. The following identities failed the check in region EU-WEST-1: <address>',
    );
    expect(JSON.stringify(attributes)).not.toContain(RECIPIENT);
  });

  it('logs and dead-letters an SMTP 550 to RCPT TO with its code, command and reason, without the recipient’s address', async () => {
    const { response, output, attributes } = await runHandler(
      { MAIL_TRANSPORT: 'smtp', SMTP_URL: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}` },
      'smtp-1',
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(output).toContain('job dead-lettered');
    expect(output).toContain('"responseCode":550');
    expect(output).toContain('"command":"RCPT TO"');
    expect(output).toContain('550 5.1.1 <address>: Recipient address rejected');
    expect(output).not.toContain(RECIPIENT);
    expect(attributes['sidestep.error.type']).toBe('MailTransportError');
    expect(attributes['sidestep.error.message']).toMatch(/RCPT TO.*550/);
    expect(attributes['sidestep.error.message']).toContain('550 5.1.1 <address>: Recipient address rejected');
    expect(JSON.stringify(attributes)).not.toContain(RECIPIENT);
  });
});
