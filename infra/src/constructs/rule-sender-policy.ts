import type { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { SqsQueuePolicy } from '@cdktn/provider-aws/lib/sqs-queue-policy/index.js';
import { Lazy } from 'cdktn';
import type { Construct } from 'constructs';

/** Where {@link RuleSenderPolicy} puts its policy and what its one statement is called. */
export interface RuleSenderPolicyProps {
  /** The queue the rules send to. */
  readonly queue: SqsQueue;
  /** The queue's ARN, read once by the owner. */
  readonly queueArn: string;
  /** The statement's `Sid`. */
  readonly sid: string;
}

/**
 * An SQS queue's policy letting EventBridge rules send to it: EventBridge sends to an SQS target, and
 * to a target's DLQ, with its service principal, not a role, so the statement is scoped by
 * `aws:SourceArn`. Created with the first rule (SQS refuses a policy without statements) as construct
 * `id` of `scope`; one policy per queue, as Terraform lets a second aws_sqs_queue_policy overwrite the
 * first. Lazy: later rules join its statement.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
 */
export class RuleSenderPolicy {
  readonly #scope: Construct;
  readonly #id: string;
  readonly #props: RuleSenderPolicyProps;
  readonly #rules: string[] = [];
  #policy: SqsQueuePolicy | undefined;

  constructor(scope: Construct, id: string, props: RuleSenderPolicyProps) {
    this.#scope = scope;
    this.#id = id;
    this.#props = props;
  }

  /** Lets the EventBridge rule `ruleArn` send to the queue (once, however often it is asked). */
  allow(ruleArn: string): void {
    if (this.#rules.includes(ruleArn)) return;
    this.#rules.push(ruleArn);
    if (this.#policy) return;
    const { queue, queueArn, sid } = this.#props;
    this.#policy = new SqsQueuePolicy(this.#scope, this.#id, {
      queueUrl: queue.url,
      policy: Lazy.stringValue({
        produce: () =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: sid,
                Effect: 'Allow',
                Principal: { Service: 'events.amazonaws.com' },
                Action: 'sqs:SendMessage',
                Resource: queueArn,
                Condition: { ArnEquals: { 'aws:SourceArn': [...this.#rules] } },
              },
            ],
          }),
      }),
    });
  }
}
