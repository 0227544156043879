import type pg from 'pg';
import { JobNotRunnableError } from '../errors.ts';

/**
 * Throws {@link JobNotRunnableError} unless job `jobId` exists, is of `kind` and is running: the
 * import and the export write nothing for a job that is missing, of the other kind, or no longer running.
 */
export async function checkRunningJob(
  client: pg.Client,
  jobId: string,
  kind: 'import' | 'export',
): Promise<void> {
  const { rows } = await client.query<{ kind: string; state: string }>(
    'SELECT kind, state FROM jobs WHERE id = $1',
    [jobId],
  );
  const job = rows[0];
  if (!job) throw new JobNotRunnableError(jobId, 'no such job', undefined);
  if (job.kind !== kind) {
    throw new JobNotRunnableError(jobId, `is an ${job.kind} job, not an ${kind}`, job.state);
  }
  if (job.state !== 'running') {
    throw new JobNotRunnableError(jobId, `is ${job.state}, an ${kind} runs only on a running job`, job.state);
  }
}
