import { describe, expect, it } from '@jest/globals';
import { ASYNC_INVOKED_SERVICES, STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref, statementFor, statements } from './terraform-json.ts';

const tf: Json = synthStack(STAGING);

describe('the workflow-ended rule', () => {
  const [ruleAddress, rule] = one(tf, 'aws_cloudwatch_event_rule', {
    name: 'sidestep-staging-workflow-ended',
  });
  const [sweeperAddress] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-job-sweeper' });
  const [importAddress] = one(tf, 'aws_sfn_state_machine', { name: 'sidestep-staging-import' });
  const [exportAddress] = one(tf, 'aws_sfn_state_machine', { name: 'sidestep-staging-export' });

  it("matches the job workflows' executions that ended ABORTED, TIMED_OUT or FAILED, on the default bus", () => {
    expect(rule.event_bus_name).toBeUndefined();
    expect(JSON.parse(rule.event_pattern)).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
        stateMachineArn: [ref(importAddress, 'arn'), ref(exportAddress, 'arn')],
      },
    });
  });

  it('invokes the job-sweeper with the event, retried and dead-lettered into an alarmed queue', () => {
    const [, target] = one(tf, 'aws_cloudwatch_event_target', { rule: ref(ruleAddress, 'name') });
    expect(target).toMatchObject({
      arn: ref(sweeperAddress, 'arn'),
      retry_policy: { maximum_event_age_in_seconds: 86_400, maximum_retry_attempts: 185 },
    });
    expect(target.input).toBeUndefined();
    expect(target.input_transformer).toBeUndefined();
    const [dlqAddress] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-workflow-ended-dlq' });
    expect(target.dead_letter_config).toEqual({ arn: ref(dlqAddress, 'arn') });
    const [, dlqPolicy] = one(tf, 'aws_sqs_queue_policy', { queue_url: ref(dlqAddress, 'url') });
    expect(JSON.parse(dlqPolicy.policy).Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': [ref(ruleAddress, 'arn')] } },
      }),
    ]);
    one(tf, 'aws_cloudwatch_metric_alarm', { alarm_name: 'sidestep-staging-workflow-ended-dlq-not-empty' });
  });

  // Step Functions sends the status change events best effort
  // (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html), so the job-sweeper's
  // scheduled sweep lists the workflows' ended executions itself (ListExecutions on the state machine,
  // DescribeExecution on the execution resource type: list_awsstepfunctions.html).
  it("lets the job-sweeper list the workflows' executions and describe them, and names the state machines to it", () => {
    const [, sweeper] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-job-sweeper' });
    const [, importMachine] = one(tf, 'aws_sfn_state_machine', { name: 'sidestep-staging-import' });
    const states = (resource: string) => `arn:aws:states:${STAGING.region}:${STAGING.accountId}:${resource}`;
    const machines = [
      states('stateMachine:sidestep-staging-import'),
      states('stateMachine:sidestep-staging-export'),
    ];
    expect(sweeper.environment.variables.WORKFLOW_STATE_MACHINE_ARNS).toBe(machines.join(','));
    // The names the ARNs are built from are the state machines' own.
    expect(importMachine.name).toBe('sidestep-staging-import');
    const statement = statementFor(tf, 'sidestep-staging-job-sweeper', 'states:ListExecutions');
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Action: ['states:ListExecutions', 'states:DescribeExecution'],
      Resource: [
        ...machines,
        states('execution:sidestep-staging-import:*'),
        states('execution:sidestep-staging-export:*'),
      ],
    });
  });

  it('lets exactly this rule invoke the job-sweeper', () => {
    const permissions = all(tf, 'aws_lambda_permission').filter(
      ([, body]) => body.source_arn === ref(ruleAddress, 'arn'),
    );
    expect(permissions.map(([, body]) => body)).toEqual([
      expect.objectContaining({
        action: 'lambda:InvokeFunction',
        principal: 'events.amazonaws.com',
        function_name: ref(sweeperAddress, 'function_name'),
      }),
    ]);
  });

  // EventBridge's retry policy and DLQ cover handing the event to Lambda only; a function error is
  // retried by Lambda (at most twice) and then discarded without an on-failure destination.
  // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
  it("keeps an event the job-sweeper failed on every Lambda retry, with its error, in an alarmed queue (Lambda's asynchronous invocation config)", () => {
    const [, config] = one(tf, 'aws_lambda_function_event_invoke_config', {
      function_name: ref(sweeperAddress, 'function_name'),
    });
    const [queueAddress, queue] = one(tf, 'aws_sqs_queue', {
      name: 'sidestep-staging-job-sweeper-async-failures',
    });
    expect(config).toMatchObject({
      maximum_retry_attempts: 2,
      maximum_event_age_in_seconds: 21_600,
      destination_config: { on_failure: { destination: ref(queueAddress, 'arn') } },
    });
    expect(queue).toMatchObject({ message_retention_seconds: 1_209_600, sqs_managed_sse_enabled: true });
    // Lambda sends the record with the function's role, and checks that it may when the config is made.
    expect(statements(tf, 'sidestep-staging-job-sweeper')).toContainEqual(
      expect.objectContaining({ Action: ['sqs:SendMessage'], Resource: ref(queueAddress, 'arn') }),
    );
    const [policyAddress] = one(tf, 'aws_iam_role_policy', { name: 'sidestep-staging-job-sweeper' });
    expect(config.depends_on).toContain(policyAddress);
    one(tf, 'aws_cloudwatch_metric_alarm', {
      alarm_name: 'sidestep-staging-job-sweeper-async-failures-not-empty',
    });
  });

  it('gives the asynchronous invocation config to the functions rules and schedules invoke, and no other', () => {
    expect(ASYNC_INVOKED_SERVICES).toContain('job-sweeper');
    expect(all(tf, 'aws_lambda_function_event_invoke_config')).toHaveLength(ASYNC_INVOKED_SERVICES.length);
  });
});
