import { isMailLocale, MAIL_LOCALES, type MailLocale, MIN_JOB_RETENTION_DAYS } from '@sidestep/contracts';
import {
  BUCKET_PURPOSES,
  BucketNameError,
  type BucketPurpose,
  bucketName,
  checkSendRate,
  type EnvironmentName,
  InvalidSandboxRecipientError,
  InvalidSendRateError,
  parseSandboxRecipients,
  parseSendRate,
} from '@sidestep/manifest';
import { LOCAL_NOTIFY_ADDRESS } from '@sidestep/workflows';
import { BATCH_CAPACITIES, type BatchCapacity, batchTaskArchitecture } from './batch-capacity.ts';
import type { TaskNetworkConfig } from './constructs/batch-task.ts';
import type { NetworkSettings } from './constructs/network.ts';
import type { FunctionVpcConfig } from './constructs/service-function.ts';
import { WORKFLOW_LOG_LEVELS, type WorkflowLogSettings } from './constructs/workflow.ts';
import { InfraConfigError } from './errors.ts';

/** Where an environment's Terraform state lives (S3, locked with S3's native lock file). */
export interface StateBackendConfig {
  /** State bucket (versioned, encrypted; created outside this app, it holds this app's state). */
  readonly bucket: string;
  /** Object key of the state file. */
  readonly key: string;
  /** Region of the bucket. */
  readonly region: string;
}

/** The GitHub repository whose workflows may deploy an environment (through OIDC, see `DeployRole`). */
export interface GitHubConfig {
  /** Owner (user or organization), e.g. `acme`. */
  readonly owner: string;
  /** Repository name, e.g. `sidestep`. */
  readonly repository: string;
  /**
   * ARN of the account's existing GitHub OIDC provider (an account has at most one per issuer URL, so
   * when staging and production share an account, the second deploy stack reuses the first's).
   * @default the deploy stack creates the provider
   */
  readonly oidcProviderArn?: string;
}

