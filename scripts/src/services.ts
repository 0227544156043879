import { randomBytes } from 'node:crypto';
import { task as batchWorker } from '@sidestep/batch-worker/task';
import { service as exportFinalizer } from '@sidestep/export-finalizer/service';
import { service as jobSweeper } from '@sidestep/job-sweeper/service';
import type {
  LocalFunctionUrl,
  LocalPipe,
  LocalSchedules,
  LocalService,
  LocalServiceUrls,
  LocalTask,
  LocalWorkflow,
  LocalWorkflowResources,
} from '@sidestep/local-cloud';
import { exportsBucketName } from '@sidestep/local-cloud';
import { service as mailDispatcher } from '@sidestep/mail-dispatcher/service';
import type { ServiceManifest, TaskManifest } from '@sidestep/manifest';
import { service as statusUpdater } from '@sidestep/status-updater/service';
import {
  type BatchWorkerProps,
  exportWorkflow,
  importTrigger,
  importWorkflow,
  LOCAL_NOTIFY_ADDRESS,
  nextFireTimes,
  operatorEventPattern,
  SCHEDULES,
} from '@sidestep/workflows';

/** Where a package's built bundle lives: what its `build` script writes and its image copies. */
export interface BuiltPackage {
  /** The package name, for `pnpm --filter <name> run build`. */
  readonly packageName: string;
  /** The package directory, relative to the repository root. */
  readonly packageDir: string;
  /** The bundle directory (the image's /var/task or WORKDIR), relative to the repository root. */
  readonly bundleDir: string;
}

/** A service the local cloud runs: its manifest and where its package and built bundle live. */
export interface ServiceEntry extends BuiltPackage {
  readonly manifest: ServiceManifest;
  /** Variables infra sets beyond the manifest's (see `LocalService.environment`). */
  readonly environment?: (cloud: LocalServiceUrls) => Readonly<Record<string, string>>;
}

/** Who receives the import and export mails locally (they land in the outbox like every local mail). */
export { LOCAL_NOTIFY_ADDRESS };

/** The function URL the `export.ready` mail links to (`index.downloadHandler` of the finalizer's image). */
export const EXPORT_DOWNLOAD_FUNCTION = 'export-download';

/**
 * The HMAC key download links are signed with locally: one per process, so links from an earlier
 * `pnpm start` stop working (on AWS the key is a Secrets Manager secret).
 */
const DOWNLOAD_SIGNING_KEY = randomBytes(32).toString('hex');

/** A Fargate task the local cloud runs as a child process when a workflow asks for it. */
export interface TaskEntry extends BuiltPackage {
  readonly manifest: TaskManifest;
}

/** Every service of the repository. Adding a service is one entry here. */
export const SERVICES: readonly ServiceEntry[] = [
  {
    manifest: mailDispatcher,
    packageName: '@sidestep/mail-dispatcher',
    packageDir: 'services/mail-dispatcher',
    bundleDir: 'services/mail-dispatcher/dist',
  },
  {
    manifest: statusUpdater,
    packageName: '@sidestep/status-updater',
    packageDir: 'services/status-updater',
    bundleDir: 'services/status-updater/dist',
  },
  {
    manifest: exportFinalizer,
    packageName: '@sidestep/export-finalizer',
    packageDir: 'services/export-finalizer',
    bundleDir: 'services/export-finalizer/dist',
    environment: ({ functionUrl }) => ({
      DOWNLOAD_BASE_URL: functionUrl(EXPORT_DOWNLOAD_FUNCTION),
      DOWNLOAD_SIGNING_KEY,
    }),
  },
  {
    manifest: jobSweeper,
    packageName: '@sidestep/job-sweeper',
    packageDir: 'services/job-sweeper',
    bundleDir: 'services/job-sweeper/dist',
    environment: () => ({ NOTIFY_ADDRESS: LOCAL_NOTIFY_ADDRESS }),
  },
];

const finalizerEntry = SERVICES.find((entry) => entry.manifest.name === exportFinalizer.name) as ServiceEntry;

