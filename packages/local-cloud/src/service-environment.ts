import { CLAIM_CHECK_BUCKET_VARIABLE } from '@sidestep/contracts';
import {
  bucketName,
  METRICS_NAMESPACE,
  type Permission,
  RUNTIME_ENVIRONMENT,
  type ServiceManifest,
  sendRateText,
  type TaskManifest,
} from '@sidestep/manifest';
import { DATABASE_SECRET_VARIABLE } from './local-database-secret.ts';
import { LOCAL_ROLES } from './local-iam.ts';

/** The local resources a service's environment points at. */
export interface LocalResources {
  /** `local`. */
  readonly environment: string;
  readonly region: string;
  /** The SQS/S3 endpoint, given to the AWS SDK as `AWS_ENDPOINT_URL`. */
  readonly awsEndpoint: string;
  /** The service's dead-letter queue URL, when it consumes a queue. */
  readonly deadLetterQueueUrl?: string;
  /** The URL of the queue it consumes, when it does. */
  readonly queueUrl?: string;
  /** `smtp://127.0.0.1:<port>` of the SMTP sink, for services granted `mail-identity`. */
  readonly smtpUrl?: string;
  /**
   * The SMTP sink's maximum send rate, mails per second, given to services granted `mail-identity`
   * as `MAIL_MAX_SEND_RATE`. @default none: no rate, no variable
   */
  readonly mailMaxSendRate?: number;
  /**
   * The ARN of the local database secret (the RDS JSON of the local database's user), for services
   * granted `database-secret`: the ARN the stack gives them and grants them GetSecretValue on.
   */
  readonly databaseSecretArn?: string;
  /**
   * What a client of that database gets besides `DATABASE_SECRET_ARN` (the embedded server's
   * `DATABASE_ANSWER_TIMEOUT_MS=0`: `LocalDatabase.clientEnvironment`; `DATABASE_TLS=off`, `PGOPTIONS`:
   * `LocalDatabaseSecret.clientEnvironment`). @default nothing
   */
  readonly databaseEnvironment?: Readonly<Record<string, string>>;
  /** The mail job queue's URL, for services granted `mail-queue`. */
  readonly mailQueueUrl?: string;
  /** The workflows' state machine ARNs, for services granted `workflow-executions`. */
  readonly workflowStateMachineArns?: readonly string[];
}

/**
 * The sender address local mail uses in place of the SES identity: infra's default pattern
 * (`no-reply@<env>.mail.example.com`) for the `local` environment. Not `sidestep@localhost`: a
 * domain without a TLD fails the strict address check services apply to MAIL_FROM (zod `email()`).
 */
export const LOCAL_MAIL_FROM = 'no-reply@local.mail.example.com';

/** A service needs a local resource that was not provided. */
export class MissingLocalResourceError extends Error {
  override readonly name = 'MissingLocalResourceError';
  readonly service: string;
  readonly field: string;
  constructor(service: string, field: string) {
    super(`service ${service} needs ${field}, which the local cloud did not provide`);
    this.service = service;
    this.field = field;
  }
}

/**
 * The environment a service's sandbox gets locally: what infra gives the Lambda function, with
 * each AWS resource replaced by its local stand-in. The handler code is the same; only the
 * environment differs:
 * - every service: SIDESTEP_ENV, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, the
 *   manifest's static `environment`, the region, credentials whose access key id is the function's
 *   execution role name (the local endpoint acts on it as that role, see `LOCAL_ROLES`) and
 *   `AWS_ENDPOINT_URL` so every AWS SDK v3 client talks to the local endpoint;
 * - a queue consumer: DEAD_LETTER_QUEUE_URL, QUEUE_URL, MAX_RECEIVE_COUNT and CLAIM_CHECK_BUCKET
 *   (`sidestep-local-claims`);
 * - `mail-identity`: MAIL_FROM, and MAIL_TRANSPORT=smtp + SMTP_URL instead of SES; MAIL_MAX_SEND_RATE
 *   when the sink has a rate, as infra gives it on AWS;
 * - `database-secret`: DATABASE_SECRET_ARN, as on AWS (the local secret holding the local database's
 *   RDS JSON, read through the local Secrets Manager as the function's role), and the database's
 *   client variables (the embedded server's DATABASE_ANSWER_TIMEOUT_MS=0, DATABASE_TLS=off for a
 *   server without TLS);
 * - `imports-bucket` / `exports-bucket`: IMPORTS_BUCKET / EXPORTS_BUCKET (path-style S3);
 * - `mail-queue`: MAIL_QUEUE_URL of the local mail queue.
 * - `workflow-executions`: WORKFLOW_STATE_MACHINE_ARNS, the local workflows' state machines (none
 *   in a cloud without workflows).
 */