/** Everything that differs between environments. Services and their wiring come from the manifests. */
export interface EnvironmentConfig {
  /** `local`, `staging` or `production`; resources are named `sidestep-<name>-<thing>`. */
  readonly name: EnvironmentName;
  /** AWS region of every resource. */
  readonly region: string;
  /** The only account this environment may be applied to (the provider refuses any other). */
  readonly accountId: string;
  /** Mail sending. */
  readonly mail: {
    /** `MAIL_FROM`, e.g. `no-reply@mail.example.com`. */
    readonly fromAddress: string;
    /** Verified domain (DKIM) instead of the single address. @default the address is the identity */
    readonly domain?: string;
    /** Who receives workflow mails (`import.completed`, `import.failed`), e.g. `ops@example.com`. */
    readonly notifyAddress: string;
    /**
     * The language of the mails to `notifyAddress` (`import.completed`, `import.failed`):
     * `SIDESTEP_<ENV>_NOTIFY_LOCALE`, `en` or `ja`, the locales the mail-dispatcher's templates are
     * written in. @default 'en'
     */
    readonly notifyLocale?: MailLocale;
    /**
     * `MAIL_SANDBOX_RECIPIENTS`: while the account is in the SES sandbox, the verified addresses mail
     * goes to (`NOTIFY_ADDRESS`, test requesters). In the sandbox SES authorizes a send against each
     * recipient's identity too, so the mail-dispatcher is granted these. Empty once AWS granted
     * production access. @default none
     */
    readonly sandboxRecipients?: readonly string[];
    /**
     * The most mails per second the whole mail-dispatcher may send (all its concurrent sandboxes
     * together): `SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE`, the account's SES maximum send rate
     * (`SendQuota.MaxSendRate` of GetAccount, which the preflight compares it with) or the share of it
     * sidestep may use. Above it SES throttles the send and the mail goes back to its queue, to be
     * dead-lettered after its last receive. The function's `MAIL_MAX_SEND_RATE`
     * ({@link environmentMailMaxSendRate}); a decimal number above 0 and at most 100000.
     * https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
     * @default 1 on staging and production ({@link DEFAULT_MAIL_MAX_SEND_RATE}); none for `local`
     */
    readonly maxSendRate?: number;
    /**
     * Route 53 hosted zone of `domain`: the stack publishes the DKIM records there and sends from a
     * custom MAIL FROM domain (`bounce.<domain>`) with its MX and SPF records.
     * @default none: publish the DKIM records of the `mail_dkim_tokens` output yourself
     */
    readonly hostedZoneId?: string;
  };
  /** ARN of the Secrets Manager secret with the PostgreSQL connection URL (full ARN, with its suffix). */
  readonly databaseSecretArn: string;
  /**
   * ARN of the customer-managed KMS key the database secret is encrypted with
   * (`SIDESTEP_<ENV>_DATABASE_SECRET_KMS_KEY_ARN`; a key ARN, as IAM grants a key by it, not by alias).
   * GetSecretValue decrypts with the caller's permissions, so every role that reads the secret (and the
   * deploy role, for the preflight) is granted `kms:Decrypt` on exactly this key through Secrets Manager
   * (`kms:ViaService`), and the permissions boundary allows it; the key's policy must allow the account's
   * IAM policies to grant it (the default key policy does).
   * https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
   * @default none: the secret uses the AWS-managed key `aws/secretsmanager`, which needs no grant
   */
  readonly databaseSecretKmsKeyArn?: string;
  /** VPC placement of every function, in an existing VPC. @default none */
  readonly vpc?: FunctionVpcConfig;
  /**
   * Create the VPC functions and tasks run in (private subnets, VPC endpoints), instead of `vpc` and
   * `taskNetwork`, which must then be unset.
   * @default none: bring your own VPC (`vpc`, `taskNetwork`)
   */
  readonly network?: NetworkSettings;
  /**
   * Subnets and security groups Fargate tasks run in (they need the database and S3).
   * @default the functions' `vpc` placement, without public IPs
   */
  readonly taskNetwork?: TaskNetworkConfig;
  /** SNS topic the alarms notify. @default the stack creates `sidestep-<env>-alarms` */
  readonly alarmTopicArn?: string;
  /** Email address subscribed to the alarm topic (it must confirm once). @default none */
  readonly alarmEmail?: string;
  /** What the workflows' execution logs hold. @default errors only, without execution data */
  readonly workflowLogs?: WorkflowLogSettings;
  /** CloudWatch Logs retention of every function's log group. @default 30 */
  readonly logRetentionDays?: number;
  /**
   * How many days the jobs ledger keeps a finished job (with its transitions, rejected rows and
   * progress) and an operator audit entry: the job-sweeper's `JOB_RETENTION_DAYS`. Whole days, at
   * least 14 (`MIN_JOB_RETENTION_DAYS`: Step Functions redrives a failed execution for 14 days,
   * https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html).
   * `SIDESTEP_<ENV>_JOB_RETENTION_DAYS`.
   * @default the job-sweeper's own, 90 days (as long as Step Functions keeps an execution's history)
   */
  readonly jobRetentionDays?: number;
  /** Remote state. Required for staging and production; `local` keeps a local state file. */
  readonly backend?: StateBackendConfig;
  /** Who may deploy: required by the `sidestep-<env>-deploy` stack (`DeployStack`), unused by the environment stack. */
  readonly github?: GitHubConfig;
  /**
   * The account already has the ECS service-linked role (`AWSServiceRoleForECS`; it is account-wide, so
   * when staging and production share an account, the second deploy stack must not create it again).
   * @default false: the deploy stack creates it
   */
  readonly ecsServiceLinkedRoleExists?: boolean;
  /**
   * The end of the environment's bucket names, `sidestep-<env>-imports-<suffix>` ({@link environmentBucketName}):
   * S3 bucket names are global, so `sidestep-<env>-imports` alone may be anyone's. Lower-case letters,
   * digits and inner dashes; the whole name fits S3's 63 characters.
   * @default the account id; none for `local` (the local cloud's buckets, which no other account shares)
   */
  readonly bucketSuffix?: string;
  /**
   * Reserved concurrency per function, by service name (or `export-download`, the download endpoint):
   * a reservation guarantees the function that much of the account's concurrency and caps it there.
   * Lambda keeps 100 of an account's concurrency unreserved and a new account's quota is 10, so any
   * reservation fails to apply there: reserve only once the quota was raised.
   * https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
   * @default none: every function shares the account's unreserved pool
   */
  readonly reservedConcurrency?: Readonly<Record<string, number>>;
  /**
   * Where the workflows run the batch task: on `FARGATE`, or on `FARGATE_SPOT` (up to 70% cheaper, and
   * interruptible: the workflows run an interrupted task again; the task is X86_64 there, see
   * {@link batchTaskArchitecture}). `SIDESTEP_<ENV>_BATCH_CAPACITY`.
   * @default 'FARGATE'
   */
  readonly batchCapacity?: BatchCapacity;
  /**
   * Lift the deletion protection of the environment stack so that it can be destroyed
   * (`SIDESTEP_<ENV>_TEARDOWN`, `true` or `false`): no `prevent_destroy` on what holds data, and
   * `force_destroy` on the buckets and `force_delete` on the image repositories, so that after one
   * apply with it `terraform destroy` deletes their objects and images too (README, "Tearing an
   * environment down"). The deploy pipeline refuses it: only an administrator tears down.
   * @default false: deletion protection on (`applyDeletionProtection`)
   */
  readonly teardown?: boolean;
}

/**
 * The name of one of an environment's buckets: `bucketName` of @sidestep/manifest (the function the
 * local cloud and the workflows use too) with the environment's suffix, by default its account id.
 * @throws BucketNameError when the suffix or environment breaks S3's rules (the config validation names the field)
 */
export function environmentBucketName(config: EnvironmentConfig, purpose: BucketPurpose): string {
  return bucketName(config.name, purpose, environmentBucketSuffix(config));
}

/** The environment's bucket suffix: the configured one, else the account id; none for `local`. */
export function environmentBucketSuffix(config: EnvironmentConfig): string | undefined {
  return config.bucketSuffix ?? (config.name === 'local' ? undefined : config.accountId);
}

/**
 * The mail send rate of an AWS environment that sets none: 1 mail per second, the SES sandbox's rate
 * (https://docs.aws.amazon.com/ses/latest/dg/quotas.html), which every account allows at least, so
 * the default is never throttled; the preflight says what the account allows, and that
 * `SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE` may be raised to it.
 */
export const DEFAULT_MAIL_MAX_SEND_RATE = 1;

/**
 * The environment's mail send rate, the mail-dispatcher's `MAIL_MAX_SEND_RATE`: the configured one,
 * else {@link DEFAULT_MAIL_MAX_SEND_RATE}; none for `local` (the local cloud decides its own).
 */
export function environmentMailMaxSendRate(config: EnvironmentConfig): number | undefined {
  return config.mail.maxSendRate ?? (config.name === 'local' ? undefined : DEFAULT_MAIL_MAX_SEND_RATE);
}

