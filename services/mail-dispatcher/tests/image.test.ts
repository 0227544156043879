import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import {
  BASE_IMAGE_CA_CERTS,
  itKeepsTheImageContract,
  stageLambdaImage,
} from '@sidestep/lambda-runtime/testing';
import { type SmtpSink, startSmtpSink } from '@sidestep/local-cloud';
import type { SQSBatchResponse } from 'aws-lambda';
import { service } from '../service.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, as the Lambda Node.js base image runs them.
const image = stageLambdaImage(join(import.meta.dirname, '..'), service);
let outboxDir: string;
let postgres: EmbeddedPostgres;
let smtp: SmtpSink;
let fn: FunctionHost;
/** The function's structured log lines, in order. */
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  outboxDir = mkdtempSync(join(tmpdir(), 'mail-dispatcher-outbox-'));
  [postgres, smtp] = await Promise.all([startEmbeddedPostgres({}), startSmtpSink({ outboxDir, port: 0 })]);
  fn = await image.start({
    onLog: (line) => {
      if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
    },
    environment: {
      MAIL_FROM: 'no-reply@test.mail.example.com',
      MAIL_TRANSPORT: 'smtp',
      SMTP_URL: smtp.url,
      DATABASE_URL: postgres.url,
      // Only used for permanent errors, which this test does not send.
      DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:9/000000000000/sidestep-test-mail-dlq',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
  });
}, 60_000);

afterAll(async () => {
  await image.close();
  await Promise.all([smtp?.stop(), postgres?.close()]);
  rmSync(outboxDir, { recursive: true, force: true });
});

function sqsEvent(bodies: string[]) {
  return {
    Records: bodies.map((body, index) => ({
      messageId: `m-${index}`,
      receiptHandle: `r-${index}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'test',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:sidestep-test-mail',
      awsRegion: 'us-east-1',
    })),
  };
}

describe('mail-dispatcher image', () => {
  itKeepsTheImageContract(image, { environment: BASE_IMAGE_CA_CERTS });

  it('runs the copied bundle through the Runtime API with a read-only task root and sends the mail', async () => {
    const job = {
      type: 'mail.send',
      version: 1,
      id: 'image-test-1',
      payload: {
        template: 'export.ready',
        to: 'image@example.com',
        params: { jobId: 'exp_1', rows: 3, downloadUrl: 'https://example.com/x' },
      },
    };
    const result = await fn.invoke(sqsEvent([JSON.stringify(job)]));
    expect(result.ok).toBe(true);
    if (result.ok) expect((result.payload as SQSBatchResponse).batchItemFailures).toEqual([]);
    const mails = readdirSync(outboxDir).filter((file) => file.endsWith('.eml'));
    expect(mails).toHaveLength(1);
    expect(readFileSync(join(outboxDir, mails[0] as string), 'utf8')).toContain(
      'Subject: Your export is ready',
    );

    // Warm and idempotent: the same message again is acknowledged without a second mail.
    const again = await fn.invoke(sqsEvent([JSON.stringify(job)]));
    expect(again.ok && (again.payload as SQSBatchResponse).batchItemFailures).toEqual([]);
    expect(readdirSync(outboxDir).filter((file) => file.endsWith('.eml'))).toHaveLength(1);
    // The duplicate is logged as a replay, not as a second mail sent.
    expect(
      logs
        .filter((line) => line.message === 'mail sent' || line.message === 'mail replayed')
        .map(({ message, replayed }) => ({ message, replayed })),
    ).toEqual([
      { message: 'mail sent', replayed: false },
      { message: 'mail replayed', replayed: true },
    ]);
    // Correlated as the job the mail is about and the SQS message it came in, the mail's own ids
    // under their own keys: a query by the job id or by the id `dlq show` prints finds the send.
    const sentLine = logs.find((line) => line.message === 'mail sent');
    expect(sentLine).toMatchObject({
      jobId: job.payload.params.jobId,
      mailId: job.id,
      messageId: 'm-0',
      mailMessageId: expect.stringMatching(/^<.+@.+>$/),
    });
  }, 30_000);
});
