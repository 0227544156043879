// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import { GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it, jest } from '@jest/globals';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import type { InvokeResult } from '@sidestep/lambda-runtime';
import { startAsyncInvocations } from '../src/async-invocation.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import type { LocalCloudReporter } from '../src/local-cloud-event.ts';
import { createLocalIam, UNENFORCED_IAM } from '../src/local-iam.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { useSqsEndpoint } from './fixtures/sqs-endpoint.ts';

const aws = useSqsEndpoint();
const FAILURES = 'sidestep-local-job-sweeper-async-failures';

const failure = (message: string): InvokeResult => ({
  requestId: 'r',
  durationMs: 1,
  ok: false,
  error: { errorType: 'JobLedgerUnavailableError', errorMessage: message },
});
const success: InvokeResult = { requestId: 'r', durationMs: 1, ok: true, payload: null };

/** A fake function: answers each invocation with the next result, recording the payloads. */
function fakeFunction(results: readonly InvokeResult[]) {
  const payloads: unknown[] = [];
  return {
    payloads,
    invoke: (service: string, payload: unknown) => {
      if (service !== 'job-sweeper') return undefined;
      payloads.push(payload);
      return Promise.resolve(results[Math.min(payloads.length, results.length) - 1] as InvokeResult);
    },
  };
}

/** The invocations of `fn` with quick retries (20 and 40 ms), reporting to `reporter`. */
function quickInvocations(
  fn: ReturnType<typeof fakeFunction>,
  reporter: LocalCloudReporter,
  retryDelaysMs = [20, 40],
) {
  return startAsyncInvocations({
    invoke: fn.invoke,
    sqs: aws.sqs,
    iam: UNENFORCED_IAM,
    reporter,
    retryDelaysMs,
  });
}

async function receiveRecords(): Promise<unknown[]> {
  const { sqs } = aws;
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: FAILURES }));
  const answer = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (answer.Messages ?? []).map((message) => JSON.parse(message.Body ?? ''));
}

// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html: a function
// error of an asynchronous invocation is retried twice (one, then two minutes later), and an event
// that failed every attempt goes to the on-failure destination as an invocation record
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
describe('asynchronous invocations (rules and schedules invoking a function)', () => {
  it('retry a function error after each wait and keep an event that failed every attempt, with its error, in the function’s failure queue', async () => {
    const fn = fakeFunction([failure('refused 1'), failure('refused 2'), failure('refused 3')]);
    const report = createCollectingReporter();
    const invocations = quickInvocations(fn, report.reporter);
    const event = { 'detail-type': 'Step Functions Execution Status Change', detail: { status: 'ABORTED' } };
    expect(invocations.invokeAsync('job-sweeper', event)).toBe(true);
    const last = await report.waitFor('error', (e) => e.message.includes('failed on all'), 5_000);
    expect(last.message).toBe(
      `failed on all 3 attempts (JobLedgerUnavailableError: refused 3); its record is in ${FAILURES}`,
    );
    expect(fn.payloads).toEqual([event, event, event]);
    const records = await receiveRecords();
    expect(records).toEqual([
      expect.objectContaining({
        requestContext: expect.objectContaining({
          condition: 'RetriesExhausted',
          approximateInvokeCount: 3,
          functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper:$LATEST',
        }),
        requestPayload: event,
        responsePayload: { errorType: 'JobLedgerUnavailableError', errorMessage: 'refused 3' },
      }),
    ]);
    await invocations.stop();
  });

  it('stop retrying once an attempt succeeds, recording nothing', async () => {
    const fn = fakeFunction([failure('refused once'), success]);
    const report = createCollectingReporter();
    const invocations = quickInvocations(fn, report.reporter);
    invocations.invokeAsync('job-sweeper', { n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fn.payloads).toEqual([{ n: 1 }, { n: 1 }]);
    expect(report.events.filter((e) => e.type === 'error').map((e) => 'message' in e && e.message)).toEqual([
      'attempt 1 failed (JobLedgerUnavailableError: refused once); retried in 0.02 s',
    ]);
    await invocations.stop();
  });

  it('refuse a service the cloud does not run (the delivery fails), and cancel waiting retries on stop', async () => {
    const fn = fakeFunction([failure('down')]);
    const invocations = quickInvocations(fn, () => {}, [200, 200]);
    expect(invocations.invokeAsync('no-such-service', {})).toBe(false);
    expect(invocations.invokeAsync('job-sweeper', {})).toBe(true);
    await invocations.stop();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(fn.payloads).toHaveLength(1);
  });

  it('arm no retry for an attempt that fails after stop (its timer would hold the process for a minute)', async () => {
    const { promise: answer, resolve } = Promise.withResolvers<InvokeResult>();
    const invoked: unknown[] = [];
    const report = createCollectingReporter();
    const invocations = startAsyncInvocations({
      invoke: (_service, payload) => {
        invoked.push(payload);
        return answer;
      },
      sqs: aws.sqs,
      iam: UNENFORCED_IAM,
      reporter: report.reporter,
      retryDelaysMs: [50, 50],
    });
    invocations.invokeAsync('job-sweeper', {});
    const stopping = invocations.stop();
    resolve(failure('refused while stopping'));
    await stopping;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(invoked).toHaveLength(1);
    const messages = report.events.flatMap((e) => (e.type === 'error' ? [e.message] : []));
    expect(messages).toEqual([
      'attempt 1 failed (JobLedgerUnavailableError: refused while stopping); not retried: the local cloud stopped',
    ]);
  });

  it('clear every waiting retry timer on stop, so none holds the process', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const invocations = quickInvocations(fakeFunction([failure('down')]), () => {}, [60_000, 120_000]);
      invocations.invokeAsync('job-sweeper', {});
      await new Promise((resolve) => setImmediate(resolve));
      expect(jest.getTimerCount()).toBe(1);
      await invocations.stop();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('settle stop only once an attempt in flight has its failure record in the failure queue', async () => {
    const { promise: answer, resolve } = Promise.withResolvers<InvokeResult>();
    const sent: string[] = [];
    // The endpoint's client, noting each command once SQS has answered it.
    const sqs = {
      send: async (command: { constructor: { name: string } }) => {
        const output = await aws.sqs.send(command as Parameters<SQSClient['send']>[0]);
        sent.push(command.constructor.name);
        return output;
      },
    } as unknown as SQSClient;
    const invocations = startAsyncInvocations({
      invoke: () => answer,
      sqs,
      iam: UNENFORCED_IAM,
      reporter: () => {},
      retryDelaysMs: [],
    });
    invocations.invokeAsync('job-sweeper', { last: 'in flight' });
    const stopping = invocations.stop();
    resolve(failure('refused while stopping'));
    await stopping;
    expect(sent).toEqual(['CreateQueueCommand', 'SendMessageCommand']);
    expect(await receiveRecords()).toContainEqual(
      expect.objectContaining({ requestPayload: { last: 'in flight' } }),
    );
  });

  it("send the record as the function's role, which must be allowed sqs:SendMessage on the queue", async () => {
    const stack = (resource: string): SynthesizedTerraformJson => ({
      provider: { aws: [{ region: 'us-east-1' }] },
      resource: {
        aws_iam_role: { sweeper: role('sidestep-local-job-sweeper') },
        aws_iam_role_policy: {
          sweeper: allow('sweeper', [{ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: resource }]),
        },
      },
    });
    const report = createCollectingReporter();
    const invocations = startAsyncInvocations({
      invoke: fakeFunction([failure('down')]).invoke,
      sqs: aws.sqs,
      iam: createLocalIam({ stack: stack('arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail') }),
      reporter: report.reporter,
      retryDelaysMs: [],
    });
    invocations.invokeAsync('job-sweeper', {});
    const denied = await report.waitFor('error', (e) => e.message.includes('attempt 1:'), 5_000);
    expect(denied.message).toContain('sqs:SendMessage');
    await invocations.stop();
  });
});
