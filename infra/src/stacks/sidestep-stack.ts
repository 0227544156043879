import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { SnsTopicSubscription } from '@cdktn/provider-aws/lib/sns-topic-subscription/index.js';
import { LEDGER_ACTIONS_ALIAS, OPS_LEDGER_SERVICE } from '@sidestep/contracts';
import {
  EXPORT_DOWNLOAD_FUNCTION,
  functionLogGroupName,
  idempotencyRecordSeconds,
  type PermissionResource,
  pacedForSendRate,
  resourceName,
  type ServiceManifest,
  type TaskManifest,
  taskLogGroupName,
} from '@sidestep/manifest';
import {
  type BatchWorkerProps,
  defineSchedules,
  EXPORT_REQUESTS_QUEUE,
  executionStatusRule,
  exportWorkflow,
  importTrigger,
  importWorkflow,
  operatorEventPattern,
  type ScheduleDefinition,
} from '@sidestep/workflows';
import { dependable, Fn, Lazy, LocalBackend, S3Backend, TerraformOutput } from 'cdktn';
import type { Construct } from 'constructs';
import {
  type EnvironmentConfig,
  environmentBucketName,
  environmentBucketSuffix,
  environmentMailMaxSendRate,
} from '../config.ts';
import { AlarmTopic } from '../constructs/alarm-topic.ts';
import { BatchTask, type TaskNetworkConfig } from '../constructs/batch-task.ts';
import { ClaimCheckBucket } from '../constructs/claim-check-bucket.ts';
import { applyDeletionProtection } from '../constructs/deletion-protection.ts';
import { EventBus } from '../constructs/event-bus.ts';
import { ExportDownload } from '../constructs/export-download.ts';
import { ExportsBucket } from '../constructs/exports-bucket.ts';
import { FunctionAlarms } from '../constructs/function-alarms.ts';
import { secretKeyStatement } from '../constructs/grantable-role.ts';
import { JobQueue } from '../constructs/job-queue.ts';
import { MailEventLog } from '../constructs/mail-event-log.ts';
import { MailIdentity } from '../constructs/mail-identity.ts';
import type { PermissionTarget, PermissionTargets } from '../constructs/manifest-permissions.ts';
import { Network } from '../constructs/network.ts';
import { OperatorPolicy } from '../constructs/operator-policy.ts';
import { applyPermissionsBoundary, permissionsBoundaryArn } from '../constructs/permissions-boundary.ts';
import { S3Trigger } from '../constructs/s3-trigger.ts';
import { Schedule, type ScheduleTarget } from '../constructs/schedule.ts';
import { ScheduleGroup } from '../constructs/schedule-group.ts';
import { type FunctionVpcConfig, ServiceFunction } from '../constructs/service-function.ts';
import { Workflow, type WorkflowProps } from '../constructs/workflow.ts';
import { WorkflowEndedRule } from '../constructs/workflow-ended-rule.ts';
import { WorkflowQueue } from '../constructs/workflow-queue.ts';
import { InfraConfigError } from '../errors.ts';
import { checkFunctionEnvironments } from '../function-environment.ts';
import { SERVICES, TASKS } from '../services.ts';
import { EnvironmentStack } from './environment-stack.ts';

/** Props of {@link SidestepStack}. */
export interface SidestepStackProps {
  /** The environment this stack deploys. */
  readonly config: EnvironmentConfig;
  /** The services to deploy. @default {@link SERVICES}, every service of the repository */
  readonly services?: readonly ServiceManifest[];
  /** The Fargate tasks to deploy. @default {@link TASKS}, every task of the repository */
  readonly tasks?: readonly TaskManifest[];
  /**
   * The schedules to deploy.
   * @default `defineSchedules(...)` of `@sidestep/workflows`, the nightly export mailed to the
   * environment's notify address
   */
  readonly schedules?: readonly ScheduleDefinition[];
}

/** The services and task the import workflow calls, by manifest name, and the job type of its mails. */
const IMPORT_CALLEES = {
  statusUpdater: 'status-updater',
  batchWorker: 'batch-worker',
  mailJobType: 'mail.send',
};

/** What the export path adds to the import workflow's callees: the finalizer service. */
const EXPORT_CALLEES = {
  exportFinalizer: 'export-finalizer',
};

/** Where functions and tasks run: a created {@link Network} or the configured ids. */
interface Placement {
  /** @default none: functions outside any VPC */
  readonly functions?: FunctionVpcConfig | undefined;
  readonly tasks: TaskNetworkConfig;
}

/** The job workflows, by name: their state machines are `sidestep-<env>-<name>`. */
const JOB_WORKFLOWS = ['import', 'export'] as const;

/** What both workflows call: the status-updater, the batch-worker task and the mail queue. */
interface WorkflowCallees {
  readonly statusUpdater: ServiceFunction;
  readonly batchWorker: BatchTask;
  /** The batch-worker as a workflow's `ecs:runTask.sync` state runs it. */
  readonly batchWorkerProps: BatchWorkerProps;
  readonly mailQueue: JobQueue;
  /** The mail queue's consumer, which the workflows go live after (`deployAfter`). */
  readonly mailDispatcher: ServiceFunction;
}