/** The setting of an environment's mail send rate. */
export function mailMaxSendRateSetting(name: EnvironmentName): string {
  return `SIDESTEP_${name.toUpperCase()}_MAIL_MAX_SEND_RATE`;
}

/**
 * `SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE` read as the mail-dispatcher reads `MAIL_MAX_SEND_RATE`
 * (`parseSendRate`, the variable's contract in @sidestep/manifest).
 * @throws {InfraConfigError} naming `<env>.mail.maxSendRate`
 */
function mailMaxSendRate(name: EnvironmentName, value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAIL_MAX_SEND_RATE;
  try {
    return parseSendRate(value, mailMaxSendRateSetting(name));
  } catch (error) {
    if (error instanceof InvalidSendRateError)
      throw new InfraConfigError(`${name}.mail.maxSendRate`, error.message);
    throw error;
  }
}

/**
 * Placeholder values, named as such: the real ids are not in the repository. Override them with the
 * `SIDESTEP_<ENV>_*` environment variables read by {@link environmentConfigs} (the deploy pipeline does).
 */
export const PLACEHOLDER = {
  /** The account id AWS emulators use; the local cloud is not an AWS account. */
  localAccountId: '000000000000',
  stagingAccountId: '111111111111',
  productionAccountId: '222222222222',
  region: 'ap-northeast-1',
  databaseSecretSuffix: 'PLACEHOLDER',
  /** Fargate needs a subnet and a security group to run a task; the real ones are per account. */
  subnetId: 'subnet-placeholder',
  securityGroupId: 'sg-placeholder',
  stateBucketPrefix: 'placeholder-sidestep-tfstate',
  /** `owner/repository` of the repository that deploys (`SIDESTEP_GITHUB_REPOSITORY`). */
  githubRepository: 'placeholder-owner/sidestep',
} as const;

/** The values CloudWatch Logs accepts for `retention_in_days` (0 = never expire is deliberately absent). */
const LOG_RETENTION_DAYS = new Set([
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
]);

/** `SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS`'s addresses, if set. @throws InfraConfigError naming the entry */
function sandboxRecipientsOf(name: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSandboxRecipients(value, `SIDESTEP_${name.toUpperCase()}_MAIL_SANDBOX_RECIPIENTS`);
  } catch (error) {
    if (!(error instanceof InvalidSandboxRecipientError)) throw error;
    throw new InfraConfigError(`${name}.mail.sandboxRecipients`, error.message);
  }
}

function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * `name=count` pairs, comma-separated (`mail-dispatcher=5,job-sweeper=1`). A pair that is not one keeps
 * a NaN count, which the validation refuses naming the field.
 */
function reservations(value: string | undefined): Record<string, number> | undefined {
  const pairs = list(value);
  if (!pairs || pairs.length === 0) return undefined;
  return Object.fromEntries(
    pairs.map((pair) => {
      const [name = '', count, ...rest] = pair.split('=').map((part) => part.trim());
      return [name, count === undefined || count === '' || rest.length > 0 ? Number.NaN : Number(count)];
    }),
  );
}

/** A staging or production config: its mail always has a domain (`MAIL_DOMAIN`, default `<env>.mail.example.com`). */
type AwsEnvironmentConfig = EnvironmentConfig & { readonly mail: { readonly domain: string } };

