import { ExportFileName, ExportFilter } from '@sidestep/contracts';
import { ConfigError, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const NonEmpty = z.string().check(z.minLength(1));

/**
 * The merge's `work_mem` unless configured (`IMPORT_MERGE_WORK_MEM`; also the import store's default):
 * 1M staged rows of the benchmark's file sort in memory (170 MB by EXPLAIN ANALYZE, PostgreSQL 15,
 * 2026-12-04) where 64MB spilled 116 MB to disk; the MERGE then took 3.1-3.2 s against 3.5-3.7 s.
 * Larger files spill either way, in fewer runs. Here, not in the store, so that the export and
 * migrate modes, which read this module, do not load the import's store with it.
 */
export const DEFAULT_MERGE_WORK_MEM = '256MB';

/** What every mode that works for a job reads. */
const CommonEnvironment = {
  JOB_ID: NonEmpty,
  /** Seconds between progress log lines. */
  PROGRESS_INTERVAL_SECONDS: z._default(z.coerce.number().check(z.positive()), 10),
  /** `true` for S3 emulators (the local cloud sets it), which serve buckets as paths. */
  AWS_S3_FORCE_PATH_STYLE: z.optional(z.enum(['true', 'false'])),
};

/**
 * The task's environment in `import` mode: the workflow's container overrides (MODE, JOB_ID,
 * SOURCE_*), the task definition's static variables, and the database (DATABASE_URL /
 * DATABASE_SECRET_ARN, read by `resolveDatabaseUrl`). `AWS_ENDPOINT_URL` and `AWS_REGION` are read
 * by the AWS SDK itself.
 */
const ImportEnvironment = z.object({
  MODE: z.literal('import'),
  ...CommonEnvironment,
  SOURCE_BUCKET: NonEmpty,
  SOURCE_KEY: NonEmpty,
  /** The object version the job was registered for; empty or unset for an unversioned bucket. */
  SOURCE_VERSION_ID: z.optional(z.string()),
  /** The ETag the job was registered for (`If-Match`); empty or unset when the version pins it or none is known. */
  SOURCE_ETAG: z.optional(z.string()),
  /** Bytes of the file per committed staging segment (what a killed task may have to read again). */
  IMPORT_SEGMENT_BYTES: z.optional(z.coerce.number().check(z.int(), z.positive())),
  /** Rejected rows tolerated before the import fails. */
  MAX_REJECTED_ROWS: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 1000),
  /**
   * PostgreSQL's `work_mem` for the merge's transaction (`128MB`, `1GB`): the memory its sort of the
   * staged rows by id may take before it spills to disk.
   */
  IMPORT_MERGE_WORK_MEM: z._default(
    z.string().check(z.regex(/^[1-9][0-9]*(kB|MB|GB)$/)),
    DEFAULT_MERGE_WORK_MEM,
  ),
});

/** The task's environment in `export` mode (the export workflow's container overrides). */
const ExportEnvironment = z.object({
  MODE: z.literal('export'),
  ...CommonEnvironment,
  EXPORTS_BUCKET: NonEmpty,
  /**
   * The file's base name (the request's `fileName`, the contract's rule): the worker uploads the
   * parts into the multipart upload of `exports/<JOB_ID>/<EXPORT_FILE_NAME>.csv.gz`.
   */
  EXPORT_FILE_NAME: ExportFileName,
  /** JSON `ExportFilter`; unset, empty, `null` or `{}` selects everyone. */
  EXPORT_FILTER: z.optional(z.string()),
  /** `true` or `false`; unset is `true` (the request's default). */
  EXPORT_BYTE_ORDER_MARK: z._default(z.enum(['true', 'false']), 'true'),
  /** Compressed bytes per part; tests and benchmarks lower it to cross part boundaries. */
  EXPORT_PART_BYTES: z.optional(z.coerce.number().check(z.int(), z.minimum(1))),
});

/**
 * The task's environment in `migrate` mode: the deploy's one-off task (container override
 * `MODE=migrate`) serves no job, so it needs no JOB_ID and no S3 inputs; only the database
 * (DATABASE_URL / DATABASE_SECRET_ARN) and the task definition's static variables.
 */
const MigrateEnvironment = z.object({ MODE: z.literal('migrate') });

/** The batch-worker's validated configuration in `import` mode. */
export interface BatchWorkerConfig {
  readonly mode: 'import';
  readonly jobId: string;
  readonly source: {
    readonly bucket: string;
    readonly key: string;
    readonly versionId: string | undefined;
    readonly etag: string | undefined;
  };
  readonly maxRejectedRows: number;
  /** `undefined`: the import's default. */
  readonly segmentBytes: number | undefined;
  /** PostgreSQL's `work_mem` for the merge (`IMPORT_MERGE_WORK_MEM`). */
  readonly mergeWorkMem: string;
  readonly progressIntervalMs: number;
  readonly s3ForcePathStyle: boolean;
}

