import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import type { PermissionResource, ServiceManifest, TaskManifest } from '@sidestep/manifest';
import {
  defineSchedules,
  exportWorkflow,
  importTrigger,
  importWorkflow,
  operatorEventPattern,
  type ScheduleDefinition,
} from '@sidestep/workflows';
import { Lazy, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from 'cdktn';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, validateEnvironmentConfig } from '../config.ts';
import { BatchTask } from '../constructs/batch-task.ts';
import { EventBus } from '../constructs/event-bus.ts';
import { ExportDownload } from '../constructs/export-download.ts';
import { ExportsBucket } from '../constructs/exports-bucket.ts';
import { JobQueue } from '../constructs/job-queue.ts';
import { MailIdentity } from '../constructs/mail-identity.ts';
import type { PermissionTarget } from '../constructs/manifest-permissions.ts';
import { S3Trigger } from '../constructs/s3-trigger.ts';
import { Schedule, type ScheduleTarget } from '../constructs/schedule.ts';
import { ScheduleGroup } from '../constructs/schedule-group.ts';
import { ServiceFunction } from '../constructs/service-function.ts';
import { Workflow } from '../constructs/workflow.ts';
import { WorkflowQueue } from '../constructs/workflow-queue.ts';
import { InfraConfigError } from '../errors.ts';
import { SERVICES, TASKS } from '../services.ts';

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

/** What the export path is made of: the finalizer service and the queue export requests arrive on. */
const EXPORT_CALLEES = {
  exportFinalizer: 'export-finalizer',
  requestQueue: 'export-requests',
};

/**
 * The Terraform / OpenTofu releases the stacks target: S3 native state locking (`use_lockfile`) needs
 * 1.10. Stated as cdktn's `targetVersions` (its validations check features against it) and as
 * `required_version` (Terraform itself refuses an older binary).
 */
export const TERRAFORM_TARGET_VERSIONS = { terraform: '>=1.10.0', opentofu: '>=1.10.0' } as const;

function snakeCase(name: string): string {
  return name.replaceAll('-', '_');
}

/**
 * One environment of sidestep: the AWS provider (pinned to the environment's account, default tags),
 * the state backend, the mail identity, for every service manifest its function (with repository)
 * and, when it declares one, its job queue, for every task manifest its Fargate task; the import
 * workflow: the imports bucket whose uploads start it, and the state machine calling the status-updater,
 * the batch-worker task and the mail queue; the export workflow: the export-requests queue whose
 * messages start it through a pipe, the exports bucket, and the state machine calling the
 * status-updater, the batch-worker, the export-finalizer and the mail queue; and the schedules
 * (EventBridge Scheduler) with the operator bus and rules that fire them by hand.
 */
export class SidestepStack extends TerraformStack {
  /** The environment's config. */
  readonly config: EnvironmentConfig;
  /** Functions by service name. */
  readonly functions: ReadonlyMap<string, ServiceFunction>;
  /** Job queues by service name. */
  readonly queues: ReadonlyMap<string, JobQueue>;
  /** The SES identity mail is sent from. */
  readonly mailIdentity: MailIdentity;
  /** Fargate tasks by task name. */
  readonly tasks: ReadonlyMap<string, BatchTask>;
  /** The imports bucket and the rule that starts the import workflow. */
  readonly importTrigger: S3Trigger;
  /** The import workflow. */
  readonly importWorkflow: Workflow;
  /** The bucket exports are written to. */
  readonly exportsBucket: ExportsBucket;
  /** The export workflow. */
  readonly exportWorkflow: Workflow;
  /** The download endpoint of exports and the key its links are signed with. */
  readonly exportDownload: ExportDownload;
  /** `sidestep-<env>-export-requests` and the pipe that starts the export workflow per message. */
  readonly exportRequests: WorkflowQueue;
  /** `sidestep-<env>`: the bus operators fire schedules on. */
  readonly eventBus: EventBus;
  /** The schedule group and its dead-letter queue. */
  readonly scheduleGroup: ScheduleGroup;
  /** Schedules by name. */
  readonly schedules: ReadonlyMap<string, Schedule>;

