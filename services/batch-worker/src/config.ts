import { readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const NonEmpty = z.string().check(z.minLength(1));

/**
 * The task's environment: the workflow's container overrides (MODE, JOB_ID, SOURCE_*), the task
 * definition's static variables, and the database (DATABASE_URL / DATABASE_SECRET_ARN, read by
 * `resolveDatabaseUrl`). `AWS_ENDPOINT_URL` and `AWS_REGION` are read by the AWS SDK itself.
 */
const BatchWorkerEnvironment = z.object({
  /** What the task does; only `import` exists so far. */
  MODE: z.enum(['import']),
  JOB_ID: NonEmpty,
  SOURCE_BUCKET: NonEmpty,
  SOURCE_KEY: NonEmpty,
  /** The object version the job was registered for; empty or unset for an unversioned bucket. */
  SOURCE_VERSION_ID: z.optional(z.string()),
  /** Rejected rows tolerated before the import fails. */
  MAX_REJECTED_ROWS: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 1000),
  /** Seconds between progress log lines. */
  PROGRESS_INTERVAL_SECONDS: z._default(z.coerce.number().check(z.positive()), 10),
  /** `true` for S3 emulators (the local cloud sets it), which serve buckets as paths. */
  AWS_S3_FORCE_PATH_STYLE: z.optional(z.enum(['true', 'false'])),
});

/** The batch-worker's validated configuration. */
export interface BatchWorkerConfig {
  readonly mode: 'import';
  readonly jobId: string;
  readonly source: { readonly bucket: string; readonly key: string; readonly versionId: string | undefined };
  readonly maxRejectedRows: number;
  readonly progressIntervalMs: number;
  readonly s3ForcePathStyle: boolean;
}

/**
 * Reads the environment once, at start; a missing or bad variable fails with its name
 * (`ConfigError`, field = the variable).
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): BatchWorkerConfig {
  const config = readConfig(BatchWorkerEnvironment, env);
  return {
    mode: config.MODE,
    jobId: config.JOB_ID,
    source: {
      bucket: config.SOURCE_BUCKET,
      key: config.SOURCE_KEY,
      versionId: config.SOURCE_VERSION_ID === '' ? undefined : config.SOURCE_VERSION_ID,
    },
    maxRejectedRows: config.MAX_REJECTED_ROWS,
    progressIntervalMs: config.PROGRESS_INTERVAL_SECONDS * 1000,
    s3ForcePathStyle: config.AWS_S3_FORCE_PATH_STYLE === 'true',
  };
}