/** The batch-worker's validated configuration in `export` mode. */
export interface ExportConfig {
  readonly mode: 'export';
  readonly jobId: string;
  readonly exportsBucket: string;
  /** The file's base name (`EXPORT_FILE_NAME`). */
  readonly fileName: string;
  /** `undefined`: everyone. */
  readonly filter: ExportFilter | undefined;
  /** Start the CSV with the UTF-8 byte order mark. */
  readonly byteOrderMark: boolean;
  /** Compressed bytes per part (`EXPORT_PART_BYTES`); unset is the worker's default. */
  readonly partBytes?: number;
  readonly progressIntervalMs: number;
  readonly s3ForcePathStyle: boolean;
}

/**
 * Reads the `import` mode's environment once, at start; a missing or bad variable fails with its
 * name (`ConfigError`, field = the variable).
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): BatchWorkerConfig {
  const config = readConfig(ImportEnvironment, env);
  return {
    mode: config.MODE,
    jobId: config.JOB_ID,
    source: {
      bucket: config.SOURCE_BUCKET,
      key: config.SOURCE_KEY,
      versionId: config.SOURCE_VERSION_ID === '' ? undefined : config.SOURCE_VERSION_ID,
      etag: config.SOURCE_ETAG === '' ? undefined : config.SOURCE_ETAG,
    },
    maxRejectedRows: config.MAX_REJECTED_ROWS,
    segmentBytes: config.IMPORT_SEGMENT_BYTES,
    mergeWorkMem: config.IMPORT_MERGE_WORK_MEM,
    progressIntervalMs: config.PROGRESS_INTERVAL_SECONDS * 1000,
    s3ForcePathStyle: config.AWS_S3_FORCE_PATH_STYLE === 'true',
  };
}

/**
 * Reads the `export` mode's environment once, at start; a missing or bad variable fails with its
 * name (`ConfigError`, field = the variable; `EXPORT_FILTER` for a bad filter).
 */
export function loadExportConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ExportConfig {
  const config = readConfig(ExportEnvironment, env);
  return {
    mode: 'export',
    jobId: config.JOB_ID,
    exportsBucket: config.EXPORTS_BUCKET,
    fileName: config.EXPORT_FILE_NAME,
    filter: parseExportFilter(config.EXPORT_FILTER),
    byteOrderMark: config.EXPORT_BYTE_ORDER_MARK === 'true',
    ...(config.EXPORT_PART_BYTES === undefined ? {} : { partBytes: config.EXPORT_PART_BYTES }),
    progressIntervalMs: config.PROGRESS_INTERVAL_SECONDS * 1000,
    s3ForcePathStyle: config.AWS_S3_FORCE_PATH_STYLE === 'true',
  };
}

/**
 * `EXPORT_FILTER` as an `ExportFilter` (the `export.requested` contract's), or `undefined` for
 * everyone. Step Functions hands absent JSON over as `null` or an empty string, so both mean "no
 * filter", as does `{}`.
 *
 * @throws {ConfigError} naming `EXPORT_FILTER` for JSON that does not parse or does not match.
 */
function parseExportFilter(raw: string | undefined): ExportFilter | undefined {
  if (raw === undefined || raw.trim() === '' || raw.trim() === 'null') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(
      'EXPORT_FILTER',
      `invalid configuration: EXPORT_FILTER is not JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const result = z.safeParse(ExportFilter, json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) =>
      [['EXPORT_FILTER', ...issue.path.map(String)].join('.'), issue.message].join(' is invalid: '),
    );
    throw new ConfigError('EXPORT_FILTER', `invalid configuration: ${problems.join('; ')}`, {
      cause: result.error,
    });
  }
  return Object.keys(result.data).length === 0 ? undefined : result.data;
}

/** The batch-worker's validated configuration in `migrate` mode. */
export interface MigrateConfig {
  readonly mode: 'migrate';
  readonly jobId: undefined;
  readonly progressIntervalMs: number;
  readonly s3ForcePathStyle: boolean;
}

/**
 * Reads the `migrate` mode's environment (`MODE=migrate`; the database variables are read by
 * `resolveDatabaseUrl`). Import and export inputs, when present, are ignored.
 */
export function loadMigrateConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): MigrateConfig {
  readConfig(MigrateEnvironment, env);
  return { mode: 'migrate', jobId: undefined, progressIntervalMs: 0, s3ForcePathStyle: false };
}