  constructor(scope: Construct, id: string, props: SidestepStackProps) {
    super(scope, id);
    // Context must be set before the first child construct exists.
    this.node.setContext('targetVersions', TERRAFORM_TARGET_VERSIONS);
    this.addOverride('terraform.required_version', TERRAFORM_TARGET_VERSIONS.terraform.replace('>=', '>= '));
    const { config } = props;
    validateEnvironmentConfig(config);
    this.config = config;
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

    this.mailIdentity = new MailIdentity(this, 'mail-identity', {
      environment: config.name,
      fromAddress: config.mail.fromAddress,
      domain: config.mail.domain,
    });
    new TerraformOutput(this, 'mail_identity_arn', { value: this.mailIdentity.identityArn });
    // The bucket comes first: the batch-worker's task role reads from it; the workflow is added as the
    // rule's target once it exists.
    const trigger = importTrigger(config.name);
    this.importTrigger = new S3Trigger(this, 'import-trigger', {
      environment: config.name,
      name: 'import',
      bucketName: trigger.bucketName,
      eventPattern: trigger.eventPattern,
      objectKeyPrefix: trigger.keyPrefix,
      alarmTopicArn: config.alarmTopicArn,
    });
    new TerraformOutput(this, 'imports_bucket_name', { value: this.importTrigger.bucket.bucket });
    this.exportsBucket = new ExportsBucket(this, 'exports-bucket', { environment: config.name });
    new TerraformOutput(this, 'exports_bucket_name', { value: this.exportsBucket.bucketName });
    const services = props.services ?? SERVICES;
    // The mail queue is created with its consumer below, possibly after a service that sends to it:
    // its ARN and URL are resolved at synth time, and a stack without one fails before that.
    const mailService = services.find((m) => m.queue?.jobTypes.includes(IMPORT_CALLEES.mailJobType));
    let mailQueue: JobQueue | undefined;
    const mailQueueAttribute = (attribute: 'queueArn' | 'queueUrl') =>
      Lazy.stringValue({ produce: () => mailQueue?.[attribute] });
    // A full Record: a new PermissionResource in the manifest package does not compile until it is resolved here.
    const permissionTargets: Readonly<Record<PermissionResource, PermissionTarget>> = {
      'mail-identity': this.mailIdentity.permissionTarget,
      'database-secret': {
        resourceArns: [config.databaseSecretArn],
        servicePrefixes: ['secretsmanager'],
        environment: { DATABASE_SECRET_ARN: config.databaseSecretArn },
      },
      'imports-bucket': this.importTrigger.permissionTarget,
      'exports-bucket': this.exportsBucket.permissionTarget,
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
    const mailQueueUsers = [...services, ...(props.tasks ?? TASKS)].filter((m) =>
      m.permissions.some((p) => p.resource === 'mail-queue'),
    );
    if (mailQueueUsers.length > 0 && !mailService) {
      throw new InfraConfigError(
        `${mailQueueUsers[0]?.name}.permissions`,
        `"mail-queue" needs a service consuming ${IMPORT_CALLEES.mailJobType} jobs in the stack`,
      );
    }

    const functions = new Map<string, ServiceFunction>();
    const queues = new Map<string, JobQueue>();
    const queueNames = new Set<string>();
    for (const manifest of services) {
      if (functions.has(manifest.name)) {
        throw new InfraConfigError(`${manifest.name}.name`, 'two services share this name');
      }
      const fn = new ServiceFunction(this, manifest.name, {
        environment: config.name,
        manifest,
        accountId: config.accountId,
        region: config.region,
        permissionTargets,
        logs: { retentionDays: config.logRetentionDays },
        vpc: config.vpc,
      });
      functions.set(manifest.name, fn);
      const snake = snakeCase(manifest.name);
      new TerraformOutput(this, `${snake}_function_name`, { value: fn.function.functionName });
      new TerraformOutput(this, `${snake}_repository_url`, { value: fn.repository.repositoryUrl });
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
        alarms: { topicArn: config.alarmTopicArn },
      });
      queues.set(manifest.name, queue);
      new TerraformOutput(this, `${snakeCase(manifest.queue.name)}_queue_url`, { value: queue.queueUrl });
      new TerraformOutput(this, `${snakeCase(manifest.queue.name)}_dead_letter_queue_url`, {
        value: queue.deadLetterQueueUrl,
      });
    }
    this.functions = functions;
    this.queues = queues;