function awsEnvironment(
  name: 'staging' | 'production',
  env: Readonly<Record<string, string | undefined>>,
  accountIdPlaceholder: string,
): AwsEnvironmentConfig {
  const prefix = `SIDESTEP_${name.toUpperCase()}_`;
  const read = (key: string): string | undefined => env[`${prefix}${key}`] || undefined;
  const region = read('REGION') ?? PLACEHOLDER.region;
  const accountId = read('ACCOUNT_ID') ?? accountIdPlaceholder;
  const subnetIds = list(read('SUBNET_IDS'));
  const securityGroupIds = list(read('SECURITY_GROUP_IDS'));
  const taskSubnetIds = list(read('TASK_SUBNET_IDS')) ?? subnetIds;
  const taskSecurityGroupIds = list(read('TASK_SECURITY_GROUP_IDS')) ?? securityGroupIds;
  const retention = read('LOG_RETENTION_DAYS');
  const jobRetention = read('JOB_RETENTION_DAYS');
  // `owner/repository`, as GitHub's own GITHUB_REPOSITORY; a value without one slash is kept whole so
  // validation names the field instead of deploying a half-parsed trust.
  const [owner = '', repository = '', ...rest] = (
    env.SIDESTEP_GITHUB_REPOSITORY || PLACEHOLDER.githubRepository
  ).split('/');
  const oidcProviderArn = read('GITHUB_OIDC_PROVIDER_ARN');
  const network = networkSettings(name, read);
  const hostedZoneId = read('HOSTED_ZONE_ID');
  const sandboxRecipients = sandboxRecipientsOf(name, read('MAIL_SANDBOX_RECIPIENTS'));
  const alarmEmail = read('ALARM_EMAIL');
  const notifyLocale = read('NOTIFY_LOCALE');
  const databaseSecretKmsKeyArn = read('DATABASE_SECRET_KMS_KEY_ARN');
  const reservedConcurrency = reservations(read('RESERVED_CONCURRENCY'));
  const batchCapacity = read('BATCH_CAPACITY');
  const teardown = read('TEARDOWN');
  if (teardown !== undefined && teardown !== 'true' && teardown !== 'false') {
    throw new InfraConfigError(
      `${name}.teardown`,
      `SIDESTEP_${name.toUpperCase()}_TEARDOWN must be true or false, not "${teardown}"`,
    );
  }
  if (batchCapacity !== undefined && !(BATCH_CAPACITIES as readonly string[]).includes(batchCapacity)) {
    throw new InfraConfigError(
      `${name}.batchCapacity`,
      `SIDESTEP_${name.toUpperCase()}_BATCH_CAPACITY must be ${BATCH_CAPACITIES.join(' or ')}, not "${batchCapacity}"`,
    );
  }
  return {
    name,
    region,
    accountId,
    bucketSuffix: read('BUCKET_SUFFIX') ?? accountId,
    ...(reservedConcurrency ? { reservedConcurrency } : {}),
    ...(batchCapacity ? { batchCapacity: batchCapacity as BatchCapacity } : {}),
    ...(teardown === undefined ? {} : { teardown: teardown === 'true' }),
    mail: {
      fromAddress: read('MAIL_FROM') ?? `no-reply@${name}.mail.example.com`,
      domain: read('MAIL_DOMAIN') ?? `${name}.mail.example.com`,
      notifyAddress: read('NOTIFY_ADDRESS') ?? `ops@${name}.mail.example.com`,
      // Checked by validateEnvironmentConfig, which names the variable.
      ...(notifyLocale === undefined ? {} : { notifyLocale: notifyLocale as MailLocale }),
      ...(sandboxRecipients ? { sandboxRecipients } : {}),
      maxSendRate: mailMaxSendRate(name, read('MAIL_MAX_SEND_RATE')),
      ...(hostedZoneId ? { hostedZoneId } : {}),
    },
    databaseSecretArn:
      read('DATABASE_SECRET_ARN') ??
      `arn:aws:secretsmanager:${region}:${accountId}:secret:sidestep-${name}-database-${PLACEHOLDER.databaseSecretSuffix}`,
    ...(databaseSecretKmsKeyArn ? { databaseSecretKmsKeyArn } : {}),
    vpc:
      subnetIds || securityGroupIds
        ? { subnetIds: subnetIds ?? [], securityGroupIds: securityGroupIds ?? [] }
        : undefined,
    ...(network
      ? { network }
      : {
          taskNetwork: {
            subnetIds: taskSubnetIds ?? [PLACEHOLDER.subnetId],
            securityGroupIds: taskSecurityGroupIds ?? [PLACEHOLDER.securityGroupId],
          },
        }),
    alarmTopicArn: read('ALARM_TOPIC_ARN'),
    ...(alarmEmail ? { alarmEmail } : {}),
    workflowLogs: workflowLogSettings(name, read),
    logRetentionDays: retention === undefined ? undefined : Number(retention),
    // A value that is not a number stays NaN, which the validation refuses naming the variable.
    ...(jobRetention === undefined ? {} : { jobRetentionDays: Number(jobRetention.trim() || Number.NaN) }),
    backend: {
      bucket: read('STATE_BUCKET') ?? `${PLACEHOLDER.stateBucketPrefix}-${name}`,
      key: `sidestep/${name}/terraform.tfstate`,
      region: read('STATE_REGION') ?? region,
    },
    github: {
      owner,
      repository: rest.length > 0 ? [repository, ...rest].join('/') : repository,
      ...(oidcProviderArn ? { oidcProviderArn } : {}),
    },
    ecsServiceLinkedRoleExists: read('ECS_SERVICE_LINKED_ROLE_EXISTS') === 'true',
  };
}

/**
 * `SIDESTEP_<ENV>_NETWORK=create` (with `_NETWORK_CIDR`, `_NETWORK_ZONES`, and the database as `_DATABASE_SECURITY_GROUP_ID`
 * or `_DATABASE_CIDR`, and `_DATABASE_PORT`).
 */
function networkSettings(
  name: string,
  read: (key: string) => string | undefined,
): NetworkSettings | undefined {
  const mode = read('NETWORK');
  const zones = read('NETWORK_ZONES');
  const cidrBlock = read('NETWORK_CIDR');
  if (mode === undefined) {
    // Settings of a created network, without one, would change nothing: refused rather than ignored.
    const unused = Object.entries({ NETWORK_ZONES: zones, NETWORK_CIDR: cidrBlock }).find(
      ([, value]) => value !== undefined,
    );
    if (unused) {
      throw new InfraConfigError(
        `${name}.network`,
        `SIDESTEP_${name.toUpperCase()}_${unused[0]} is set, but it configures the network the stack creates, and SIDESTEP_${name.toUpperCase()}_NETWORK is not "create"`,
      );
    }
    return undefined;
  }
  if (mode !== 'create') {
    throw new InfraConfigError(
      `${name}.network`,
      `SIDESTEP_${name.toUpperCase()}_NETWORK must be "create" or unset`,
    );
  }
  if (
    read('SUBNET_IDS') ||
    read('SECURITY_GROUP_IDS') ||
    read('TASK_SUBNET_IDS') ||
    read('TASK_SECURITY_GROUP_IDS')
  ) {
    throw new InfraConfigError(
      `${name}.network`,
      'a created network and subnet or security group ids exclude each other',
    );
  }
  const securityGroupId = read('DATABASE_SECURITY_GROUP_ID');
  const databaseCidrBlock = read('DATABASE_CIDR');
  const port = read('DATABASE_PORT');
  // Any of the three names a database the workload must be let to send to; none, no database egress.
  const database = {
    ...(securityGroupId ? { securityGroupId } : {}),
    ...(databaseCidrBlock ? { cidrBlock: databaseCidrBlock } : {}),
    ...(port === undefined ? {} : { port: Number(port) }),
  };
  return {
    ...(cidrBlock ? { cidrBlock } : {}),
    ...(Object.keys(database).length > 0 ? { database } : {}),
    // `Number` of what is no integer from 1 to 4 fails the validation, which names the setting.
    ...(zones === undefined
      ? {}
      : { availabilityZoneCount: /^\d+$/.test(zones) ? Number(zones) : Number.NaN }),
  };
}

