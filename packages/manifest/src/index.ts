/**
 * A service manifest says what a sidestep service is and how it is wired. The infra (cdktn) and the
 * local cloud both read it; nothing else describes wiring.
 *
 * @example
 * ```ts
 * export const service = defineService({
 *   name: 'mail-dispatcher',
 *   description: 'Sends mail jobs from the mail queue',
 *   handler: 'index.handler',
 *   memoryMb: 512,
 *   timeoutSeconds: 30,
 *   queue: { name: 'mail', jobTypes: ['mail.send'], batchSize: 10, maximumBatchingWindowSeconds: 1,
 *            maximumConcurrency: 5, maxReceiveCount: 5 },
 *   permissions: [{ resource: 'mail-identity', actions: ['ses:SendEmail'] }],
 * });
 * ```
 */
export interface ServiceManifest {
  /** kebab-case service name; the function is named `sidestep-<env>-<name>`. */
  readonly name: string;
  /** One line: what the service does. */
  readonly description: string;
  /** `<file without .mjs>.<export>` inside the bundle, as Lambda's `_HANDLER` / image CMD. */
  readonly handler: string;
  /** Lambda memory in MB. */
  readonly memoryMb: number;
  /** Lambda timeout in seconds. */
  readonly timeoutSeconds: number;
  /** The job queue this service consumes, if any. */
  readonly queue?: QueueTrigger;
  /** Resources the service calls and the exact actions it needs on each. */
  readonly permissions: readonly Permission[];
  /** Static environment variables (non-secret, same in every environment). @default {} */
  readonly environment?: Readonly<Record<string, string>>;
}

/** An SQS job queue feeding a service through an event source mapping, with its dead-letter queue. */
export interface QueueTrigger {
  /** Queue name without prefix: `mail` becomes `sidestep-<env>-mail`, DLQ `sidestep-<env>-mail-dlq`. */
  readonly name: string;
  /** Envelope `type`s this queue carries (for docs, producers and routing checks). */
  readonly jobTypes: readonly string[];
  /** Records per invocation (1-10 for a window of 0; up to 10,000 with a window). */
  readonly batchSize: number;
  /** Seconds Lambda waits to fill a batch (0-300). */
  readonly maximumBatchingWindowSeconds: number;
  /** Maximum concurrent invocations the mapping drives (2-1000). */
  readonly maximumConcurrency: number;
  /** Receives before SQS moves a message to the DLQ. */
  readonly maxReceiveCount: number;
  /**
   * Visibility timeout. AWS recommends at least 6x the function timeout for event source mappings.
   * @default 6 * timeoutSeconds
   */
  readonly visibilityTimeoutSeconds?: number;
  /**
   * How long messages are kept; the claim-check bucket keeps bodies, and the mail-dispatcher its
   * send-once records, for this plus the DLQ's 14 days and a day ({@link messageLifetimeSeconds}).
   * @default 4 days (SQS's default, stated on the queue), DLQ keeps 14 days
   */
  readonly messageRetentionSeconds?: number;
}

/** Named resources a service may be granted actions on; infra resolves each to exact ARNs. */
export type PermissionResource =
  /** The SES v2 email identity (and configuration set) mail is sent from. Sets MAIL_FROM. */
  | 'mail-identity'
  /** The secret holding the PostgreSQL connection URL. Sets DATABASE_SECRET_ARN (on AWS and locally). */
  | 'database-secret'
  /** Objects under imports/ in the imports bucket ({@link bucketName}) (read). Sets IMPORTS_BUCKET. */
  | 'imports-bucket'
  /**
   * Objects under exports/ in the exports bucket ({@link bucketName}): parts, final files, manifests.
   * `s3:ListBucket` is granted on the bucket itself, without an `s3:prefix` condition (a GetObject
   * carries no prefix, so a conditioned grant may not count): a service that tests whether an object
   * exists needs it, as S3 answers 403 instead of 404 for a missing key to a caller without it; the
   * bucket holds only exports. Sets EXPORTS_BUCKET.
   */
  | 'exports-bucket'
  /**
   * The mail job queue sidestep-<env>-mail (send `mail.send` jobs). Sets MAIL_QUEUE_URL, and
   * NOTIFY_ADDRESS: who receives the platform's own mails (as the workflows' `notifyAddress`).
   */
  | 'mail-queue'
  /**
   * The workflows' state machines and their executions (read: `states:ListExecutions` on the state
   * machines, `states:DescribeExecution` on their executions). Sets WORKFLOW_STATE_MACHINE_ARNS,
   * comma-separated.
   */
  | 'workflow-executions';

