import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { ServiceManifest } from '@sidestep/manifest';
import { type CollectingReporter, createCollectingReporter } from '../src/collecting-reporter.ts';
import {
  type EventSourceMapping,
  type FunctionInvocationResult,
  startEventSourceMapping,
} from '../src/event-source-mapping.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../src/local-names.ts';
import { createJobQueue, type JobQueue } from '../src/queues.ts';
import type { SqsEvent } from '../src/sqs-event.ts';
import { TooManyRequestsError } from '../src/too-many-requests-error.ts';
import { useSqsEndpoint } from './fixtures/sqs-endpoint.ts';

const local = useSqsEndpoint();
let queueCounter = 0;
const mappings: EventSourceMapping[] = [];

afterEach(async () => {
  await Promise.all(mappings.splice(0).map((mapping) => mapping.stop({ graceMs: 1_000 })));
});

/**
 * A fresh queue + DLQ per test: 1 s visibility so redelivery is quick, DLQ after 2 receives.
 * Not passed through defineService, which (rightly) demands 6x the function timeout.
 */
async function freshQueue(): Promise<JobQueue> {
  queueCounter += 1;
  const manifest: ServiceManifest = {
    name: `esm-test-${queueCounter}`,
    description: 'test consumer',
    handler: 'index.handler',
    memoryMb: 128,
    timeoutSeconds: 1,
    queue: {
      name: `esm-${queueCounter}`,
      jobTypes: ['test.job'],
      batchSize: 10,
      maximumBatchingWindowSeconds: 0,
      maximumConcurrency: 2,
      maxReceiveCount: 2,
      visibilityTimeoutSeconds: 1,
    },
    permissions: [],
  };
  return createJobQueue(local.sqs, manifest, {
    environment: 'test',
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
  });
}

type Respond = (
  event: SqsEvent,
  call: number,
) => FunctionInvocationResult | Promise<FunctionInvocationResult>;

const ok = (payload?: unknown): FunctionInvocationResult => ({
  ok: true,
  requestId: 'req',
  durationMs: 1,
  payload,
});
const failure = (errorType: string, errorMessage: string): FunctionInvocationResult => ({
  ok: false,
  requestId: 'req',
  durationMs: 1,
  error: { errorType, errorMessage },
});

interface Started {
  readonly calls: SqsEvent[];
  readonly report: CollectingReporter;
  peakConcurrency(): number;
}

function startMapping(
  queue: JobQueue,
  respond: Respond,
  settings: { batchSize?: number; window?: number; concurrency?: number; throttleWindowMs?: number } = {},
): Started {
  const calls: SqsEvent[] = [];
  const report = createCollectingReporter();
  let active = 0;
  let peak = 0;
  mappings.push(
    startEventSourceMapping({
      sqs: local.sqs,
      queue: { name: queue.name, url: queue.url, arn: queue.arn, region: LOCAL_REGION },
      service: 'test-service',
      invoke: async (event) => {
        calls.push(event);
        active += 1;
        peak = Math.max(peak, active);
        try {
          return await respond(event, calls.length);
        } finally {
          active -= 1;
        }
      },
      batchSize: settings.batchSize ?? 10,
      maximumBatchingWindowSeconds: settings.window ?? 0,
      maximumConcurrency: settings.concurrency ?? 1,
      maxReceiveCount: 2,
      ...(settings.throttleWindowMs === undefined
        ? {}
        : { throttleRetryWindowMs: settings.throttleWindowMs }),
      reporter: report.reporter,
    }),
  );
  return { calls, report, peakConcurrency: () => peak };
}

async function send(queue: JobQueue, ...bodies: string[]): Promise<string[]> {
  const output = await local.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queue.url,
      Entries: bodies.map((body, index) => ({ Id: String(index), MessageBody: body })),
    }),
  );
  return bodies.map(
    (_, index) => output.Successful?.find((entry) => entry.Id === String(index))?.MessageId ?? '',
  );
}

async function remaining(queue: JobQueue): Promise<string[]> {
  return ((await local.endpoint.peek(queue.name)) ?? []).map((message) => message.body);
}