/** `SIDESTEP_<ENV>_WORKFLOW_LOG_LEVEL` and `_WORKFLOW_LOG_EXECUTION_DATA` (`true` or `false`). */
function workflowLogSettings(name: string, read: (key: string) => string | undefined): WorkflowLogSettings {
  const level = read('WORKFLOW_LOG_LEVEL');
  const data = read('WORKFLOW_LOG_EXECUTION_DATA');
  if (data !== undefined && data !== 'true' && data !== 'false') {
    throw new InfraConfigError(`${name}.workflowLogs.includeExecutionData`, `"${data}" is not true or false`);
  }
  return {
    ...(level === undefined ? {} : { level: level as WorkflowLogSettings['level'] }),
    ...(data === undefined ? {} : { includeExecutionData: data === 'true' }),
  };
}

/**
 * The three environments' config: placeholders overridden by `SIDESTEP_<ENV>_<FIELD>` variables
 * (`SIDESTEP_STAGING_ACCOUNT_ID`, `_REGION`, `_MAIL_FROM`, `_MAIL_DOMAIN`, `_NOTIFY_ADDRESS`,
 * `_NOTIFY_LOCALE` (`en` or `ja`, the import mails' language; default `en`), `_MAIL_SANDBOX_RECIPIENTS`,
 * `_MAIL_MAX_SEND_RATE` (mails per second, the account's SES maximum send rate or a share of it; default 1),
 * `_DATABASE_SECRET_ARN`, `_DATABASE_SECRET_KMS_KEY_ARN` (its customer-managed key; default none:
 * `aws/secretsmanager`), `_ALARM_TOPIC_ARN`, `_SUBNET_IDS`, `_SECURITY_GROUP_IDS`, `_TASK_SUBNET_IDS`,
 * `_TASK_SECURITY_GROUP_IDS` (comma-separated; tasks default to the functions' network), `_NETWORK=create`
 * (with `_NETWORK_CIDR`, `_NETWORK_ZONES`, `_DATABASE_SECURITY_GROUP_ID` or `_DATABASE_CIDR`, `_DATABASE_PORT`; instead of the ids),
 * `_HOSTED_ZONE_ID`, `_ALARM_EMAIL`, `_WORKFLOW_LOG_LEVEL`, `_WORKFLOW_LOG_EXECUTION_DATA`,
 * `_LOG_RETENTION_DAYS`, `_JOB_RETENTION_DAYS`, `_STATE_BUCKET`, `_STATE_REGION`, `_GITHUB_OIDC_PROVIDER_ARN`,
 * `_ECS_SERVICE_LINKED_ROLE_EXISTS` (`true` when the account has the role), `_BUCKET_SUFFIX`
 * (default the account id), `_RESERVED_CONCURRENCY` (`mail-dispatcher=5,job-sweeper=1`; default none),
 * `_BATCH_CAPACITY` (`FARGATE` or `FARGATE_SPOT`; default `FARGATE`), `_TEARDOWN` (`true` lifts the
 * deletion protection; default `false`)) and
 * `SIDESTEP_GITHUB_REPOSITORY` (`owner/repository`, both environments). Every config is validated;
 * with `SIDESTEP_DEPLOY_ENVIRONMENT=<staging|production>` (set by the deploy pipeline) that environment
 * must also hold no {@link placeholderSettings} and not be in teardown mode.
 */
