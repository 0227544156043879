import { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import { lambdaAuthorization } from '@sidestep/iam';
import type { EventBridgeEvent } from '../src/event-router.ts';
import { assertAuthorizedForRule, createLocalIam } from '../src/local-iam.ts';
import { deliverOrDeadLetter, RuleDeliveryFailedError } from '../src/rule-dead-letter.ts';

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