    const tasks = new Map<string, BatchTask>();
    const network = config.taskNetwork ?? config.vpc;
    if (!network) throw new InfraConfigError(`${config.name}.taskNetwork`, 'Fargate tasks need a network');
    for (const manifest of props.tasks ?? TASKS) {
      if (tasks.has(manifest.name) || functions.has(manifest.name)) {
        throw new InfraConfigError(`${manifest.name}.name`, 'a service or another task has this name');
      }
      const task = new BatchTask(this, manifest.name, {
        environment: config.name,
        manifest,
        accountId: config.accountId,
        region: config.region,
        network,
        permissionTargets,
        logs: { retentionDays: config.logRetentionDays },
      });
      tasks.set(manifest.name, task);
      const snake = snakeCase(manifest.name);
      new TerraformOutput(this, `${snake}_repository_url`, { value: task.repository.repositoryUrl });
      new TerraformOutput(this, `${snake}_cluster_arn`, { value: task.clusterArn });
    }
    this.tasks = tasks;

    const missing = (workflow: 'import' | 'export', what: string): never => {
      throw new InfraConfigError(
        `${workflow}-workflow.callees.${what}`,
        `the ${workflow} workflow needs ${what} in the stack`,
      );
    };
    const statusUpdater =
      functions.get(IMPORT_CALLEES.statusUpdater) ?? missing('import', IMPORT_CALLEES.statusUpdater);
    const batchWorker =
      tasks.get(IMPORT_CALLEES.batchWorker) ?? missing('import', IMPORT_CALLEES.batchWorker);
    mailQueue =
      (mailService && queues.get(mailService.name)) ??
      missing('import', `a ${IMPORT_CALLEES.mailJobType} queue`);
    const batchWorkerProps = {
      clusterArn: batchWorker.clusterArn,
      taskDefinitionArn: batchWorker.taskDefinitionArn,
      containerName: batchWorker.containerName,
      subnetIds: batchWorker.network.subnetIds,
      securityGroupIds: batchWorker.network.securityGroupIds,
      assignPublicIp: batchWorker.network.assignPublicIp,
      timeoutSeconds: batchWorker.manifest.timeoutSeconds,
    };
    this.importWorkflow = new Workflow(this, 'import-workflow', {
      environment: config.name,
      name: 'import',
      definition: importWorkflow({
        statusUpdaterFunctionArn: statusUpdater.functionArn,
        batchWorker: batchWorkerProps,
        mailQueueUrl: mailQueue.queueUrl,
        notifyAddress: config.mail.notifyAddress,
      }),
      callees: { functions: [statusUpdater], tasks: [batchWorker], queues: [mailQueue] },
      accountId: config.accountId,
      region: config.region,
      logs: { retentionDays: config.logRetentionDays },
      alarms: { topicArn: config.alarmTopicArn },
    });
    this.importTrigger.addTarget(this.importWorkflow);
    new TerraformOutput(this, 'import_state_machine_arn', { value: this.importWorkflow.stateMachineArn });

