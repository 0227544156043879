import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { SfnStateMachine } from '@cdktn/provider-aws/lib/sfn-state-machine/index.js';
import { resourceName } from '@sidestep/manifest';
import {
  type StateMachineDefinition,
  type WorkflowIntegration,
  WorkflowIntegrationError,
  workflowIntegrations,
} from '@sidestep/workflows';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { VENDED_LOG_DELIVERY_ACTIONS } from '../security-policy.ts';
import type { BatchTask } from './batch-task.ts';
import { GrantableRole, type PolicyGrantee, statementId } from './grantable-role.ts';
import type { JobQueue } from './job-queue.ts';
import { createNonZeroAlarm } from './non-zero-alarm.ts';
import type { TriggerTarget } from './s3-trigger.ts';
import type { ServiceFunction } from './service-function.ts';

/**
 * The execution log levels an environment may choose. `OFF` is not one: the security policy requires
 * every state machine to log (CKV_AWS_285).
 */
export const WORKFLOW_LOG_LEVELS = ['ALL', 'ERROR', 'FATAL'] as const;

/** What a workflow's execution log holds. */
export interface WorkflowLogSettings {
  /** Which execution events are logged. @default 'ERROR' */
  readonly level?: (typeof WORKFLOW_LOG_LEVELS)[number];
  /**
   * Log each event's input and output. Payloads hold email addresses (mail recipients, requesters),
   * so this is opt-in.
   * @default false
   */
  readonly includeExecutionData?: boolean;
}

/** Props of {@link Workflow}. */
export interface WorkflowProps {
  /** Environment name (`staging`); the state machine is `sidestep-<env>-<name>`. */
  readonly environment: string;
  /** Workflow name (`import`). */
  readonly name: string;
  /** The ASL definition, from `@sidestep/workflows` (the same object the local cloud runs). */
  readonly definition: StateMachineDefinition;
  /**
   * What the definition may call. Every service integration in the definition must name one of these
   * (by function ARN, task definition ARN or queue URL); its role is granted exactly what each call needs.
   */
  readonly callees: {
    /** Functions invoked with `lambda:invoke`. @default none */
    readonly functions?: readonly ServiceFunction[];
    /** Fargate tasks run with `ecs:runTask(.sync)`. @default none */
    readonly tasks?: readonly BatchTask[];
    /** Job queues sent to with `sqs:sendMessage`. @default none */
    readonly queues?: readonly JobQueue[];
  };
  /**
   * Functions Terraform finishes updating before it creates or updates the state machine (its
   * `depends_on`): the consumers of the queues the definition sends to, so that a message of a new
   * shape never reaches the consumer's previous image during an apply. The aws provider returns from
   * a function update once Lambda reports it done (LastUpdateStatus Successful); until then Lambda
   * runs the previous code (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html).
   * @default none
   */
  readonly deployAfter?: readonly ServiceFunction[];
  /** Account of the state machine; scopes its role's trust policy. */
  readonly accountId: string;
  /** Region of the state machine; scopes its role's trust policy. */
  readonly region: string;
  /** Alarm settings. @default an alarm without actions (it only shows in the console) */
  readonly alarms?: {
    /** SNS topic ARN notified on alarm and on recovery. @default none */
    readonly topicArn?: string;
  };
  /**
   * Execution log settings.
   * @default errors only without execution data, 30 days retention, CloudWatch-managed encryption
   */
  readonly logs?: WorkflowLogSettings & {
    /** @default 30 */
    readonly retentionDays?: number;
    /** @default CloudWatch Logs' own encryption */
    readonly kmsKeyArn?: string;
  };
}

/** `arn:aws:states:::ecs:runTask.sync` -> `{ api: 'arn:aws:states:::ecs:runTask', pattern: '.sync' }`. */
function integrationPattern(resource: string): { api: string; pattern: string } {
  const match = /^(arn:aws[a-z-]*:states:::[a-z0-9-]+:[A-Za-z]+)(\.sync(?::2)?|\.waitForTaskToken)?$/.exec(
    resource,
  );
  return { api: match?.[1] ?? resource, pattern: match?.[2] ?? '' };
}

/**
 * A Step Functions (standard) state machine from a definition built in TypeScript, logging failed
 * executions' events (without their data, unless opted in) into its own log group (retention set),
 * traced with X-Ray, alarmed on failed and timed-out executions, with a role
 * whose inline policy is generated from the definition: `workflowIntegrations(definition)` lists every
 * service the definition calls, each must be one of `callees`, and the callee grants exactly the
 * actions that integration needs on exactly itself. A definition that calls anything else fails synth.
 */
export class Workflow extends Construct implements TriggerTarget {
  /** `sidestep-<env>-<name>`. */
  readonly stateMachineName: string;
  /** The state machine resource. */
  readonly stateMachine: SfnStateMachine;
  /** State machine ARN. */
  readonly stateMachineArn: string;
  /** The role Step Functions runs the definition with. */
  readonly role: GrantableRole;
  /** `/aws/vendedlogs/states/sidestep-<env>-<name>`. */
  readonly logGroup: CloudwatchLogGroup;
  /** The deployed definition. */
  readonly definition: StateMachineDefinition;
  /** Alarm on any failed execution. */
  readonly failureAlarm: CloudwatchMetricAlarm;
  /** Alarm on any execution that timed out. */
  readonly timeoutAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const name = resourceName(props.environment, props.name);
    this.stateMachineName = name;
    this.definition = props.definition;
    const field = (path: string) => `${props.name}-workflow.${path}`;
    const rendered = JSON.stringify(props.definition);
    // Terraform interpolates `${...}` and `%{...}` in every string; only cdktn's own tokens (resolved
    // to references at synth) may appear, or the deployed ASL would differ from the definition.
    const untokened = rendered.replaceAll(/\$\{TfToken\[[A-Za-z0-9_.]+\]\}/g, '');
    if (untokened.includes('${') || untokened.includes('%{')) {
      throw new InfraConfigError(
        field('definition'),
        'contains "${" or "%{", which Terraform would interpolate',
      );
    }

