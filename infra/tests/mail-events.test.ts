import { describe, expect, it } from '@jest/globals';
import { idempotencyRecordSeconds } from '@sidestep/manifest';
import { registeredService } from '@sidestep/registry';
import { Testing } from 'cdktn';
import { checkSecurityPolicy, SERVICES, SidestepStack } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref } from './terraform-json.ts';

// When the mail-dispatcher cannot tell whether SES accepted a mail (DeliveryOutcomeUnknownError), the
// operator searches SES's event records of the mails for its X-Sidestep-Idempotency-Key header before
// releasing its record (README, "Mail whose outcome is unknown"). These tests hold the stack to keeping
// those records: without them "found nothing" is the normal answer and the procedure sends twice.

const DAY = 24 * 60 * 60;
const tf = synthStack(STAGING);
const LOG_GROUP = '/aws/events/sidestep-staging-mail-events';
const LOG_GROUP_ARN = `arn:aws:logs:eu-west-1:123456789012:log-group:${LOG_GROUP}`;
/** The retentions CloudWatch Logs accepts (PutRetentionPolicy, retentionInDays). */
const CLOUDWATCH_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
/** The mail queue's record lifetime in days, as the mail-dispatcher computes it (19). */
const mailQueue = registeredService('mail-dispatcher').manifest.queue;
const recordDays = idempotencyRecordSeconds(mailQueue ?? {}) / DAY;

function logGroup(out: Json): [string, Json] {
  return one(out, 'aws_cloudwatch_log_group', { name: LOG_GROUP });
}

