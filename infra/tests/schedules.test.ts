import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { describe, expect, it } from '@jest/globals';
import { registeredService } from '@sidestep/registry';
import {
  defineSchedules,
  EXPORT_REQUESTS_QUEUE,
  operatorEventPattern,
  type ScheduleDefinition,
} from '@sidestep/workflows';
import { TerraformStack, Testing } from 'cdktn';
import {
  checkSecurityPolicy,
  EventBus,
  GrantableRole,
  InfraConfigError,
  operatorRuleInput,
  Schedule,
  ScheduleGroup,
  type ScheduleProps,
  ServiceFunction,
  Workflow,
  WorkflowQueue,
  type WorkflowQueueProps,
} from '../src/index.ts';
import {
  type Json,
  one as oneOf,
  ref,
  statements as statementsOf,
  trust as trustOf,
} from './terraform-json.ts';

const account = '123456789012';
const region = 'eu-west-1';

/** The schedule of `defineSchedules` named `name`, as the stack deploys it. */
function definition(name: string): ScheduleDefinition {
  const found = defineSchedules({ nightlyExportRecipient: 'ops@example.com' }).find((d) => d.name === name);
  if (!found) throw new Error(`no schedule ${name}`);
  return found;
}
const nightlyExport = definition('nightly-export');
const staleJobSweeper = definition('stale-job-sweeper');
const nightlyInput = JSON.stringify(nightlyExport.input);
const sweeperInput = JSON.stringify(staleJobSweeper.input);

/** A schedule's props from its definition, as `SidestepStack` passes them. */
function scheduleProps(schedule: ScheduleDefinition) {
  return {
    name: schedule.name,
    description: schedule.description,
    expression: schedule.expression,
    timezone: schedule.timezone,
    input: JSON.stringify(schedule.input),
    retry: {
      maximumRetryAttempts: schedule.retryPolicy.maximumRetryAttempts,
      maximumEventAgeSeconds: schedule.retryPolicy.maximumEventAgeSeconds,
    },
  };
}

// The job-sweeper's manifest without its permissions: this stack has no database or mail queue to grant.
const sweeperManifest = { ...registeredService('job-sweeper').manifest, permissions: [] };

/** A stack with the export workflow (one Succeed state) fed by a WorkflowQueue of `queueProps`. */
function workflowQueueStack(
  id: string,
  queueProps: Pick<WorkflowQueueProps, 'name' | 'visibilityTimeoutSeconds' | 'maxReceiveCount' | 'alarms'>,
): [TerraformStack, WorkflowQueue] {
  const stack = new TerraformStack(Testing.app(), id);
  new AwsProvider(stack, 'aws', { region });
  const workflow = new Workflow(stack, 'export-workflow', {
    environment: 'staging',
    name: 'export',
    definition: { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } },
    callees: {},
    accountId: account,
    region,
  });
  const queue = new WorkflowQueue(stack, 'export-requests', {
    environment: 'staging',
    ...queueProps,
    workflow,
    accountId: account,
    region,
  });
  return [stack, queue];
}

/** A stack with a workflow fed by a queue, a function, and both schedules of the plan. */
function build(overrides: { nightly?: Partial<ScheduleProps>; sweeper?: Partial<ScheduleProps> } = {}) {
  const [stack, queue] = workflowQueueStack('schedules', {
    ...EXPORT_REQUESTS_QUEUE,
    alarms: { topicArn: `arn:aws:sns:${region}:${account}:alarms` },
  });
  const sweeper = new ServiceFunction(stack, 'job-sweeper', {
    environment: 'staging',
    manifest: sweeperManifest,
    accountId: account,
    region,
  });
  const bus = new EventBus(stack, 'event-bus', { environment: 'staging' });
  const group = new ScheduleGroup(stack, 'schedules', { environment: 'staging' });
  const common = { environment: 'staging', group, accountId: account, region };
  new Schedule(stack, 'nightly-export', {
    ...common,
    ...scheduleProps(nightlyExport),
    target: { queue },
    operator: { bus, eventPattern: operatorEventPattern(nightlyExport.name) },
    ...overrides.nightly,
  });
  new Schedule(stack, 'stale-job-sweeper', {
    ...common,
    ...scheduleProps(staleJobSweeper),
    target: { function: sweeper },
    operator: { bus, eventPattern: operatorEventPattern(overrides.sweeper?.name ?? staleJobSweeper.name) },
    ...overrides.sweeper,
  });
  return stack;
}