export function serviceEnvironment(
  manifest: ServiceManifest,
  resources: LocalResources,
): Record<string, string> {
  const environment: Record<string, string> = {
    ...manifest.environment,
    ...localStandIns(manifest.name, LOCAL_ROLES.service(manifest.name), resources),
  };
  if (manifest.queue) {
    if (!resources.deadLetterQueueUrl)
      throw new MissingLocalResourceError(manifest.name, 'deadLetterQueueUrl');
    environment[RUNTIME_ENVIRONMENT.deadLetterQueueUrl] = resources.deadLetterQueueUrl;
    if (resources.queueUrl) environment[RUNTIME_ENVIRONMENT.queueUrl] = resources.queueUrl;
    environment[RUNTIME_ENVIRONMENT.maxReceiveCount] = String(manifest.queue.maxReceiveCount);
    // As infra's job queue gives every consumer: pointers resolve, oversized dead letters are stored.
    environment[CLAIM_CHECK_BUCKET_VARIABLE] = claimCheckBucketName(resources.environment);
  }
  Object.assign(environment, permissionEnvironment(manifest.name, manifest.permissions, resources));
  return environment;
}

/**
 * The environment a Fargate task's container gets locally: the task definition's (the manifest's
 * static `environment` plus what infra resolves its permissions to), with local stand-ins, plus
 * `AWS_S3_FORCE_PATH_STYLE=true` because the local S3 endpoint has no per-bucket host names. The
 * workflow's container overrides are applied on top when the task runs.
 */
export function taskEnvironment(manifest: TaskManifest, resources: LocalResources): Record<string, string> {
  return {
    ...manifest.environment,
    ...localStandIns(manifest.name, LOCAL_ROLES.task(manifest.name), resources),
    AWS_S3_FORCE_PATH_STYLE: 'true',
    ...permissionEnvironment(manifest.name, manifest.permissions, resources),
  };
}

/**
 * What a service's function and a task's container both get locally in place of what AWS sets:
 * the runtime's environment, service name and metrics namespace, the region, credentials naming the
 * role it runs as (the access key id is the role's name: the local endpoint's identity contract)
 * and the local AWS endpoint.
 */
function localStandIns(name: string, role: string, resources: LocalResources): Record<string, string> {
  return {
    [RUNTIME_ENVIRONMENT.environment]: resources.environment,
    [RUNTIME_ENVIRONMENT.serviceName]: name,
    [RUNTIME_ENVIRONMENT.metricsNamespace]: METRICS_NAMESPACE,
    AWS_REGION: resources.region,
    AWS_DEFAULT_REGION: resources.region,
    AWS_ACCESS_KEY_ID: role,
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL: resources.awsEndpoint,
  };
}

/**
 * The bucket behind the `imports-bucket` permission: `sidestep-local-imports`, by the function infra
 * names every environment's buckets with; local buckets have no suffix (no other account shares them).
 */
export function importsBucketName(environment: string): string {
  return bucketName(environment, 'imports');
}

/** The claim-check bucket every queue consumer gets: `sidestep-local-claims`, as {@link importsBucketName}. */
export function claimCheckBucketName(environment: string): string {
  return bucketName(environment, 'claims');
}

/** The bucket behind the `exports-bucket` permission: `sidestep-local-exports`, as {@link importsBucketName}. */
export function exportsBucketName(environment: string): string {
  return bucketName(environment, 'exports');
}

/** What each granted resource adds to the environment, locally. */
function permissionEnvironment(
  owner: string,
  permissions: readonly Permission[],
  resources: LocalResources,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const permission of permissions) {
    switch (permission.resource) {
      case 'mail-identity':
        if (!resources.smtpUrl) throw new MissingLocalResourceError(owner, 'smtpUrl');
        environment.MAIL_FROM = LOCAL_MAIL_FROM;
        environment.MAIL_TRANSPORT = 'smtp';
        environment.SMTP_URL = resources.smtpUrl;
        if (resources.mailMaxSendRate !== undefined) {
          environment.MAIL_MAX_SEND_RATE = sendRateText(resources.mailMaxSendRate);
        }
        break;
      case 'database-secret':
        if (!resources.databaseSecretArn) throw new MissingLocalResourceError(owner, 'databaseSecretArn');
        environment[DATABASE_SECRET_VARIABLE] = resources.databaseSecretArn;
        Object.assign(environment, resources.databaseEnvironment);
        break;
      case 'imports-bucket':
        environment.IMPORTS_BUCKET = importsBucketName(resources.environment);
        environment.AWS_S3_FORCE_PATH_STYLE = 'true';
        break;
      case 'exports-bucket':
        environment.EXPORTS_BUCKET = exportsBucketName(resources.environment);
        environment.AWS_S3_FORCE_PATH_STYLE = 'true';
        break;
      case 'mail-queue':
        if (!resources.mailQueueUrl) throw new MissingLocalResourceError(owner, 'mailQueueUrl');
        environment.MAIL_QUEUE_URL = resources.mailQueueUrl;
        break;
      case 'workflow-executions':
        // Empty in a cloud without workflows (services alone): the service has none to look at.
        environment.WORKFLOW_STATE_MACHINE_ARNS = (resources.workflowStateMachineArns ?? []).join(',');
        break;
    }
  }
  return environment;
}

/** Whether any of the services needs PostgreSQL (so the embedded one is started only then). */
export function needsDatabase(manifests: readonly (ServiceManifest | TaskManifest)[]): boolean {
  return manifests.some((manifest) => manifest.permissions.some((p) => p.resource === 'database-secret'));
}