export function environmentConfigs(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Readonly<Record<EnvironmentName, EnvironmentConfig>> {
  const local: EnvironmentConfig = {
    name: 'local',
    // The local cloud's names: same `sidestep-local-*` resources the laptop emulators create.
    region: 'us-east-1',
    accountId: PLACEHOLDER.localAccountId,
    mail: { fromAddress: 'no-reply@sidestep.localhost', notifyAddress: LOCAL_NOTIFY_ADDRESS },
    databaseSecretArn: `arn:aws:secretsmanager:us-east-1:${PLACEHOLDER.localAccountId}:secret:sidestep-local-database`,
    logRetentionDays: 1,
    // The local cloud runs tasks as child processes; the values only keep the stack's shape.
    taskNetwork: { subnetIds: [PLACEHOLDER.subnetId], securityGroupIds: [PLACEHOLDER.securityGroupId] },
  };
  const configs = {
    local,
    staging: awsEnvironment('staging', env, PLACEHOLDER.stagingAccountId),
    production: awsEnvironment('production', env, PLACEHOLDER.productionAccountId),
  };
  for (const config of Object.values(configs)) validateEnvironmentConfig(config);
  refuseSharedMailIdentity(configs.staging, configs.production);
  // The deploy pipeline names the environment it is about to apply: that one must be real.
  const deploying = env.SIDESTEP_DEPLOY_ENVIRONMENT;
  if (deploying) {
    const config = Object.values(configs).find((candidate) => candidate.name === deploying);
    if (!config || config.name === 'local') {
      throw new InfraConfigError(
        'SIDESTEP_DEPLOY_ENVIRONMENT',
        `"${deploying}" is not staging or production`,
      );
    }
    // A TEARDOWN variable left in the GitHub environment must not lift the protection in a deploy: the
    // pipeline's role could then delete every object of the buckets with an ordinary apply.
    if (config.teardown) {
      throw new InfraConfigError(
        `${config.name}.teardown`,
        `SIDESTEP_${config.name.toUpperCase()}_TEARDOWN=true is never deployed by the pipeline: an administrator tears the environment down (README, "Tearing an environment down"); remove the variable from the GitHub environment`,
      );
    }
    refusePlaceholderSettings(config);
  }
  return configs;
}

/**
 * An SES identity exists once per account and region, and each environment's stack creates its own
 * (its `mail.domain`): two environments in one account and region with one domain would fail the
 * second's first apply with AlreadyExistsException
 * (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_CreateEmailIdentity.html). Seen only
 * where both environments' settings are given (an administrator's synth; the pipeline sets one's).
 */
function refuseSharedMailIdentity(first: AwsEnvironmentConfig, second: AwsEnvironmentConfig): void {
  const identity = (config: AwsEnvironmentConfig) =>
    `${config.accountId} ${config.region} ${config.mail.domain.toLowerCase()}`;
  if (identity(first) !== identity(second)) return;
  throw new InfraConfigError(
    `${second.name}.mail.domain`,
    `SIDESTEP_${second.name.toUpperCase()}_MAIL_DOMAIN "${second.mail.domain}" is ${first.name}'s too, in the same account and region, where an SES identity exists once: give each environment its own (for example ${first.name}.${second.mail.domain})`,
  );
}

/** One setting of an AWS environment still at its placeholder, and the variable that sets it. */
export interface PlaceholderSetting {
  /** The config field, e.g. `taskNetwork.subnetIds`. */
  readonly field: string;
  /** The `SIDESTEP_*` variable that sets it, e.g. `SIDESTEP_STAGING_TASK_SUBNET_IDS`. */
  readonly variable: string;
  /** The placeholder value found. */
  readonly value: string;
}

/**
 * The settings of a staging or production config that still hold a {@link PLACEHOLDER} (or the
 * `example.com` mail defaults), or a created network that names no database: applying them creates
 * resources that cannot work (a task in `subnet-placeholder`, a secret that does not exist, state in
 * a bucket nobody owns, a workload with no way to its database). Empty for a
 * config that may be deployed; `local` is never deployed and has none.
 */
export function placeholderSettings(config: EnvironmentConfig): PlaceholderSetting[] {
  if (config.name === 'local') return [];
  const prefix = `SIDESTEP_${config.name.toUpperCase()}_`;
  const found: PlaceholderSetting[] = [];
  const check = (field: string, variable: string, value: string | undefined, placeholder: boolean) => {
    if (value !== undefined && placeholder) found.push({ field, variable, value });
  };
  const placeholderAccounts: readonly string[] = [
    PLACEHOLDER.stagingAccountId,
    PLACEHOLDER.productionAccountId,
  ];
  check('accountId', `${prefix}ACCOUNT_ID`, config.accountId, placeholderAccounts.includes(config.accountId));
  check(
    'databaseSecretArn',
    `${prefix}DATABASE_SECRET_ARN`,
    config.databaseSecretArn,
    config.databaseSecretArn.includes(PLACEHOLDER.databaseSecretSuffix),
  );
  const network = config.taskNetwork ?? config.vpc;
  const subnets = network?.subnetIds.join(',');
  const groups = network?.securityGroupIds.join(',');
  check(
    'taskNetwork.subnetIds',
    `${prefix}TASK_SUBNET_IDS (or ${prefix}SUBNET_IDS)`,
    subnets,
    network?.subnetIds.includes(PLACEHOLDER.subnetId) === true,
  );
  check(
    'taskNetwork.securityGroupIds',
    `${prefix}TASK_SECURITY_GROUP_IDS (or ${prefix}SECURITY_GROUP_IDS)`,
    groups,
    network?.securityGroupIds.includes(PLACEHOLDER.securityGroupId) === true,
  );
  // A created network's workload sends only to its endpoints and the database it names: with none,
  // the first deploy's migration task and every service would wait on a database they cannot reach.
  if (config.network && !config.network.database) {
    found.push({
      field: 'network.database',
      variable: `${prefix}DATABASE_SECURITY_GROUP_ID (or ${prefix}DATABASE_CIDR, or ${prefix}DATABASE_PORT alone for the VPC's range)`,
      value: 'none',
    });
  }
  const bucket = config.backend?.bucket;
  check(
    'backend.bucket',
    `${prefix}STATE_BUCKET`,
    bucket,
    bucket?.startsWith(PLACEHOLDER.stateBucketPrefix) === true,
  );
  // example.com is reserved (RFC 2606): SES can never verify it, so no mail would ever leave.
  const example = (value: string | undefined) => value !== undefined && /(^|[.@])example\.com$/.test(value);
  check('mail.fromAddress', `${prefix}MAIL_FROM`, config.mail.fromAddress, example(config.mail.fromAddress));
  check('mail.domain', `${prefix}MAIL_DOMAIN`, config.mail.domain, example(config.mail.domain));
  check(
    'mail.notifyAddress',
    `${prefix}NOTIFY_ADDRESS`,
    config.mail.notifyAddress,
    example(config.mail.notifyAddress),
  );
  const repository = config.github && `${config.github.owner}/${config.github.repository}`;
  check('github', 'SIDESTEP_GITHUB_REPOSITORY', repository, repository === PLACEHOLDER.githubRepository);
  return found;
}

/**
 * Throws {@link InfraConfigError} naming the first of `found` (by default the config's
 * {@link placeholderSettings}) and listing every variable to set: what is about to be applied must hold
 * none (the pipeline's synth under `SIDESTEP_DEPLOY_ENVIRONMENT`, the deploy stack of an account).
 */
export function refusePlaceholderSettings(
  config: EnvironmentConfig,
  found: readonly PlaceholderSetting[] = placeholderSettings(config),
): void {
  const [first] = found;
  if (!first) return;
  throw new InfraConfigError(
    `${config.name}.${first.field}`,
    `placeholder values cannot be deployed: set ${found.map((p) => `${p.variable} (${p.field} is "${p.value}")`).join(', ')}`,
  );
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Whether `cidr` is an IPv4 CIDR block whose prefix is from `/shortest` to `/longest`. */
function isIpv4Cidr(cidr: string, shortest: number, longest: number): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!match) return false;
  return (
    match.slice(1, 5).every((octet) => Number(octet) <= 255) &&
    Number(match[5]) >= shortest &&
    Number(match[5]) <= longest
  );
}

