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
 * The `jobs_finished` index (migration 12): its predicate (`where`) and its key (`finishedAt`, when a
 * finished job finished). A statement naming both as written here reads a range of the index; one
 * written otherwise (`finished_at` alone, another list of states) reads the jobs table.
 */
export const JOBS_FINISHED_INDEX = {
  where: `state IN ('succeeded', 'failed')`,
  finishedAt: 'coalesce(finished_at, updated_at)',
} as const;

/**
 * A job the retention deletes: finished before `cutoff` (a parameter's placeholder), and not a failed
 * job whose failure mail is still to be queued.
 */
const pastRetention = (cutoff: string) => `${JOBS_FINISHED_INDEX.where}
         AND ${JOBS_FINISHED_INDEX.finishedAt} < ${cutoff}
         AND NOT (${SWEEP_MAIL_PENDING})`;

/**
 * One batch of finished jobs past the retention, locked, found through {@link JOBS_FINISHED_INDEX}:
 * those without a staging ({@link dropLeftoverStagings} drops theirs first).
 */
export const FINISHED_JOBS_BATCH_SQL = `SELECT id FROM jobs
       WHERE ${pastRetention('$1')}
         AND NOT EXISTS (SELECT FROM import_stagings WHERE import_stagings.job_id = jobs.id)
       LIMIT $2
       FOR UPDATE SKIP LOCKED`;

/**
 * Deletes one batch of finished jobs (`succeeded` or `failed`, never `registered` or `running`)
 * that finished before `olderThan`, with everything that names them, in one transaction: their
 * transitions (`job_transitions` references the job without a cascade), their rejected rows and
 * export progress (deleted explicitly, to count them; the foreign keys would cascade). A failed job
 * whose failure mail the sweeper has not queued yet is kept until it has been, or until the mail was
 * refused for good (`sweep_mail_refused_at`): then it goes like any other.
 *
 * Any staging such jobs left behind is dropped first, each in a transaction of its own
 * ({@link dropLeftoverStagings}), and a job goes in a batch once its staging is gone: a staging is
 * up to 256 tables, whose locks its drop holds to the end of its transaction, so a batch that dropped
 * them all could overflow the server's shared lock table (53200) on every sweep. When the stagings
 * dropped fill `limit`, the jobs they were left by do too: the batch comes back whole, so the next
 * one finds the rest.
 *
 * At most `limit` jobs, locked `FOR UPDATE SKIP LOCKED`: a job an operator is retrying right now,
 * or that another sweep is deleting, is left alone, so two sweeps at once delete each job once and
 * neither waits for the other; a batch holds its locks only as long as its own deletes. Idempotent:
 * a job deleted is not found again.
 *
 * Which column says when a job finished: `finished_at`, set by every `succeed` and `fail` of the
 * ledger; a row without one (written by hand) counts from its `updated_at`.
 */
export async function deleteFinishedJobs(db: Database, batch: RetentionBatch): Promise<DeletedJobs> {
  await dropLeftoverStagings(db, batch);
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(FINISHED_JOBS_BATCH_SQL, [batch.olderThan, batch.limit]);
    const ids = rows.map((row) => row.id);
    if (ids.length === 0) return { jobs: 0, jobTransitions: 0, importRejectedRows: 0, exportProgress: 0 };
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
 * Drops the stagings that finished jobs past the retention left behind (a finished job's staging is
 * dropped when it ends: one left is a job finished by hand, or a release's bug), at most `limit`,
 * each in a transaction of its own that locks its job again `FOR UPDATE SKIP LOCKED` (one an operator
 * is retrying, or another sweep holds, is left to a later batch). Dropping a staging locks its
 * table and every segment table, up to 256, until the transaction ends, and PostgreSQL's shared lock
 * table has room for about `max_locks_per_transaction` x (`max_connections` +
 * `max_prepared_transactions`) locks for all sessions together, 6,400 by default
 * (https://www.postgresql.org/docs/15/runtime-config-locks.html): one transaction holds one staging's.
 * Found from `import_stagings`, which holds the running imports' stagings only, not by reading the
 * finished jobs.
 */
async function dropLeftoverStagings(db: Database, batch: RetentionBatch): Promise<void> {
  const { rows } = await db.query<{ job_id: string }>(
    `SELECT job_id FROM import_stagings
     WHERE EXISTS (SELECT FROM jobs WHERE jobs.id = import_stagings.job_id AND ${pastRetention('$1')})
     LIMIT $2`,
    [batch.olderThan, batch.limit],
  );
  for (const { job_id: jobId } of rows) {
    await db.transaction(async (tx) => {
      const { rows: locked } = await tx.query(
        `SELECT id FROM jobs WHERE id = $1 AND ${pastRetention('$2')} FOR UPDATE SKIP LOCKED`,
        [jobId, batch.olderThan],
      );
      if (locked.length > 0) await tx.query('SELECT drop_import_staging($1)', [jobId]);
    });
  }
}

/**
 * Deletes one batch of the operators' audit entries (`operator_audit`) recorded before `olderThan`,
 * oldest first, at most `limit`: they name operators and the jobs, mails and addresses they acted on,
 * and are kept as long as the jobs are. Idempotent, and safe beside another sweep (`SKIP LOCKED`).
 */
export async function deleteAuditEntries(db: Queryable, batch: RetentionBatch): Promise<number> {
  const { rowCount } = await db.query(
    // Picked once (MATERIALIZED), as the idempotency records' purge picks its batch: rerun as the
    // subquery of a nested-loop semi join, the batch would skip what this DELETE removed and go on.
    `WITH batch AS MATERIALIZED (
       SELECT id FROM operator_audit WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED
     )
     DELETE FROM operator_audit WHERE id IN (SELECT id FROM batch)`,
    [batch.olderThan, batch.limit],
  );
  return rowCount;
}