function snakeCase(name: string): string {
  return name.replaceAll('-', '_');
}

/**
 * One environment of sidestep, in the order of the architecture:
 *
 * 1. the AWS provider (pinned to the environment's account, default tags), the state backend and the
 *    deletion protection of what holds data (lifted in teardown mode);
 *    the topic every alarm notifies; the network functions and tasks run in (created, or the
 *    configured VPC's ids);
 * 2. the mail identity, the imports bucket (whose uploads start the import workflow), the exports
 *    bucket (what the services' and tasks' permissions name) and the claim-check bucket (bodies too
 *    large for SQS, which every job queue's consumer may read and dead-letter into);
 * 3. for every service manifest its function (with repository) and, when it declares one, its job
 *    queue; for every task manifest its Fargate task; the functions that send mail jobs, like the
 *    workflows, are updated after the mail-dispatcher (the consumer before its producers);
 * 4. the import workflow, calling the status-updater, the batch-worker task and the mail queue;
 * 5. the export path: the download endpoint, the export workflow (status-updater, batch-worker,
 *    export-finalizer, mail queue) and the export-requests queue whose messages start it through a pipe;
 * 6. the schedules (EventBridge Scheduler) with the operator bus and rules that fire them by hand.
 */
export class SidestepStack extends EnvironmentStack {
  /** Functions by service name. */
  readonly functions: ReadonlyMap<string, ServiceFunction>;
  /** Job queues by service name. */
  readonly queues: ReadonlyMap<string, JobQueue>;
  /** The SNS topic every alarm notifies: the configured one, or `sidestep-<env>-alarms`. */
  readonly alarmTopicArn: string;
  /** The VPC the stack created (`network` in the config), if any. */
  readonly network: Network | undefined;
  /** The SES identity mail is sent from. */
  readonly mailIdentity: MailIdentity;
  /** SES's event records of the mails, kept for the operator's check of a mail whose outcome is unknown. */
  readonly mailEventLog: MailEventLog;
  /** Fargate tasks by task name. */
  readonly tasks: ReadonlyMap<string, BatchTask>;
  /** The imports bucket and the rule that starts the import workflow. */
  readonly importTrigger: S3Trigger;
  /** The import workflow. */
  readonly importWorkflow: Workflow;
  /** The bucket exports are written to. */
  readonly exportsBucket: ExportsBucket;
  /** `sidestep-<env>-claims-<suffix>`: claim-check bodies (SQS Extended Client pointers on the queues). */
  readonly claimCheckBucket: ClaimCheckBucket;
  /** The export workflow. */
  readonly exportWorkflow: Workflow;
  /** The download endpoint of exports and the key its links are signed with. */
  readonly exportDownload: ExportDownload;
  /** `sidestep-<env>-export-requests` and the pipe that starts the export workflow per message. */
  readonly exportRequests: WorkflowQueue;
  /** Sends the job workflows' stopped, timed-out and failed executions to the job-sweeper. */
  readonly workflowEndedRule: WorkflowEndedRule;
  /** `sidestep-<env>`: the bus operators fire schedules on. */
  readonly eventBus: EventBus;
  /** The schedule group and its dead-letter queue. */
  readonly scheduleGroup: ScheduleGroup;
  /** Schedules by name. */
  readonly schedules: ReadonlyMap<string, Schedule>;
  /** `sidestep-<env>-operator`, when the stack has the `ops-ledger` function operators' tools read the ledger through. */
  readonly operatorPolicy: OperatorPolicy | undefined;

  constructor(scope: Construct, id: string, props: SidestepStackProps) {
    super(scope, id, props.config);
    // A mail sender's queue mapping sized for the environment's send rate, as its function divides it.
    const maxSendRate = environmentMailMaxSendRate(props.config);
    const services = (props.services ?? SERVICES).map((manifest) => pacedForSendRate(manifest, maxSendRate));
    const tasks = props.tasks ?? TASKS;
    this.checkReservations(services);
    this.addProviderAndBackend(id);
    this.alarmTopicArn = this.addAlarmTopic();
    let placement: Placement;
    ({ network: this.network, placement } = this.addNetwork());
    this.mailIdentity = this.addMailIdentity(maxSendRate);
    this.mailEventLog = this.addMailEventLog(services);
    // The buckets come first: the services' and tasks' permissions name them; the import workflow is
    // added as the trigger's target once it exists.
    this.importTrigger = this.addImportTrigger();
    this.exportsBucket = this.addExportsBucket();
    this.claimCheckBucket = this.addClaimCheckBucket();
    // The mail queue is created with its consumer, possibly after a service that sends to it: its ARN
    // and URL are resolved at synth time, and a stack without one fails before that.
    let mailQueue: JobQueue | undefined;
    const permissionTargets = this.permissionTargets(services, tasks, () => mailQueue);
    ({ functions: this.functions, queues: this.queues } = this.addServices(
      services,
      permissionTargets,
      placement,
    ));
    this.tasks = this.addTasks(tasks, permissionTargets, placement);
    const callees = this.workflowCallees(services);
    mailQueue = callees.mailQueue;
    this.deployMailSendersAfter(callees.mailDispatcher, services);
    this.importWorkflow = this.addImportWorkflow(callees);
    ({
      exportDownload: this.exportDownload,
      exportWorkflow: this.exportWorkflow,
      exportRequests: this.exportRequests,
    } = this.addExportPath(callees));
    this.workflowEndedRule = this.addWorkflowEndedRule();
    ({
      eventBus: this.eventBus,
      scheduleGroup: this.scheduleGroup,
      schedules: this.schedules,
    } = this.addSchedules(props.schedules));
    this.operatorPolicy = this.addOperatorPolicy(services);
  }

