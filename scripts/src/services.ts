import { isMailLocale, MAIL_LOCALES, type MailLocale } from '@sidestep/contracts';
import type {
  LocalCloudOptions,
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
import { EXPORT_DOWNLOAD_FUNCTION } from '@sidestep/manifest';
import {
  type RegisteredService,
  registeredService,
  registeredTask,
  SERVICES,
  TASKS,
} from '@sidestep/registry';
import {
  type BatchWorkerProps,
  EXPORT_REQUESTS_QUEUE,
  executionStatusRule,
  exportWorkflow,
  InvalidWorkflowPropsError,
  importTrigger,
  importWorkflow,
  LOCAL_NOTIFY_ADDRESS,
  nextFireTimes,
  operatorEventPattern,
  SCHEDULES,
} from '@sidestep/workflows';

/** Who receives the import and export mails locally (they land in the outbox like every local mail). */
export { LOCAL_NOTIFY_ADDRESS };

/**
 * The language of the local import mails: `SIDESTEP_LOCAL_NOTIFY_LOCALE` (`en` or `ja`), as
 * `SIDESTEP_<ENV>_NOTIFY_LOCALE` sets a deployed environment's `notifyLocale`; read when the local
 * cloud builds its workflows. @default 'en'
 */
export function localNotifyLocale(
  env: Readonly<Record<string, string | undefined>> = process.env,
): MailLocale {
  const locale = env.SIDESTEP_LOCAL_NOTIFY_LOCALE || 'en';
  if (!isMailLocale(locale)) {
    throw new InvalidWorkflowPropsError(
      'SIDESTEP_LOCAL_NOTIFY_LOCALE',
      `must be ${MAIL_LOCALES.join(' or ')}, not ${JSON.stringify(locale)}`,
    );
  }
  return locale;
}

/**
 * The Secrets Manager secret download links are signed with, `sidestep-local-export-download-key`:
 * infra's ExportDownload secret, which the local cloud creates from the stack with a random key and
 * keeps in its state directory, so a link mailed before a restart still opens after it, for its 7
 * days, as the export it points at is kept; `--fresh` clears it with the exports. The finalizer and
 * the download endpoint read it as on AWS (GetSecretValue, AWSCURRENT and AWSPREVIOUS), as their roles.
 */
export const DOWNLOAD_SIGNING_KEY_SECRET = 'export-download-key';

const statusUpdater = registeredService('status-updater').manifest;
const finalizer = registeredService('export-finalizer');
const batchWorker = registeredTask('batch-worker').manifest;

/**
 * Variables infra sets beyond the manifests' (see `LocalService.environment`), by service name.
 * A name no registered service has fails at start-up.
 */
const LOCAL_ENVIRONMENT: Readonly<
  Record<string, (cloud: LocalServiceUrls) => Readonly<Record<string, string>>>
> = {
  [finalizer.manifest.name]: ({ functionUrl, secretArn }) => ({
    DOWNLOAD_BASE_URL: functionUrl(EXPORT_DOWNLOAD_FUNCTION),
    DOWNLOAD_SIGNING_KEY_SECRET_ARN: secretArn(DOWNLOAD_SIGNING_KEY_SECRET),
  }),
  [registeredService('job-sweeper').manifest.name]: () => ({ NOTIFY_ADDRESS: LOCAL_NOTIFY_ADDRESS }),
};

/** A service as the local cloud runs it: its manifest, its bundle and the variables infra sets. */
function localService(entry: RegisteredService): LocalService {
  const environment = LOCAL_ENVIRONMENT[entry.manifest.name];
  return { manifest: entry.manifest, bundleDir: entry.bundleDir, ...(environment ? { environment } : {}) };
}

/** Every service as `pnpm start` runs it, with the variables infra sets beyond the manifests. */
export const LOCAL_SERVICES: readonly LocalService[] = SERVICES.map(localService);

/** Function URLs: the export download endpoint, the finalizer's image with another CMD. */
export const FUNCTION_URLS: readonly LocalFunctionUrl[] = [
  {
    name: EXPORT_DOWNLOAD_FUNCTION,
    handler: 'index.downloadHandler',
    service: localService(finalizer),
  },
];

/** The export requests queue and the pipe starting the export workflow per message (as infra). */
export const PIPES: readonly LocalPipe[] = [
  {
    source: EXPORT_REQUESTS_QUEUE,
    workflow: 'export',
  },
];

/** The schedules, fired on the real clock; `npm run fire-schedule -- <name>` (`sidestep fire <name>`) fires one by hand. */
export const SCHEDULE_SETUP: LocalSchedules = {
  definitions: SCHEDULES,
  nextFireTimes,
  operatorEventPattern,
};

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
    clusterArn: resources.clusterArn(batchWorker.name),
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
        notifyLocale: localNotifyLocale(),
      }),
    triggers: [importUploads],
  },
  {
    name: 'export',
    definition: (resources) =>
      exportWorkflow({
        statusUpdaterFunctionArn: resources.functionArn(statusUpdater.name),
        batchWorker: batchWorkerTask(resources),
        exportFinalizerFunctionArn: resources.functionArn(finalizer.manifest.name),
        exportsBucket: exportsBucketName(resources.environment),
        mailQueueUrl: resources.queueUrl('mail'),
      }),
  },
];

/** What `pnpm start` runs: every service, task, workflow, pipe, function URL and schedule. */
export const LOCAL_CLOUD = {
  services: LOCAL_SERVICES,
  tasks: LOCAL_TASKS,
  workflows: WORKFLOWS,
  executionStatusRule,
  pipes: PIPES,
  schedules: SCHEDULE_SETUP,
  functionUrls: FUNCTION_URLS,
} as const satisfies Partial<LocalCloudOptions>;