const tf: Json = JSON.parse(Testing.synth(build(), true));

const one = (type: string, match: Record<string, unknown> = {}) => oneOf(tf, type, match);
const statements = (roleName: string) => statementsOf(tf, roleName);
const trust = (roleName: string) => trustOf(tf, roleName);
/** The trust statement letting `service` assume a role only for this account's `sourceArn` (no confused deputy). */
const serviceTrust = (service: string, sourceArn: string) => ({
  Effect: 'Allow',
  Principal: { Service: service },
  Action: 'sts:AssumeRole',
  Condition: { StringEquals: { 'aws:SourceAccount': account, 'aws:SourceArn': sourceArn } },
});

const [queueAddress, queue] = one('aws_sqs_queue', { name: 'sidestep-staging-export-requests' });
const [dlqAddress] = one('aws_sqs_queue', { name: 'sidestep-staging-export-requests-dlq' });
const [machineAddress] = one('aws_sfn_state_machine', { name: 'sidestep-staging-export' });
const [schedulesDlqAddress] = one('aws_sqs_queue', { name: 'sidestep-staging-schedules-dlq' });
const [sweeperAddress] = one('aws_lambda_function', { function_name: 'sidestep-staging-job-sweeper' });
const [busAddress] = one('aws_cloudwatch_event_bus', { name: 'sidestep-staging' });

