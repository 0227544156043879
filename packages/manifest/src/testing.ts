/**
 * Sample manifests for tests of the code that reads manifests (this package, the local cloud):
 * one definition each, so a test varies the field it is about (`{ ...sampleService, memoryMb: 64 }`)
 * instead of carrying its own copy. A package cannot import a service's `service.ts`; these are
 * shaped like the mail-dispatcher (a queue-fed function) and the batch-worker (a Fargate task).
 *
 * @example
 * ```ts
 * import { sampleService } from '@sidestep/manifest/testing';
 *
 * expect(visibilityTimeoutSeconds(sampleService)).toBe(180);
 * ```
 */
import { defineService, defineTask, type ServiceManifest, type TaskManifest } from './index.ts';

/** What a queue-fed function's `service.ts` passes to `defineService`. */
export const sampleServiceInput: ServiceManifest = {
  name: 'mail-dispatcher',
  description: 'test',
  handler: 'index.handler',
  memoryMb: 512,
  timeoutSeconds: 30,
  queue: {
    name: 'mail',
    jobTypes: ['mail.send'],
    batchSize: 10,
    maximumBatchingWindowSeconds: 1,
    maximumConcurrency: 5,
    maxReceiveCount: 5,
  },
  permissions: [
    { resource: 'mail-identity', actions: ['ses:SendEmail'] },
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
  ],
  environment: { TEMPLATE_LOCALE: 'en' },
};

/** The sample function's manifest: `defineService(sampleServiceInput)`. */
export const sampleService: ServiceManifest = defineService(sampleServiceInput);

/** What a Fargate task's `service.ts` passes to `defineTask`. */
export const sampleTaskInput: TaskManifest = {
  name: 'batch-worker',
  description: 'test',
  command: ['node', 'index.mjs'],
  cpu: 1024,
  memoryMb: 2048,
  containerName: 'batch-worker',
  inputs: { MODE: 'import or export' },
  permissions: [
    { resource: 'imports-bucket', actions: ['s3:GetObject'] },
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
  ],
  environment: { PROGRESS_EVERY_ROWS: '100000' },
  timeoutSeconds: 3600,
};

/** The sample task's manifest: `defineTask(sampleTaskInput)`. */
export const sampleTask: TaskManifest = defineTask(sampleTaskInput);
