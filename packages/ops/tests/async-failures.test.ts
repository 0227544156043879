import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { describe, expect, it, jest } from '@jest/globals';
import {
  type AuditEntry,
  asyncFailureStatuses,
  describeTrigger,
  type Ledger,
  listAsyncFailures,
  type OpsContext,
  reinvokeAsyncFailures,
} from '../src/index.ts';
import { loopbackLambda } from './loopback-lambda.ts';
import { stagingContext } from './staging-context.ts';

// Records as Lambda sends them to an on-failure destination, from "Capturing records of Lambda
// asynchronous invocations" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
const FUNCTION = 'arn:aws:lambda:ap-northeast-1:123456789012:function:sidestep-staging-job-sweeper:$LATEST';
const QUEUE_URL =
  'https://sqs.ap-northeast-1.amazonaws.com/123456789012/sidestep-staging-job-sweeper-async-failures';
const WORKFLOW_ENDED = {
  version: '0',
  id: 'ev-1',
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: { status: 'ABORTED', input: '{"requestedBy":"someone@example.com"}' },
};

function record(requestId: string, requestPayload: unknown, overrides: Record<string, unknown> = {}) {
  return JSON.stringify({
    version: '1.0',
    timestamp: '2026-12-05T01:00:00.000Z',
    requestContext: {
      requestId,
      functionArn: FUNCTION,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: {
      errorType: 'JobLedgerUnavailableError',
      errorMessage: 'the jobs ledger did not answer',
    },
    ...overrides,
  });
}

const message = (id: string, body: string): Message => ({
  MessageId: `m-${id}`,
  ReceiptHandle: `r-${id}`,
  Body: body,
  Attributes: { ApproximateReceiveCount: '1' },
});

/** A staging context whose failure queue holds `messages` and whose audit trail is `audit`. */
function withQueue(messages: Message[], audit: AuditEntry[] = []) {
  const staged = stagingContext();
  const queue = [...messages];
  staged.sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
  // One receive hands out every visible message; a long poll of an empty queue answers none.
  let handedOut = false;
  staged.sqs.on(ReceiveMessageCommand).callsFake(() => {
    if (handedOut) return { Messages: [] };
    handedOut = true;
    return { Messages: queue };
  });
  staged.sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  staged.sqs.on(DeleteMessageCommand).resolves({});
  staged.lambda.on(InvokeCommand).resolves({ StatusCode: 202, $metadata: { requestId: 'new-invocation' } });
  const ledger = {
    appendAudit: async (entry: Omit<AuditEntry, 'id' | 'at'>) => {
      audit.unshift({ ...entry, id: audit.length + 1, at: new Date() } as AuditEntry);
    },
    listAudit: async () => [...audit],
    close: async () => {},
  } as unknown as Ledger;
  const context: OpsContext = { ...staged.context, ledger: async () => ledger };
  return { ...staged, context, audit };
}

describe('listAsyncFailures', () => {
  it("shows each record's time, function, condition, attempts, error and trigger (a rule's event or a schedule)", async () => {
    const { context, sqs } = withQueue([
      message('1', record('req-1', WORKFLOW_ENDED)),
      message('2', record('req-2', {})),
      message(
        '3',
        record(
          'req-3',
          {},
          {
            requestContext: {
              requestId: 'req-3',
              functionArn: FUNCTION,
              condition: 'EventAgeExceeded',
              approximateInvokeCount: 0,
            },
            responseContext: undefined,
            responsePayload: undefined,
          },
        ),
      ),
    ]);

    const listed = await listAsyncFailures(context, 'job-sweeper', { now: new Date('2026-12-05T01:10:00Z') });

    expect(listed[0]).toMatchObject({
      service: 'job-sweeper',
      requestId: 'req-1',
      functionArn: FUNCTION,
      failedAt: new Date('2026-12-05T01:00:00.000Z'),
      ageSeconds: 600,
      condition: 'RetriesExhausted',
      attempts: 3,
      errorType: 'JobLedgerUnavailableError',
      errorMessage: 'the jobs ledger did not answer',
      trigger: { kind: 'event', source: 'aws.states', detailType: 'Step Functions Execution Status Change' },
    });
    // Scheduler passes the schedule's input alone: `{}` to the job-sweeper is its stale-job-sweeper's.
    expect(listed[1]?.trigger).toEqual({ kind: 'schedule', schedule: 'stale-job-sweeper' });
    expect(listed[2]).toMatchObject({
      condition: 'EventAgeExceeded',
      attempts: 0,
      errorType: null,
      errorMessage: null,
    });
    expect(sqs.commandCalls(GetQueueUrlCommand)[0]?.args[0].input).toEqual({
      QueueName: 'sidestep-staging-job-sweeper-async-failures',
    });
    // Read, not taken: every record is made visible again.
    expect(
      sqs
        .commandCalls(ChangeMessageVisibilityBatchCommand)
        .flatMap((call) => call.args[0].input.Entries ?? []),
    ).toHaveLength(3);
  });

  it('refuses a service that is not invoked asynchronously, naming the field', async () => {
    const { context, sqs } = withQueue([]);
    await expect(listAsyncFailures(context, 'mail-dispatcher')).rejects.toMatchObject({
      name: 'UnknownNameError',
      field: 'service',
    });
    expect(sqs.calls()).toHaveLength(0);
  });
});

describe('describeTrigger', () => {
  it('says what invoked the function: a schedule by name, an event by source and detail-type', () => {
    expect(describeTrigger({ kind: 'schedule', schedule: 'stale-job-sweeper' })).toBe(
      'schedule stale-job-sweeper',
    );
    expect(
      describeTrigger({
        kind: 'event',
        source: 'aws.states',
        detailType: 'Step Functions Execution Status Change',
      }),
    ).toBe('aws.states: Step Functions Execution Status Change');
    expect(describeTrigger({ kind: 'event', source: 'aws.states', detailType: null })).toBe('aws.states');
  });
});

describe('asyncFailureStatuses', () => {
  it("counts each service's records and the oldest's age", async () => {
    const { context, sqs, cloudWatch } = withQueue([]);
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '2' } });
    cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'q0', Values: [120] }] });
    expect(await asyncFailureStatuses(context)).toEqual([
      { service: 'job-sweeper', failures: 2, oldestAgeSeconds: 120 },
    ]);
  });

  // An operator whose policy is the previous release's (no grant on the on-failure queues yet: it
  // arrives with the environment's apply; also after a rollback, or a role holding an older copy of
  // the policy). SQS answers a call IAM refuses with AccessDenied: the SDK names it after the
  // x-amzn-query-error header SQS's JSON protocol sends, else after its __type, AccessDeniedException
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html). It
  // may also answer QueueDoesNotExist, "The specified queue does not exist or you do not have access
  // to it" (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-api-errors.html).
  const denied = (name: string) =>
    new SQSServiceException({
      name,
      $fault: 'client',
      $metadata: {},
      message:
        'User: arn:aws:sts::123456789012:assumed-role/operator/alice is not authorized to perform: sqs:getqueueurl',
    });
  it.each([
    ['GetQueueUrl', 'AccessDenied', denied('AccessDenied')],
    ['GetQueueUrl', 'AccessDeniedException', denied('AccessDeniedException')],
    [
      'GetQueueUrl',
      'QueueDoesNotExist',
      new QueueDoesNotExist({ message: 'The specified queue does not exist.', $metadata: {} }),
    ],
    ['GetQueueAttributes', 'AccessDenied', denied('AccessDenied')],
  ])(
    'leaves out a queue whose %s answers %s, warning with the queue, the operator policy statement and what to do',
    async (operation, name, error) => {
      const { context, sqs, cloudWatch, warnings } = withQueue([]);
      if (operation === 'GetQueueUrl') sqs.on(GetQueueUrlCommand).rejects(error);
      else sqs.on(GetQueueAttributesCommand).rejects(error);
      cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
      expect(await asyncFailureStatuses(context)).toEqual([]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('queue sidestep-staging-job-sweeper-async-failures');
      expect(warnings[0]).toContain(name);
      expect(warnings[0]).toContain('statement ReadQueues of sidestep-staging-operator');
      expect(warnings[0]).toContain('apply the environment');
    },
  );

  it('fails on any other error of SQS (throttling is not a missing grant)', async () => {
    const { context, sqs, cloudWatch } = withQueue([]);
    sqs.on(GetQueueAttributesCommand).rejects(denied('ThrottlingException'));
    cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    await expect(asyncFailureStatuses(context)).rejects.toThrow(/not authorized/);
  });
});