    // A log group under /aws/vendedlogs/ keeps the CloudWatch Logs resource policy that Step Functions
    // writes for log delivery under its size limit.
    // https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: `/aws/vendedlogs/states/${name}`,
      retentionInDays: props.logs?.retentionDays ?? 30,
      kmsKeyId: props.logs?.kmsKeyArn,
    });
    this.role = new GrantableRole(this, 'role', {
      roleName: name,
      assumedBy: 'states.amazonaws.com',
      description: `Step Functions runs ${name} with this role`,
      // https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html#prevent-cross-service-confused-deputy
      assumeRoleConditions: {
        ArnLike: { 'aws:SourceArn': `arn:aws:states:${props.region}:${props.accountId}:stateMachine:*` },
        StringEquals: { 'aws:SourceAccount': props.accountId },
      },
    });
    this.role.addToPolicy({
      sid: 'DeliverExecutionLogs',
      actions: [...VENDED_LOG_DELIVERY_ACTIONS],
      resources: ['*'],
      unscopableReason: 'CloudWatch Logs vended log delivery actions support no resource types',
    });
    this.role.addToPolicy({
      sid: 'WriteTraces',
      actions: [
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
        'xray:GetSamplingRules',
        'xray:GetSamplingTargets',
      ],
      resources: ['*'],
      unscopableReason: 'X-Ray defines no resource types for these actions',
    });
    this.grantIntegrations(props, field);

    this.stateMachine = new SfnStateMachine(this, 'state-machine', {
      name,
      type: 'STANDARD',
      roleArn: this.role.roleArn,
      definition: rendered,
      loggingConfiguration: {
        logDestination: `${this.logGroup.arn}:*`,
        level: props.logs?.level ?? 'ERROR',
        includeExecutionData: props.logs?.includeExecutionData ?? false,
      },
      tracingConfiguration: { enabled: true },
      // CreateStateMachine checks the role may deliver logs; the first execution needs every grant.
      dependsOn: [this.role.policy, ...(props.deployAfter ?? []).map((fn) => fn.function)],
    });
    this.stateMachineArn = this.stateMachine.arn;

    // A failed execution already mails its job's owner; operators learn of it here, and redrive it.
    const alarm = { namespace: 'AWS/States', dimensions: { StateMachineArn: this.stateMachineArn } };
    this.failureAlarm = createNonZeroAlarm(this, 'failure-alarm', {
      ...alarm,
      alarmName: `${name}-executions-failed`,
      description: `An execution of ${name} failed: see its history, fix the cause, redrive it`,
      metricName: 'ExecutionsFailed',
      topicArn: props.alarms?.topicArn,
    });
    this.timeoutAlarm = createNonZeroAlarm(this, 'timeout-alarm', {
      ...alarm,
      alarmName: `${name}-executions-timed-out`,
      description: `An execution of ${name} timed out: see which state waited, then redrive it`,
      metricName: 'ExecutionsTimedOut',
      topicArn: props.alarms?.topicArn,
    });
  }

  /** Lets a grantee (an EventBridge rule's role, an operator) start executions of this state machine. */
  grantStartExecution(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('start', this.node.id),
      actions: ['states:StartExecution'],
      resources: [this.stateMachineArn],
    });
  }

  /** The role's service statements, one callee grant per integration of the definition. */
  private grantIntegrations(props: WorkflowProps, field: (path: string) => string): void {
    const { functions = [], tasks = [], queues = [] } = props.callees;
    let integrations: WorkflowIntegration[];
    try {
      integrations = workflowIntegrations(props.definition);
    } catch (error) {
      // A target chosen at run time (`FunctionName.$`) or an unknown integration: IAM cannot be derived.
      if (!(error instanceof WorkflowIntegrationError)) throw error;
      throw new InfraConfigError(field(`definition.States.${error.state}`), error.message, { cause: error });
    }
    for (const { state, resource, target } of integrations) {
      const at = field(`definition.States.${state}`);
      const { api, pattern } = integrationPattern(resource);
      const unknown = (kind: string): never => {
        throw new InfraConfigError(
          at,
          `${resource} calls ${target}, which is not one of the workflow's ${kind}`,
        );
      };
      // A function ARN as the Resource is Step Functions' legacy direct Lambda invocation.
      const service = /^arn:aws[a-z-]*:lambda:/.test(resource)
        ? 'lambda:invoke'
        : api.replace(/^arn:aws[a-z-]*:states:::/, '');
      switch (service) {
        case 'lambda:invoke': {
          const fn = functions.find((f) => f.functionArn === target) ?? unknown('functions');
          fn.grantInvoke(this.role);
          break;
        }
        case 'ecs:runTask': {
          const task = tasks.find((t) => t.taskDefinitionArn === target) ?? unknown('tasks');
          task.grantRun(this.role, { sync: pattern === '.sync' });
          break;
        }
        case 'sqs:sendMessage': {
          const queue = queues.find((q) => q.queueUrl === target) ?? unknown('queues');
          queue.grantSendMessages(this.role);
          break;
        }
        default:
          throw new InfraConfigError(at, `no IAM mapping for ${resource}: add one to the Workflow construct`);
      }
    }
  }
}
