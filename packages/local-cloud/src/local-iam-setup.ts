import { eventRuleArn, type SynthesizedTerraformJson } from '@sidestep/iam';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import {
  type AccessDenial,
  callerName,
  createLocalIam,
  LOCAL_ROLES,
  type LocalIam,
  type RoleAssumption,
  UNENFORCED_IAM,
} from './local-iam.ts';
import {
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  LOCAL_SCHEDULE_GROUP_ARN,
  localClusterArn,
  localName,
  localPipeArn,
  localStateMachineArn,
  localTaskArn,
} from './local-names.ts';

const SCOPE = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

/** Reports a refusal to the console: who, which action, on what, and AWS's message. */
export function reportDenial(reporter: LocalCloudReporter): (denial: AccessDenial) => void {
  return (denial) =>
    reporter({
      type: 'access-denied',
      caller: callerName(denial.caller),
      action: denial.action,
      resource: denial.resource,
      message: denial.message,
    });
}

/** What {@link loadLocalIam} reads of the local cloud's options: the stack, and every caller. */
export interface LocalIamSetup {
  readonly stack?: SynthesizedTerraformJson;
  readonly iam?: boolean;
  readonly services: readonly { readonly manifest: { readonly name: string } }[];
  readonly functionUrls?: readonly { readonly name: string }[];
  readonly tasks?: readonly { readonly manifest: { readonly name: string } }[];
  readonly workflows?: readonly {
    readonly name: string;
    readonly triggers?: readonly { readonly ruleName?: string }[];
  }[];
  readonly pipes?: readonly { readonly source: { readonly name: string } }[];
  readonly schedules?: { readonly definitions: readonly { readonly name: string }[] };
}

/**
 * The IAM the cloud enforces: the stack's policies when one is given (and `iam` is not false),
 * else none. Every role the cloud runs a caller as must be one of the stack's, and its trust policy
 * must let the service that runs the caller assume it ({@link roleAssumptions}, each evaluated once
 * here): a caller whose role the stack lacks fails the start with UnknownLocalRoleError, one whose
 * role its service may not assume with RoleNotAssumableError, instead of running as it would not on
 * AWS. What the loader could not read is reported (those statements fail closed).
 */
export function loadLocalIam(options: LocalIamSetup, reporter: LocalCloudReporter): LocalIam {
  if (!options.stack || options.iam === false) return UNENFORCED_IAM;
  const iam = createLocalIam({ stack: options.stack, onDenied: reportDenial(reporter) });
  for (const assumption of roleAssumptions(options)) iam.assertAssumable(assumption);
  for (const warning of iam.warnings) reporter({ type: 'error', source: 'iam', message: warning });
  return iam;
}

const SOURCE_ACCOUNT = { 'aws:SourceAccount': LOCAL_ACCOUNT_ID };

/** Lambda's service principal, assuming a function's execution role. */
function functionRole(name: string): RoleAssumption {
  return {
    role: LOCAL_ROLES.service(name),
    principal: 'lambda.amazonaws.com',
    component: `function ${localName(name)}`,
    // Lambda documents no source key for assuming the execution role: aws:SourceArn is for policies
    // on the function itself (https://docs.aws.amazon.com/lambda/latest/dg/permissions-source-function-arn.html,
    // https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html). None is sent, so a
    // trust policy conditioned on one fails here as it might on AWS (see infra's lambda-execution-role.ts).
    context: {},
  };
}

/**
 * Who assumes each role the cloud runs a caller as, with the condition keys that service sets on
 * sts:AssumeRole, which the stack's trust policies check against confused deputies:
 * - ECS (`ecs-tasks.amazonaws.com`), a task's task role: aws:SourceAccount and aws:SourceArn, an
 *   `arn:aws:ecs:<region>:<account>:...` ARN (the task's; the docs give only that pattern:
 *   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html); its execution
 *   role: aws:SourceAccount, the only key ECS's examples give it
 *   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html).
 * - Step Functions (`states.amazonaws.com`): the state machine's ARN and account
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html#prevent-cross-service-confused-deputy).
 * - EventBridge (`events.amazonaws.com`), a rule target's role: the rule's ARN and account
 *   (https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html).
 * - EventBridge Pipes (`pipes.amazonaws.com`): the pipe's ARN and account
 *   (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html).
 * - EventBridge Scheduler (`scheduler.amazonaws.com`): the schedule group's ARN, not the schedule's,
 *   and the account (https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
 * - Lambda: none ({@link functionRole}).
 * Where AWS documents a key only as a pattern, the value is the local resource the service acts for.
 */
export function roleAssumptions(options: LocalIamSetup): RoleAssumption[] {
  const ecsTasks = 'ecs-tasks.amazonaws.com';
  return [
    ...options.services.map((service) => functionRole(service.manifest.name)),
    ...(options.functionUrls ?? []).map((url) => functionRole(url.name)),
    ...(options.tasks ?? []).flatMap(({ manifest: { name } }): RoleAssumption[] => [
      {
        role: LOCAL_ROLES.task(name),
        principal: ecsTasks,
        component: `task ${localName(name)}`,
        context: { ...SOURCE_ACCOUNT, 'aws:SourceArn': localTaskArn(localClusterArn(name)) },
      },
      {
        role: LOCAL_ROLES.taskExecution(name),
        principal: ecsTasks,
        component: `task ${localName(name)} (ECS pulling its image)`,
        context: SOURCE_ACCOUNT,
      },
    ]),
    ...(options.workflows ?? []).flatMap((workflow): RoleAssumption[] => [
      {
        role: LOCAL_ROLES.workflow(workflow.name),
        principal: 'states.amazonaws.com',
        component: `state machine ${localName(workflow.name)}`,
        context: { ...SOURCE_ACCOUNT, 'aws:SourceArn': localStateMachineArn(workflow.name) },
      },
      ...(workflow.triggers ?? []).map((trigger): RoleAssumption => {
        const rule = trigger.ruleName ?? `${localName(workflow.name)}-trigger`;
        return {
          role: LOCAL_ROLES.rule(rule),
          principal: 'events.amazonaws.com',
          component: `rule ${rule}`,
          context: { ...SOURCE_ACCOUNT, 'aws:SourceArn': eventRuleArn(SCOPE, rule) },
        };
      }),
    ]),
    ...(options.pipes ?? []).map(
      (pipe): RoleAssumption => ({
        role: LOCAL_ROLES.pipe(pipe.source.name),
        principal: 'pipes.amazonaws.com',
        component: `pipe ${localName(pipe.source.name)}`,
        context: { ...SOURCE_ACCOUNT, 'aws:SourceArn': localPipeArn(pipe.source.name) },
      }),
    ),
    ...(options.schedules?.definitions ?? []).map(
      (schedule): RoleAssumption => ({
        role: LOCAL_ROLES.schedule(schedule.name),
        principal: 'scheduler.amazonaws.com',
        component: `schedule ${localName(schedule.name)}`,
        context: { ...SOURCE_ACCOUNT, 'aws:SourceArn': LOCAL_SCHEDULE_GROUP_ARN },
      }),
    ),
  ];
}
