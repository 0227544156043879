import { PurgeQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import { lambdaAuthorization } from '@sidestep/iam';
import type { EventBridgeEvent } from '../src/event-router.ts';
import type { LocalCloudEvent } from '../src/local-cloud-event.ts';
import { assertAuthorizedForRule, createLocalIam, UNENFORCED_IAM } from '../src/local-iam.ts';
import { workflowTriggerRule } from '../src/local-triggers.ts';
import { checkExecutionInputSize } from '../src/payload-limits.ts';
import { createDeadLetterQueue } from '../src/queues.ts';
import {
  deliverOrDeadLetter,
  RuleDeliveryFailedError,
  RuleRetryStoppedError,
} from '../src/rule-dead-letter.ts';
import {
  createSchedulesDeadLetterQueue,
  operatorRules,
  UnknownScheduleTargetError,
} from '../src/schedule-delivery.ts';
import type { ScheduleDefinition } from '../src/scheduler.ts';
import { InvalidExecutionInputError, StateMachineDoesNotExistError } from '../src/step-functions.ts';
import { messagesIn, useSqsEndpoint } from './fixtures/sqs-endpoint.ts';

const RULE = 'arn:aws:events:us-east-1:000000000000:rule/sidestep-local-workflow-ended';
const event: EventBridgeEvent = {
  version: '0',
  id: 'event-1',
  'detail-type': 'Step Functions Execution Status Change',
  source: 'aws.states',
  account: '000000000000',
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: {},
};

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: a permissions error is
// not retried; the event goes to the target's DLQ, a send EventBridge makes for the rule, which the
// queue's policy must allow (else InvocationsFailedToBeSentToDLQ).
describe("a rule's delivery refused by its target's policy", () => {
  it('fails as NO_PERMISSIONS and says the event is lost when the DLQ refuses it too', async () => {
    // No function policy and no queue policy: EventBridge may neither invoke nor dead-letter.
    const iam = createLocalIam({ stack: { provider: { aws: [{ region: 'us-east-1' }] }, resource: {} } });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' });
    let delivered = false;
    const failed = await rejectionOf(
      deliverOrDeadLetter(
        event,
        {
          ruleArn: RULE,
          targetArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper',
          queueName: 'sidestep-local-workflow-ended-dlq',
          queueUrl: 'http://127.0.0.1:9/000000000000/sidestep-local-workflow-ended-dlq',
          sqs,
          iam,
          reporter: () => undefined,
        },
        () => {
          assertAuthorizedForRule(
            iam,
            RULE,
            lambdaAuthorization('Invoke', {
              region: 'us-east-1',
              accountId: '000000000000',
              functionName: 'sidestep-local-job-sweeper',
            }),
          );
          delivered = true;
        },
      ),
      RuleDeliveryFailedError,
    );
    sqs.destroy();
    expect(delivered).toBe(false);
    expect(failed).toMatchObject({ errorCode: 'NO_PERMISSIONS', deadLetterQueue: undefined });
    expect(failed.message).toContain('is not authorized to perform: lambda:InvokeFunction');
    expect(failed.message).toContain(
      'InvocationsFailedToBeSentToDLQ: User: events.amazonaws.com is not authorized to perform: sqs:SendMessage',
    );
    expect(failed.message).toContain('the event is lost');
  });
});

const aws = useSqsEndpoint();

/** The one message in the DLQ at `queueUrl`: its body and message attributes. */
async function deadLettered(sqs: SQSClient, queueUrl: string) {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 0,
    }),
  );
  expect(Messages).toHaveLength(1);
  const [message] = Messages;
  const attributes = Object.fromEntries(
    Object.entries(message?.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue]),
  );
  return { body: JSON.parse(message?.Body ?? 'null') as unknown, attributes };
}

