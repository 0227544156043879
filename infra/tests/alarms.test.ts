import { describe, expect, it } from '@jest/globals';
import { checkSecurityPolicy, environmentConfigs } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref } from './terraform-json.ts';

const tf = synthStack({ ...STAGING, alarmEmail: 'oncall@example.com' });
const [topicAddress, topic] = one(tf, 'aws_sns_topic');
const topicArn = ref(topicAddress, 'arn');
const alarms = all(tf, 'aws_cloudwatch_metric_alarm').map(([, alarm]) => alarm);

/** Alarms on `metricName` of `namespace`, by the value of their one dimension. */
function alarmedBy(namespace: string, metricName: string, dimension: string): Json[] {
  return alarms
    .filter((a) => a.namespace === namespace && a.metric_name === metricName)
    .map((a) => a.dimensions[dimension]);
}

/** `${aws_sqs_queue.x.arn}` -> `${aws_sqs_queue.x.name}`. */
const nameOf = (arnRef: string): string => arnRef.replace(/\.arn\}$/, '.name}');

describe('alarm topic', () => {
  it('creates sidestep-<env>-alarms, encrypted with a key CloudWatch may use', () => {
    expect(topic.name).toBe('sidestep-staging-alarms');
    // CloudWatch cannot publish to a topic under the AWS-managed aws/sns key (its key policy cannot
    // name CloudWatch): the topic has its own key, rotated, whose policy lets CloudWatch use it.
    const [keyAddress, key] = one(tf, 'aws_kms_key');
    expect(topic.kms_master_key_id).toBe(ref(keyAddress, 'arn'));
    expect(key.enable_key_rotation).toBe(true);
    const cloudwatch = JSON.parse(key.policy).Statement.find(
      (s: Json) => s.Principal?.Service === 'cloudwatch.amazonaws.com',
    );
    expect(cloudwatch.Action).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey']));
  });

  it('lets only CloudWatch of this account publish', () => {
    const [, policy] = one(tf, 'aws_sns_topic_policy');
    expect(policy.arn).toBe(topicArn);
    const [statement] = JSON.parse(policy.policy).Statement;
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: topicArn,
      Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
    });
  });

  it('subscribes the configured email address', () => {
    const [, subscription] = one(tf, 'aws_sns_topic_subscription');
    expect(subscription).toMatchObject({
      topic_arn: topicArn,
      protocol: 'email',
      endpoint: 'oncall@example.com',
    });
  });

  it('uses a configured topic instead of creating one', () => {
    const configured = 'arn:aws:sns:eu-west-1:123456789012:team-alarms';
    const own = synthStack({ ...STAGING, alarmTopicArn: configured });
    expect(all(own, 'aws_sns_topic')).toHaveLength(0);
    for (const [, alarm] of all(own, 'aws_cloudwatch_metric_alarm')) {
      expect(alarm.alarm_actions).toEqual([configured]);
    }
  });

  it('reads SIDESTEP_<ENV>_ALARM_EMAIL', () => {
    expect(
      environmentConfigs({ SIDESTEP_STAGING_ALARM_EMAIL: 'oncall@example.com' }).staging.alarmEmail,
    ).toBe('oncall@example.com');
    expect(() => environmentConfigs({ SIDESTEP_STAGING_ALARM_EMAIL: 'oncall' })).toThrow(
      /^staging\.alarmEmail: /,
    );
  });
});

