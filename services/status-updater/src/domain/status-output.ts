import type { JobKind, JobState, StatusUpdateOutput } from '@sidestep/contracts';

/** What the ledger holds about a job, as far as a status update reports it. */
export interface JobSnapshot {
  readonly id: string;
  readonly kind: JobKind;
  readonly state: JobState;
  /** The execution that registered the job. */
  readonly executionId: string;
  readonly fileName: string | null;
  /** The batch-worker's counts; `total` null until it recorded them. */
  readonly rowsTotal: number | null;
  readonly rowsImported: number | null;
  readonly rowsRejected: number | null;
  /** The reason recorded when the job failed. */
  readonly error: string | null;
}

/** The step's result for `job` (see `StatusUpdateOutput`). */
export function statusOutput(job: JobSnapshot, duplicate: boolean): StatusUpdateOutput {
  return {
    jobId: job.id,
    kind: job.kind,
    state: job.state,
    executionId: job.executionId,
    duplicate,
    fileName: job.fileName,
    rows:
      job.rowsTotal === null
        ? null
        : { total: job.rowsTotal, imported: job.rowsImported ?? 0, rejected: job.rowsRejected ?? 0 },
    reason: job.state === 'failed' ? job.error : null,
  };
}