  /**
   * The stack's Terraform, refused when a function's environment variables are over Lambda's 4 KB
   * (`checkFunctionEnvironments`): they are measured here, in the synthesized stack, where each
   * reference's resource and its literal arguments are known, so references count as AWS resolves them.
   * @throws InfraConfigError naming `<name>.environment`
   */
  override toTerraform(): Record<string, unknown> {
    const terraform = super.toTerraform();
    checkFunctionEnvironments(terraform, this.config);
    return terraform;
  }

  /**
   * Every reservation of the environment names a function of this stack: a service, or the download
   * endpoint (with the export-finalizer, whose image it runs). A queue-triggered service's reservation
   * is at least its mapping's `maximumConcurrency` (after the send rate's sizing): the mapping's
   * maximum concurrency is meant not to exceed the function's reserved concurrency, or the mapping
   * invokes more batches at once than Lambda lets run and the rest are throttled
   * (https://aws.amazon.com/blogs/compute/introducing-maximum-concurrency-of-aws-lambda-functions-when-using-amazon-sqs-as-an-event-source/;
   * https://repost.aws/knowledge-center/lambda-sqs-scaling: event source mappings do not account for
   * reserved concurrency): the throttles alarm fires, and Lambda backs the mapping off
   * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
   * @throws InfraConfigError naming `<env>.reservedConcurrency.<name>`
   */
  private checkReservations(services: readonly ServiceManifest[]): void {
    const names = new Set(services.map((service) => service.name));
    if (names.has(EXPORT_CALLEES.exportFinalizer)) names.add(EXPORT_DOWNLOAD_FUNCTION);
    for (const [name, reserved] of Object.entries(this.config.reservedConcurrency ?? {})) {
      const field = `${this.config.name}.reservedConcurrency.${name}`;
      if (!names.has(name)) {
        throw new InfraConfigError(
          field,
          `no function "${name}" in the stack (one of ${[...names].join(', ')})`,
        );
      }
      const queue = services.find((service) => service.name === name)?.queue;
      if (queue && reserved < queue.maximumConcurrency) {
        throw new InfraConfigError(
          field,
          `${reserved} is below the ${queue.maximumConcurrency} batches its queue's event source mapping runs at once (maximumConcurrency, sized for the send rate where it sends mail): Lambda would throttle the rest; reserve at least ${queue.maximumConcurrency}`,
        );
      }
    }
  }

  /** Terraform output `name` of `value`. */
  private output(name: string, value: string): void {
    new TerraformOutput(this, name, { value });
  }

  /** The AWS provider, where the state lives, and what protects the environment's data from a destroy. */
  private addProviderAndBackend(id: string): void {
    const { config } = this;
    const local = config.name === 'local';
    new AwsProvider(this, 'aws', {
      region: config.region,
      // Refuses to apply with credentials of any other account: staging can never land in production.
      allowedAccountIds: local ? undefined : [config.accountId],
      defaultTags: [{ tags: { project: 'sidestep', environment: config.name } }],
      // The local stack is synthesized for parity (same names, same wiring); it has no account to check.
      ...(local
        ? { skipCredentialsValidation: true, skipRequestingAccountId: true, skipMetadataApiCheck: 'true' }
        : {}),
    });
    // Every role carries the boundary the deploy stack (`DeployStack`) creates; the local stack has none.
    // Nor deletion protection: the local cloud is throwaway.
    if (!local) {
      applyPermissionsBoundary(this, permissionsBoundaryArn(config.accountId, `sidestep-${config.name}`));
      applyDeletionProtection(this, { teardown: config.teardown ?? false });
    }
    if (config.backend) {
      new S3Backend(this, {
        bucket: config.backend.bucket,
        key: config.backend.key,
        region: config.backend.region,
        encrypt: true,
        // S3's native lock file (Terraform >= 1.10): no DynamoDB lock table to run.
        useLockfile: true,
      });
    } else {
      // Local state stays on the laptop: the local cloud is throwaway and has no bucket that outlives it.
      new LocalBackend(this, { path: `terraform.${id}.tfstate` });
    }
  }

  /**
   * The topic every alarm notifies (the configured one, else a created `sidestep-<env>-alarms`), and
   * the email address subscribed to it.
   */
  private addAlarmTopic(): string {
    const { config } = this;
    const topicArn =
      config.alarmTopicArn ??
      new AlarmTopic(this, 'alarm-topic', { environment: config.name, accountId: config.accountId }).topicArn;
    if (config.alarmEmail) {
      // Pending until the address confirms the subscription mail (README, "Deploying").
      new SnsTopicSubscription(this, 'alarm-email', {
        topicArn,
        protocol: 'email',
        endpoint: config.alarmEmail,
      });
    }
    this.output('alarm_topic_arn', topicArn);
    return topicArn;
  }