describe('WorkflowQueue (export-requests)', () => {
  it('is an encrypted queue that dead-letters after 5 receives into a DLQ only it may use', () => {
    expect(queue.sqs_managed_sse_enabled).toBe(true);
    expect(JSON.parse(queue.redrive_policy)).toEqual({
      deadLetterTargetArn: ref(dlqAddress, 'arn'),
      maxReceiveCount: EXPORT_REQUESTS_QUEUE.maxReceiveCount,
    });
    const [, allow] = one('aws_sqs_queue_redrive_allow_policy', { queue_url: ref(dlqAddress, 'url') });
    expect(JSON.parse(allow.redrive_allow_policy)).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [ref(queueAddress, 'arn')],
    });
  });

  it('starts the Standard workflow fire-and-forget, one message per execution, through a pipe', () => {
    const [, pipe] = one('aws_pipes_pipe', { name: 'sidestep-staging-export-requests' });
    expect(pipe.source).toBe(ref(queueAddress, 'arn'));
    expect(pipe.target).toBe(ref(machineAddress, 'arn'));
    expect(pipe.source_parameters.sqs_queue_parameters).toEqual({ batch_size: 1 });
    expect(pipe.target_parameters.step_function_state_machine_parameters).toEqual({
      invocation_type: 'FIRE_AND_FORGET',
    });
    // No input template: the workflow receives the pipe's batch `[ { messageId, body, ... } ]`.
    expect(pipe.target_parameters.input_template).toBeUndefined();
    const [logGroupAddress, logGroup] = one('aws_cloudwatch_log_group', {
      name: '/aws/pipes/sidestep-staging-export-requests',
    });
    expect(logGroup.retention_in_days).toBe(30);
    expect(pipe.log_configuration).toEqual({
      level: 'ERROR',
      cloudwatch_logs_log_destination: { log_group_arn: ref(logGroupAddress, 'arn') },
    });
  });

  it('runs the pipe with a role that may consume this queue, start this workflow and write its logs only', () => {
    const [logGroupAddress] = one('aws_cloudwatch_log_group', {
      name: '/aws/pipes/sidestep-staging-export-requests',
    });
    expect(statements('sidestep-staging-export-requests-pipe')).toEqual([
      {
        Sid: 'ConsumeExportRequests',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: ref(queueAddress, 'arn'),
      },
      {
        Sid: 'StartExportWorkflow',
        Effect: 'Allow',
        Action: ['states:StartExecution'],
        Resource: ref(machineAddress, 'arn'),
      },
      {
        Sid: 'WritePipeLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: `${ref(logGroupAddress, 'arn')}:log-stream:*`,
      },
    ]);
    expect(trust('sidestep-staging-export-requests-pipe')).toEqual(
      serviceTrust(
        'pipes.amazonaws.com',
        `arn:aws:pipes:${region}:${account}:pipe/sidestep-staging-export-requests`,
      ),
    );
  });

  it('alarms on a dead-lettered request and on a backlog, notifying the topic', () => {
    const [, dead] = one('aws_cloudwatch_metric_alarm', {
      alarm_name: 'sidestep-staging-export-requests-dlq-not-empty',
    });
    expect(dead.dimensions).toEqual({ QueueName: ref(dlqAddress, 'name') });
    expect(dead.alarm_actions).toEqual([`arn:aws:sns:${region}:${account}:alarms`]);
    const [, backlog] = one('aws_cloudwatch_metric_alarm', {
      alarm_name: 'sidestep-staging-export-requests-oldest-message-age',
    });
    // By visibility x maxReceiveCount (60 s x 5) a message has started its workflow or been
    // dead-lettered: one older waits on a pipe that is not starting workflows.
    expect(backlog).toMatchObject({
      namespace: 'AWS/SQS',
      metric_name: 'ApproximateAgeOfOldestMessage',
      dimensions: { QueueName: ref(queueAddress, 'name') },
      statistic: 'Maximum',
      comparison_operator: 'GreaterThanOrEqualToThreshold',
      threshold: 300,
      alarm_actions: [`arn:aws:sns:${region}:${account}:alarms`],
    });
  });

  it('alarms on a backlog after visibility x maxReceiveCount, never under 5 minutes', () => {
    // Past visibility x maxReceiveCount a message is backlog (as above), with a floor of 5 minutes, the
    // one period the alarm evaluates: 10 s x 3 alarms at 300 s, 120 s x 4 at 480 s.
    const thresholds = [
      { visibilityTimeoutSeconds: 10, maxReceiveCount: 3 },
      { visibilityTimeoutSeconds: 120, maxReceiveCount: 4 },
    ].map((settings) => {
      const [, queue] = workflowQueueStack('backlog', { name: 'backlog-requests', ...settings });
      return queue.backlogAlarm.thresholdInput;
    });
    expect(thresholds).toEqual([300, 480]);
  });
});

