// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import { describe, expect, it } from '@jest/globals';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { createLocalIam } from '../src/local-iam.ts';
import { assertMappingAuthorized, EventSourceMappingRefusedError } from '../src/queue-consumers.ts';
import { allow, role } from './fixtures/iam-stack.ts';

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail';

/** A stack whose mail-dispatcher role is allowed `actions` on its queue. */
function stackAllowing(actions: string[]): SynthesizedTerraformJson {
  return {
    provider: { aws: [{ region: 'us-east-1' }] },
    resource: {
      aws_iam_role: { dispatcher: role('sidestep-local-mail-dispatcher') },
      aws_iam_role_policy: {
        dispatcher: allow('dispatcher', [
          { Effect: 'Allow', Action: actions, Resource: '${aws_sqs_queue.mail.arn}' },
        ]),
      },
      aws_sqs_queue: { mail: { name: 'sidestep-local-mail' } },
    },
  };
}

// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: the execution role
// needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes, checked at
// CreateEventSourceMapping ("The provided execution role does not have permissions to call
// ReceiveMessage on SQS").
describe('the SQS event source mapping and the function role', () => {
  it('is created for a role allowed to receive, delete and read the attributes of its queue', () => {
    const iam = createLocalIam({
      stack: stackAllowing(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']),
    });
    expect(iam.warnings).toEqual([]);
    expect(() => assertMappingAuthorized(iam, 'mail-dispatcher', QUEUE_ARN)).not.toThrow();
  });

  it('is refused, naming the call, for a role missing any of them', () => {
    for (const [actions, missing] of [
      [['sqs:DeleteMessage', 'sqs:GetQueueAttributes'], 'ReceiveMessage'],
      [['sqs:ReceiveMessage', 'sqs:GetQueueAttributes'], 'DeleteMessage'],
      [['sqs:ReceiveMessage', 'sqs:DeleteMessage'], 'GetQueueAttributes'],
    ] as const) {
      const iam = createLocalIam({ stack: stackAllowing([...actions]) });
      let refusal: unknown;
      try {
        assertMappingAuthorized(iam, 'mail-dispatcher', QUEUE_ARN);
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeInstanceOf(EventSourceMappingRefusedError);
      expect((refusal as Error).message).toContain(
        `mail-dispatcher: the provided execution role does not have permissions to call ${missing} on SQS`,
      );
    }
  });
});
