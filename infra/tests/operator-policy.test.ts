import { describe, expect, it } from '@jest/globals';
import { arnMatch } from '@sidestep/iam';
import { functionLogGroupName, taskLogGroupName } from '@sidestep/manifest';
import { SERVICES, TASKS } from '@sidestep/registry';
import { ASYNC_INVOKED_SERVICES, STAGING, synthStack } from './environment-fixture.ts';
import { all, one, ref, statements } from './terraform-json.ts';

const tf = synthStack(STAGING);
const at = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:123456789012:${resource}`;

/** The operator policy's statements by Sid. */
function operatorStatements(): Record<
  string,
  { Action: string[]; Resource: string | string[]; Condition?: object }
> {
  const [, policy] = one(tf, 'aws_iam_policy', { name: 'sidestep-staging-operator' });
  return Object.fromEntries(
    JSON.parse(policy.policy).Statement.map((statement: { Sid: string }) => [statement.Sid, statement]),
  );
}

describe('the operator policy', () => {
  it('is one managed policy, sidestep-<env>-operator, attached to nothing by the stack', () => {
    expect(all(tf, 'aws_iam_policy').map(([, body]) => body.name)).toEqual(['sidestep-staging-operator']);
    expect(all(tf, 'aws_iam_policy_attachment')).toEqual([]);
    expect(all(tf, 'aws_iam_role_policy_attachment')).toEqual([]);
    expect(tf.output.operator_policy_arn.value).toMatch(/^\$\{aws_iam_policy\..+\.arn\}$/);
  });

  // `sidestep job logs` searches the log groups infra gives the functions and the tasks
  // (FilterLogEvents is scoped by log group: list_amazoncloudwatchlogs.html), and no other.
  it("lets `job logs` search every function's and task's log group of the environment, and only those", () => {
    const statement = operatorStatements().ReadJobLogs;
    expect(statement).toEqual({
      Sid: 'ReadJobLogs',
      Effect: 'Allow',
      Action: ['logs:FilterLogEvents'],
      Resource: [
        at('logs', 'log-group:/aws/lambda/sidestep-staging-*'),
        at('logs', 'log-group:/ecs/sidestep-staging-*'),
      ],
    });
    const granted = (group: string) =>
      [statement?.Resource]
        .flat()
        .some((pattern) => arnMatch(pattern as string, at('logs', `log-group:${group}:*`)));
    for (const { manifest } of SERVICES)
      expect(granted(functionLogGroupName('staging', manifest.name))).toBe(true);
    for (const { manifest } of TASKS) expect(granted(taskLogGroupName('staging', manifest.name))).toBe(true);
    expect(granted(functionLogGroupName('production', 'mail-dispatcher'))).toBe(false);
    expect(granted('/aws/events/sidestep-staging-mail-events')).toBe(false);
  });

  // IAM: a managed policy holds at most 6,144 characters, whitespace not counted
  // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html); production's names are the longest.
  it("stays within a managed policy's 6,144 characters on production, with room for more services", () => {
    const production = synthStack({ ...STAGING, name: 'production' });
    const [, policy] = one(production, 'aws_iam_policy', { name: 'sidestep-production-operator' });
    const size = JSON.stringify(JSON.parse(policy.policy)).length;
    expect(size).toBeLessThan(6_144 - 1_000);
  });

  it('lists exactly the CLI’s actions, each on the environment’s own resources', () => {
    const policy = operatorStatements();
    // Every service's queue in the registry's order, then the export workflow's.
    const queues = [
      ...SERVICES.flatMap(({ manifest }) => (manifest.queue ? [manifest.queue.name] : [])),
      'export-requests',
    ];
    expect(queues).toEqual(expect.arrayContaining(['mail', 'export-requests']));
    const asyncFailures = ASYNC_INVOKED_SERVICES.map((service) =>
      at('sqs', `sidestep-staging-${service}-async-failures`),
    );
    expect(policy.ReadQueues).toMatchObject({
      Action: ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
      Resource: [
        ...queues.map((queue) => at('sqs', `sidestep-staging-${queue}`)),
        ...queues.map((queue) => at('sqs', `sidestep-staging-${queue}-dlq`)),
        ...asyncFailures,
      ],
    });
    // `async-failures`: the services rules and schedules invoke (the job-sweeper: its schedule's and
    // the workflow-ended rule's target), and no other.
    expect(policy.ReinvokeAsyncFailures).toMatchObject({
      Action: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage'],
    });
    expect([policy.ReinvokeAsyncFailures?.Resource].flat()).toEqual(asyncFailures);
    expect(policy.InvokeAsyncServices).toMatchObject({ Action: ['lambda:InvokeFunction'] });
    expect([policy.InvokeAsyncServices?.Resource].flat()).toEqual(
      ASYNC_INVOKED_SERVICES.map((service) => at('lambda', `function:sidestep-staging-${service}`)),
    );
    expect(asyncFailures).toContain(at('sqs', 'sidestep-staging-job-sweeper-async-failures'));
    expect(policy.RedriveDeadLetters?.Resource).toEqual(
      queues.map((queue) => at('sqs', `sidestep-staging-${queue}-dlq`)),
    );
    // The DLQs of the schedule group (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html)
    // and of the rules' targets (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html),
    // each alarmed: `dlq show <name>` reads them (`mail find` the mail-events rule's too); nothing
    // moves from them (they have no source queue).
    expect(policy.ReadRuleDeadLetters).toEqual({
      Sid: 'ReadRuleDeadLetters',
      Effect: 'Allow',
      Action: [
        'sqs:GetQueueUrl',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
      ],
      Resource: ['schedules', 'import-trigger', 'workflow-ended', 'mail-events'].map((name) =>
        at('sqs', `sidestep-staging-${name}-dlq`),
      ),
    });
    expect(policy.SendToQueues).toMatchObject({
      Action: ['sqs:SendMessage'],
      Resource: queues.map((queue) => at('sqs', `sidestep-staging-${queue}`)),
    });
    expect(policy.RunWorkflows?.Resource).toEqual([
      at('states', 'stateMachine:sidestep-staging-import'),
      at('states', 'stateMachine:sidestep-staging-export'),
    ]);
    expect(policy.InspectExecutions?.Resource).toEqual([
      at('states', 'execution:sidestep-staging-import:*'),
      at('states', 'execution:sidestep-staging-export:*'),
    ]);
    expect(policy.PauseSchedules?.Resource).toContain(
      at('scheduler', 'schedule/sidestep-staging/sidestep-staging-stale-job-sweeper'),
    );
    expect(policy.PassScheduleRoles).toMatchObject({
      Action: ['iam:PassRole'],
      Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    });
    expect(policy.PassScheduleRoles?.Resource).toContain(
      'arn:aws:iam::123456789012:role/sidestep-staging-stale-job-sweeper-schedule',
    );
    expect(policy.FireSchedules).toMatchObject({
      Action: ['events:PutEvents'],
      Resource: at('events', 'event-bus/sidestep-staging'),
    });
    expect(policy.UseLedger).toMatchObject({
      Action: ['lambda:InvokeFunction'],
      Resource: [
        at('lambda', 'function:sidestep-staging-ops-ledger'),
        at('lambda', 'function:sidestep-staging-ops-ledger:actions'),
      ],
    });
    // `*` only where AWS offers no scope: CloudWatch's metric reads.
    const unscoped = Object.values(policy).filter((statement) => [statement.Resource].flat().includes('*'));
    expect(unscoped.map((statement) => statement.Action)).toEqual([['cloudwatch:GetMetricData']]);
  });

  it('names only roles the stack creates for PassRole', () => {
    const roles = all(tf, 'aws_iam_role').map(([, body]) => `arn:aws:iam::123456789012:role/${body.name}`);
    for (const role of [operatorStatements().PassScheduleRoles?.Resource].flat())
      expect(roles).toContain(role);
  });
});

describe('the ops-ledger function', () => {
  it('has an actions alias on $LATEST and no function URL', () => {
    const [fnAddress, fn] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-ops-ledger' });
    const [, alias] = one(tf, 'aws_lambda_alias', { name: 'actions' });
    expect(alias).toMatchObject({
      function_name: ref(fnAddress, 'function_name'),
      function_version: '$LATEST',
    });
    expect(all(tf, 'aws_lambda_function_url').map(([, url]) => url.function_name)).not.toContain(
      ref(fnAddress, 'function_name'),
    );
    expect(fn.vpc_config).toMatchObject({
      subnet_ids: ['subnet-a', 'subnet-b'],
      security_group_ids: ['sg-1'],
    });
    expect(fn.environment.variables).toMatchObject({ NOTIFY_ADDRESS: 'ops@example.com' });
  });

  it('reads the database secret and nothing else of the environment', () => {
    const granted = statements(tf, 'sidestep-staging-ops-ledger').flatMap((statement) =>
      [statement.Action].flat(),
    );
    const outside = granted.filter(
      (action: string) =>
        !['secretsmanager:GetSecretValue'].includes(action) &&
        !action.startsWith('logs:') &&
        !action.startsWith('xray:') &&
        !action.startsWith('ec2:'),
    );
    expect(outside).toEqual([]);
    expect(granted).toContain('secretsmanager:GetSecretValue');
  });
});