/** A service as the local cloud runs it: its manifest, its bundle and the variables infra sets. */
function localService(entry: ServiceEntry): LocalService {
  return {
    manifest: entry.manifest,
    bundleDir: entry.bundleDir,
    ...(entry.environment ? { environment: entry.environment } : {}),
  };
}

/** Every service as `pnpm start` runs it, with the variables infra sets beyond the manifests. */
export const LOCAL_SERVICES: readonly LocalService[] = SERVICES.map(localService);

/** Function URLs: the export download endpoint, the finalizer's image with another CMD. */
export const FUNCTION_URLS: readonly LocalFunctionUrl[] = [
  {
    name: EXPORT_DOWNLOAD_FUNCTION,
    handler: 'index.downloadHandler',
    service: localService(finalizerEntry),
  },
];

/** The export requests queue and the pipe starting the export workflow per message (as infra). */
export const PIPES: readonly LocalPipe[] = [
  {
    source: { name: 'export-requests', visibilityTimeoutSeconds: 60, maxReceiveCount: 5 },
    workflow: 'export',
  },
];

/** The schedules, fired on the real clock; `npm run fire-schedule -- <name>` fires one by hand. */
export const SCHEDULE_SETUP: LocalSchedules = {
  definitions: SCHEDULES,
  nextFireTimes,
  operatorEventPattern,
};

/** Every Fargate task of the repository. */
export const TASKS: readonly TaskEntry[] = [
  {
    manifest: batchWorker,
    packageName: '@sidestep/batch-worker',
    packageDir: 'services/batch-worker',
    bundleDir: 'services/batch-worker/dist',
  },
];

/** Every Fargate task as `pnpm start` runs it. */
export const LOCAL_TASKS: readonly LocalTask[] = TASKS.map((entry) => ({
  manifest: entry.manifest,
  bundleDir: entry.bundleDir,
}));

const importUploads = importTrigger('local');

/** How a person starts each workflow from another terminal (printed by `pnpm start`). */
export const UPLOAD_EXAMPLES: readonly string[] = [
  `aws s3 cp users.csv s3://${importUploads.bucketName}/${importUploads.keyPrefix}users.csv   # import (external_id,email[,name,...])`,
];

/** How a person requests an export from another terminal (printed by `npm start`, with the schedules' commands). */
export const COMMAND_EXAMPLES: readonly string[] = [
  `aws sqs send-message --queue-url "$EXPORT_REQUESTS_QUEUE_URL" --message-body '{"type":"export.requested","version":1,"id":"req-1","payload":{"requestedBy":"${LOCAL_NOTIFY_ADDRESS}"}}'`,
];

/** The batch-worker task as both workflows run it, in the local cloud's cluster and network. */
function batchWorkerTask(resources: LocalWorkflowResources): BatchWorkerProps {
  return {
    clusterArn: resources.clusterArn,
    taskDefinitionArn: resources.taskDefinitionArn(batchWorker.name),
    containerName: batchWorker.containerName,
    subnetIds: resources.subnetIds,
    securityGroupIds: resources.securityGroupIds,
    timeoutSeconds: batchWorker.timeoutSeconds,
  };
}

/**
 * Every workflow, built by the same functions infra deploys them with; only the ARNs and URLs are
 * the local cloud's instead of Terraform's.
 */
export const WORKFLOWS: readonly LocalWorkflow[] = [
  {
    name: 'import',
    definition: (resources) =>
      importWorkflow({
        statusUpdaterFunctionArn: resources.functionArn(statusUpdater.name),
        batchWorker: batchWorkerTask(resources),
        mailQueueUrl: resources.queueUrl('mail'),
        notifyAddress: LOCAL_NOTIFY_ADDRESS,
      }),
    triggers: [importUploads],
  },
  {
    name: 'export',
    definition: (resources) =>
      exportWorkflow({
        statusUpdaterFunctionArn: resources.functionArn(statusUpdater.name),
        batchWorker: batchWorkerTask(resources),
        exportFinalizerFunctionArn: resources.functionArn(exportFinalizer.name),
        exportsBucket: exportsBucketName(resources.environment),
        mailQueueUrl: resources.queueUrl('mail'),
      }),
  },
];
