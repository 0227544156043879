import type pg from 'pg';
import { JobFailedPermanentlyError, JobNotRunnableError } from '../errors.ts';

/** What {@link assertRunnable} reads of a job's row. */
export interface RunnableCheck {
  readonly kind: string;
  readonly state: string;
  readonly worker_error: string | null;
  /** `jobs.worker_error_permanent` (db migration 22). */
  readonly worker_error_permanent: boolean | null;
}

/**
 * @throws {JobNotRunnableError} unless `job` (job `jobId`'s row, if any) is a running job of `kind`.
 * @throws {JobFailedPermanentlyError} when another task of the job's attempt recorded a permanent
 * failure (`worker_error_permanent`): what it recorded stands, and the job fails with it.
 */
export function assertRunnable(
  jobId: string,
  job: RunnableCheck | undefined,
  kind: 'import' | 'export',
): asserts job {
  if (!job) throw new JobNotRunnableError(jobId, 'no such job', undefined);
  if (job.kind !== kind) {
    throw new JobNotRunnableError(jobId, `is an ${job.kind} job, not an ${kind}`, job.state);
  }
  if (job.state !== 'running') {
    throw new JobNotRunnableError(jobId, `is ${job.state}, an ${kind} runs only on a running job`, job.state);
  }
  if (job.worker_error_permanent === true) throw new JobFailedPermanentlyError(jobId, job.worker_error ?? '');
}

/**
 * As a task of a running job starts: clears what an earlier task of the job recorded as it failed
 * (`worker_error`, and an import's rejected-row counts). The job's failure step prefers the worker's
 * own reason to the error it caught, so a rerun that dies without recording one (killed for memory,
 * timed out, its task stopped) would otherwise fail the job with the reason of the task before it,
 * such as "interrupted by SIGTERM; the staged records are kept for the retry" when the failure
 * then drops them. A task that fails records its own again. A permanent failure is never cleared
 * ({@link assertRunnable}).
 */
export async function clearEarlierFailure(client: pg.Client, jobId: string): Promise<void> {
  await client.query(
    `UPDATE jobs SET worker_error = NULL, rows_rejected = NULL, row_errors = NULL, updated_at = now()
     WHERE id = $1 AND state = 'running' AND worker_error_permanent IS NOT TRUE`,
    [jobId],
  );
}

/**
 * Throws {@link JobNotRunnableError} unless job `jobId` exists, is of `kind` and is running: the
 * import and the export write nothing for a job that is missing, of the other kind, or no longer
 * running, nor for one another task failed permanently ({@link assertRunnable}). Then
 * clears an earlier task's failure ({@link clearEarlierFailure}).
 */
export async function checkRunningJob(
  client: pg.Client,
  jobId: string,
  kind: 'import' | 'export',
): Promise<void> {
  const { rows } = await client.query<RunnableCheck>(
    'SELECT kind, state, worker_error, worker_error_permanent FROM jobs WHERE id = $1',
    [jobId],
  );
  const job = rows[0];
  assertRunnable(jobId, job, kind);
  if (job.worker_error != null) await clearEarlierFailure(client, jobId);
}
