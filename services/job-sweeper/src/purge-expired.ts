import type { SweepPurged } from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { type DeletedJobs, deleteAuditEntries, deleteFinishedJobs } from '@sidestep/ledger';

/** Where the mail-dispatcher's idempotency records are (`PostgresPersistenceLayer` of @sidestep/idempotency). */
export interface IdempotencyRecords {
  /** Deletes up to `batches` batches of `limit` records that expired before `now`; how many it deleted (the sweep asks one batch at a time). */
  purgeExpired(now: Date, options: { readonly limit: number; readonly batches: number }): Promise<number>;
}

/** What {@link purgeExpired} keeps and how much it deletes per sweep. */
export interface RetentionOptions {
  /** The sweep's time. */
  readonly now: Date;
  /** Finished jobs and audit entries older than this many days are deleted. */
  readonly retentionDays: number;
  /** Rows (jobs, audit entries, idempotency records) per batch, each batch its own transaction. @default 100 */
  readonly batchSize?: number;
  /** Batches of each kind per sweep at most; the rest waits for the next sweep. @default 10 */
  readonly batches?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** When a job must have finished to be past a retention of `retentionDays` at `now`. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/**
 * Deletes what outlived its retention, a bounded amount per sweep: the idempotency records that
 * expired (the store ignores them anyway; PostgreSQL has no TTL to drop them), then finished jobs
 * that ended more than `retentionDays` ago with their transitions, rejected rows and progress
 * (`deleteFinishedJobs` of @sidestep/ledger), then operator audit entries as old. Each batch is one
 * short transaction that skips rows another sweep holds, so a sweep never holds long locks, two at
 * once delete each row once, and a sweep delivered twice deletes nothing the second time. At most
 * `batches` x `batchSize` rows of each kind go per sweep (1,000 by default, 96 sweeps a day): a
 * backlog, as on the first sweep after this shipped, goes over the next sweeps (`complete` false).
 */
export async function purgeExpired(
  db: Database,
  idempotencyRecords: IdempotencyRecords,
  options: RetentionOptions,
): Promise<SweepPurged> {
  const limit = options.batchSize ?? 100;
  const batches = options.batches ?? 10;
  const olderThan = retentionCutoff(options.now, options.retentionDays);
  /** Runs `batch` until it deletes less than a whole batch, or `batches` times: whether it ran out. */
  const repeat = async (batch: () => Promise<number>): Promise<boolean> => {
    for (let run = 0; run < batches; run++) if ((await batch()) < limit) return true;
    return false;
  };

  let records = 0;
  const recordsDone = await repeat(async () => {
    const deleted = await idempotencyRecords.purgeExpired(options.now, { limit, batches: 1 });
    records += deleted;
    return deleted;
  });
  const jobs: { -readonly [K in keyof DeletedJobs]: number } = {
    jobs: 0,
    jobTransitions: 0,
    importRejectedRows: 0,
    exportProgress: 0,
  };
  const jobsDone = await repeat(async () => {
    const deleted = await deleteFinishedJobs(db, { olderThan, limit });
    for (const key of Object.keys(jobs) as (keyof DeletedJobs)[]) jobs[key] += deleted[key];
    return deleted.jobs;
  });
  let operatorAudit = 0;
  const auditDone = await repeat(async () => {
    const deleted = await deleteAuditEntries(db, { olderThan, limit });
    operatorAudit += deleted;
    return deleted;
  });
  return {
    olderThan: olderThan.toISOString(),
    idempotencyRecords: records,
    ...jobs,
    operatorAudit,
    complete: recordsDone && jobsDone && auditDone,
  };
}
