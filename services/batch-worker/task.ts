import { defineTask } from '@sidestep/manifest';

/**
 * The batch-worker's wiring: a Fargate task the import workflow runs with `ecs:runTask.sync`,
 * passing the job as container overrides. Infra builds the task definition from it; the local cloud
 * runs `dist/index.mjs` as a child process with the same environment.
 */
export const task = defineTask({
  name: 'batch-worker',
  description: 'Imports a users CSV from S3 into PostgreSQL in one streamed transaction',
  containerName: 'batch-worker',
  command: ['node', 'index.mjs'],
  // One vCPU: the import is one Node thread (parse + validate) feeding one PostgreSQL connection.
  cpu: 1024,
  memoryMb: 2048,
  timeoutSeconds: 3600,
  inputs: {
    MODE: '`import`: read SOURCE_* into users, counts on the job',
    JOB_ID: 'The job (from the status-updater) whose counts and errors the task writes',
    SOURCE_BUCKET: 'Bucket of the uploaded CSV',
    SOURCE_KEY: 'Key of the uploaded CSV',
    SOURCE_VERSION_ID:
      'Version of the object the job was registered for (empty when the bucket is unversioned)',
  },
  environment: {
    NODE_OPTIONS: '--enable-source-maps',
  },
  permissions: [
    { resource: 'imports-bucket', actions: ['s3:GetObject', 's3:GetObjectVersion'] },
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
  ],
});
