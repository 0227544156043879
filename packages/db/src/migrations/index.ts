import type { Migration } from '../migration.ts';
import { idempotencyRecords } from './0001-idempotency-records.ts';
import { jobs } from './0002-jobs.ts';
import { exportJobs } from './0003-export-jobs.ts';
import { operatorActions } from './0004-operator-actions.ts';
import { importStaging } from './0005-import-staging.ts';
import { jobsExecutionIndex } from './0006-jobs-execution-index.ts';
import { importStagingSegments } from './0007-import-staging-segments.ts';
import { importStagingTrimMarks } from './0008-import-staging-trim-marks.ts';
import { importRejectedRows } from './0009-import-rejected-rows.ts';
import { exportProgress } from './0010-export-progress.ts';
import { jobsUsersWritten } from './0011-jobs-users-written.ts';
import { jobsFinishedIndex } from './0012-jobs-finished-index.ts';
import { operatorAuditRequestId } from './0013-operator-audit-request-id.ts';
import { mailReleases } from './0014-mail-releases.ts';
import { jobsSweepMailRefused } from './0015-jobs-sweep-mail-refused.ts';
import { jobsLocale } from './0016-jobs-locale.ts';
import { jobsCreatedIndex } from './0017-jobs-created-index.ts';
import { jobsStateCreatedIndex } from './0018-jobs-state-created-index.ts';
import { idempotencyRecordsKeyHashIndex } from './0019-idempotency-records-key-hash-index.ts';
import { jobsUsersWrittenBackfill } from './0020-jobs-users-written-backfill.ts';
import { dropImportStagingRegistryFirst } from './0021-drop-import-staging-registry-first.ts';
import { jobsWorkerErrorPermanent } from './0022-jobs-worker-error-permanent.ts';
import { jobsDownloadExpiresAt } from './0023-jobs-download-expires-at.ts';
import { workflowExecutionEnds } from './0024-workflow-execution-ends.ts';

/**
 * Every migration, in version order. Migrations are TypeScript modules rather than .sql files so that
 * they are bundled into the Lambda and Fargate images: nothing reads the file system at run time.
 *
 * To change the schema, add `NNNN-<what>.ts` exporting a {@link Migration} with the next version and
 * append it here. Never edit a migration that may have run somewhere: `migrate` refuses a database
 * whose applied migration's name or SQL differs from the code. The one exception is a rewrite that
 * makes the same schema and data with fewer locks, which lists the SQL it replaces in
 * `formerChecksums` (6 and 11).
 */
export const migrations: readonly Migration[] = [
  idempotencyRecords,
  jobs,
  exportJobs,
  operatorActions,
  importStaging,
  jobsExecutionIndex,
  importStagingSegments,
  importStagingTrimMarks,
  importRejectedRows,
  exportProgress,
  jobsUsersWritten,
  jobsFinishedIndex,
  operatorAuditRequestId,
  mailReleases,
  jobsSweepMailRefused,
  jobsLocale,
  jobsCreatedIndex,
  jobsStateCreatedIndex,
  idempotencyRecordsKeyHashIndex,
  jobsUsersWrittenBackfill,
  dropImportStagingRegistryFirst,
  jobsWorkerErrorPermanent,
  jobsDownloadExpiresAt,
  workflowExecutionEnds,
];