/** The created network's CIDR (a /16 to /24, split into one subnet per AZ) and its database. */
function validateNetworkSettings(
  network: NetworkSettings,
  fail: (field: string, message: string) => never,
): void {
  const cidr = network.cidrBlock;
  if (cidr !== undefined && !isIpv4Cidr(cidr, 16, 24)) {
    fail('network.cidrBlock', `"${cidr}" is not an IPv4 CIDR block from /16 to /24`);
  }
  const zones = network.availabilityZoneCount;
  if (zones !== undefined && (!Number.isInteger(zones) || zones < 1 || zones > 4)) {
    fail(
      'network.availabilityZoneCount',
      'must be 1, 2, 3 or 4 (SIDESTEP_<ENV>_NETWORK_ZONES): a subnet in each zone, the VPC range split in 4',
    );
  }
  const port = network.database?.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    fail('network.database.port', 'must be a TCP port');
  }
  const group = network.database?.securityGroupId;
  if (group !== undefined && !/^sg-[0-9a-z]+$/.test(group)) {
    fail('network.database.securityGroupId', `"${group}" is not a security group id`);
  }
  const databaseCidr = network.database?.cidrBlock;
  if (databaseCidr !== undefined && !isIpv4Cidr(databaseCidr, 16, 32)) {
    fail('network.database.cidrBlock', `"${databaseCidr}" is not an IPv4 CIDR block from /16 to /32`);
  }
  if (databaseCidr !== undefined && group !== undefined) {
    fail(
      'network.database.cidrBlock',
      'the database is reached by its security group or by its range, not both (the group is narrower)',
    );
  }
}

/**
 * The partitions other than `aws` and their regions' names, as the AWS SDK's partitions table gives
 * them (its `regionRegex`; the table is internal to @aws-sdk/core's client code in the SDK installed
 * here, so it is copied rather than imported): China, GovCloud, the European Sovereign Cloud and the
 * isolated partitions (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html, "partition").
 */
const OTHER_PARTITIONS: readonly (readonly [id: string, regions: RegExp])[] = [
  ['aws-cn', /^cn-\w+-\d+$/],
  ['aws-eusc', /^eusc-de-\w+-\d+$/],
  ['aws-iso', /^us-iso-\w+-\d+$/],
  ['aws-iso-b', /^us-isob-\w+-\d+$/],
  ['aws-iso-e', /^eu-isoe-\w+-\d+$/],
  ['aws-iso-f', /^us-isof-\w+-\d+$/],
  ['aws-us-gov', /^us-gov-\w+-\d+$/],
];

/** The partition `region` is in, other than `aws`; `undefined` for a region of `aws` (or none). */
function otherPartitionOf(region: string): string | undefined {
  return OTHER_PARTITIONS.find(([, regions]) => regions.test(region))?.[0];
}