describe('Schedule', () => {
  const nightlyRetryPolicy = {
    maximum_retry_attempts: nightlyExport.retryPolicy.maximumRetryAttempts,
    maximum_event_age_in_seconds: nightlyExport.retryPolicy.maximumEventAgeSeconds,
  };
  const [groupAddress] = one('aws_scheduler_schedule_group', { name: 'sidestep-staging' });
  const [, nightly] = one('aws_scheduler_schedule', { name: 'sidestep-staging-nightly-export' });
  const [, sweeper] = one('aws_scheduler_schedule', { name: 'sidestep-staging-stale-job-sweeper' });

  it('fires in its group and time zone, at the stated time, with retries and the group’s DLQ', () => {
    expect(nightly).toMatchObject({
      group_name: ref(groupAddress, 'name'),
      schedule_expression: nightlyExport.expression,
      schedule_expression_timezone: nightlyExport.timezone,
      flexible_time_window: { mode: 'OFF' },
    });
    expect(nightly.target).toMatchObject({
      arn: ref(queueAddress, 'arn'),
      input: nightlyInput,
      retry_policy: nightlyRetryPolicy,
      dead_letter_config: { arn: ref(schedulesDlqAddress, 'arn') },
    });
    expect(sweeper).toMatchObject({
      schedule_expression: staleJobSweeper.expression,
      schedule_expression_timezone: staleJobSweeper.timezone,
    });
    expect(sweeper.target).toMatchObject({ arn: ref(sweeperAddress, 'arn'), input: sweeperInput });
  });

  // An operator's pause (UpdateSchedule State DISABLED) is drift to Terraform, whose `state`
  // defaults to ENABLED: each deploy on merge would enable a paused schedule again.
  it('leaves the schedules’ state to operators: a deploy never enables a paused schedule', () => {
    for (const schedule of [nightly, sweeper]) {
      expect(schedule.state).toBeUndefined();
      expect(schedule.lifecycle).toEqual({ ignore_changes: ['state'] });
    }
  });

  it('delivers with a role allowed exactly the target action and the dead-letter send', () => {
    const [nightlyRole] = one('aws_iam_role', { name: 'sidestep-staging-nightly-export-schedule' });
    expect(nightly.target.role_arn).toBe(ref(nightlyRole, 'arn'));
    expect(statements('sidestep-staging-nightly-export-schedule')).toEqual([
      {
        Sid: 'SendExportRequests',
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: ref(queueAddress, 'arn'),
      },
      {
        Sid: 'DeadLetterSchedules',
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: ref(schedulesDlqAddress, 'arn'),
      },
    ]);
    expect(statements('sidestep-staging-stale-job-sweeper-schedule')).toEqual([
      {
        Sid: 'InvokeJobSweeper',
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: ref(sweeperAddress, 'arn'),
      },
      expect.objectContaining({ Sid: 'DeadLetterSchedules' }),
    ]);
    expect(trust('sidestep-staging-nightly-export-schedule')).toEqual(
      serviceTrust(
        'scheduler.amazonaws.com',
        `arn:aws:scheduler:${region}:${account}:schedule-group/sidestep-staging`,
      ),
    );
  });

  it('routes the operator event for the schedule on sidestep’s bus to the same target', () => {
    const [ruleAddress, rule] = one('aws_cloudwatch_event_rule', {
      name: 'sidestep-staging-nightly-export-operator',
    });
    expect(rule.event_bus_name).toBe(ref(busAddress, 'name'));
    expect(JSON.parse(rule.event_pattern)).toEqual(operatorEventPattern('nightly-export'));
    const [, target] = one('aws_cloudwatch_event_target', { rule: ref(ruleAddress, 'name') });
    expect(target).toMatchObject({
      event_bus_name: ref(busAddress, 'name'),
      arn: ref(queueAddress, 'arn'),
      retry_policy: nightlyRetryPolicy,
      dead_letter_config: { arn: ref(schedulesDlqAddress, 'arn') },
    });
    // The same envelope, with the operator event's time where Scheduler puts the scheduled time.
    expect(target.input_transformer).toEqual({
      input_paths: { time: '$.time' },
      input_template: nightlyInput.replaceAll('<aws.scheduler.scheduled-time>', '<time>'),
    });
    const [sweeperRuleAddress] = one('aws_cloudwatch_event_rule', {
      name: 'sidestep-staging-stale-job-sweeper-operator',
    });
    const [, sweeperTarget] = one('aws_cloudwatch_event_target', { rule: ref(sweeperRuleAddress, 'name') });
    expect(sweeperTarget).toMatchObject({ arn: ref(sweeperAddress, 'arn'), input: sweeperInput });
  });

  it('lets only the operator rules send to the target and to the DLQ, by resource policy', () => {
    const [nightlyRule] = one('aws_cloudwatch_event_rule', {
      name: 'sidestep-staging-nightly-export-operator',
    });
    const [sweeperRule] = one('aws_cloudwatch_event_rule', {
      name: 'sidestep-staging-stale-job-sweeper-operator',
    });
    const [, queuePolicy] = one('aws_sqs_queue_policy', { queue_url: ref(queueAddress, 'url') });
    expect(JSON.parse(queuePolicy.policy).Statement).toEqual([
      {
        Sid: 'EventBridgeRules',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: ref(queueAddress, 'arn'),
        Condition: { ArnEquals: { 'aws:SourceArn': [ref(nightlyRule, 'arn')] } },
      },
    ]);
    const [, dlqPolicy] = one('aws_sqs_queue_policy', { queue_url: ref(schedulesDlqAddress, 'url') });
    expect(JSON.parse(dlqPolicy.policy).Statement[0].Condition).toEqual({
      ArnEquals: { 'aws:SourceArn': [ref(nightlyRule, 'arn'), ref(sweeperRule, 'arn')] },
    });
    const [, permission] = one('aws_lambda_permission', { source_arn: ref(sweeperRule, 'arn') });
    expect(permission).toMatchObject({
      action: 'lambda:InvokeFunction',
      function_name: ref(sweeperAddress, 'function_name'),
      principal: 'events.amazonaws.com',
    });
  });

  it('lets a grantee put events on this bus only', () => {
    const stack = new TerraformStack(Testing.app(), 'operators');
    new AwsProvider(stack, 'aws', { region });
    const bus = new EventBus(stack, 'bus', { environment: 'production' });
    const operator = new GrantableRole(stack, 'operator', {
      roleName: 'operator',
      assumedBy: 'ec2.amazonaws.com',
    });
    bus.grantPutEvents(operator);
    const out = JSON.parse(Testing.synth(stack));
    const [busAddress2] = Object.keys(out.resource.aws_cloudwatch_event_bus).map(
      (n) => `aws_cloudwatch_event_bus.${n}`,
    );
    const [policy] = Object.values(out.resource.aws_iam_role_policy) as Json[];
    expect(JSON.parse(policy.policy).Statement).toEqual([
      {
        Sid: 'PutEventsSidestepProduction',
        Effect: 'Allow',
        Action: ['events:PutEvents'],
        Resource: ref(busAddress2 ?? '', 'arn'),
      },
    ]);
  });

  it('archives every event on the bus for replay', () => {
    const [, archive] = one('aws_cloudwatch_event_archive', { name: 'sidestep-staging-events' });
    expect(archive).toMatchObject({ event_source_arn: ref(busAddress, 'arn'), retention_days: 90 });
  });

  it('passes the security policy', () => {
    expect(checkSecurityPolicy(tf)).toEqual([]);
  });

  it.each([
    ['timezone', { timezone: 'Tokyo' }],
    ['expression', { expression: '0 3 * * *' }],
    ['input', { input: '{not json' }],
    ['retry.maximumEventAgeSeconds', { retry: { maximumRetryAttempts: 1, maximumEventAgeSeconds: 30 } }],
    [
      'operator.eventPattern',
      { operator: { bus: undefined as never, eventPattern: operatorEventPattern('other') } },
    ],
  ] as const)('refuses a bad %s, naming the schedule and field', (path, override) => {
    const create = () => build({ sweeper: override as Partial<ScheduleProps> });
    expect(create).toThrow(InfraConfigError);
    expect(create).toThrow(new RegExp(`^schedules\\.stale-job-sweeper\\.${path.replace('.', '\\.')}:`));
  });
});