  /**
   * The network functions and tasks run in: a created {@link Network} when the config asks for one,
   * else the configured VPC's ids.
   * @throws InfraConfigError without a task network
   */
  private addNetwork(): { network: Network | undefined; placement: Placement } {
    const { config } = this;
    if (!config.network) {
      const tasks = config.taskNetwork ?? config.vpc;
      if (!tasks) throw new InfraConfigError(`${config.name}.taskNetwork`, 'Fargate tasks need a network');
      return { network: undefined, placement: { functions: config.vpc, tasks } };
    }
    const network = new Network(this, 'network', {
      ...config.network,
      environment: config.name,
      region: config.region,
    });
    this.output('vpc_id', network.vpcId);
    this.output('private_subnet_ids', Fn.join(',', [...network.subnetIds]));
    this.output('workload_security_group_id', network.workloadSecurityGroupId);
    return { network, placement: { functions: network.functionPlacement, tasks: network.taskPlacement } };
  }

  /** The SES identity and configuration set mail is sent from, and the rate it is sent at. */
  private addMailIdentity(maxSendRate: number | undefined): MailIdentity {
    const { config } = this;
    const mailIdentity = new MailIdentity(this, 'mail-identity', {
      environment: config.name,
      fromAddress: config.mail.fromAddress,
      domain: config.mail.domain,
      maxSendRate,
      ...(config.mail.sandboxRecipients
        ? {
            sandboxRecipients: {
              region: config.region,
              accountId: config.accountId,
              addresses: config.mail.sandboxRecipients,
            },
          }
        : {}),
      ...(config.mail.hostedZoneId
        ? { dns: { hostedZoneId: config.mail.hostedZoneId, region: config.region } }
        : {}),
    });
    this.output('mail_identity_arn', mailIdentity.identityArn);
    // The CNAMEs to publish where no hosted zone is configured: `<token>._domainkey.<domain>` ->
    // `<token>.dkim.amazonses.com`.
    if (config.mail.domain) {
      new TerraformOutput(this, 'mail_dkim_tokens', { value: mailIdentity.dkimTokens });
    }
    return mailIdentity;
  }

  /**
   * SES's event records of the mails, in a log group kept at least as long as a sent mail's
   * idempotency record lives (`idempotencyRecordSeconds`, the mail-dispatcher's own): an operator
   * searches it for a mail's key before releasing its record (README, "Mail whose outcome is unknown").
   */
  private addMailEventLog(services: readonly ServiceManifest[]): MailEventLog {
    const { config } = this;
    return new MailEventLog(this, 'mail-event-log', {
      environment: config.name,
      region: config.region,
      accountId: config.accountId,
      configurationSetName: resourceName(config.name, 'mail'),
      configurationSetReference: this.mailIdentity.configurationSet.configurationSetName,
      keepAtLeastSeconds: idempotencyRecordSeconds(mailService(services)?.queue ?? {}),
      alarmTopicArn: this.alarmTopicArn,
    });
  }

  /** The imports bucket and the rule its uploads start the import workflow through. */
  private addImportTrigger(): S3Trigger {
    const { config } = this;
    const trigger = importTrigger(config.name, { bucketSuffix: environmentBucketSuffix(config) });
    const s3Trigger = new S3Trigger(this, 'import-trigger', {
      environment: config.name,
      name: 'import',
      bucketName: trigger.bucketName,
      eventPattern: trigger.eventPattern,
      objectKeyPrefix: trigger.keyPrefix,
      alarmTopicArn: this.alarmTopicArn,
    });
    this.output('imports_bucket_name', s3Trigger.bucket.bucket);
    return s3Trigger;
  }

  /** The bucket the export workflow writes parts and files to. */
  private addExportsBucket(): ExportsBucket {
    const exportsBucket = new ExportsBucket(this, 'exports-bucket', {
      bucketName: environmentBucketName(this.config, 'exports'),
    });
    this.output('exports_bucket_name', exportsBucket.bucketName);
    return exportsBucket;
  }

  /** The bucket claim-check bodies go to; the job queues' consumers get their grants from it. */
  private addClaimCheckBucket(): ClaimCheckBucket {
    const claimCheckBucket = new ClaimCheckBucket(this, 'claim-check-bucket', {
      bucketName: environmentBucketName(this.config, 'claims'),
    });
    this.output('claim_check_bucket_name', claimCheckBucket.bucketName);
    return claimCheckBucket;
  }

