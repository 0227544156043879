import { task as batchWorker } from '@sidestep/batch-worker/task';
import { service as exportFinalizer } from '@sidestep/export-finalizer/service';
import { service as jobSweeper } from '@sidestep/job-sweeper/service';
import { service as mailDispatcher } from '@sidestep/mail-dispatcher/service';
import type { ServiceManifest, TaskManifest } from '@sidestep/manifest';
import { service as statusUpdater } from '@sidestep/status-updater/service';

/**
 * Every deployed service's manifest. Adding a service is one line here (plus its workspace dependency
 * in infra/package.json): the stack derives its repository, function, queue and IAM from the manifest.
 */
export const SERVICES: readonly ServiceManifest[] = [
  mailDispatcher,
  statusUpdater,
  exportFinalizer,
  jobSweeper,
];

/**
 * Every deployed Fargate task's manifest. Adding a task is one line here (plus its workspace
 * dependency): the stack derives its repository, cluster, task definition and roles from the manifest.
 */
export const TASKS: readonly TaskManifest[] = [batchWorker];