    // The export path: export-requests queue -> pipe -> export workflow (status-updater, batch-worker
    // in export mode, export-finalizer, mails to the requester).
    const exportFinalizer =
      functions.get(EXPORT_CALLEES.exportFinalizer) ?? missing('export', EXPORT_CALLEES.exportFinalizer);
    this.exportDownload = new ExportDownload(this, 'export-download', {
      environment: config.name,
      finalizer: exportFinalizer,
      exportsBucket: this.exportsBucket,
      logs: { retentionDays: config.logRetentionDays },
    });
    new TerraformOutput(this, 'export_download_url', { value: this.exportDownload.url });
    new TerraformOutput(this, 'export_download_key_secret_arn', { value: this.exportDownload.signingKeyArn });
    this.exportWorkflow = new Workflow(this, 'export-workflow', {
      environment: config.name,
      name: 'export',
      definition: exportWorkflow({
        statusUpdaterFunctionArn: statusUpdater.functionArn,
        batchWorker: batchWorkerProps,
        exportFinalizerFunctionArn: exportFinalizer.functionArn,
        exportsBucket: this.exportsBucket.bucketName,
        mailQueueUrl: mailQueue.queueUrl,
      }),
      callees: { functions: [statusUpdater, exportFinalizer], tasks: [batchWorker], queues: [mailQueue] },
      accountId: config.accountId,
      region: config.region,
      logs: { retentionDays: config.logRetentionDays },
      alarms: { topicArn: config.alarmTopicArn },
    });
    new TerraformOutput(this, 'export_state_machine_arn', { value: this.exportWorkflow.stateMachineArn });
    this.exportRequests = new WorkflowQueue(this, 'export-requests-queue', {
      environment: config.name,
      name: EXPORT_CALLEES.requestQueue,
      workflow: this.exportWorkflow,
      accountId: config.accountId,
      region: config.region,
      logs: { retentionDays: config.logRetentionDays },
      alarms: { topicArn: config.alarmTopicArn },
    });
    new TerraformOutput(this, 'export_requests_queue_url', { value: this.exportRequests.queueUrl });
    new TerraformOutput(this, 'export_requests_dead_letter_queue_url', {
      value: this.exportRequests.deadLetterQueueUrl,
    });

    // Schedules, and the operator rules that fire them by hand through the bus.
    this.eventBus = new EventBus(this, 'event-bus', { environment: config.name });
    new TerraformOutput(this, 'event_bus_name', { value: this.eventBus.busName });
    this.scheduleGroup = new ScheduleGroup(this, 'schedule-group', {
      environment: config.name,
      alarmTopicArn: config.alarmTopicArn,
    });
    new TerraformOutput(this, 'schedule_group_name', { value: this.scheduleGroup.groupName });
    const scheduleQueues = new Map([[EXPORT_CALLEES.requestQueue, this.exportRequests]]);
    const schedules = new Map<string, Schedule>();
    const scheduleDefinitions =
      props.schedules ?? defineSchedules({ nightlyExportRecipient: config.mail.notifyAddress });
    for (const definition of scheduleDefinitions) {
      const field = `schedules.${definition.name}.target`;
      if (schedules.has(definition.name)) {
        throw new InfraConfigError(`schedules.${definition.name}.name`, 'two schedules share this name');
      }
      let target: ScheduleTarget;
      if (definition.target.kind === 'queue') {
        const queue = scheduleQueues.get(definition.target.queue);
        if (!queue) throw new InfraConfigError(field, `no schedulable queue "${definition.target.queue}"`);
        target = { queue };
      } else {
        const fn = functions.get(definition.target.service);
        if (!fn) throw new InfraConfigError(field, `no service "${definition.target.service}" in the stack`);
        target = { function: fn };
      }
      schedules.set(
        definition.name,
        new Schedule(this, `${definition.name}-schedule`, {
          environment: config.name,
          name: definition.name,
          description: definition.description,
          expression: definition.expression,
          timezone: definition.timezone,
          target,
          input: JSON.stringify(definition.input),
          retry: {
            maximumRetryAttempts: definition.retryPolicy.maximumRetryAttempts,
            maximumEventAgeSeconds: definition.retryPolicy.maximumEventAgeSeconds,
          },
          group: this.scheduleGroup,
          operator: { bus: this.eventBus, eventPattern: operatorEventPattern(definition.name) },
          accountId: config.accountId,
          region: config.region,
        }),
      );
    }
    this.schedules = schedules;
  }
}