  /**
   * What each resource a manifest's permissions name is in this environment. `mailQueue` is read at
   * synth time, once the queue exists.
   * @throws InfraConfigError when a manifest sends mail jobs and no service consumes them
   */
  private permissionTargets(
    services: readonly ServiceManifest[],
    tasks: readonly TaskManifest[],
    mailQueue: () => JobQueue | undefined,
  ): PermissionTargets {
    const { config } = this;
    const mailQueueAttribute = (attribute: 'queueArn' | 'queueUrl') =>
      Lazy.stringValue({ produce: () => mailQueue()?.[attribute] });
    // A full Record: a new PermissionResource in the manifest package does not compile until it is resolved here.
    const targets: Readonly<Record<PermissionResource, PermissionTarget>> = {
      'mail-identity': this.mailIdentity.permissionTarget,
      'database-secret': {
        resourceArns: [config.databaseSecretArn],
        servicePrefixes: ['secretsmanager'],
        environment: { DATABASE_SECRET_ARN: config.databaseSecretArn },
        ...(config.databaseSecretKmsKeyArn
          ? { keyStatement: secretKeyStatement(config.databaseSecretKmsKeyArn, config.region) }
          : {}),
      },
      'imports-bucket': this.importTrigger.permissionTarget,
      'exports-bucket': this.exportsBucket.permissionTarget,
      'workflow-executions': this.workflowExecutionsTarget(),
      'mail-queue': {
        resourceArns: [mailQueueAttribute('queueArn')],
        servicePrefixes: ['sqs'],
        // Who the platform's own mails go to (a swept import's failure mail), as for the workflows.
        environment: {
          MAIL_QUEUE_URL: mailQueueAttribute('queueUrl'),
          NOTIFY_ADDRESS: config.mail.notifyAddress,
        },
      },
    };
    const mailQueueUsers = [...services, ...tasks].filter((m) =>
      m.permissions.some((p) => p.resource === 'mail-queue'),
    );
    if (mailQueueUsers.length > 0 && !mailService(services)) {
      throw new InfraConfigError(
        `${mailQueueUsers[0]?.name}.permissions`,
        `"mail-queue" needs a service consuming ${IMPORT_CALLEES.mailJobType} jobs in the stack`,
      );
    }
    return targets;
  }

  /**
   * The import and export workflows' state machines and their executions, by the names the workflows
   * are given (`sidestep-<env>-import`, `-export`), not by reference: the job-sweeper granted them is
   * created before the workflows, whose ended executions it is the target of.
   * DescribeExecution is granted on the execution resource type, `execution:<machine>:*`
   * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
   */
  private workflowExecutionsTarget(): PermissionTarget {
    const { config } = this;
    const states = (resource: string) => `arn:aws:states:${config.region}:${config.accountId}:${resource}`;
    const machines = JOB_WORKFLOWS.map((workflow) => resourceName(config.name, workflow));
    const stateMachineArns = machines.map((machine) => states(`stateMachine:${machine}`));
    return {
      resourceArns: [...stateMachineArns, ...machines.map((machine) => states(`execution:${machine}:*`))],
      servicePrefixes: ['states'],
      environment: { WORKFLOW_STATE_MACHINE_ARNS: stateMachineArns.join(',') },
    };
  }

  /** What services and tasks share: where they run, what their permissions resolve to, their logs. */
  private programProps(permissionTargets: PermissionTargets) {
    const { config } = this;
    return {
      environment: config.name,
      accountId: config.accountId,
      region: config.region,
      permissionTargets,
      logs: { retentionDays: config.logRetentionDays },
    };
  }

  /**
   * Every service's function (with its repository) and, for a service with a queue, its job queue.
   * @throws InfraConfigError when two services share a name or a queue
   */
  private addServices(
    services: readonly ServiceManifest[],
    permissionTargets: PermissionTargets,
    placement: Placement,
  ): { functions: Map<string, ServiceFunction>; queues: Map<string, JobQueue> } {
    const { config } = this;
    const functions = new Map<string, ServiceFunction>();
    const queues = new Map<string, JobQueue>();
    const queueNames = new Set<string>();
    for (const manifest of services) {
      if (functions.has(manifest.name)) {
        throw new InfraConfigError(`${manifest.name}.name`, 'two services share this name');
      }
      const fn = new ServiceFunction(this, manifest.name, {
        ...this.programProps(permissionTargets),
        manifest,
        vpc: placement.functions,
        alarms: { topicArn: this.alarmTopicArn },
        reservedConcurrency: config.reservedConcurrency?.[manifest.name],
      });
      // The ledger's retention, when the environment sets one; the job-sweeper keeps 90 days otherwise.
      if (manifest.name === 'job-sweeper' && config.jobRetentionDays !== undefined) {
        fn.addEnvironment('JOB_RETENTION_DAYS', String(config.jobRetentionDays));
      }
      functions.set(manifest.name, fn);
      const snake = snakeCase(manifest.name);
      this.output(`${snake}_function_name`, fn.function.functionName);
      this.output(`${snake}_repository_url`, fn.repository.repositoryUrl);
      if (!manifest.queue) continue;
      if (queueNames.has(manifest.queue.name)) {
        throw new InfraConfigError(
          `${manifest.name}.queue.name`,
          `queue "${manifest.queue.name}" already has a consumer`,
        );
      }
      queueNames.add(manifest.queue.name);
      const queue = new JobQueue(this, `${manifest.queue.name}-queue`, {
        environment: config.name,
        consumer: fn,
        claimCheck: this.claimCheckBucket,
        alarms: { topicArn: this.alarmTopicArn },
      });
      queues.set(manifest.name, queue);
      const queueSnake = snakeCase(manifest.queue.name);
      this.output(`${queueSnake}_queue_url`, queue.queueUrl);
      this.output(`${queueSnake}_dead_letter_queue_url`, queue.deadLetterQueueUrl);
    }
    return { functions, queues };
  }

