import { defineTask } from '@sidestep/manifest';

/**
 * The batch-worker's wiring: a Fargate task the import workflow runs with `ecs:runTask.sync`,
 * passing the job as container overrides. Infra builds the task definition from it; the local cloud
 * runs `dist/index.mjs` as a child process with the same environment.
 */
export const task = defineTask({
  name: 'batch-worker',
  description:
    'Imports a users CSV from S3 into PostgreSQL (resumable COPY staging, one merging transaction), exports users as gzip CSV parts to S3, or migrates the database',
  containerName: 'batch-worker',
  command: ['node', 'index.mjs'],
  // One vCPU: the import is one Node thread (a record scan) feeding one PostgreSQL connection, which
  // parses, validates and merges.
  cpu: 1024,
  memoryMb: 2048,
  timeoutSeconds: 3600,
  // All of a Fargate Spot interruption's two-minute warning between SIGTERM and SIGKILL, not
  // Fargate's default 30 s: on SIGTERM the worker stops reading, commits or keeps what it staged or
  // stored, records the interruption on the job and exits, so the rerun resumes from there.
  stopTimeoutSeconds: 120,
  inputs: {
    MODE: '`import`: read SOURCE_* into users, counts on the job; `export`: users into EXPORTS_BUCKET as gzip CSV parts; `migrate`: apply the pending database migrations (the deploy runs it before functions move; needs no other input)',
    JOB_ID: 'import, export: the job (from the status-updater) whose counts and errors the task writes',
    SOURCE_BUCKET: 'Bucket of the uploaded CSV',
    SOURCE_KEY: 'Key of the uploaded CSV',
    SOURCE_VERSION_ID:
      'Version of the object the job was registered for (empty when the bucket is unversioned)',
    SOURCE_ETAG:
      'ETag of the object the job was registered for (If-Match: an overwritten object fails the job instead of being imported); empty when unknown',
    EXPORTS_BUCKET:
      'export: bucket of exports/<JOB_ID>/ (the file as a multipart upload, the progress record and the worker manifest under parts/)',
    EXPORT_FILE_NAME:
      "export: the file's base name (the request's fileName): the parts go into the multipart upload of exports/<JOB_ID>/<EXPORT_FILE_NAME>.csv.gz, which the export-finalizer completes",
    EXPORT_FILTER:
      'export: JSON ExportFilter ({ updatedSince?, emailDomain? }); unset, empty, null or {} is everyone',
    EXPORT_BYTE_ORDER_MARK:
      'export: `true` (the default when unset) starts the CSV with a UTF-8 byte order mark (Excel), `false` does not',
  },
  environment: {
    // A young generation of 1 MiB semi-spaces instead of V8's 16: the tasks stream short-lived
    // buffers (S3's body pieces, COPY's messages) that live outside V8's heap and go only when a GC
    // finds them dead, and the task's JavaScript makes little garbage of its own to bring GCs on, so
    // the nursery's size sets how many wait (bench/RESULTS.md). Measured at 1M rows, 3 runs each
    // (2026-12-06): the import's peak RSS 90-91 MiB against 96-101 MiB with 2 MiB, the export's
    // 97-102 MiB against 104-107 MiB, their CPU time the same; V8's 16 MiB took the import's from
    // ~121 to ~132 MiB (2026-12-04).
    // No --enable-source-maps: the bundle maps its own stack traces when one is first formatted.
    NODE_OPTIONS: '--max-semi-space-size=1',
  },
  permissions: [
    // s3:GetObjectVersion reads the upload's registered version; s3:ListBucket makes a version that is
    // gone (expired, deleted) NoSuchVersion rather than 403, so the job can say the upload is gone
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html "Permissions").
    { resource: 'imports-bucket', actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket'] },
    // The parts go into the file's multipart upload: s3:PutObject covers CreateMultipartUpload and
    // UploadPart; a retried task checks the upload's parts (ListParts: s3:ListMultipartUploadParts)
    // and aborts an upload it cannot resume (s3:AbortMultipartUpload)
    // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
    // The progress record and the worker manifest are one PutObject each, tagged
    // `sidestep-export=part` so the bucket's lifecycle expires them early (tagging needs its action).
    // s3:GetObject reads the progress record a retried task resumes from, and s3:ListBucket makes its
    // absence (every first attempt) a 404 rather than a 403
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html "Permissions").
    {
      resource: 'exports-bucket',
      actions: [
        's3:PutObject',
        's3:PutObjectTagging',
        's3:GetObject',
        's3:ListBucket',
        's3:ListMultipartUploadParts',
        's3:AbortMultipartUpload',
      ],
    },
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
  ],
});