// Scheduler takes IANA names (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#time-zones),
// current ones as well as the CLDR canonical ids Intl lists (Asia/Calcutta, Europe/Kiev).
describe('Schedule time zones', () => {
  it.each(['Asia/Kolkata', 'Europe/Kyiv', 'Asia/Ho_Chi_Minh', 'Etc/UTC'])('synthesizes in %s', (timezone) => {
    const out: Json = JSON.parse(Testing.synth(build({ sweeper: { timezone } })));
    const [, sweeper] = oneOf(out, 'aws_scheduler_schedule', { name: 'sidestep-staging-stale-job-sweeper' });
    expect(sweeper.schedule_expression_timezone).toBe(timezone);
  });

  // Offsets, abbreviations and miscased names are no IANA names, though Intl resolves some of them.
  it.each(['Mars/Olympus', '+09:00', 'JST', 'asia/tokyo'])('refuses %s, naming the field', (timezone) => {
    const create = () => build({ sweeper: { timezone } });
    expect(create).toThrow(InfraConfigError);
    expect(create).toThrow(`schedules.stale-job-sweeper.timezone: "${timezone}" is not an IANA time zone`);
  });
});

// IAM role names and EventBridge rule names are at most 64 characters
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html,
// https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html): apply would fail.
describe('Schedule names', () => {
  it('synthesizes the longest name whose role and rule fit in production', () => {
    const name = 'x'.repeat(35);
    const out: Json = JSON.parse(Testing.synth(build({ sweeper: { environment: 'production', name } })));
    oneOf(out, 'aws_iam_role', { name: `sidestep-production-${name}-schedule` });
    oneOf(out, 'aws_cloudwatch_event_rule', { name: `sidestep-production-${name}-operator` });
  });

  it.each([
    ['production', 36, 65],
    ['staging', 40, 66],
  ])(
    'refuses in %s a name of %i characters, naming the role name, its %i characters and the limit',
    (environment, length, total) => {
      const name = 'x'.repeat(length);
      const create = () => build({ sweeper: { environment, name } });
      expect(create).toThrow(InfraConfigError);
      expect(create).toThrow(
        `schedules.${name}.name: makes the IAM role name "sidestep-${environment}-${name}-schedule" ${total} characters, over the 64 allowed`,
      );
    },
  );
});