  /**
   * Every task's Fargate task definition, cluster and repository.
   * @throws InfraConfigError when a name is taken
   */
  private addTasks(
    tasks: readonly TaskManifest[],
    permissionTargets: PermissionTargets,
    placement: Placement,
  ): Map<string, BatchTask> {
    const batchTasks = new Map<string, BatchTask>();
    for (const manifest of tasks) {
      if (batchTasks.has(manifest.name) || this.functions.has(manifest.name)) {
        throw new InfraConfigError(`${manifest.name}.name`, 'a service or another task has this name');
      }
      const task = new BatchTask(this, manifest.name, {
        ...this.programProps(permissionTargets),
        manifest,
        network: placement.tasks,
        ...(this.config.batchCapacity ? { capacityProvider: this.config.batchCapacity } : {}),
      });
      batchTasks.set(manifest.name, task);
      const snake = snakeCase(manifest.name);
      this.output(`${snake}_repository_url`, task.repository.repositoryUrl);
      this.output(`${snake}_cluster_arn`, task.clusterArn);
      // What a one-off run needs (the deploy's migration, .github/workflows/deploy-environment.yml):
      // the revision this apply registered, the container to override, and the network the workflows
      // run it in. Lists and a boolean, not strings: the pipeline reads them with `terraform output -json`.
      this.output(`${snake}_task_definition_arn`, task.taskDefinitionArn);
      this.output(`${snake}_container_name`, task.containerName);
      new TerraformOutput(this, `${snake}_subnet_ids`, { value: [...task.network.subnetIds] });
      new TerraformOutput(this, `${snake}_security_group_ids`, { value: [...task.network.securityGroupIds] });
      new TerraformOutput(this, `${snake}_assign_public_ip`, { value: task.network.assignPublicIp ?? false });
    }
    return batchTasks;
  }

  /**
   * The status-updater, the batch-worker and the mail queue (with its consumer), which both workflows call.
   * @throws InfraConfigError naming the missing one
   */
  private workflowCallees(services: readonly ServiceManifest[]): WorkflowCallees {
    const statusUpdater =
      this.functions.get(IMPORT_CALLEES.statusUpdater) ?? missing('import', IMPORT_CALLEES.statusUpdater);
    const batchWorker =
      this.tasks.get(IMPORT_CALLEES.batchWorker) ?? missing('import', IMPORT_CALLEES.batchWorker);
    const mail = mailService(services);
    const mailQueue =
      (mail && this.queues.get(mail.name)) ?? missing('import', `a ${IMPORT_CALLEES.mailJobType} queue`);
    const mailDispatcher =
      (mail && this.functions.get(mail.name)) ??
      missing('import', `a ${IMPORT_CALLEES.mailJobType} consumer`);
    const batchWorkerProps = {
      clusterArn: batchWorker.clusterArn,
      taskDefinitionArn: batchWorker.taskDefinitionArn,
      containerName: batchWorker.containerName,
      subnetIds: batchWorker.network.subnetIds,
      securityGroupIds: batchWorker.network.securityGroupIds,
      assignPublicIp: batchWorker.network.assignPublicIp,
      timeoutSeconds: batchWorker.manifest.timeoutSeconds,
      ...(this.config.batchCapacity ? { capacityProvider: this.config.batchCapacity } : {}),
    };
    return { statusUpdater, batchWorker, batchWorkerProps, mailQueue, mailDispatcher };
  }

  /**
   * Terraform updates every function that sends mail jobs (a `mail-queue` permission) after the
   * function consuming them (`depends_on`), as the workflows (`deployAfter`): a mail of a new shape
   * must not reach the previous image of the mail-dispatcher, which refuses unknown fields as a
   * permanent error, and dead-letters the mail, while an apply is under way. The aws provider returns
   * from a function update once Lambda reports it done (LastUpdateStatus Successful,
   * hashicorp/terraform-provider-aws#19386); until then Lambda runs the previous code
   * (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html). Not a task definition: the
   * deploy registers it in a targeted apply before the migration, which would then update the
   * mail-dispatcher too (and no task sends mail jobs).
   */
  private deployMailSendersAfter(
    mailDispatcher: ServiceFunction,
    services: readonly ServiceManifest[],
  ): void {
    for (const manifest of services) {
      if (!manifest.permissions.some((permission) => permission.resource === 'mail-queue')) continue;
      const sender = this.functions.get(manifest.name)?.function;
      if (!sender || sender === mailDispatcher.function) continue;
      sender.dependsOn = [...(sender.dependsOn ?? []), dependable(mailDispatcher.function)];
    }
  }

  /** A Standard workflow of this environment, with its logs and alarms. */
  private addWorkflow(
    id: string,
    props: Pick<WorkflowProps, 'name' | 'definition' | 'callees' | 'deployAfter'>,
  ): Workflow {
    const { config } = this;
    return new Workflow(this, id, {
      environment: config.name,
      ...props,
      accountId: config.accountId,
      region: config.region,
      logs: { ...config.workflowLogs, retentionDays: config.logRetentionDays },
      alarms: { topicArn: this.alarmTopicArn },
    });
  }