export interface Permission {
  readonly resource: PermissionResource;
  /** Exact IAM actions; wildcards are rejected by {@link defineService}. */
  readonly actions: readonly string[];
}

/** The environment names sidestep deploys to; `local` is the laptop cloud. */
export const ENVIRONMENTS = ['local', 'staging', 'production'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

/**
 * The function behind the export download links (a function URL running `index.downloadHandler` of
 * the export-finalizer's image): `sidestep-<env>-export-download`, locally and on AWS.
 */
export const EXPORT_DOWNLOAD_FUNCTION = 'export-download';

/** Every resource is named `sidestep-<env>-<name>`, locally and on AWS. */
export function resourceName(environment: string, name: string): string {
  return `sidestep-${environment}-${name}`;
}

/**
 * The log group of a service's function, `/aws/lambda/sidestep-<env>-<service>`: the name Lambda
 * writes to by default, which infra creates with a retention and the local cloud keeps.
 */
export function functionLogGroupName(environment: string, service: string): string {
  return `/aws/lambda/${resourceName(environment, service)}`;
}

/** The log group of a Fargate task's awslogs driver, `/ecs/sidestep-<env>-<task>` (its family's name). */
export function taskLogGroupName(environment: string, task: string): string {
  return `/ecs/${resourceName(environment, task)}`;
}

/** An environment's buckets, by what each holds: uploads to import, exports, and claim-check bodies. */
export const BUCKET_PURPOSES = ['imports', 'exports', 'claims'] as const;
export type BucketPurpose = (typeof BUCKET_PURPOSES)[number];

/** A bucket name S3 would refuse; `field` is `environment` or `suffix`. */
export class BucketNameError extends Error {
  override readonly name = 'BucketNameError';
  readonly field: 'environment' | 'suffix';
  /** What is wrong, without the field. */
  readonly reason: string;
  constructor(field: 'environment' | 'suffix', reason: string) {
    super(`${field}: ${reason}`);
    this.field = field;
    this.reason = reason;
  }
}

/** Endings S3 keeps for access point aliases and other bucket types. */
const RESERVED_BUCKET_ENDINGS = /(-s3alias|--ol-s3|--x-s3|--table-s3)$/;

/**
 * The name of one of an environment's buckets, wherever it is needed (infra, the deploy role, the
 * workflows' trigger, the local cloud): `sidestep-<env>-<purpose>-<suffix>`. S3 bucket names are
 * global across every account, so a name without a suffix of its own (`sidestep-staging-imports`)
 * may already be someone else's; on AWS the suffix is the account id unless another is configured.
 * The local cloud's buckets have none (`sidestep-local-imports`): no other account shares its names.
 *
 * Keeps S3's rules: 3-63 characters, lower-case letters, digits and dashes (no dots: they break
 * virtual-hosted-style TLS), beginning and ending with a letter or digit.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 *
 * @throws {BucketNameError} naming `environment` or `suffix` when the name would break a rule.
 */
export function bucketName(environment: string, purpose: BucketPurpose, suffix?: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(environment)) {
    throw new BucketNameError(
      'environment',
      `"${environment}" must be lower-case letters, digits and dashes`,
    );
  }
  if (suffix !== undefined && !/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(suffix)) {
    throw new BucketNameError(
      'suffix',
      `"${suffix}" must be lower-case letters, digits and inner dashes (an account id, a company name)`,
    );
  }
  const base = resourceName(environment, purpose);
  const name = suffix === undefined ? base : `${base}-${suffix}`;
  const field = suffix === undefined ? 'environment' : 'suffix';
  if (name.length > 63) {
    throw new BucketNameError(field, `"${name}" has ${name.length} characters; S3 allows 63`);
  }
  if (RESERVED_BUCKET_ENDINGS.test(name)) {
    throw new BucketNameError(field, `"${name}" ends as S3's reserved names do`);
  }
  return name;
}

