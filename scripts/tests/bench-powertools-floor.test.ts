import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { toSqsEvent } from '@sidestep/local-cloud';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';

// The warm benchmark's library floor must do the Logger and Metrics work sidestep's records get, or
// the floor it reports would be lower than the libraries' real cost (and the runtime's part above it
// larger than it is).
let handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const context = {
  functionName: 'bench',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench',
  memoryLimitInMB: '1024',
  awsRequestId: 'bench-request',
  logGroupName: 'bench',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => 3000,
  callbackWaitsForEmptyEventLoop: true,
} as unknown as Context;

function batch(bodies: readonly string[]): SQSEvent {
  return toSqsEvent(
    bodies.map((body, index) => ({ MessageId: `m-${index}`, ReceiptHandle: `r-${index}`, Body: body })),
    { arn: 'arn:aws:sqs:us-east-1:000000000000:bench', region: 'us-east-1' },
  ) as unknown as SQSEvent;
}

/** The JSON lines the handler writes to stdout (Powertools' Logger and the EMF publish) in one call. */
async function linesOf(event: SQSEvent): Promise<{ response: SQSBatchResponse; lines: unknown[] }> {
  const written: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const response = await handler(event, context);
    const lines = written
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as unknown);
    return { response, lines };
  } finally {
    write.mockRestore();
  }
}

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  ({ handler } = await import('../src/bench/fixtures/powertools-handler.ts'));
});

describe("the warm benchmark's Powertools floor", () => {
  it('logs each record with its correlation keys and publishes one EMF line with a duration per record', async () => {
    const body = JSON.stringify({ type: 'mail.send', version: 1, id: 'job-1', payload: {} });
    const { response, lines } = await linesOf(batch(Array.from({ length: 10 }, () => body)));
    expect(response).toEqual({ batchItemFailures: [] });
    const logged = lines.filter((line) => (line as { message?: string }).message === 'job processed');
    expect(logged).toHaveLength(10);
    expect(logged[3]).toMatchObject({ messageId: 'm-3', jobId: 'job-1', jobType: 'mail.send' });
    // Each record's line carries its own record's message id.
    expect(logged.map((line) => (line as { messageId: string }).messageId)).toEqual(
      Array.from({ length: 10 }, (_, index) => `m-${index}`),
    );
    const emf = lines.filter((line) => typeof line === 'object' && line !== null && '_aws' in line) as Array<{
      duration?: number[];
    }>;
    expect(emf).toHaveLength(1);
    expect(emf[0]?.duration).toHaveLength(10);
  });

  it('reports a record whose body is not JSON as a batch item failure, as Powertools does', async () => {
    const good = JSON.stringify({ type: 'mail.send', version: 1, id: 'job-2', payload: {} });
    const { response } = await linesOf(batch([good, '{not json', good]));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
  });
});