  /** The import workflow, started by the imports bucket's uploads. */
  private addImportWorkflow(callees: WorkflowCallees): Workflow {
    const { statusUpdater, batchWorker, batchWorkerProps, mailQueue } = callees;
    const workflow = this.addWorkflow('import-workflow', {
      name: 'import',
      definition: importWorkflow({
        statusUpdaterFunctionArn: statusUpdater.functionArn,
        batchWorker: batchWorkerProps,
        mailQueueUrl: mailQueue.queueUrl,
        notifyAddress: this.config.mail.notifyAddress,
        notifyLocale: this.config.mail.notifyLocale,
      }),
      callees: { functions: [statusUpdater], tasks: [batchWorker], queues: [mailQueue] },
      deployAfter: [callees.mailDispatcher],
    });
    this.importTrigger.addTarget(workflow);
    this.output('import_state_machine_arn', workflow.stateMachineArn);
    return workflow;
  }

  /**
   * The export path: export-requests queue -> pipe -> export workflow (status-updater, batch-worker in
   * export mode, export-finalizer, mails to the requester), and the download endpoint the mails link to.
   */
  private addExportPath(callees: WorkflowCallees): {
    exportDownload: ExportDownload;
    exportWorkflow: Workflow;
    exportRequests: WorkflowQueue;
  } {
    const { config } = this;
    const { statusUpdater, batchWorker, batchWorkerProps, mailQueue } = callees;
    const exportFinalizer =
      this.functions.get(EXPORT_CALLEES.exportFinalizer) ?? missing('export', EXPORT_CALLEES.exportFinalizer);
    const exportDownload = new ExportDownload(this, 'export-download', {
      environment: config.name,
      finalizer: exportFinalizer,
      exportsBucket: this.exportsBucket,
      reservedConcurrency: config.reservedConcurrency?.[EXPORT_DOWNLOAD_FUNCTION],
      logs: { retentionDays: config.logRetentionDays },
    });
    new FunctionAlarms(this, 'export-download-alarms', {
      function: exportDownload.function,
      functionName: exportDownload.functionName,
      topicArn: this.alarmTopicArn,
      onFailure: 'a download link was answered with a server error; its holder may try again',
    });
    this.output('export_download_url', exportDownload.url);
    this.output('export_download_key_secret_arn', exportDownload.signingKeyArn);
    const workflow = this.addWorkflow('export-workflow', {
      name: 'export',
      definition: exportWorkflow({
        statusUpdaterFunctionArn: statusUpdater.functionArn,
        batchWorker: batchWorkerProps,
        exportFinalizerFunctionArn: exportFinalizer.functionArn,
        exportsBucket: this.exportsBucket.bucketName,
        mailQueueUrl: mailQueue.queueUrl,
      }),
      callees: { functions: [statusUpdater, exportFinalizer], tasks: [batchWorker], queues: [mailQueue] },
      deployAfter: [callees.mailDispatcher],
    });
    this.output('export_state_machine_arn', workflow.stateMachineArn);
    const exportRequests = new WorkflowQueue(this, 'export-requests-queue', {
      environment: config.name,
      ...EXPORT_REQUESTS_QUEUE,
      workflow,
      accountId: config.accountId,
      region: config.region,
      logs: { retentionDays: config.logRetentionDays },
      alarms: { topicArn: this.alarmTopicArn },
    });
    this.output('export_requests_queue_url', exportRequests.queueUrl);
    this.output('export_requests_dead_letter_queue_url', exportRequests.deadLetterQueueUrl);
    return { exportDownload, exportWorkflow: workflow, exportRequests };
  }

  /**
   * The rule that sends the import and export executions that ended without finishing their job
   * (stopped, timed out, failed) to the job-sweeper (`executionStatusRule` of @sidestep/workflows).
   * @throws InfraConfigError when the stack has no such service
   */
  private addWorkflowEndedRule(): WorkflowEndedRule {
    const rule = executionStatusRule([
      this.importWorkflow.stateMachineArn,
      this.exportWorkflow.stateMachineArn,
    ]);
    const target = this.functions.get(rule.service);
    if (!target) {
      throw new InfraConfigError(
        `${rule.name}.target`,
        `the rule needs the ${rule.service} service in the stack`,
      );
    }
    target.invokedAsynchronously(this.alarmTopicArn);
    return new WorkflowEndedRule(this, rule.name, {
      environment: this.config.name,
      name: rule.name,
      eventPattern: rule.eventPattern,
      target,
      alarmTopicArn: this.alarmTopicArn,
    });
  }