/**
 * `/aws/events/sidestep-<env>-mail-events`: the log group the mail-events rule writes SES's event
 * records of the mails to (infra's `MailEventLog` creates it, `sidestep mail find` searches it).
 */
export function mailEventLogGroupName(environment: string): string {
  return `/aws/events/${resourceName(environment, 'mail-events')}`;
}

/**
 * CloudWatch Logs' FilterLogEvents calls a second, per account and Region: "a default quota of 5
 * transactions per second (TPS) per account/Region", a hard limit, above which a call is throttled
 * (https://repost.aws/knowledge-center/cloudwatch-logs-throttling). The operator tools keep to it
 * (ops' log search), and the local cloud enforces it.
 */
export const FILTER_LOG_EVENTS_PER_SECOND = 5;

/** The dead-letter queue name for a queue: `sidestep-<env>-<name>-dlq`. */
export function deadLetterQueueName(environment: string, queueName: string): string {
  return `${resourceName(environment, queueName)}-dlq`;
}

/**
 * `sidestep-<env>-<service>-async-failures`: the on-failure destination of a function invoked
 * asynchronously (by a rule or a schedule), where Lambda puts the record of an event that failed
 * every attempt.
 */
export function asyncFailureQueueName(environment: string, service: string): string {
  return `${resourceName(environment, service)}-async-failures`;
}

/** Visibility timeout a queue gets: the declared one, or 6x the consumer's timeout. */
export function visibilityTimeoutSeconds(manifest: ServiceManifest): number {
  return manifest.queue?.visibilityTimeoutSeconds ?? manifest.timeoutSeconds * 6;
}

/** SQS's default `MessageRetentionPeriod` (4 days): what a queue whose manifest sets none keeps. */
export const DEFAULT_MESSAGE_RETENTION_SECONDS = 4 * 24 * 60 * 60;
/** Every dead-letter queue's retention: the longest SQS allows (14 days). */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 60 * 60;

/** Retention a queue gets: the declared one, or SQS's default (4 days). */
export function messageRetentionSeconds(queue: Pick<QueueTrigger, 'messageRetentionSeconds'>): number {
  return queue.messageRetentionSeconds ?? DEFAULT_MESSAGE_RETENTION_SECONDS;
}

/**
 * The longest a message sent to the queue can wait for a consumer or an operator, dead letter
 * included: it waits in the queue up to the queue's retention, and its last receive is dead-lettered
 * by the runtime with a SendMessage, a new message the DLQ keeps for its own retention from then on.
 * A DLQ redrive starts the message's retention again (a redriven message is a new one, with a new
 * enqueue time), so a message redriven can outlive this; nothing bounds how often it is redriven.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
 */
export function messageLifetimeSeconds(queue: Pick<QueueTrigger, 'messageRetentionSeconds'>): number {
  return messageRetentionSeconds(queue) + DEAD_LETTER_RETENTION_SECONDS;
}

/**
 * How long the mail-dispatcher keeps a sent mail's idempotency record for its queue: as long as a
 * message can live in the queue and, dead-lettered, in its DLQ ({@link messageLifetimeSeconds}), and a
 * day more for a producer's resend of the same key (19 days with SQS's default retention). A copy
 * redriven from the DLQ starts a new retention: one redriven after the record expired is sent again.
 * Infra keeps SES's event records of the mails at least this long, so that an operator can tell
 * whether a mail whose outcome was unknown was sent (for a record claimed within that time: one whose
 * outcome is unknown is renewed by each copy of its message).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
 */
