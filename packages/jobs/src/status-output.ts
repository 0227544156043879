import type { JobKind, JobState, RejectedRowSample, StatusUpdateOutput } from '@sidestep/contracts';
import { attemptKey } from './failure-mail.ts';

/** What the ledger holds about a job, as far as a status update reports it. */
export interface JobSnapshot {
  readonly id: string;
  readonly kind: JobKind;
  readonly state: JobState;
  /** The execution that registered the job. */
  readonly executionId: string;
  /** 1, and one more per operator retry. */
  readonly attempt: number;
  /** An import's source file name; an export's file name (without `.csv.gz`). */
  readonly fileName: string | null;
  /** The batch-worker's counts (an export's rows exported); `total` null until recorded. */
  readonly rowsTotal: number | null;
  readonly rowsImported: number | null;
  readonly rowsRejected: number | null;
  /** A completed import's users its merge wrote (new or changed); null otherwise. */
  readonly usersWritten: number | null;
  /** An import's first rejected rows, from the worker's row errors; empty for none and for exports. */
  readonly rejectedSamples: readonly RejectedRowSample[];
  /** The reason recorded when the job failed. */
  readonly error: string | null;
  /** Exports: who asked. */
  readonly requestedBy: string | null;
  /** Exports, once finished: the combined object and its link. */
  readonly resultKey: string | null;
  readonly downloadUrl: string | null;
  /** An import's source object, an export's combined file. */
  readonly bytes: number | null;
}

/** The step's result for `job` (see `StatusUpdateOutput`). */
export function statusOutput(job: JobSnapshot, duplicate: boolean): StatusUpdateOutput {
  return {
    jobId: job.id,
    kind: job.kind,
    state: job.state,
    executionId: job.executionId,
    attemptKey: attemptKey(job.id, job.attempt),
    duplicate,
    fileName: job.fileName,
    rows:
      job.rowsTotal === null
        ? null
        : {
            total: job.rowsTotal,
            imported: job.rowsImported ?? 0,
            rejected: job.rowsRejected ?? 0,
            written: job.usersWritten,
          },
    rejectedSamples: [...job.rejectedSamples],
    reason: job.state === 'failed' ? job.error : null,
    requestedBy: job.requestedBy,
    downloadUrl: job.downloadUrl,
    resultKey: job.resultKey,
    bytes: job.bytes,
  };
}

/**
 * An output recorded before the export fields existed (migration 0003), completed with nulls (and
 * one recorded before `rejectedSamples` with none, before `attemptKey` with the job id: the key its
 * mails had then, before `rows.written` with null: the workflows read that path, and a path Step
 * Functions cannot find fails the state), so a step replayed across that deploy still returns the
 * whole contract.
 */
export function completeOutput(recorded: Partial<StatusUpdateOutput>): StatusUpdateOutput {
  const { rows } = recorded;
  return {
    ...(recorded.jobId ? { attemptKey: recorded.jobId } : {}),
    rejectedSamples: [],
    requestedBy: null,
    downloadUrl: null,
    resultKey: null,
    bytes: null,
    ...recorded,
    ...(rows ? { rows: { ...rows, written: rows.written ?? null } } : {}),
  } as StatusUpdateOutput;
}
