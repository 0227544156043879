import type { Database, Queryable } from '@sidestep/db/postgres';
import { SWEEP_MAIL_PENDING } from '@sidestep/jobs';

/** What one batch of {@link deleteFinishedJobs} deleted. */
export interface DeletedJobs {
  readonly jobs: number;
  readonly jobTransitions: number;
  readonly importRejectedRows: number;
  readonly exportProgress: number;
}

/** One bounded batch of a retention delete. */
export interface RetentionBatch {
  /** Rows last changed before this are past their retention. */
  readonly olderThan: Date;
  /** Jobs (or audit entries) deleted in the batch at most. */
  readonly limit: number;
}

/**
 * Deletes one batch of finished jobs (`succeeded` or `failed`, never `registered` or `running`)
 * that finished before `olderThan`, with everything that names them, in one transaction: their
 * transitions (`job_transitions` references the job without a cascade), their rejected rows and
 * export progress (deleted explicitly, to count them; the foreign keys would cascade), and any
 * staging left behind (`drop_import_staging`, which the job's delete would not reach: its tables).
 * A failed job whose failure mail the sweeper has not queued yet is kept until it has been, or
 * until the mail was refused for good (`sweep_mail_refused_at`): then it goes like any other.
 *
 * At most `limit` jobs, locked `FOR UPDATE SKIP LOCKED`: a job an operator is retrying right now,
 * or that another sweep is deleting, is left alone, so two sweeps at once delete each job once and
 * neither waits for the other; a batch holds its locks only as long as its own deletes. Idempotent:
 * a job deleted is not found again.
 *
 * Which column says when a job finished: `finished_at`, set by every `succeed` and `fail` of the
 * ledger; a row without one (written by hand) counts from its `updated_at`.
 */
/**
 * The `jobs_finished` index (migration 12): its predicate (`where`) and its key (`finishedAt`, when a
 * finished job finished). A statement naming both as written here reads a range of the index; one
 * written otherwise (`finished_at` alone, another list of states) reads the jobs table.
 */
export const JOBS_FINISHED_INDEX = {
  where: `state IN ('succeeded', 'failed')`,
  finishedAt: 'coalesce(finished_at, updated_at)',
} as const;

/** One batch of finished jobs past the retention, locked, found through {@link JOBS_FINISHED_INDEX}. */
export const FINISHED_JOBS_BATCH_SQL = `SELECT id FROM jobs
       WHERE ${JOBS_FINISHED_INDEX.where}
         AND ${JOBS_FINISHED_INDEX.finishedAt} < $1
         AND NOT (${SWEEP_MAIL_PENDING})
       LIMIT $2
       FOR UPDATE SKIP LOCKED`;

export async function deleteFinishedJobs(db: Database, batch: RetentionBatch): Promise<DeletedJobs> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(FINISHED_JOBS_BATCH_SQL, [batch.olderThan, batch.limit]);
    const ids = rows.map((row) => row.id);
    if (ids.length === 0) return { jobs: 0, jobTransitions: 0, importRejectedRows: 0, exportProgress: 0 };
    // A finished job's staging was dropped when it ended; one left behind goes with its job.
    await tx.query('SELECT drop_import_staging(id) FROM unnest($1::text[]) AS id', [ids]);
    const deleted = async (table: string) =>
      (await tx.query(`DELETE FROM ${table} WHERE job_id = ANY($1)`, [ids])).rowCount;
    const jobTransitions = await deleted('job_transitions');
    const importRejectedRows = await deleted('import_rejected_rows');
    const exportProgress = await deleted('export_progress');
    const jobs = (await tx.query('DELETE FROM jobs WHERE id = ANY($1)', [ids])).rowCount;
    return { jobs, jobTransitions, importRejectedRows, exportProgress };
  });
}

/**
 * Deletes one batch of the operators' audit entries (`operator_audit`) recorded before `olderThan`,
 * oldest first, at most `limit`: they name operators and the jobs, mails and addresses they acted on,
 * and are kept as long as the jobs are. Idempotent, and safe beside another sweep (`SKIP LOCKED`).
 */
export async function deleteAuditEntries(db: Queryable, batch: RetentionBatch): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM operator_audit WHERE id IN (
       SELECT id FROM operator_audit WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED
     )`,
    [batch.olderThan, batch.limit],
  );
  return rowCount;
}