describe('SES event records of the mails', () => {
  it('are published by the configuration set to the default EventBridge bus, every delivery event type', () => {
    const [setAddress] = one(tf, 'aws_sesv2_configuration_set', {
      configuration_set_name: 'sidestep-staging-mail',
    });
    const [, destination] = one(tf, 'aws_sesv2_configuration_set_event_destination', {
      configuration_set_name: ref(setAddress, 'configuration_set_name'),
    });
    // SES's EventBridge destination publishes to the default bus only:
    // https://docs.aws.amazon.com/ses/latest/dg/event-publishing-add-event-destination-eventbridge.html
    expect(destination.event_destination.enabled).toBe(true);
    expect(destination.event_destination.event_bridge_destination).toEqual({
      event_bus_arn: 'arn:aws:events:eu-west-1:123456789012:event-bus/default',
    });
    expect([...destination.event_destination.matching_event_types].sort()).toEqual([
      'BOUNCE',
      'COMPLAINT',
      'DELIVERY',
      'DELIVERY_DELAY',
      'REJECT',
      'RENDERING_FAILURE',
      'SEND',
    ]);
  });

  it('are routed by a rule on the default bus that matches only SES events of this configuration set', () => {
    const [ruleAddress, rule] = one(tf, 'aws_cloudwatch_event_rule', {
      name: 'sidestep-staging-mail-events',
    });
    expect(rule.event_bus_name ?? 'default').toBe('default');
    expect(JSON.parse(rule.event_pattern)).toEqual({
      source: ['aws.ses'],
      detail: { mail: { tags: { 'ses:configuration-set': ['sidestep-staging-mail'] } } },
    });
    const targets = all(tf, 'aws_cloudwatch_event_target').filter(
      ([, target]) => target.rule === ref(ruleAddress, 'name'),
    );
    expect(targets).toHaveLength(1);
    const [groupAddress] = logGroup(tf);
    expect(targets[0]?.[1].arn).toBe(ref(groupAddress, 'arn'));
    // A CloudWatch Logs target takes no role: EventBridge writes through the log group's resource policy.
    expect(targets[0]?.[1].role_arn).toBeUndefined();
    // A record EventBridge cannot write is retried, then kept in an alarmed queue, not dropped.
    const [queueAddress] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail-events-dlq' });
    expect(targets[0]?.[1].dead_letter_config).toEqual({ arn: ref(queueAddress, 'arn') });
    one(tf, 'aws_cloudwatch_metric_alarm', { alarm_name: 'sidestep-staging-mail-events-dlq-not-empty' });
  });

  it('are kept in a log group at least as long as a mail’s idempotency record lives', () => {
    const [, group] = logGroup(tf);
    expect(recordDays).toBe(19);
    expect(group.retention_in_days).toBeGreaterThanOrEqual(recordDays);
    // The smallest retention CloudWatch accepts that covers it (30 for 19 days), not the environment's
    // general log retention (90 in the fixture): the records hold recipients' addresses.
    expect(group.retention_in_days).toBe(CLOUDWATCH_RETENTION_DAYS.find((days) => days >= recordDays));
    expect(checkSecurityPolicy(tf)).toEqual([]);
  });

  it('follow the mail queue’s retention: a queue keeping messages 14 days keeps records 29 days', () => {
    const long = SERVICES.map((service) =>
      service.name === 'mail-dispatcher' && service.queue
        ? { ...service, queue: { ...service.queue, messageRetentionSeconds: 14 * DAY } }
        : service,
    );
    const out: Json = JSON.parse(
      Testing.synth(
        new SidestepStack(Testing.app(), 'sidestep-staging', { config: STAGING, services: long }),
      ),
    );
    const [, group] = logGroup(out);
    expect(group.retention_in_days).toBeGreaterThanOrEqual(14 + 14 + 1);
    expect(CLOUDWATCH_RETENTION_DAYS).toContain(group.retention_in_days);
  });

  it('may be written by EventBridge to that log group only, on behalf of that rule of this account only', () => {
    const [groupAddress] = logGroup(tf);
    const [ruleAddress, rule] = one(tf, 'aws_cloudwatch_event_rule', {
      name: 'sidestep-staging-mail-events',
    });
    const [policyAddress, policy] = one(tf, 'aws_cloudwatch_log_resource_policy', {
      policy_name: 'sidestep-staging-mail-events',
    });
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-cloudwatchlogs-permissions
    // and, for the condition keys, https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutResourcePolicy.html
    expect(JSON.parse(policy.policy_document)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'EventBridgeCreatesMailEventStreams',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: ['logs:CreateLogStream'],
          Resource: `${ref(groupAddress, 'arn')}:*`,
        },
        {
          Sid: 'EventBridgeWritesMailEvents',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: ['logs:PutLogEvents'],
          Resource: `${ref(groupAddress, 'arn')}:*`,
          Condition: {
            ArnEquals: { 'aws:SourceArn': ref(ruleAddress, 'arn') },
            StringEquals: { 'aws:SourceAccount': '123456789012' },
          },
        },
      ],
    });
    // The rule's ARN is a reference, which orders the policy after the rule; no cycle: the rule
    // depends on neither the policy nor the target, and the target waits for the policy.
    expect(JSON.stringify(rule)).not.toContain('aws_cloudwatch_log_resource_policy');
    const [, target] = one(tf, 'aws_cloudwatch_event_target', { rule: ref(ruleAddress, 'name') });
    expect(target.depends_on).toContain(policyAddress);
  });

  it('may be searched by an operator, in that log group only', () => {
    const [, operator] = one(tf, 'aws_iam_policy', { name: 'sidestep-staging-operator' });
    const document = JSON.parse(operator.policy);
    const logs = document.Statement.filter((statement: Json) =>
      [statement.Action].flat().some((action: string) => action.startsWith('logs:')),
    );
    expect(logs.find((statement: Json) => statement.Sid === 'SearchMailEvents')).toEqual({
      Sid: 'SearchMailEvents',
      Effect: 'Allow',
      Action: ['logs:FilterLogEvents'],
      Resource: [LOG_GROUP_ARN, `${LOG_GROUP_ARN}:*`],
    });
    // The only other logs: grant, `job logs`', names the functions' and tasks' groups, not this one.
    expect(logs.map((statement: Json) => statement.Sid)).toEqual(['ReadJobLogs', 'SearchMailEvents']);
    const jobLogs = logs.find((statement: Json) => statement.Sid === 'ReadJobLogs');
    expect(jobLogs.Action).toEqual(['logs:FilterLogEvents']);
    expect(jobLogs.Resource).not.toContain(LOG_GROUP_ARN);
  });
});