export function idempotencyRecordSeconds(
  queue: QueueTrigger | Pick<QueueTrigger, 'messageRetentionSeconds'>,
): number {
  return messageLifetimeSeconds(queue) + 24 * 60 * 60;
}

/** Environment variables every service receives, whatever its manifest. */
export const RUNTIME_ENVIRONMENT = {
  /** `local`, `staging`, `production`. */
  environment: 'SIDESTEP_ENV',
  /** The DLQ permanent failures are sent to (queue-triggered services only). */
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  /**
   * The queue the function consumes (queue-triggered services only): the runtime puts off a record
   * whose failure asks for a later retry (ChangeMessageVisibility on it).
   */
  queueUrl: 'QUEUE_URL',
  /**
   * The job queue's redrive `maxReceiveCount` (queue-triggered services only): a record failing on
   * its last receive is dead-lettered by the runtime with its reason, not moved without one.
   */
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  /** Powertools service name. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  /** Powertools metrics namespace. */
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

export const METRICS_NAMESPACE = 'sidestep';

/** A manifest field that breaks a rule. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly service: string;
  readonly field: string;
  constructor(service: string, field: string, message: string) {
    super(`service ${service}: ${field}: ${message}`);
    this.service = service;
    this.field = field;
  }
}

/** What a service's, a task's and a queue's name may be: kebab-case, 2-41 characters. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{1,40}$/;
const NAME = NAME_PATTERN;
const ACTION = /^[a-z0-9-]+:[A-Za-z0-9]+$/;

/** Services and tasks share the rule: every permission lists at least one exact IAM action. */
function checkPermissions(
  permissions: readonly Permission[],
  fail: (field: string, message: string) => never,
): void {
  permissions.forEach((permission, index) => {
    if (permission.actions.length === 0) fail(`permissions[${index}].actions`, 'must not be empty');
    for (const action of permission.actions) {
      if (!ACTION.test(action))
        fail(`permissions[${index}].actions`, `"${action}" is not an exact IAM action`);
    }
  });
}

/** Checks a manifest against Lambda's and SQS's limits and returns it unchanged. */
export function defineService<const M extends ServiceManifest>(manifest: M): M {
  const fail = (field: string, message: string): never => {
    throw new ManifestError(manifest.name, field, message);
  };
  if (!NAME.test(manifest.name)) fail('name', 'must be kebab-case, 2-41 characters');
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z_$][A-Za-z0-9_$]*$/.test(manifest.handler)) {
    fail('handler', 'must be <file>.<export>, e.g. index.handler');
  }
  if (!Number.isInteger(manifest.memoryMb) || manifest.memoryMb < 128 || manifest.memoryMb > 10240) {
    fail('memoryMb', 'must be an integer between 128 and 10240');
  }
  if (
    !Number.isInteger(manifest.timeoutSeconds) ||
    manifest.timeoutSeconds < 1 ||
    manifest.timeoutSeconds > 900
  ) {
    fail('timeoutSeconds', 'must be an integer between 1 and 900');
  }
  const queue = manifest.queue;
  if (queue) {
    if (!NAME.test(queue.name)) fail('queue.name', 'must be kebab-case');
    if (queue.jobTypes.length === 0) fail('queue.jobTypes', 'must name at least one job type');
    // Lambda takes the window "in increments of seconds", from 0 to 300, and a batch size over 10
    // only with a window of at least 1 s
    // (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
    const window = queue.maximumBatchingWindowSeconds;
    if (!Number.isInteger(window) || window < 0 || window > 300) {
      fail('queue.maximumBatchingWindowSeconds', 'must be a whole number of seconds between 0 and 300');
    }
    const maxBatch = window >= 1 ? 10_000 : 10;
    if (!Number.isInteger(queue.batchSize) || queue.batchSize < 1 || queue.batchSize > maxBatch) {
      fail('queue.batchSize', `must be an integer between 1 and ${maxBatch}`);
    }
    const concurrency = queue.maximumConcurrency;
    if (!Number.isInteger(concurrency) || concurrency < 2 || concurrency > 1000) {
      fail(
        'queue.maximumConcurrency',
        'must be an integer between 2 and 1000 (the event source mapping limit)',
      );
    }
    const receives = queue.maxReceiveCount;
    if (!Number.isInteger(receives) || receives < 1 || receives > 1000) {
      fail('queue.maxReceiveCount', 'must be an integer between 1 and 1000');
    }
    // SQS: MessageRetentionPeriod is 60 seconds to 1,209,600 (14 days).
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
    const retention = queue.messageRetentionSeconds;
    if (
      retention !== undefined &&
      (!Number.isInteger(retention) || retention < 60 || retention > DEAD_LETTER_RETENTION_SECONDS)
    ) {
      fail(
        'queue.messageRetentionSeconds',
        `must be an integer between 60 and ${DEAD_LETTER_RETENTION_SECONDS} (14 days)`,
      );
    }
    const visibility = visibilityTimeoutSeconds(manifest);
    // AWS: set the source queue's visibility timeout to at least six times the function timeout,
    // so a batch retried by the event source mapping is not redelivered while still being processed.
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
    if (visibility < manifest.timeoutSeconds * 6 || visibility > 43_200) {
      fail('queue.visibilityTimeoutSeconds', 'must be at least 6x the function timeout and at most 12 hours');
    }
  }
  checkPermissions(manifest.permissions, fail);
  return manifest;
}