describe('startEventSourceMapping', () => {
  it('invokes with the exact SQS event Lambda builds', async () => {
    const queue = await freshQueue();
    const sent = await local.sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: '{"type":"test.job","id":"job-1"}',
        MessageAttributes: {
          tenant: { DataType: 'String', StringValue: 'acme' },
          attempt: { DataType: 'Number', StringValue: '3' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('hi') },
        },
      }),
    );
    const { calls, report } = startMapping(queue, () => ok());
    await report.waitFor('invocation');

    expect(calls).toHaveLength(1);
    const record = calls[0]?.Records[0];
    expect(record).toEqual({
      messageId: sent.MessageId,
      receiptHandle: expect.any(String),
      body: '{"type":"test.job","id":"job-1"}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {
        tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
        attempt: { stringValue: '3', stringListValues: [], binaryListValues: [], dataType: 'Number' },
        blob: {
          binaryValue: Buffer.from('hi').toString('base64'),
          stringListValues: [],
          binaryListValues: [],
          dataType: 'Binary',
        },
      },
      md5OfMessageAttributes: sent.MD5OfMessageAttributes,
      md5OfBody: sent.MD5OfMessageBody,
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queue.name}`,
      awsRegion: 'us-east-1',
    });
    expect(report.ofType('message-received')).toEqual([
      {
        type: 'message-received',
        queue: queue.name,
        messageId: sent.MessageId,
        jobType: 'test.job',
        jobId: 'job-1',
        receiveCount: 1,
      },
    ]);
  });

  it('sends md5OfMessageAttributes null and no message attributes for a plain message', async () => {
    const queue = await freshQueue();
    await send(queue, 'plain');
    const { calls, report } = startMapping(queue, () => ok());
    await report.waitFor('invocation');
    expect(calls[0]?.Records[0]).toMatchObject({ messageAttributes: {}, md5OfMessageAttributes: null });
  });

  it('deletes every record when the function returns nothing', async () => {
    const queue = await freshQueue();
    await send(queue, 'a', 'b', 'c');
    const { report } = startMapping(queue, () => ok(undefined));
    const invocation = await report.waitFor('invocation');
    expect(invocation).toMatchObject({ outcome: 'ok', batchSize: 3, failedRecords: 0 });
    expect(await remaining(queue)).toEqual([]);
  });

  it('deletes the records not listed in batchItemFailures and redelivers the listed one', async () => {
    const queue = await freshQueue();
    const [, failingId] = await send(queue, 'good-1', 'bad', 'good-2');
    const { calls, report } = startMapping(queue, (event) =>
      ok({
        batchItemFailures: event.Records.filter((r) => r.body === 'bad').map((r) => ({
          itemIdentifier: r.messageId,
        })),
      }),
    );
    const first = await report.waitFor('invocation');
    expect(first).toMatchObject({ outcome: 'partial', batchSize: 3, failedRecords: 1 });
    expect(await remaining(queue)).toEqual(['bad']);
    expect(report.ofType('record-failed')).toEqual([
      expect.objectContaining({ messageId: failingId, receiveCount: 1, deadLetterNext: false }),
    ]);

    // After the 1 s visibility timeout only the failed record comes back, on its second receive.
    await report.waitFor('invocation', (event) => event !== first);
    expect(calls[1]?.Records.map((r) => [r.messageId, r.attributes.ApproximateReceiveCount])).toEqual([
      [failingId, '2'],
    ]);
  });

  it('deletes nothing when the function fails, and redelivers the whole batch', async () => {
    const queue = await freshQueue();
    await send(queue, 'a', 'b');
    const { calls, report } = startMapping(queue, (_event, call) =>
      call === 1 ? failure('Runtime.ExitError', 'sandbox crashed') : ok(),
    );
    const first = await report.waitFor('invocation');
    expect(first).toMatchObject({
      outcome: 'error',
      failedRecords: 2,
      reason: 'Runtime.ExitError: sandbox crashed',
    });
    expect((await remaining(queue)).sort()).toEqual(['a', 'b']);

    await report.waitFor('invocation', (event) => event.outcome === 'ok');
    const redelivered = calls.slice(1).flatMap((event) => event.Records.map((r) => r.body));
    expect(redelivered.sort()).toEqual(['a', 'b']);
    expect(await remaining(queue)).toEqual([]);
  });

  it('deletes nothing when the batch response names a message that is not in the batch', async () => {
    const queue = await freshQueue();
    await send(queue, 'a', 'b');
    const { report } = startMapping(queue, () =>
      ok({ batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] }),
    );
    const invocation = await report.waitFor('invocation');
    expect(invocation).toMatchObject({ outcome: 'error', failedRecords: 2 });
    expect(invocation.reason).toContain('"not-in-batch" is not a message of this batch');
    expect((await remaining(queue)).sort()).toEqual(['a', 'b']);
  });

  it('treats an invoker that throws as a failed invocation', async () => {
    const queue = await freshQueue();
    await send(queue, 'a');
    const { report } = startMapping(queue, () => {
      throw new TypeError('host closed');
    });
    const invocation = await report.waitFor('invocation');
    expect(invocation).toMatchObject({ outcome: 'error', reason: 'TypeError: host closed' });
    expect(await remaining(queue)).toEqual(['a']);
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: the visibility timeout
  // of six times the function's timeout "allows Lambda to retry if your function is throttled".
  it('invokes a throttled batch again within its window, the records received once and deleted once it ran', async () => {
    const queue = await freshQueue();
    const [id] = await send(queue, 'a');
    const { calls, report } = startMapping(
      queue,
      (_event, call) => {
        if (call <= 2) throw new TooManyRequestsError();
        return ok();
      },
      { throttleWindowMs: 5_000 },
    );
    const invocation = await report.waitFor('invocation');
    expect(invocation).toMatchObject({ outcome: 'ok', failedRecords: 0 });
    expect(calls.map((event) => event.Records.map((record) => record.messageId))).toEqual([[id], [id], [id]]);
    expect(report.events.filter((event) => event.type === 'message-received')).toHaveLength(1);
    expect(await remaining(queue)).toEqual([]);
  });

  it('gives a batch still throttled past its window back to the queue, which redelivers it', async () => {
    const queue = await freshQueue();
    await send(queue, 'a');
    const { calls, report } = startMapping(queue, (_event, call) => {
      if (call === 1) throw new TooManyRequestsError();
      return ok();
    });
    const first = await report.waitFor('invocation');
    expect(first).toMatchObject({
      outcome: 'error',
      reason: 'TooManyRequestsException: Rate Exceeded.',
    });
    await report.waitFor('invocation', (event) => event.outcome === 'ok');
    expect(calls).toHaveLength(2);
    expect(calls[1]?.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(await remaining(queue)).toEqual([]);
  });

  it("counts a throttled batch's window from when its records were received, its batching window included", async () => {
    const queue = await freshQueue();
    await send(queue, 'a');
    // The batch waits its 1 s batching window for more records: of a 1.2 s window, too little is left
    // to wait 0.5 s and invoke again, so the batch goes back after one call.
    const { calls, report } = startMapping(
      queue,
      () => {
        throw new TooManyRequestsError();
      },
      { window: 1, throttleWindowMs: 1_200 },
    );
    const first = await report.waitFor('invocation');
    expect({ calls: calls.length, reason: first.reason }).toEqual({
      calls: 1,
      reason: 'TooManyRequestsException: Rate Exceeded.',
    });
  });

  it('invokes a throttled batch no more once the mapping stops, ending its wait', async () => {
    const queue = await freshQueue();
    await send(queue, 'a');
    const { calls } = startMapping(
      queue,
      () => {
        throw new TooManyRequestsError();
      },
      { throttleWindowMs: 30_000 },
    );
    while (calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // Stopped during the wait before the next try (0.5 s): the stop ends it, and nothing more is invoked.
    await mappings.at(-1)?.stop({ graceMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(calls).toHaveLength(1);
  });

  it('leaves a record that keeps failing to SQS redrive, which moves it to the DLQ after maxReceiveCount', async () => {
    const queue = await freshQueue();
    const [id] = await send(queue, 'poison');
    const { calls, report } = startMapping(queue, (event) =>
      ok({ batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) }),
    );
    const last = await report.waitFor('record-failed', (event) => event.deadLetterNext);
    expect(last).toMatchObject({ messageId: id, receiveCount: 2, maxReceiveCount: 2 });

    // The third receive finds the count exhausted: SQS moves the message instead of delivering it.
    const deadline = Date.now() + 5_000;
    let inDlq: string[] = [];
    while (Date.now() < deadline && inDlq.length === 0) {
      inDlq = ((await local.endpoint.peek(queue.deadLetter.name)) ?? []).map((message) => message.messageId);
      if (inDlq.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(inDlq).toEqual([id]);
    expect(await remaining(queue)).toEqual([]);
    expect(calls).toHaveLength(2);
  });

  it('caps records per invocation at the batch size', async () => {
    const queue = await freshQueue();
    await send(queue, '1', '2', '3', '4', '5', '6', '7');
    const { calls, report } = startMapping(queue, () => ok(), { batchSize: 3 });
    await report.waitFor('invocation', () => calls.flatMap((event) => event.Records).length === 7);
    expect(Math.max(...calls.map((event) => event.Records.length))).toBe(3);
  });

  it('splits a batch whose event would exceed the 6 MB invocation payload, as Lambda does', async () => {
    const queue = await freshQueue();
    // Seven 1,000,000-byte messages: 7 MB of bodies, more than one synchronous invocation takes.
    for (let index = 0; index < 7; index++) await send(queue, `${index}`.padEnd(1_000_000, 'x'));
    const { calls, report } = startMapping(queue, () => ok(), { batchSize: 10 });
    await report.waitFor('invocation', () => calls.flatMap((event) => event.Records).length === 7, 20_000);
    for (const event of calls) {
      expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThanOrEqual(6 * 1024 * 1024);
    }
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(await remaining(queue)).toEqual([]);
  }, 30_000);

  it('gathers records arriving within the batching window into one invocation', async () => {
    const queue = await freshQueue();
    const { calls, report } = startMapping(queue, () => ok(), { batchSize: 3, window: 2 });
    await send(queue, 'first');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await send(queue, 'second', 'third');
    await report.waitFor('invocation');
    expect(calls.map((event) => event.Records.map((r) => r.body).sort())).toEqual([
      ['first', 'second', 'third'],
    ]);
  });

  it('runs at most maximumConcurrency invocations at once', async () => {
    const queue = await freshQueue();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let twoRunning: () => void = () => undefined;
    const bothStarted = new Promise<void>((resolve) => {
      twoRunning = resolve;
    });
    const { calls, report, peakConcurrency } = startMapping(
      queue,
      async (_event, call) => {
        if (call === 2) twoRunning();
        await gate;
        return ok();
      },
      { batchSize: 1, concurrency: 2 },
    );
    await send(queue, 'a', 'b', 'c');
    await bothStarted;
    // A third poller would have taken 'c' by now if the cap were not honoured.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toHaveLength(2);
    release();
    await report.waitFor('invocation', () => report.ofType('invocation').length === 3);
    expect(peakConcurrency()).toBe(2);
  });

  it('stops idle pollers at once and lets an invocation in flight finish and settle', async () => {
    const queue = await freshQueue();
    const idle = startMapping(queue, () => ok());
    const idleMapping = mappings.pop();
    const before = performance.now();
    await idleMapping?.stop();
    expect(performance.now() - before).toBeLessThan(1_000);
    expect(idle.calls).toHaveLength(0);

    await send(queue, 'slow');
    let finish: () => void = () => undefined;
    const busy = startMapping(queue, () => new Promise((resolve) => (finish = () => resolve(ok()))));
    const mapping = mappings.pop();
    await busy.report.waitFor('message-received');
    const stopping = mapping?.stop({ graceMs: 5_000 });
    setTimeout(() => finish(), 200);
    await stopping;
    expect(busy.report.ofType('invocation')).toEqual([expect.objectContaining({ outcome: 'ok' })]);
    expect(await remaining(queue)).toEqual([]);
  });
});
