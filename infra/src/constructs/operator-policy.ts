import { IamPolicy } from '@cdktn/provider-aws/lib/iam-policy/index.js';
import { asyncFailureQueueName, deadLetterQueueName, resourceName } from '@sidestep/manifest';
import { Construct } from 'constructs';
import { checkStatement, type PolicyStatement, policyDocument } from './grantable-role.ts';

/** Props of {@link OperatorPolicy}. */
export interface OperatorPolicyProps {
  /** `staging`, `production`: the policy is `sidestep-<env>-operator`. */
  readonly environment: string;
  readonly accountId: string;
  readonly region: string;
  /** The job queues operators inspect and redrive, without prefix (each has a `-dlq`). */
  readonly queues: readonly string[];
  /** The queue `sidestep job fail` sends its failure mail to, without prefix (one of {@link queues}). */
  readonly mailQueue: string;
  /**
   * The services invoked asynchronously (a schedule's or a rule's target), without prefix: each
   * function and its on-failure queue, which `async-failures` reads and re-invokes from. @default none
   */
  readonly asyncServices?: readonly string[];
  /** The workflows (state machines), without prefix. */
  readonly workflows: readonly string[];
  /** The schedules, with the role each delivers with (UpdateSchedule passes it again). */
  readonly schedules: readonly { readonly scheduleName: string; readonly roleName: string }[];
  /** The schedule group, `sidestep-<env>`. */
  readonly scheduleGroupName: string;
  /**
   * The dead-letter queues without a source queue that `dlq show` reads: the schedule group's
   * (`sidestep-<env>-schedules-dlq`) and the rules' targets' (`...-import-trigger-dlq`,
   * `...-workflow-ended-dlq`, `...-mail-events-dlq`, which `mail find` reads too). @default none
   */
  readonly ruleDeadLetterQueues?: readonly string[];
  /** The bus `sidestep fire` puts the operator event on. */
  readonly eventBusName: string;
  /**
   * The log group of SES's event records of the mails (`MailEventLog`), which an operator searches for
   * a mail's idempotency key before `mail release` (README, "Mail whose outcome is unknown").
   * @default none
   */
  readonly mailEventLogGroupName?: string;
  /**
   * The log groups of the functions and tasks, which `sidestep job logs` searches for a job's lines:
   * names, or patterns ending in `*` (which also match the `:*` form of a group's ARN).
   * @default none
   */
  readonly jobLogGroups?: readonly string[];
  /** The `ops-ledger` function, and its alias for the actions. */
  readonly ledger: { readonly functionName: string; readonly actionsAlias: string };
}

/**
 * `sidestep-<env>-operator`: the IAM managed policy an operator's role (or SSO permission set) needs
 * to run every `sidestep` command against the environment, and nothing else: exactly the API calls
 * of `@sidestep/ops` (a test maps each command's SDK calls to IAM actions and evaluates them against
 * this document), on this environment's exact resources, and the search of SES's mail events the
 * README's procedure for a mail whose outcome is unknown runs with the AWS CLI. A managed policy, unlike the stack's
 * inline role policies, because the stack owns no operator identity: an administrator attaches it to
 * the operators' roles. The deploy role may write it (`ApplyOperatorPolicy`), as it may change the
 * functions' code: the pipeline is trusted with the environment either way; it cannot attach it.
 *
 * Not listed: `sts:GetCallerIdentity` (who the operator is) needs no permission
 * (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
 */