/** Throws {@link InfraConfigError} naming the first field that cannot be deployed as it is. */
export function validateEnvironmentConfig(config: EnvironmentConfig): void {
  const fail = (field: string, message: string): never => {
    throw new InfraConfigError(`${config.name}.${field}`, message);
  };
  if (!/^\d{12}$/.test(config.accountId)) fail('accountId', 'must be 12 digits');
  const partition = otherPartitionOf(config.region);
  if (partition !== undefined) {
    fail(
      'region',
      `"${config.region}" is in the ${partition} partition; sidestep's stacks name their ARNs in the aws partition (arn:aws:...), so they deploy to its regions only`,
    );
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(config.region))
    fail('region', `"${config.region}" is not an AWS region`);
  if (
    !/^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/.test(config.databaseSecretArn)
  ) {
    fail('databaseSecretArn', 'must be the full ARN of a Secrets Manager secret');
  }
  if (
    config.databaseSecretKmsKeyArn !== undefined &&
    !/^arn:aws:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(config.databaseSecretKmsKeyArn)
  ) {
    fail(
      'databaseSecretKmsKeyArn',
      `SIDESTEP_${config.name.toUpperCase()}_DATABASE_SECRET_KMS_KEY_ARN must be the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<id>; IAM grants a key by it, not by an alias), not "${config.databaseSecretKmsKeyArn}"`,
    );
  }
  if (
    config.alarmTopicArn !== undefined &&
    !/^arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/.test(config.alarmTopicArn)
  ) {
    fail('alarmTopicArn', 'must be an SNS topic ARN');
  }
  if (config.logRetentionDays !== undefined && !LOG_RETENTION_DAYS.has(config.logRetentionDays)) {
    fail('logRetentionDays', `must be one of ${[...LOG_RETENTION_DAYS].join(', ')}`);
  }
  const jobRetention = config.jobRetentionDays;
  if (
    jobRetention !== undefined &&
    (!Number.isInteger(jobRetention) || jobRetention < MIN_JOB_RETENTION_DAYS)
  ) {
    fail(
      'jobRetentionDays',
      `SIDESTEP_${config.name.toUpperCase()}_JOB_RETENTION_DAYS must be a whole number of days of at least ${MIN_JOB_RETENTION_DAYS} (Step Functions redrives an execution for 14 days after it ended), not "${jobRetention}"`,
    );
  }
  for (const purpose of BUCKET_PURPOSES) {
    try {
      environmentBucketName(config, purpose);
    } catch (error) {
      if (!(error instanceof BucketNameError)) throw error;
      fail(error.field === 'suffix' ? 'bucketSuffix' : 'name', error.reason);
    }
  }
  for (const [name, count] of Object.entries(config.reservedConcurrency ?? {})) {
    if (!/^[a-z][a-z0-9-]*$/.test(name) || !Number.isInteger(count) || count < 1) {
      fail(
        'reservedConcurrency',
        `"${name}=${count}" must be <function>=<count>, a service name (or export-download) and a whole number of at least 1`,
      );
    }
  }
  if (config.vpc && (config.vpc.subnetIds.length === 0 || config.vpc.securityGroupIds.length === 0)) {
    fail('vpc', 'needs both subnet ids and security group ids');
  }
  if (config.network && (config.vpc || config.taskNetwork)) {
    fail('network', 'a created network and `vpc` / `taskNetwork` exclude each other');
  }
  if (config.network) validateNetworkSettings(config.network, fail);
  const taskNetwork = config.taskNetwork ?? config.vpc;
  if (
    !config.network &&
    (!taskNetwork || taskNetwork.subnetIds.length === 0 || taskNetwork.securityGroupIds.length === 0)
  ) {
    fail('taskNetwork', 'Fargate tasks need subnet ids and security group ids (or a vpc to default to)');
  }
  if (!EMAIL.test(config.mail.notifyAddress)) {
    fail('mail.notifyAddress', `"${config.mail.notifyAddress}" is not an email address`);
  }
  const notifyLocale: unknown = config.mail.notifyLocale;
  if (notifyLocale !== undefined && !isMailLocale(notifyLocale)) {
    fail(
      'mail.notifyLocale',
      `SIDESTEP_${config.name.toUpperCase()}_NOTIFY_LOCALE must be ${MAIL_LOCALES.join(' or ')} (the locales every mail template is written in), not ${JSON.stringify(notifyLocale)}`,
    );
  }
  const maxSendRate = config.mail.maxSendRate;
  if (maxSendRate !== undefined) {
    try {
      checkSendRate(maxSendRate, mailMaxSendRateSetting(config.name));
    } catch (error) {
      if (!(error instanceof InvalidSendRateError)) throw error;
      fail('mail.maxSendRate', error.message);
    }
  }
  if (config.mail.hostedZoneId !== undefined) {
    if (!config.mail.domain) fail('mail.hostedZoneId', 'needs mail.domain, whose records it holds');
    if (!/^Z[A-Z0-9]{1,31}$/.test(config.mail.hostedZoneId))
      fail('mail.hostedZoneId', `"${config.mail.hostedZoneId}" is not a Route 53 hosted zone id`);
  }
  if (config.alarmEmail !== undefined && !EMAIL.test(config.alarmEmail)) {
    fail('alarmEmail', `"${config.alarmEmail}" is not an email address`);
  }
  const logLevel = config.workflowLogs?.level;
  if (logLevel !== undefined && !(WORKFLOW_LOG_LEVELS as readonly string[]).includes(logLevel)) {
    // OFF is not offered: the security policy requires every state machine to log (CKV_AWS_285).
    fail('workflowLogs.level', `"${logLevel}" is not one of ${WORKFLOW_LOG_LEVELS.join(', ')}`);
  }
  if (config.name !== 'local' && !config.backend) {
    fail('backend', 'staging and production keep their state in S3');
  }
  if (config.backend && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(config.backend.bucket)) {
    fail('backend.bucket', `"${config.backend.bucket}" is not an S3 bucket name`);
  }
  if (config.backend?.bucket.startsWith(`sidestep-${config.name}-`)) {
    // The deploy role manages every `sidestep-<env>-*` bucket: it must not be able to delete its own state.
    fail('backend.bucket', `must not start with "sidestep-${config.name}-" (the stack's own buckets)`);
  }
  if (config.github) {
    // GitHub's rules; `*` and `?` are excluded above all, as they are wildcards in the trust's StringLike.
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(config.github.owner))
      fail(
        'github.owner',
        `"${config.github.owner}" is not a GitHub user or organization (SIDESTEP_GITHUB_REPOSITORY=owner/repository)`,
      );
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(config.github.repository) || /^\.+$/.test(config.github.repository))
      fail(
        'github.repository',
        `"${config.github.repository}" is not a GitHub repository name (SIDESTEP_GITHUB_REPOSITORY=owner/repository)`,
      );
    if (
      config.github.oidcProviderArn !== undefined &&
      !/^arn:aws:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/.test(
        config.github.oidcProviderArn,
      )
    )
      fail('github.oidcProviderArn', 'must be the ARN of the token.actions.githubusercontent.com provider');
  }
}
