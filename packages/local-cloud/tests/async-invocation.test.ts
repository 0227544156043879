// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import type { InvokeResult } from '@sidestep/lambda-runtime';
import { startAsyncInvocations } from '../src/async-invocation.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import type { LocalCloudReporter } from '../src/local-cloud-event.ts';
import { createLocalIam, UNENFORCED_IAM } from '../src/local-iam.ts';
import { pendingInvocationsFile, readStateFile, writeStateFile } from '../src/local-state.ts';
import { TooManyRequestsError } from '../src/too-many-requests-error.ts';
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

/**
 * The invocations of `fn` with quick retries (20 and 40 ms), reporting to `reporter`; kept in the
 * JSON file `pendingFile` across restarts when given (as the local cloud keeps them), else in memory.
 */
function quickInvocations(
  fn: ReturnType<typeof fakeFunction>,
  reporter: LocalCloudReporter,
  retryDelaysMs = [20, 40],
  pendingFile?: string,
) {
  return startAsyncInvocations({
    invoke: fn.invoke,
    sqs: aws.sqs,
    iam: UNENFORCED_IAM,
    reporter,
    retryDelaysMs,
    ...(pendingFile ? { pendingInvocations: pendingInvocationsFile(pendingFile) } : {}),
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `done()` came to hold within `ms`, looked at every 20 ms. */
async function eventually(done: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Invocations stopped while their first attempt runs, which then fails (Ctrl-C while the function
 * runs), with quick retries (50 ms) and kept in `pendingFile` when given: what was invoked, and the
 * error lines reported.
 */
async function failDuringStop(payload: unknown, pendingFile?: string) {
  const { promise: answer, resolve } = Promise.withResolvers<InvokeResult>();
  const invoked: unknown[] = [];
  const report = createCollectingReporter();
  const invocations = startAsyncInvocations({
    invoke: (_service, sent) => {
      invoked.push(sent);
      return answer;
    },
    sqs: aws.sqs,
    iam: UNENFORCED_IAM,
    reporter: report.reporter,
    retryDelaysMs: [50, 50],
    ...(pendingFile ? { pendingInvocations: pendingInvocationsFile(pendingFile) } : {}),
  });
  invocations.invokeAsync('job-sweeper', payload);
  const stopping = invocations.stop();
  resolve(failure('refused while stopping'));
  await stopping;
  return { invoked, messages: report.events.flatMap((e) => (e.type === 'error' ? [e.message] : [])) };
}

async function receiveRecords(): Promise<Array<{ requestContext: { requestId: string } }>> {
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
    const { invoked, messages } = await failDuringStop({});
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(invoked).toHaveLength(1);
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

  it('record an event whose next retry would fall past its maximum event age as EventAgeExceeded, without the retry', async () => {
    const fn = fakeFunction([failure('too slow'), success]);
    const report = createCollectingReporter();
    const invocations = startAsyncInvocations({
      invoke: fn.invoke,
      sqs: aws.sqs,
      iam: UNENFORCED_IAM,
      reporter: report.reporter,
      retryDelaysMs: [200, 200],
      maximumEventAgeMs: 100,
    });
    invocations.invokeAsync('job-sweeper', { n: 'aging' }, 'req-aging');
    const recorded = await report.waitFor('error', (e) => e.message.includes('EventAgeExceeded'), 5_000);
    expect(recorded.message).toBe(
      `failed 1 time(s) (JobLedgerUnavailableError: too slow) and is past its maximum event age (EventAgeExceeded); its record is in ${FAILURES}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await invocations.stop();
    expect(fn.payloads).toEqual([{ n: 'aging' }]);
    const records = await receiveRecords();
    expect(records.filter((record) => record.requestContext.requestId === 'req-aging')).toEqual([
      expect.objectContaining({
        requestContext: expect.objectContaining({ condition: 'EventAgeExceeded', approximateInvokeCount: 1 }),
        responsePayload: { errorType: 'JobLedgerUnavailableError', errorMessage: 'too slow' },
      }),
    ]);
  });

  // A throttled attempt did not run: it goes back on Lambda's queue and spends none of the retries
  // (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
  it('try a throttled attempt again after 1 s without spending a retry: one retry is left for a function error after it', async () => {
    const answers: (() => Promise<InvokeResult>)[] = [
      () => Promise.reject(new TooManyRequestsError()),
      () => Promise.resolve(failure('after the throttle')),
      () => Promise.resolve(success),
    ];
    const payloads: unknown[] = [];
    const report = createCollectingReporter();
    const invocations = startAsyncInvocations({
      invoke: (_service, payload) => {
        payloads.push(payload);
        return (answers[payloads.length - 1] ?? (() => Promise.resolve(success)))();
      },
      sqs: aws.sqs,
      iam: UNENFORCED_IAM,
      reporter: report.reporter,
      // One retry: had the throttle spent it, the function error would have been the last attempt.
      retryDelaysMs: [20],
    });
    invocations.invokeAsync('job-sweeper', { n: 'throttled' }, 'req-throttled');
    expect(await eventually(() => payloads.length === 3, 10_000)).toBe(true);
    await invocations.stop();
    // The throttle was no attempt: the function error after it is attempt 1, and it is retried (no
    // record: no "failed on all" line).
    expect(report.events.flatMap((event) => (event.type === 'error' ? [event.message] : []))).toEqual([
      'attempt 1 failed (JobLedgerUnavailableError: after the throttle); retried in 0.02 s',
    ]);
  });

  it('record an event still throttled when its next try would fall past its maximum event age, with no attempt made', async () => {
    let tries = 0;
    const report = createCollectingReporter();
    const invocations = startAsyncInvocations({
      invoke: () => {
        tries += 1;
        return Promise.reject(new TooManyRequestsError());
      },
      sqs: aws.sqs,
      iam: UNENFORCED_IAM,
      reporter: report.reporter,
      // Tried at once and 1 s later; the next try, 2 s after that, would be past it.
      maximumEventAgeMs: 1_500,
    });
    invocations.invokeAsync('job-sweeper', { n: 'never-ran' }, 'req-never-ran');
    const recorded = await report.waitFor('error', (e) => e.message.includes('EventAgeExceeded'), 10_000);
    await invocations.stop();
    expect({ tries, message: recorded.message }).toEqual({
      tries: 2,
      message: `failed 0 time(s) and is past its maximum event age (EventAgeExceeded); its record is in ${FAILURES}`,
    });
    // No attempt ran: the record has no response (a throttle is Lambda's answer, not the function's).
    const [record] = (await receiveRecords()).filter((r) => r.requestContext.requestId === 'req-never-ran');
    expect(record).toMatchObject({
      requestContext: { condition: 'EventAgeExceeded', approximateInvokeCount: 0 },
    });
    expect(record).not.toHaveProperty('responsePayload');
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

// Lambda keeps an accepted event in its own queue and retries it for up to the function's maximum
// event age (6 hours by default), whatever happens to the caller; past it the event goes to the
// on-failure destination with `EventAgeExceeded`
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html,
// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). The local
// cloud keeps its accepted events in the state directory, so a restart (or a crash) loses none.
describe('asynchronous invocations across a restart of the local cloud', () => {
  let stateDir: string;
  let pendingFile: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'async-invocations-'));
    pendingFile = join(stateDir, 'lambda', 'pending-invocations.json');
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('retry an event whose retry was waiting at stop at the next start, once, and forget it once it succeeded', async () => {
    const fn = fakeFunction([failure('mail queue refused'), success]);
    const report = createCollectingReporter();
    const event = { 'detail-type': 'Step Functions Execution Status Change', detail: { status: 'FAILED' } };
    // A retry 2 s after the failure: far past the stop and the start, which must not make it early.
    const first = quickInvocations(fn, report.reporter, [2_000, 2_000], pendingFile);
    expect(first.invokeAsync('job-sweeper', event, 'req-waiting')).toBe(true);
    await report.waitFor('error', (e) => e.message.includes('retried in 2 s'), 5_000);
    await first.stop(); // Ctrl-C while the retry waits.
    expect(fn.payloads).toEqual([event]);

    const second = quickInvocations(fn, report.reporter, [2_000, 2_000], pendingFile);
    // The retry waits for its time, not made at once by the start...
    await sleep(300);
    expect(fn.payloads).toEqual([event]);
    // ...then is made, and succeeds: the event is done (and not made again meanwhile).
    const done = () =>
      fn.payloads.length === 2 && (readStateFile(pendingFile, 'array') as unknown[]).length === 0;
    expect(await eventually(done)).toBe(true);
    await sleep(200);
    await second.stop();
    expect(fn.payloads).toEqual([event, event]);
    expect(readStateFile(pendingFile, 'array')).toEqual([]);

    // Done means forgotten: another restart invokes nothing.
    const third = quickInvocations(fn, report.reporter, [300, 300], pendingFile);
    await sleep(400);
    await third.stop();
    expect(fn.payloads).toEqual([event, event]);
  });

  it('retry at the next start an attempt that failed while the cloud stopped', async () => {
    const { invoked, messages } = await failDuringStop({ n: 'stopping' }, pendingFile);
    expect(messages).toEqual([
      'attempt 1 failed (JobLedgerUnavailableError: refused while stopping); kept: retried when the local cloud starts again',
    ]);

    const fn = fakeFunction([success]);
    const second = quickInvocations(fn, () => {}, [50, 50], pendingFile);
    await sleep(150);
    await second.stop();
    expect(invoked).toHaveLength(1);
    expect(fn.payloads).toEqual([{ n: 'stopping' }]);
    expect(readStateFile(pendingFile, 'array')).toEqual([]);
  });

  it('keep an event accepted by a cloud killed during its attempt (no stop): the next start makes the attempt again', async () => {
    // The killed cloud: its attempt never ends, and it never stops.
    const killed = startAsyncInvocations({
      invoke: () => new Promise<InvokeResult>(() => {}),
      sqs: aws.sqs,
      iam: UNENFORCED_IAM,
      reporter: () => {},
      pendingInvocations: pendingInvocationsFile(pendingFile),
    });
    expect(killed.invokeAsync('job-sweeper', { n: 'killed' }, 'req-killed')).toBe(true);

    const fn = fakeFunction([success]);
    const next = quickInvocations(fn, () => {}, [50, 50], pendingFile);
    await sleep(100);
    await next.stop();
    expect(fn.payloads).toEqual([{ n: 'killed' }]);
    expect(readStateFile(pendingFile, 'array')).toEqual([]);
  });

  it('record an event kept past its maximum event age as EventAgeExceeded at start, without invoking it', async () => {
    const hour = 3_600_000;
    const event = {
      'detail-type': 'Step Functions Execution Status Change',
      detail: { status: 'TIMED_OUT' },
    };
    // As a cloud stopped 7 hours ago left it: attempt 1 failed, attempt 2 was due a minute later.
    writeStateFile(pendingFile, [
      {
        service: 'job-sweeper',
        requestId: 'req-too-old',
        payload: event,
        acceptedAt: new Date(Date.now() - 7 * hour).toISOString(),
        attempt: 2,
        retryAt: new Date(Date.now() - 7 * hour + 60_000).toISOString(),
        lastError: { errorType: 'UnsentMailNotQueuedError', errorMessage: 'mail queue refused' },
      },
    ]);
    const fn = fakeFunction([success]);
    const report = createCollectingReporter();
    const invocations = quickInvocations(fn, report.reporter, [50, 50], pendingFile);
    await report.waitFor('error', (e) => e.message.includes('EventAgeExceeded'), 5_000);
    await invocations.stop();
    expect(fn.payloads).toEqual([]);
    expect(readStateFile(pendingFile, 'array')).toEqual([]);
    const records = await receiveRecords();
    expect(records.filter((record) => record.requestContext.requestId === 'req-too-old')).toEqual([
      expect.objectContaining({
        requestContext: expect.objectContaining({
          requestId: 'req-too-old',
          condition: 'EventAgeExceeded',
          approximateInvokeCount: 1,
        }),
        requestPayload: event,
        responsePayload: { errorType: 'UnsentMailNotQueuedError', errorMessage: 'mail queue refused' },
      }),
    ]);
  });
});
