import type { Migration } from '../migration.ts';

/**
 * What became of the failure mail of a job the job-sweeper failed, besides being queued
 * (`sweep_mail_queued_at`, migration 3):
 *
 * - `sweep_mail_refused_at`: when the mail was refused for good (it breaks the mail contract: an
 *   export row without a valid requester, written by hand). The sweeper no longer claims it, and the
 *   retention deletes the job like any finished one. Before this the mail stayed pending for ever:
 *   every sweep claimed it again and failed with `FailureMailInvalidError`, and the retention kept
 *   the job, waiting for a mail that could never be queued.
 * - `sweep_mail_error`: why the mail is not queued: the refusal, or the last transient failure of a
 *   mail still pending (SQS throttled or unreachable), cleared when the mail is queued.
 *
 * Both null on every existing row: a mail pending now is claimed by the next sweep and, if refused
 * again, recorded then. `jobs_sweep_mail_pending_idx` (migration 3) still holds the claim's rows: its
 * predicate is implied by the claim's, which only adds `sweep_mail_refused_at IS NULL`, so the few
 * refused rows it also holds are filtered there rather than rebuilding the index. Added columns with
 * no default rewrite no rows; the transaction records the migration with them, so there is nothing
 * to make idempotent.
 */
export const jobsSweepMailRefused: Migration = {
  version: 15,
  name: 'jobs-sweep-mail-refused',
  sql: `
    ALTER TABLE jobs
      ADD COLUMN sweep_mail_refused_at timestamptz,
      ADD COLUMN sweep_mail_error text;
  `,
};