/** The error `refuse` throws. */
function thrownBy(refuse: () => void): Error {
  try {
    refuse();
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a refusal');
}

const TRIGGER_RULE = 'sidestep-local-import-trigger';
const IMPORT_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
const upload: EventBridgeEvent = {
  ...event,
  id: 'upload-1',
  'detail-type': 'Object Created',
  source: 'aws.s3',
  detail: { bucket: { name: 'sidestep-local-imports' }, object: { key: 'imports/a.csv' } },
};

// infra's S3Trigger gives the trigger's target a retry policy and a DLQ: EventBridge sends an event
// whose target does not exist straight to the DLQ, and retries any other failure with backoff per
// the retry policy before dead-lettering it
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html,
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
describe("a workflow trigger rule's StartExecution (eb-rule-dlq, eb-rule-retry-policy)", () => {
  /** The trigger rule starting the import workflow through `startExecution`, with a fresh DLQ. */
  async function triggerRule(
    startExecution: () => void,
    name: string,
    retryDelayMs = 5,
    signal?: AbortSignal,
  ) {
    const queueName = `${name}-dlq`;
    const queueUrl = await createDeadLetterQueue(aws.sqs, queueName);
    const reports: LocalCloudEvent[] = [];
    const rule = workflowTriggerRule({
      name,
      eventPattern: { source: ['aws.s3'] },
      stateMachineArn: IMPORT_MACHINE,
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 3600 },
      deadLetter: { queueName, queueUrl },
      stepFunctions: {
        startExecution: () => {
          startExecution();
          return { executionArn: `${IMPORT_MACHINE}:run`, startDate: new Date() };
        },
      },
      sqs: aws.sqs,
      iam: UNENFORCED_IAM,
      reporter: (report) => reports.push(report),
      retryDelayMs: () => retryDelayMs,
      ...(signal ? { signal } : {}),
    });
    return { rule, queueUrl, reports };
  }

  /**
   * Delivers `upload` through a trigger rule named `<rule>-<suffix>` whose StartExecution always
   * throws `error`; the attempts made, the failure and the DLQ message's attributes.
   */
  async function failingTrigger(error: Error, suffix: string, retryDelayMs?: number) {
    let attempts = 0;
    const { rule, queueUrl } = await triggerRule(
      () => {
        attempts += 1;
        throw error;
      },
      `${TRIGGER_RULE}-${suffix}`,
      retryDelayMs,
    );
    const failed = await rejectionOf(Promise.resolve(rule.target(upload)), RuleDeliveryFailedError);
    const { body, attributes } = await deadLettered(aws.sqs, queueUrl);
    expect(body).toEqual(upload);
    expect(attributes).toMatchObject({
      RULE_ARN: `arn:aws:events:us-east-1:000000000000:rule/${TRIGGER_RULE}-${suffix}`,
      TARGET_ARN: IMPORT_MACHINE,
    });
    return { attempts, failed, attributes };
  }

  it('sends an event whose state machine does not exist to the DLQ unretried, as NO_RESOURCE', async () => {
    const { attempts, failed, attributes } = await failingTrigger(
      new StateMachineDoesNotExistError(IMPORT_MACHINE),
      'missing',
    );
    expect(attempts).toBe(1);
    expect(failed).toMatchObject({ errorCode: 'NO_RESOURCE', retryAttempts: 0 });
    expect(attributes.ERROR_CODE).toBe('NO_RESOURCE');
    expect(attributes.ERROR_MESSAGE).toContain('State Machine Does Not Exist');
    expect(attributes).not.toHaveProperty('RETRY_ATTEMPTS');
  });

  it('retries a failed StartExecution per the retry policy, then dead-letters it as SDK_CLIENT_ERROR', async () => {
    const { attempts, failed, attributes } = await failingTrigger(new Error('throttled'), 'failing');
    // The first attempt and maximumRetryAttempts (2) retries.
    expect(attempts).toBe(3);
    expect(failed).toMatchObject({ errorCode: 'SDK_CLIENT_ERROR', retryAttempts: 2 });
    expect(attributes).toMatchObject({
      ERROR_CODE: 'SDK_CLIENT_ERROR',
      ERROR_MESSAGE: 'throttled',
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
      RETRY_ATTEMPTS: '2',
    });
  });

  // https://repost.aws/knowledge-center/eventbridge-resolve-failedinvocation-errors: "EventBridge
  // retries responses sent with a 5xx or 429 HTTP status code [...] EventBridge doesn't retry other
  // 4xx HTTP errors"; eb-rule-dlq lists INVALID_PARAMETER among the DLQ's error codes.
  it.each([
    ['InvalidExecutionInput', () => new InvalidExecutionInputError('Unexpected token')],
    ['a 256 KiB ValidationException', () => thrownBy(() => checkExecutionInputSize('x'.repeat(262_145)))],
  ])(
    'sends a StartExecution refused as %s (a 4xx: eventbridge-resolve-failedinvocation-errors, not retried) to the DLQ unretried, as INVALID_PARAMETER (eb-rule-dlq)',
    async (_refusal, refusal) => {
      const error = refusal();
      const { attempts, failed, attributes } = await failingTrigger(error, `client-${error.name}`);
      expect(attempts).toBe(1);
      expect(failed).toMatchObject({ errorCode: 'INVALID_PARAMETER', retryAttempts: 0 });
      expect(attributes).toMatchObject({ ERROR_CODE: 'INVALID_PARAMETER', ERROR_MESSAGE: error.message });
      expect(attributes).not.toHaveProperty('RETRY_ATTEMPTS');
    },
  );

  it('retries a throttled StartExecution (eventbridge-resolve-failedinvocation-errors: 429 and throttling are retried)', async () => {
    // Step Functions answers ThrottlingException with a 400, the SDKs classify it as throttling.
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    const { attempts, attributes } = await failingTrigger(throttled, 'throttled');
    expect(attempts).toBe(3);
    expect(attributes).toMatchObject({ ERROR_CODE: 'SDK_CLIENT_ERROR', RETRY_ATTEMPTS: '2' });
  });

  // The SDK's own classification (@smithy/core/retry): every throttling code it knows, a 429, an
  // error marked `$retryable.throttling`, and the transient codes (a 408 RequestTimeout) are retried.
  it.each([
    ['RequestThrottled', 400, undefined],
    ['SlowDown', 503, undefined],
    ['ProvisionedThroughputExceededException', 400, undefined],
    ['SomeThrottle', 400, { throttling: true }],
    ['RequestTimeout', 408, undefined],
  ])(
    'retries %s (status %s), which the SDK classifies as throttling or transient',
    async (name, status, retryable) => {
      const error = Object.assign(new Error(name), {
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: status },
        ...(retryable ? { $retryable: retryable } : {}),
      });
      const { attempts, attributes } = await failingTrigger(error, `sdk-${name.toLowerCase()}`);
      expect(attempts).toBe(3);
      expect(attributes).toMatchObject({ ERROR_CODE: 'SDK_CLIENT_ERROR', RETRY_ATTEMPTS: '2' });
    },
  );

  it('dead-letters instead of retrying past maximumEventAgeSeconds', async () => {
    // The first retry would come after the hour the retry policy allows.
    const { attempts, attributes } = await failingTrigger(new Error('throttled'), 'old', 3_601_000);
    expect(attempts).toBe(1);
    expect(attributes).toMatchObject({
      EXHAUSTED_RETRY_CONDITION: 'MaximumEventAgeInSeconds',
      RETRY_ATTEMPTS: '0',
    });
  });

  it('ends a retry waiting when the cloud stops, dead-lettering nothing', async () => {
    const stopping = new AbortController();
    const { rule, queueUrl } = await triggerRule(
      () => {
        throw new Error('throttled');
      },
      `${TRIGGER_RULE}-stopped`,
      60_000,
      stopping.signal,
    );
    const delivery = rejectionOf(Promise.resolve(rule.target(upload)), RuleRetryStoppedError);
    stopping.abort();
    expect((await delivery).message).toContain('the event is neither retried nor dead-lettered');
    expect(await messagesIn(aws.sqs, queueUrl)).toBe(0);
  });

  it('starts the workflow on a retry after a transient failure, dead-lettering nothing', async () => {
    let attempts = 0;
    const { rule, queueUrl } = await triggerRule(() => {
      attempts += 1;
      if (attempts < 3) throw new Error('throttled');
    }, `${TRIGGER_RULE}-transient`);
    await rule.target(upload);
    expect(attempts).toBe(3);
    expect(await messagesIn(aws.sqs, queueUrl)).toBe(0);
  });

  it("reports each failed attempt it retries through the rule's reporter, as the scheduler does", async () => {
    let attempts = 0;
    const { rule, reports } = await triggerRule(() => {
      attempts += 1;
      if (attempts < 3) throw new Error('throttled');
    }, `${TRIGGER_RULE}-reported`);
    await rule.target(upload);
    expect(reports).toEqual(
      [1, 2].map((attempt) => ({
        type: 'error',
        source: `rule ${TRIGGER_RULE}-reported`,
        message: expect.stringMatching(
          new RegExp(
            `^delivering event upload-1 failed \\(attempt ${attempt}\\): throttled; retrying at \\d{4}-`,
          ),
        ),
      })),
    );
  });
});