// Scheduler refuses these at apply time (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html);
// the local scheduler's nextFireTimes refuses them too, and so must the synth.
describe('Schedule expressions Scheduler would refuse', () => {
  it.each([
    ['cron(0 3 * * * *)', 'expression'],
    ['cron(0 3 ? * 0 *)', 'expression.day-of-week'],
    ['cron(61 3 * * ? *)', 'expression.minutes'],
    ['rate(5 minute)', 'expression'],
    ['at(2026-13-01T00:00:00)', 'expression'],
  ])('refuses %s, naming the schedule and its %s', (expression, field) => {
    const create = () => build({ sweeper: { expression } });
    expect(create).toThrow(InfraConfigError);
    expect(create).toThrow(
      expect.objectContaining({ field: `schedules.stale-job-sweeper.${field}` }) as unknown as Error,
    );
  });
});

describe('operatorRuleInput', () => {
  const arn = 'arn:aws:scheduler:eu-west-1:123456789012:schedule/sidestep-staging/sidestep-staging-x';

  it('keeps a constant input as it is', () => {
    expect(operatorRuleInput('{"a":1}', 'f', arn)).toEqual({ input: '{"a":1}' });
  });

  it('fills time and execution id from the event, every occurrence, as the local cloud does', () => {
    expect(
      operatorRuleInput(
        '{"id":"<aws.scheduler.execution-id>","k":"<aws.scheduler.execution-id>","at":"<aws.scheduler.scheduled-time>"}',
        'f',
        arn,
      ),
    ).toEqual({
      inputPaths: { id: '$.id', time: '$.time' },
      inputTemplate: '{"id":"<id>","k":"<id>","at":"<time>"}',
    });
  });

  it('makes the attempt number 1 and names the schedule by its ARN', () => {
    expect(
      operatorRuleInput('{"n":<aws.scheduler.attempt-number>,"s":"<aws.scheduler.schedule-arn>"}', 'f', arn),
    ).toEqual({ input: `{"n":1,"s":"${arn}"}` });
  });

  it('refuses an attribute Scheduler does not have, naming the field', () => {
    expect(() => operatorRuleInput('{"n":"<aws.scheduler.attempt>"}', 'schedules.x.input', arn)).toThrow(
      /^schedules\.x\.input: <aws\.scheduler\.attempt> is not/,
    );
  });
});