describe('reinvokeAsyncFailures', () => {
  it('invokes the function again asynchronously with the original event, audits it, then deletes the record', async () => {
    const { context, sqs, lambda, audit } = withQueue([
      message('1', record('req-1', WORKFLOW_ENDED)),
      message('2', record('req-2', {})),
    ]);

    const result = await reinvokeAsyncFailures(context, 'job-sweeper', { requestIds: ['req-1'] });

    expect(result.records).toEqual([
      { requestId: 'req-1', outcome: 'reinvoked', invocationId: 'new-invocation', error: null },
    ]);
    const invoke = lambda.commandCalls(InvokeCommand);
    expect(invoke).toHaveLength(1);
    expect(invoke[0]?.args[0].input).toMatchObject({
      FunctionName: 'sidestep-staging-job-sweeper',
      InvocationType: 'Event',
    });
    expect(JSON.parse(new TextDecoder().decode(invoke[0]?.args[0].input.Payload as Uint8Array))).toEqual(
      WORKFLOW_ENDED,
    );
    expect(sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, ReceiptHandle: 'r-1' },
    ]);
    // The record not asked for is handed back at once.
    expect(
      sqs
        .commandCalls(ChangeMessageVisibilityBatchCommand)
        .flatMap((call) => call.args[0].input.Entries ?? []),
    ).toEqual([{ Id: '0', ReceiptHandle: 'r-2', VisibilityTimeout: 0 }]);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'async-reinvoke',
        target: 'job-sweeper:req-1',
        result: 'ok',
        operator: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
      }),
    ]);
  });

  it('does not invoke again for a command run again: a record still there is deleted, one gone is reported', async () => {
    const earlier = {
      id: 7,
      at: new Date(),
      operator: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
      environment: 'staging',
      action: 'async-reinvoke',
      target: 'job-sweeper:req-1',
      details: {},
      result: 'ok',
      error: null,
    } as AuditEntry;
    // req-1 was invoked and audited, and the command stopped before deleting it; req-2 was deleted too.
    const auditOf2 = { ...earlier, id: 8, target: 'job-sweeper:req-2' } as AuditEntry;
    const { context, sqs, lambda } = withQueue([message('1', record('req-1', {}))], [auditOf2, earlier]);

    const result = await reinvokeAsyncFailures(context, 'job-sweeper', { requestIds: ['req-1', 'req-2'] });

    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle)).toEqual([
      'r-1',
    ]);
    expect(result.records.map((entry) => [entry.requestId, entry.outcome])).toEqual([
      ['req-1', 'already-reinvoked'],
      ['req-2', 'already-reinvoked'],
    ]);
  });

  it('invokes a record in the queue twice once: the later copy is only deleted (SQS delivers at least once)', async () => {
    // A standard queue may deliver a message more than once, so the on-failure destination's record
    // can be in the queue twice (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html).
    const { context, sqs, lambda } = withQueue([
      message('1', record('req-1', {})),
      message('2', record('req-1', {})),
    ]);

    const result = await reinvokeAsyncFailures(context, 'job-sweeper', { all: true });

    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(result.records.map((entry) => [entry.requestId, entry.outcome])).toEqual([
      ['req-1', 'reinvoked'],
      ['req-1', 'already-reinvoked'],
    ]);
    expect(sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle)).toEqual([
      'r-1',
      'r-2',
    ]);
  });

  it('keeps a later copy of a record whose invoke failed in the same run without invoking it again', async () => {
    const { context, sqs, lambda } = withQueue([
      message('1', record('req-1', {})),
      message('2', record('req-1', {})),
    ]);
    lambda
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));

    await expect(reinvokeAsyncFailures(context, 'job-sweeper', { all: true })).rejects.toMatchObject({
      name: 'AsyncReinvokeError',
      result: {
        records: [
          expect.objectContaining({ requestId: 'req-1', outcome: 'failed' }),
          expect.objectContaining({ requestId: 'req-1', outcome: 'failed' }),
        ],
      },
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('sends the invoke once: a connection dropped after Lambda took the event is reported, not sent again', async () => {
    // The SDK retries a transient error (a reset connection included) up to 3 attempts by default
    // (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html); an Event invoke
    // Lambda accepted before the connection dropped would be queued again. A real client, on loopback.
    const staged = withQueue([message('1', record('req-1', {}))]);
    staged.lambda.restore();
    let invokes = 0;
    const { lambda, close } = await loopbackLambda((request) => {
      request.resume();
      request.on('end', () => {
        invokes += 1;
        request.socket.destroy();
      });
    });
    try {
      const context: OpsContext = { ...staged.context, clients: { ...staged.context.clients, lambda } };
      await expect(reinvokeAsyncFailures(context, 'job-sweeper', { all: true })).rejects.toMatchObject({
        name: 'AsyncReinvokeError',
        result: { records: [expect.objectContaining({ requestId: 'req-1', outcome: 'failed' })] },
      });
      expect(invokes).toBe(1);
      expect(staged.sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    } finally {
      close();
    }
  });

  /** `act` with Date.now() advanced `seconds` by each Invoke the function gets. */
  async function withSlowInvokes<T>(
    lambda: ReturnType<typeof withQueue>['lambda'],
    seconds: number,
    act: () => Promise<T>,
  ): Promise<T> {
    let clock = Date.now();
    const now = jest.spyOn(Date, 'now').mockImplementation(() => clock);
    lambda.on(InvokeCommand).callsFake(() => {
      clock += seconds * 1000;
      return { StatusCode: 202, $metadata: { requestId: 'new-invocation' } };
    });
    try {
      return await act();
    } finally {
      now.mockRestore();
    }
  }

  // A record received is hidden for its visibility timeout; ChangeMessageVisibility hides it again for
  // the timeout given, counted from the call
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
  it('keeps the records not yet done hidden while it works: their hold is extended before it ends', async () => {
    const { context, sqs, lambda } = withQueue([
      message('1', record('req-1', {})),
      message('2', record('req-2', {})),
      message('3', record('req-3', {})),
    ]);

    const result = await withSlowInvokes(lambda, 160, () =>
      reinvokeAsyncFailures(context, 'job-sweeper', { all: true }),
    );

    expect(result.records.map((entry) => entry.outcome)).toEqual(['reinvoked', 'reinvoked', 'reinvoked']);
    // Held 300 s from the receive; 160 s in, and again 160 s later, what is left is held 300 s more.
    expect(
      sqs
        .commandCalls(ChangeMessageVisibilityBatchCommand)
        .map((call) =>
          call.args[0].input.Entries?.map((entry) => [entry.ReceiptHandle, entry.VisibilityTimeout]),
        ),
    ).toEqual([
      [
        ['r-2', 300],
        ['r-3', 300],
      ],
      [['r-3', 300]],
    ]);
  });

  it('does not invoke a record whose hold could not be extended (another reader may have it)', async () => {
    const { context, sqs, lambda } = withQueue([
      message('1', record('req-1', {})),
      message('2', record('req-2', {})),
      message('3', record('req-3', {})),
    ]);
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({
      Successful: [{ Id: '0' }],
      Failed: [{ Id: '1', Code: 'ReceiptHandleIsInvalid', SenderFault: true, Message: 'expired' }],
    });

    const failure = await withSlowInvokes(lambda, 160, () =>
      reinvokeAsyncFailures(context, 'job-sweeper', { all: true }),
    ).catch((error: unknown) => error);

    expect(failure).toMatchObject({
      name: 'AsyncReinvokeError',
      message: expect.stringContaining('req-3: its record could not be held'),
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(2);
    expect(sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle)).toEqual([
      'r-1',
      'r-2',
    ]);
  });

  it('refuses an id that is neither in the queue nor re-invoked before, naming requestId, and invokes nothing', async () => {
    const { context, lambda, sqs } = withQueue([message('1', record('req-1', {}))]);
    await expect(
      reinvokeAsyncFailures(context, 'job-sweeper', { requestIds: ['req-1', 'req-9'] }),
    ).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'requestId',
      message: expect.stringContaining('req-9'),
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('keeps a record whose invoke fails, audits the failure and says which, after doing the others', async () => {
    const { context, lambda, sqs, audit } = withQueue([
      message('1', record('req-1', {})),
      message('2', record('req-2', {})),
    ]);
    lambda
      .on(InvokeCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }))
      .resolves({ StatusCode: 202, $metadata: { requestId: 'new-invocation' } });

    await expect(reinvokeAsyncFailures(context, 'job-sweeper', { all: true })).rejects.toMatchObject({
      name: 'AsyncReinvokeError',
      field: 'requestId',
      message: expect.stringContaining('req-1: TooManyRequestsException: Rate exceeded'),
    });
    expect(sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle)).toEqual([
      'r-2',
    ]);
    expect(audit.map((entry) => [entry.target, entry.result])).toEqual([
      ['job-sweeper:req-2', 'ok'],
      ['job-sweeper:req-1', 'error'],
    ]);
  });

  it('invokes again on the next command a record whose invoke failed: only a re-invoke that succeeded counts as done', async () => {
    const audit: AuditEntry[] = [];
    const first = withQueue([message('1', record('req-1', WORKFLOW_ENDED))], audit);
    first.lambda
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    await expect(reinvokeAsyncFailures(first.context, 'job-sweeper', { all: true })).rejects.toMatchObject({
      name: 'AsyncReinvokeError',
    });
    first.lambda.restore();
    first.sqs.restore();

    const again = withQueue([message('1', record('req-1', WORKFLOW_ENDED))], audit);
    const result = await reinvokeAsyncFailures(again.context, 'job-sweeper', { requestIds: ['req-1'] });

    expect(result.records).toEqual([
      { requestId: 'req-1', outcome: 'reinvoked', invocationId: 'new-invocation', error: null },
    ]);
    expect(again.lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(audit.map((entry) => [entry.target, entry.result])).toEqual([
      ['job-sweeper:req-1', 'ok'],
      ['job-sweeper:req-1', 'error'],
    ]);
  });

  it('asks for request ids or --all, naming requestId', async () => {
    const { context, sqs } = withQueue([]);
    await expect(reinvokeAsyncFailures(context, 'job-sweeper', {})).rejects.toMatchObject({
      field: 'requestId',
    });
    await expect(
      reinvokeAsyncFailures(context, 'job-sweeper', { all: true, requestIds: ['req-1'] }),
    ).rejects.toMatchObject({ field: 'requestId' });
    expect(sqs.calls()).toHaveLength(0);
  });
});