// infra's Schedule gives its operator rule's target the schedule's retry policy and the schedule
// group's DLQ (`operatorTarget`): EventBridge dead-letters what it cannot deliver there.
describe("an operator rule's delivery (eb-rule-dlq, eb-rule-retry-policy)", () => {
  const schedule: ScheduleDefinition = {
    name: 'nightly-export',
    expression: 'cron(0 2 * * ? *)',
    timezone: 'UTC',
    target: { kind: 'queue', queue: 'export-requests' },
    input: { run: '<aws.scheduler.execution-id>' },
    retryPolicy: { maximumRetryAttempts: 1, maximumEventAgeSeconds: 3600 },
  };
  const fired: EventBridgeEvent = {
    ...event,
    id: 'operator-1',
    'detail-type': 'Schedule Fired',
    source: 'sidestep.operator',
    detail: { schedule: 'nightly-export' },
  };

  /** The schedule's operator rule delivering through `deliver`, with the group DLQ emptied. */
  async function operatorRule(deliver: () => Promise<void>) {
    const queueUrl = await createSchedulesDeadLetterQueue(aws.sqs);
    await aws.sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    const [rule] = operatorRules({
      schedules: [schedule],
      operatorEventPattern: () => ({ source: ['sidestep.operator'] }),
      eventBusName: 'sidestep-local',
      ruleName: (name) => `sidestep-local-${name}-operator`,
      scheduleArn: (name) => `arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/${name}`,
      deliver,
      deadLetter: { queueUrl, sqs: aws.sqs, iam: UNENFORCED_IAM, retryDelayMs: () => 5 },
      reporter: () => undefined,
    });
    if (!rule) throw new Error('no operator rule');
    return { rule, queueUrl };
  }

  it("retries per the schedule's retry policy, then sends the event to the schedules DLQ", async () => {
    let attempts = 0;
    const { rule, queueUrl } = await operatorRule(async () => {
      attempts += 1;
      throw new Error('queue unavailable');
    });
    const failed = await rejectionOf(Promise.resolve(rule.target(fired)), RuleDeliveryFailedError);
    expect(attempts).toBe(2);
    expect(failed).toMatchObject({ errorCode: 'SDK_CLIENT_ERROR', retryAttempts: 1 });
    const { body, attributes } = await deadLettered(aws.sqs, queueUrl);
    expect(body).toEqual(fired);
    expect(attributes).toEqual({
      RULE_ARN:
        'arn:aws:events:us-east-1:000000000000:rule/sidestep-local/sidestep-local-nightly-export-operator',
      TARGET_ARN: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-export-requests',
      ERROR_CODE: 'SDK_CLIENT_ERROR',
      ERROR_MESSAGE: 'queue unavailable',
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
      RETRY_ATTEMPTS: '1',
    });
  });

  it('sends a delivery to a target the cloud does not run to the DLQ unretried, as NO_RESOURCE', async () => {
    let attempts = 0;
    const { rule, queueUrl } = await operatorRule(async () => {
      attempts += 1;
      throw new UnknownScheduleTargetError('nightly-export', 'queue export-requests');
    });
    await rejectionOf(Promise.resolve(rule.target(fired)), RuleDeliveryFailedError);
    expect(attempts).toBe(1);
    expect((await deadLettered(aws.sqs, queueUrl)).attributes.ERROR_CODE).toBe('NO_RESOURCE');
  });

  it('sends a delivery to a queue SQS says does not exist (deleted while the cloud runs) to the DLQ unretried, as NO_RESOURCE', async () => {
    let attempts = 0;
    const { rule, queueUrl } = await operatorRule(async () => {
      attempts += 1;
      // What the SDK throws for SendMessage to a deleted queue: a 400 named QueueDoesNotExist.
      throw Object.assign(new Error('The specified queue does not exist.'), {
        name: 'QueueDoesNotExist',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    });
    await rejectionOf(Promise.resolve(rule.target(fired)), RuleDeliveryFailedError);
    expect(attempts).toBe(1);
    expect((await deadLettered(aws.sqs, queueUrl)).attributes.ERROR_CODE).toBe('NO_RESOURCE');
  });
});