  /**
   * The schedules, and the operator bus and rules that fire them by hand.
   * @throws InfraConfigError when two schedules share a name or a target is not in the stack
   */
  private addSchedules(definitions: readonly ScheduleDefinition[] | undefined): {
    eventBus: EventBus;
    scheduleGroup: ScheduleGroup;
    schedules: Map<string, Schedule>;
  } {
    const { config } = this;
    const eventBus = new EventBus(this, 'event-bus', { environment: config.name });
    this.output('event_bus_name', eventBus.busName);
    const scheduleGroup = new ScheduleGroup(this, 'schedule-group', {
      environment: config.name,
      alarmTopicArn: this.alarmTopicArn,
    });
    this.output('schedule_group_name', scheduleGroup.groupName);
    const scheduleQueues = new Map([[EXPORT_REQUESTS_QUEUE.name, this.exportRequests]]);
    const schedules = new Map<string, Schedule>();
    for (const definition of definitions ??
      defineSchedules({ nightlyExportRecipient: config.mail.notifyAddress })) {
      if (schedules.has(definition.name)) {
        throw new InfraConfigError(`schedules.${definition.name}.name`, 'two schedules share this name');
      }
      schedules.set(
        definition.name,
        new Schedule(this, `${definition.name}-schedule`, {
          environment: config.name,
          name: definition.name,
          description: definition.description,
          expression: definition.expression,
          timezone: definition.timezone,
          target: this.scheduleTarget(definition, scheduleQueues),
          input: JSON.stringify(definition.input),
          retry: {
            maximumRetryAttempts: definition.retryPolicy.maximumRetryAttempts,
            maximumEventAgeSeconds: definition.retryPolicy.maximumEventAgeSeconds,
          },
          group: scheduleGroup,
          operator: { bus: eventBus, eventPattern: operatorEventPattern(definition.name) },
          accountId: config.accountId,
          region: config.region,
        }),
      );
    }
    return { eventBus, scheduleGroup, schedules };
  }

  /**
   * `sidestep-<env>-operator`: what the `sidestep` CLI needs against this environment, on its exact
   * resources. Only with the `ops-ledger` function (a stack of a subset of services has no operators).
   */
  private addOperatorPolicy(services: readonly ServiceManifest[]): OperatorPolicy | undefined {
    const { config } = this;
    const ledger = this.functions.get(OPS_LEDGER_SERVICE);
    const mail = mailService(services)?.queue?.name;
    if (!ledger || !mail) return undefined;
    const operatorPolicy = new OperatorPolicy(this, 'operator-policy', {
      environment: config.name,
      accountId: config.accountId,
      region: config.region,
      queues: [
        ...services.flatMap((service) => (service.queue ? [service.queue.name] : [])),
        EXPORT_REQUESTS_QUEUE.name,
      ],
      mailQueue: mail,
      asyncServices: [...this.functions].filter(([, fn]) => fn.asyncInvocation).map(([service]) => service),
      workflows: JOB_WORKFLOWS,
      schedules: [...this.schedules.values()].map((schedule) => ({
        scheduleName: schedule.scheduleName,
        roleName: schedule.roleName,
      })),
      scheduleGroupName: this.scheduleGroup.groupName,
      ruleDeadLetterQueues: [
        this.scheduleGroup.deadLetterQueueName,
        this.importTrigger.deadLetterQueueName,
        this.workflowEndedRule.deadLetterQueueName,
        // `mail find` reads it for the records of a mail the log group did not get.
        this.mailEventLog.deadLetterQueueName,
      ],
      eventBusName: this.eventBus.busName,
      mailEventLogGroupName: this.mailEventLog.logGroupName,
      // The environment's function and task groups by their name's pattern: a policy of one ARN per
      // group would grow by two with every service (a managed policy holds 6,144 characters).
      jobLogGroups: [functionLogGroupName(config.name, '*'), taskLogGroupName(config.name, '*')],
      ledger: { functionName: ledger.functionName, actionsAlias: LEDGER_ACTIONS_ALIAS },
    });
    // An operator's `job fail` of an import mails its failure where the import workflow does.
    ledger.addEnvironment('NOTIFY_ADDRESS', config.mail.notifyAddress);
    ledger.addAlias(
      LEDGER_ACTIONS_ALIAS,
      "the ops-ledger's actions: IAM grants this alias apart from the queries",
    );
    this.output('operator_policy_arn', operatorPolicy.policyArn);
    return operatorPolicy;
  }

  /** The queue or function a schedule delivers to. */
  private scheduleTarget(
    definition: ScheduleDefinition,
    queues: ReadonlyMap<string, WorkflowQueue>,
  ): ScheduleTarget {
    const field = `schedules.${definition.name}.target`;
    if (definition.target.kind === 'queue') {
      const queue = queues.get(definition.target.queue);
      if (!queue) throw new InfraConfigError(field, `no schedulable queue "${definition.target.queue}"`);
      return { queue };
    }
    const fn = this.functions.get(definition.target.service);
    if (!fn) throw new InfraConfigError(field, `no service "${definition.target.service}" in the stack`);
    fn.invokedAsynchronously(this.alarmTopicArn);
    return { function: fn };
  }
}

/** The service consuming mail jobs, if the stack has one. */
function mailService(services: readonly ServiceManifest[]): ServiceManifest | undefined {
  return services.find((m) => m.queue?.jobTypes.includes(IMPORT_CALLEES.mailJobType));
}

/** @throws InfraConfigError: the `workflow` needs `what`, which the stack lacks */
function missing(workflow: 'import' | 'export', what: string): never {
  throw new InfraConfigError(
    `${workflow}-workflow.callees.${what}`,
    `the ${workflow} workflow needs ${what} in the stack`,
  );
}
