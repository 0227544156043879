import { KmsKey } from '@cdktn/provider-aws/lib/kms-key/index.js';
import { SnsTopic } from '@cdktn/provider-aws/lib/sns-topic/index.js';
import { SnsTopicPolicy } from '@cdktn/provider-aws/lib/sns-topic-policy/index.js';
import { resourceName } from '@sidestep/manifest';
import { Construct } from 'constructs';

/** Props of {@link AlarmTopic}. */
export interface AlarmTopicProps {
  /** Environment name (`staging`); the topic is `sidestep-<env>-alarms`. */
  readonly environment: string;
  /** Account of the alarms allowed to publish (the topic policy's `aws:SourceAccount`). */
  readonly accountId: string;
}

/**
 * What the account's own principals may do with the key (through their IAM policies): manage it and
 * use it. Listed, not `kms:*`, as the security policy allows no wildcard; `kms:PutKeyPolicy` keeps the
 * key recoverable should an action be missing.
 */
const ACCOUNT_KEY_ACTIONS = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:PutKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:ListResourceTags',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateKeyDescription',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:CreateGrant',
  'kms:ListGrants',
  'kms:RevokeGrant',
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:GenerateDataKey',
];

/**
 * The SNS topic every alarm of an environment notifies, `sidestep-<env>-alarms`: encrypted with its
 * own KMS key (rotated), and a topic policy that lets CloudWatch alarms of this account publish.
 *
 * Not the AWS-managed `alias/aws/sns` key: its key policy cannot be changed to let CloudWatch use it,
 * so alarms could not publish to the topic.
 * https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns
 */
export class AlarmTopic extends Construct {
  /** The topic. */
  readonly topic: SnsTopic;
  /** Topic ARN (what alarms name in `alarm_actions`). */
  readonly topicArn: string;
  /** The topic's key. */
  readonly key: KmsKey;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const name = resourceName(props.environment, 'alarms');
    this.key = new KmsKey(this, 'key', {
      description: `Encrypts ${name}: CloudWatch alarms publish with it`,
      enableKeyRotation: true,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'AccountPrincipals',
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${props.accountId}:root` },
            Action: ACCOUNT_KEY_ACTIONS,
            Resource: '*',
          },
          {
            // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
            Sid: 'CloudWatchAlarms',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: '*',
          },
        ],
      }),
    });
    this.topic = new SnsTopic(this, 'topic', { name, kmsMasterKeyId: this.key.arn });
    this.topicArn = this.topic.arn;
    new SnsTopicPolicy(this, 'policy', {
      arn: this.topicArn,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'CloudWatchAlarms',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: this.topicArn,
            // Alarms of this account only (confused deputy prevention).
            Condition: { StringEquals: { 'aws:SourceAccount': props.accountId } },
          },
        ],
      }),
    });
  }
}