describe('alarms of the staging stack', () => {
  it('every alarm notifies the topic on alarm and on recovery, and no data is no alarm', () => {
    expect(alarms.length).toBeGreaterThan(10);
    for (const alarm of alarms) {
      expect(alarm.alarm_actions).toEqual([topicArn]);
      expect(alarm.ok_actions).toEqual([topicArn]);
      expect(alarm.treat_missing_data).toBe('notBreaching');
    }
  });

  it('every function has an Errors and a Throttles alarm', () => {
    const functions = all(tf, 'aws_lambda_function').map(([address]) => ref(address, 'function_name'));
    expect(functions.length).toBeGreaterThanOrEqual(5);
    for (const metric of ['Errors', 'Throttles']) {
      expect(alarmedBy('AWS/Lambda', metric, 'FunctionName').sort()).toEqual([...functions].sort());
    }
  });

  // Only the mail-dispatcher is a queue's consumer: the others' failed work is a workflow step's, an
  // event's or a download's, and the alarm says which, and where the error is logged.
  it("says in each function's Errors alarm where its error is logged and what becomes of the failed work", () => {
    const errors = alarms.filter(
      (alarm) => alarm.namespace === 'AWS/Lambda' && alarm.metric_name === 'Errors',
    );
    const describedBy = (name: string) =>
      errors.find((alarm) => alarm.alarm_name === `sidestep-staging-${name}-errors`)?.alarm_description;
    expect(describedBy('mail-dispatcher')).toBe(
      "sidestep-staging-mail-dispatcher failed an invocation: the error is in the log group /aws/lambda/sidestep-staging-mail-dispatcher; its queue delivers the batch's failed jobs again, then dead-letters them",
    );
    for (const name of ['status-updater', 'export-finalizer', 'job-sweeper', 'ops-ledger']) {
      expect(describedBy(name)).toContain(
        `/aws/lambda/sidestep-staging-${name}; a workflow's step retries it`,
      );
    }
    expect(describedBy('export-download')).toContain('a download link was answered with a server error');
    for (const alarm of errors) {
      expect(alarm.alarm_description).toContain(
        `the log group /aws/lambda/${alarm.alarm_name.replace(/-errors$/, '')};`,
      );
    }
  });

  it('every state machine has an ExecutionsFailed and an ExecutionsTimedOut alarm', () => {
    const machines = all(tf, 'aws_sfn_state_machine').map(([address]) => ref(address, 'arn'));
    expect(machines).toHaveLength(2);
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      expect(alarmedBy('AWS/States', metric, 'StateMachineArn').sort()).toEqual([...machines].sort());
    }
  });

  it('every dead-letter queue has a not-empty alarm', () => {
    // Every queue some redrive policy, rule target, schedule or asynchronous invocation dead-letters into.
    const deadLetterArns = new Set<string>();
    for (const [, queue] of all(tf, 'aws_sqs_queue')) {
      if (queue.redrive_policy) deadLetterArns.add(JSON.parse(queue.redrive_policy).deadLetterTargetArn);
    }
    for (const [, target] of all(tf, 'aws_cloudwatch_event_target'))
      deadLetterArns.add(target.dead_letter_config.arn);
    for (const [, schedule] of all(tf, 'aws_scheduler_schedule'))
      deadLetterArns.add(schedule.target.dead_letter_config.arn);
    for (const [, config] of all(tf, 'aws_lambda_function_event_invoke_config'))
      deadLetterArns.add(config.destination_config.on_failure.destination);
    // The mail job queue, the export-requests queue (the pipe's source), the import trigger, the schedules.
    expect(deadLetterArns.size).toBeGreaterThanOrEqual(4);
    const notEmpty = alarms.filter(
      (a) => a.metric_name === 'ApproximateNumberOfMessagesVisible' && a.threshold === 0,
    );
    expect(notEmpty.map((a) => a.dimensions.QueueName).sort()).toEqual(
      [...deadLetterArns].map(nameOf).sort(),
    );
    for (const alarm of notEmpty) expect(alarm.comparison_operator).toBe('GreaterThanThreshold');
  });

  it('every queue that dead-letters has a backlog alarm on the age of its oldest message', () => {
    // The job queues and the workflow queues: a message older than its threshold is one no consumer
    // took. ApproximateAgeOfOldestMessage at its Maximum, at or over the threshold, is that message; the
    // Average, a count of visible messages, or LessThanThreshold would stay quiet while it waits.
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
    const redriven = all(tf, 'aws_sqs_queue')
      .filter(([, queue]) => queue.redrive_policy)
      .map(([address]) => ref(address, 'name'));
    // The mail job queue and the export-requests queue at least.
    expect(redriven.length).toBeGreaterThanOrEqual(2);
    for (const queueName of redriven) {
      const onQueue = alarms.filter((a) => a.dimensions?.QueueName === queueName);
      expect(onQueue).toEqual([
        expect.objectContaining({
          namespace: 'AWS/SQS',
          metric_name: 'ApproximateAgeOfOldestMessage',
          dimensions: { QueueName: queueName },
          statistic: 'Maximum',
          comparison_operator: 'GreaterThanOrEqualToThreshold',
        }),
      ]);
    }
  });

  it('passes the security policy', () => {
    expect(checkSecurityPolicy(tf)).toEqual([]);
  });
});
