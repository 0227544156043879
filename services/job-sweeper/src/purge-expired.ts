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
  /** Batches of each kind per sweep at most; the rest waits for the next sweep. @default no limit but the time */
  readonly batches?: number;
  /**
   * How long the sweep may keep starting batches, in ms: once it is spent, what is left waits for
   * the next sweep (a batch under way finishes). Every kind gets at least one batch. @default 30_000
   */
  readonly timeBudgetMs?: number;
  /** The clock the time budget is read on, in ms. @default performance.now */
  readonly clock?: () => number;
}

/** {@link RetentionOptions.timeBudgetMs}'s default: half the job-sweeper's 60 s timeout. */
export const DEFAULT_PURGE_TIME_BUDGET_MS = 30_000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** When a job must have finished to be past a retention of `retentionDays` at `now`. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/**
 * Deletes what outlived its retention, for at most a time budget per sweep: the idempotency records
 * that expired (the store ignores them anyway; PostgreSQL has no TTL to drop them), finished jobs
 * that ended more than `retentionDays` ago with their transitions, rejected rows and progress
 * (`deleteFinishedJobs` of @sidestep/ledger), and operator audit entries as old. Each batch is one
 * short transaction that skips rows another sweep holds, so a sweep never holds long locks, two at
 * once delete each row once, and a sweep delivered twice deletes nothing the second time. The kinds
 * take turns, one batch each, until each has deleted less than a whole batch or the budget is spent
 * (or `batches` of each ran): a backlog, as after a pause or at a million jobs a day, goes over the
 * next sweeps (`complete` false), and no kind's backlog starves the others. A fixed 10 batches of
 * 100 (96,000 rows a day) fell behind a ledger that takes in more than that.
 */
export async function purgeExpired(
  db: Database,
  idempotencyRecords: IdempotencyRecords,
  options: RetentionOptions,
): Promise<SweepPurged> {
  const limit = options.batchSize ?? 100;
  const batches = options.batches ?? Number.POSITIVE_INFINITY;
  const clock = options.clock ?? (() => performance.now());
  const stopAt = clock() + (options.timeBudgetMs ?? DEFAULT_PURGE_TIME_BUDGET_MS);
  const olderThan = retentionCutoff(options.now, options.retentionDays);

  let records = 0;
  const jobs: { -readonly [K in keyof DeletedJobs]: number } = {
    jobs: 0,
    jobTransitions: 0,
    importRejectedRows: 0,
    exportProgress: 0,
  };
  let operatorAudit = 0;
  /** One batch of each kind: how many it deleted (a kind is done once a batch comes back short). */
  const kinds = [
    async () => {
      const deleted = await idempotencyRecords.purgeExpired(options.now, { limit, batches: 1 });
      records += deleted;
      return deleted;
    },
    async () => {
      const deleted = await deleteFinishedJobs(db, { olderThan, limit });
      for (const key of Object.keys(jobs) as (keyof DeletedJobs)[]) jobs[key] += deleted[key];
      return deleted.jobs;
    },
    async () => {
      const deleted = await deleteAuditEntries(db, { olderThan, limit });
      operatorAudit += deleted;
      return deleted;
    },
  ];
  const done = kinds.map(() => false);
  for (let run = 0; run < batches && done.includes(false); run++) {
    if (run > 0 && clock() >= stopAt) break;
    for (const [index, batch] of kinds.entries()) {
      if (!done[index] && (await batch()) < limit) done[index] = true;
    }
  }
  return {
    olderThan: olderThan.toISOString(),
    idempotencyRecords: records,
    ...jobs,
    operatorAudit,
    complete: !done.includes(false),
  };
}
