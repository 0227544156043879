import { task as batchWorker } from '@sidestep/batch-worker/task';
import type { LocalWorkflow } from '@sidestep/local-cloud';
import { service as mailDispatcher } from '@sidestep/mail-dispatcher/service';
import type { ServiceManifest, TaskManifest } from '@sidestep/manifest';
import { service as statusUpdater } from '@sidestep/status-updater/service';
import { importTrigger, importWorkflow } from '@sidestep/workflows';

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
}

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
];

/** Every Fargate task of the repository. */
export const TASKS: readonly TaskEntry[] = [
  {
    manifest: batchWorker,
    packageName: '@sidestep/batch-worker',
    packageDir: 'services/batch-worker',
    bundleDir: 'services/batch-worker/dist',
  },
];

/** Who receives the import mails locally (they land in the outbox like every local mail). */
export const LOCAL_NOTIFY_ADDRESS = 'ops@local.mail.example.com';

const importUploads = importTrigger('local');

/** How a person starts each workflow from another terminal (printed by `pnpm start`). */
export const UPLOAD_EXAMPLES: readonly string[] = [
  `aws s3 cp users.csv s3://${importUploads.bucketName}/${importUploads.keyPrefix}users.csv   # import (external_id,email[,name,...])`,
];

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
        batchWorker: {
          clusterArn: resources.clusterArn,
          taskDefinitionArn: resources.taskDefinitionArn(batchWorker.name),
          containerName: batchWorker.containerName,
          subnetIds: resources.subnetIds,
          securityGroupIds: resources.securityGroupIds,
          timeoutSeconds: batchWorker.timeoutSeconds,
        },
        mailQueueUrl: resources.queueUrl('mail'),
        notifyAddress: LOCAL_NOTIFY_ADDRESS,
      }),
    triggers: [importUploads],
  },
];