/**
 * A long-running task: one container image run on ECS Fargate by a workflow (`ecs:runTask.sync`),
 * locally a child process with the same environment overrides. Its inputs arrive as environment
 * variables from the workflow's container overrides.
 */
export interface TaskManifest {
  /** kebab-case task name; the task definition family is `sidestep-<env>-<name>`. */
  readonly name: string;
  readonly description: string;
  /** The container's command, run from the bundle directory (image WORKDIR), e.g. `['node', 'index.mjs']`. */
  readonly command: readonly string[];
  /** Fargate CPU units (256, 512, 1024, 2048, 4096, 8192, 16384). */
  readonly cpu: number;
  /** Fargate memory in MiB, valid for the CPU size. */
  readonly memoryMb: number;
  /** Ephemeral storage in GiB (21-200). @default 20 (Fargate's default, not stated) */
  readonly ephemeralStorageGiB?: number;
  /** The container name workflows override (`containerOverrides[].name`). */
  readonly containerName: string;
  /** Environment variables a workflow must pass as container overrides, each with what it means. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Resources the task calls and the exact actions it needs on each (granted to the task role). */
  readonly permissions: readonly Permission[];
  /** Static environment variables. @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** Seconds the task may run before the workflow gives up on it. */
  readonly timeoutSeconds: number;
  /**
   * Seconds ECS waits after the SIGTERM that stops the task (StopTask, a stopped execution, a Fargate
   * Spot interruption) before it kills the container: the container definition's `stopTimeout`, at
   * most {@link MAX_TASK_STOP_TIMEOUT_SECONDS} on Fargate. Spot warns two minutes before it takes the
   * capacity back, with the SIGTERM, but the container still gets only its stop timeout
   * (https://repost.aws/knowledge-center/fargate-spot-termination-notice).
   * @default {@link DEFAULT_TASK_STOP_TIMEOUT_SECONDS}, Fargate's own
   */
  readonly stopTimeoutSeconds?: number;
}