export class OperatorPolicy extends Construct {
  /** The managed policy. */
  readonly policy: IamPolicy;
  /** `sidestep-<env>-operator`. */
  readonly policyName: string;
  /** The policy's ARN, to attach to operators' roles. */
  readonly policyArn: string;
  /** The statements, in the document's order. */
  readonly statements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: OperatorPolicyProps) {
    super(scope, id);
    const { environment, accountId, region } = props;
    const arn = (service: string, resource: string) =>
      `arn:aws:${service}:${region}:${accountId}:${resource}`;
    const queueArn = (queue: string) => arn('sqs', resourceName(environment, queue));
    const deadLetterArn = (queue: string) => arn('sqs', deadLetterQueueName(environment, queue));
    const stateMachines = props.workflows.map((workflow) =>
      arn('states', `stateMachine:${resourceName(environment, workflow)}`),
    );
    const ledgerArn = arn('lambda', `function:${props.ledger.functionName}`);
    const asyncServices = props.asyncServices ?? [];
    const failureQueueArns = asyncServices.map((service) =>
      arn('sqs', asyncFailureQueueName(environment, service)),
    );
    this.policyName = resourceName(environment, 'operator');
    this.statements = [
      {
        // `status`: depths of every queue and its DLQ.
        sid: 'ReadQueues',
        actions: ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
        resources: [...props.queues.map(queueArn), ...props.queues.map(deadLetterArn), ...failureQueueArns],
      },
      {
        // `status`: each queue's oldest message age, the CloudWatch metric ApproximateAgeOfOldestMessage.
        sid: 'ReadQueueAges',
        actions: ['cloudwatch:GetMetricData'],
        resources: ['*'],
        unscopableReason: 'CloudWatch lists no resource type for GetMetricData',
      },
      {
        // `dlq show` (and `--dry-run`) receives and at once releases (ChangeMessageVisibility 0);
        // `dlq redrive`'s StartMessageMoveTask needs receive and delete on the source DLQ
        // (SQS Developer Guide, "Configure queue permissions for dead-letter queue redrive").
        sid: 'RedriveDeadLetters',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:StartMessageMoveTask',
          'sqs:ListMessageMoveTasks',
        ],
        resources: props.queues.map(deadLetterArn),
      },
      ...(props.ruleDeadLetterQueues === undefined || props.ruleDeadLetterQueues.length === 0
        ? []
        : [
            {
              // `dlq show <name>` receives and at once releases, as for the job queues' DLQs; they
              // have no source queue, so no move task (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html,
              // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
              // DeleteMessage: an operator clears an event once handled, as the other DLQs allow.
              sid: 'ReadRuleDeadLetters',
              actions: [
                'sqs:GetQueueUrl',
                'sqs:GetQueueAttributes',
                'sqs:ReceiveMessage',
                'sqs:ChangeMessageVisibility',
                'sqs:DeleteMessage',
              ],
              resources: props.ruleDeadLetterQueues.map((queue) => arn('sqs', queue)),
            },
          ]),
      {
        // A move task sends to its destination, the DLQ's own queue; `job fail` queues its failure mail.
        sid: 'SendToQueues',
        actions: ['sqs:SendMessage'],
        resources: props.queues.map(queueArn),
      },
      ...(asyncServices.length === 0
        ? []
        : [
            {
              // `async-failures show` receives and at once releases; `reinvoke` deletes a record once
              // its event is invoked again, asynchronously, on the function.
              sid: 'ReinvokeAsyncFailures',
              actions: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage'],
              resources: failureQueueArns,
            },
            {
              sid: 'InvokeAsyncServices',
              actions: ['lambda:InvokeFunction'],
              resources: asyncServices.map((service) =>
                arn('lambda', `function:${resourceName(environment, service)}`),
              ),
            },
          ]),
      {
        sid: 'RunWorkflows',
        // DescribeStateMachine: the console draws each workflow from its definition.
        actions: ['states:ListExecutions', 'states:StartExecution', 'states:DescribeStateMachine'],
        resources: stateMachines,
      },
      {
        sid: 'InspectExecutions',
        actions: [
          'states:DescribeExecution',
          'states:GetExecutionHistory',
          'states:RedriveExecution',
          // `sidestep stop`: StopExecution of a running import or export (the workflow's role stops its task).
          'states:StopExecution',
        ],
        resources: stateMachines.map((machine) => `${machine.replace(':stateMachine:', ':execution:')}:*`),
      },
      ...(props.schedules.length === 0
        ? []
        : [
            {
              // `schedules` reads each state; `pause`/`resume` write the schedule back whole.
              sid: 'PauseSchedules',
              actions: ['scheduler:GetSchedule', 'scheduler:UpdateSchedule'],
              resources: props.schedules.map((schedule) =>
                arn('scheduler', `schedule/${props.scheduleGroupName}/${schedule.scheduleName}`),
              ),
            },
            {
              // UpdateSchedule passes the schedule's target role again.
              sid: 'PassScheduleRoles',
              actions: ['iam:PassRole'],
              resources: props.schedules.map(
                (schedule) => `arn:aws:iam::${accountId}:role/${schedule.roleName}`,
              ),
              conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
            },
          ]),
      {
        // `fire`: the operator event the schedules' operator rules match.
        sid: 'FireSchedules',
        actions: ['events:PutEvents'],
        resources: [arn('events', `event-bus/${props.eventBusName}`)],
      },
      ...((props.jobLogGroups ?? []).length === 0
        ? []
        : [
            {
              // `sidestep job logs`: a job's lines, searched by its id and its executions' ARNs in
              // the functions' and the tasks' log groups (FilterLogEvents, scoped by log group as
              // SearchMailEvents is; a named group in both forms of its ARN, a pattern once).
              sid: 'ReadJobLogs',
              actions: ['logs:FilterLogEvents'],
              resources: (props.jobLogGroups ?? []).flatMap((group) =>
                group.endsWith('*')
                  ? [arn('logs', `log-group:${group}`)]
                  : [arn('logs', `log-group:${group}`), arn('logs', `log-group:${group}:*`)],
              ),
            },
          ]),
      ...(props.mailEventLogGroupName === undefined
        ? []
        : [
            {
              // `sidestep mail find` (and the README's fallback, `aws logs filter-log-events`): the
              // check of a mail whose outcome is unknown, its key searched in SES's event records.
              // FilterLogEvents is scoped by log group (the Service Authorization Reference for
              // CloudWatch Logs; https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html); both
              // forms of the group's ARN, with and without the `:*` CloudWatch Logs reports it with.
              sid: 'SearchMailEvents',
              actions: ['logs:FilterLogEvents'],
              resources: [
                arn('logs', `log-group:${props.mailEventLogGroupName}`),
                arn('logs', `log-group:${props.mailEventLogGroupName}:*`),
              ],
            },
          ]),
      {
        // The ledger's queries (the function) and actions (its alias: a separate IAM resource).
        sid: 'UseLedger',
        actions: ['lambda:InvokeFunction'],
        resources: [ledgerArn, `${ledgerArn}:${props.ledger.actionsAlias}`],
      },
    ];
    this.statements.forEach((statement) => {
      checkStatement(`${this.node.path}.${statement.sid}`, statement);
    });
    this.policy = new IamPolicy(this, 'policy', {
      name: this.policyName,
      description: `What an operator of sidestep ${environment} needs to run every sidestep command`,
      policy: JSON.stringify(policyDocument(this.statements)),
    });
    this.policyArn = this.policy.arn;
  }
}
