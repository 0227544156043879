/**
 * What the deploy pipeline (.github/workflows/deploy-environment.yml) asks IAM for besides
 * `terraform apply` (whose calls are {@link PROVIDER_ACTIONS}): the preflight's reads
 * (scripts/src/preflight, `PREFLIGHT_ACTIONS`), the migration's one-off task, the wait for the function
 * updates and the smoke check. The deploy role (`DeployRole`) must allow all of it; a test evaluates
 * every call against its synthesized policy, and another checks the preflight's list matches this one.
 */
import { batchTaskNames } from './constructs/batch-task.ts';
import { serviceEndpoint } from './constructs/grantable-role.ts';
import { type ArnScope, PROVIDER_ACTIONS } from './provider-actions.ts';
import { MIGRATION_TASK, SMOKE_CHECK_SERVICE } from './stacks/deploy-stack.ts';

/** An environment's scope, with what the pipeline names beyond the stack's own resources. */
export interface PipelineScope extends ArnScope {
  /** The database secret (`SIDESTEP_<ENV>_DATABASE_SECRET_ARN`). */
  readonly databaseSecretArn: string;
  /** Its customer-managed key, when it has one (`SIDESTEP_<ENV>_DATABASE_SECRET_KMS_KEY_ARN`). */
  readonly databaseSecretKmsKeyArn?: string;
}

/** The workflow step that makes the call. */
export type PipelineStep = 'preflight' | 'migrate' | 'wait' | 'smoke check';

/** One authorization of a pipeline step, resolved for an environment. */
export interface PipelineCall {
  readonly step: PipelineStep;
  /** `service:Action`. */
  readonly action: string;
  /** The ARN IAM checks (`*` for actions without a resource type). */
  readonly resource: string;
  /** Condition keys the request carries. */
  readonly context: Readonly<Record<string, string>>;
}

/** ARN of the sample resource of a type of {@link PROVIDER_ACTIONS} (the stack's naming, one place). */
function sample(type: string, at: ArnScope): string {
  const entry = PROVIDER_ACTIONS[type];
  if (!entry) throw new Error(`PROVIDER_ACTIONS has no ${type}`);
  return entry.arn(at);
}

/** Every call of every pipeline step, for one environment. */
export function pipelineCalls(at: PipelineScope): PipelineCall[] {
  const call = (
    step: PipelineStep,
    action: string,
    resource: string,
    context: Record<string, string> = {},
  ): PipelineCall => ({ step, action, resource, context });
  const environment = at.prefix.replace(/^sidestep-/, '');
  const task = batchTaskNames(environment, MIGRATION_TASK);
  const ecs = `arn:aws:ecs:${at.region}:${at.accountId}`;
  const role = (name: string) => `arn:aws:iam::${at.accountId}:role/${name}`;
  const bucket = sample('aws_s3_bucket', at);
  const fn = sample('aws_lambda_function', at);
  return [
    // scripts/src/preflight: one entry per action of each check.
    call('preflight', 'lambda:GetAccountSettings', '*'),
    call('preflight', 'lambda:GetFunctionConcurrency', fn),
    call('preflight', 'ses:GetAccount', '*'),
    call(
      'preflight',
      'servicequotas:GetServiceQuota',
      `arn:aws:servicequotas:${at.region}:${at.accountId}:fargate/L-3032A538`,
    ),
    call('preflight', 'ses:GetEmailIdentity', sample('aws_sesv2_email_identity', at)),
    call('preflight', 'iam:GetRole', role('aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS')),
    // HeadBucket is authorized as s3:ListBucket.
    call('preflight', 's3:ListBucket', bucket),
    call('preflight', 's3:GetBucketTagging', bucket),
    call('preflight', 'secretsmanager:DescribeSecret', at.databaseSecretArn),
    call('preflight', 'secretsmanager:GetSecretValue', at.databaseSecretArn),
    // GetSecretValue decrypts a secret of a customer-managed key with the caller's kms:Decrypt.
    ...(at.databaseSecretKmsKeyArn
      ? [
          call('preflight', 'kms:Decrypt', at.databaseSecretKmsKeyArn, {
            'kms:ViaService': serviceEndpoint('secretsmanager', at.region),
          }),
        ]
      : []),
    // aws ecs run-task of the new revision in the task's cluster, then wait tasks-stopped / describe-tasks.
    call('migrate', 'ecs:RunTask', `${ecs}:task-definition/${task.family}:7`, {
      'ecs:cluster': `${ecs}:cluster/${task.cluster}`,
    }),
    call('migrate', 'iam:PassRole', role(task.executionRole), {
      'iam:PassedToService': 'ecs-tasks.amazonaws.com',
    }),
    call('migrate', 'iam:PassRole', role(task.taskRole), {
      'iam:PassedToService': 'ecs-tasks.amazonaws.com',
    }),
    call('migrate', 'ecs:DescribeTasks', `${ecs}:task/${task.cluster}/0123456789abcdef0123456789abcdef`),
    // aws lambda wait function-updated-v2 and get-function, per function.
    call('wait', 'lambda:GetFunction', fn),
    call(
      'smoke check',
      'lambda:InvokeFunction',
      `arn:aws:lambda:${at.region}:${at.accountId}:function:${at.prefix}-${SMOKE_CHECK_SERVICE}`,
    ),
  ];
}