/**
 * Fargate's stop timeout when a container definition sets none, and the most it takes: "For tasks
 * that use the Fargate launch type, the max stop timeout value is 120 seconds and if the parameter is
 * not specified, the default value of 30 seconds is used"
 * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html, stopTimeout).
 */
export const DEFAULT_TASK_STOP_TIMEOUT_SECONDS = 30;
export const MAX_TASK_STOP_TIMEOUT_SECONDS = 120;

/**
 * The vCPUs of a Fargate task of `cpu` CPU units, as the account's Fargate vCPU quota counts them:
 * "1024 CPU units = 1 vCPU"
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#task_size).
 */
export function fargateVcpus(cpu: number): number {
  return cpu / 1024;
}

/** The seconds a task gets between SIGTERM and SIGKILL: its `stopTimeoutSeconds`, else Fargate's default. */
export function taskStopTimeoutSeconds(manifest: Pick<TaskManifest, 'stopTimeoutSeconds'>): number {
  return manifest.stopTimeoutSeconds ?? DEFAULT_TASK_STOP_TIMEOUT_SECONDS;
}

const FARGATE_MEMORY: Readonly<Record<number, readonly [number, number]>> = {
  256: [512, 2048],
  512: [1024, 4096],
  1024: [2048, 8192],
  2048: [4096, 16384],
  4096: [8192, 30720],
  8192: [16384, 61440],
  16384: [32768, 122880],
};

/** Checks a task manifest against Fargate's limits and returns it unchanged. */
export function defineTask<const M extends TaskManifest>(manifest: M): M {
  const fail = (field: string, message: string): never => {
    throw new ManifestError(manifest.name, field, message);
  };
  if (!NAME.test(manifest.name)) fail('name', 'must be kebab-case, 2-41 characters');
  if (manifest.command.length === 0) fail('command', 'must not be empty');
  const memory = FARGATE_MEMORY[manifest.cpu];
  if (!memory) fail('cpu', `must be one of ${Object.keys(FARGATE_MEMORY).join(', ')}`);
  else if (manifest.memoryMb < memory[0] || manifest.memoryMb > memory[1]) {
    fail('memoryMb', `must be between ${memory[0]} and ${memory[1]} for ${manifest.cpu} CPU units`);
  }
  const storage = manifest.ephemeralStorageGiB;
  if (storage !== undefined && (storage < 21 || storage > 200))
    fail('ephemeralStorageGiB', 'must be between 21 and 200');
  if (!/^[a-z][a-z0-9-]{0,254}$/.test(manifest.containerName)) fail('containerName', 'must be kebab-case');
  for (const variable of Object.keys(manifest.inputs)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(variable)) fail(`inputs.${variable}`, 'must be SCREAMING_SNAKE_CASE');
  }
  if (!Number.isInteger(manifest.timeoutSeconds) || manifest.timeoutSeconds < 60) {
    fail('timeoutSeconds', 'must be an integer of at least 60');
  }
  const stop = manifest.stopTimeoutSeconds;
  if (stop !== undefined && (!Number.isInteger(stop) || stop < 1 || stop > MAX_TASK_STOP_TIMEOUT_SECONDS)) {
    fail(
      'stopTimeoutSeconds',
      `must be a whole number of seconds between 1 and ${MAX_TASK_STOP_TIMEOUT_SECONDS} (Fargate's most)`,
    );
  }
  checkPermissions(manifest.permissions, fail);
  return manifest;
}

export {
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
  type LambdaEnvironmentSize,
  lambdaEnvironmentLimitMessage,
  lambdaEnvironmentSize,
} from './lambda-environment.ts';
export {
  checkSendRate,
  InvalidSendRateError,
  MAX_SEND_RATE_LIMIT,
  pacedForSendRate,
  parseSendRate,
  SEND_DEADLINE_MARGIN_SECONDS,
  sendRateShare,
  sendRateText,
} from './mail-send-rate.ts';
export { InvalidSandboxRecipientError, parseSandboxRecipients } from './sandbox-recipients.ts';
