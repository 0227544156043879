import type { AuditRecord, JobKind, JobState } from '@sidestep/contracts';

/** A job as lists show it. */
export interface JobSummary {
  readonly id: string;
  readonly kind: JobKind;
  readonly state: JobState;
  readonly attempt: number;
  readonly fileName: string | null;
  readonly rowsTotal: number | null;
  readonly rowsImported: number | null;
  readonly rowsRejected: number | null;
  readonly error: string | null;
  readonly executionId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One page of {@link Ledger.listJobs}: `next` is the cursor of the following page, null on the last. */
export interface JobPage {
  readonly jobs: readonly JobSummary[];
  readonly next: string | null;
}

/** One row of a job's audit trail in `job_transitions`. */
export interface JobTransitionEntry {
  readonly at: Date;
  readonly event: string;
  readonly from: string | null;
  readonly to: string;
  readonly executionId: string | null;
  readonly data: Record<string, unknown> | null;
}

/** A mail's idempotency record in `idempotency_records` (the mail-dispatcher's send-once store). */
export interface MailRecord {
  readonly idempotencyKey: string;
  readonly recordId: string;
  readonly status: string;
  /** When the key was claimed. */
  readonly createdAt: Date;
  /**
   * The end of the record's lifetime (`expiry_timestamp`, 19 days after the claim or the last copy
   * of the send that met it). Past it, until the job-sweeper purges it, the mail-dispatcher claims
   * the key anew whatever the status, as if it had no record: a redrive sends the mail again.
   */
  readonly expiresAt: Date;
  /**
   * The end of the claim's in-progress window (`in_progress_expiry_timestamp`: the claiming
   * invocation's deadline), while INPROGRESS the send may still be running and `mail release`
   * refuses the record; null for a record that is not INPROGRESS (a COMPLETED record keeps its
   * claim's window in the column, which says nothing once the mail is marked sent) or has none.
   */
  readonly inProgressUntil: Date | null;
}

/**
 * How far an import's staging has got: the batch-worker's `import_stagings` row of the job and its
 * committed segments (`import_staging_segments`), as its task stages the object segment by segment.
 * Both disappear when the job completes or fails, so only a running import (or one whose task is
 * to run again) has one.
 */
export interface ImportStaging {
  /** Bytes of the object staged so far (`byte_offset`: just past the last staged record). */
  readonly bytesStaged: number;
  /** The object's size; null when the worker did not learn it. */
  readonly bytesTotal: number | null;
  readonly recordsStaged: number;
  /** Segments committed so far. */
  readonly segmentsStaged: number;
  /** Of those, the segments already checked against the rules. */
  readonly segmentsValidated: number;
  /** Rows the validated segments reject; the segments not validated yet may reject more. */
  readonly rowsRejectedSoFar: number;
  /** When the last segment was staged. */
  readonly updatedAt: Date;
}

/**
 * How far an export has got: the batch-worker's `export_progress` row of the job, written as the
 * task logs its progress (every 10 s by default) and removed with the export's counts. A failed
 * export's stays, how far it got, until a retry hands the job to a new attempt.
 */
export interface ExportProgress {
  /** Rows read from the database so far. */
  readonly rows: number;
  /** Parts uploaded so far, and their compressed bytes. */
  readonly parts: number;
  readonly bytes: number;
  /** When the task last recorded it. */
  readonly updatedAt: Date;
}

/**
 * What became of the failure mail of a job failed outside its workflow, by the job-sweeper or an
 * operator's `job fail` (`swept_at`: the sweeper's outbox owes it): queued, refused
 * for good (the mail contract refuses it, or SQS failed it until the job was past the retention:
 * the requester was never told, and the sweeper does not try again), or pending (every sweep tries
 * it again while the job is within the retention), with why it is not queued.
 */
export interface SweepMail {
  /** When the job was failed outside its workflow (by the sweeper, or an operator) and its mail owed. */
  readonly sweptAt: Date;
  /** When the mail was queued; null while pending or once refused. */
  readonly queuedAt: Date | null;
  /** When the mail was refused for good (`sweep_mail_refused_at`). */
  readonly refusedAt: Date | null;
  /** Why it is not queued: the refusal, or the last transient failure of a pending mail. */
  readonly error: string | null;
}

/** A job with everything the ledger knows about it. */
export interface JobDetail extends JobSummary {
  readonly requestedBy: string | null;
  readonly resultKey: string | null;
  readonly downloadUrl: string | null;
  readonly deadlineAt: Date | null;
  /** The batch-worker's first row errors (`{ line, field, message }`); empty when none. */
  readonly rowErrors: readonly unknown[];
  /**
   * The batch-worker's reason for its last task's failure (`worker_error`), cleared when a task
   * succeeds. On a running job: why its task is being run again (a transient failure, exit 75: the
   * workflow waits, then reruns it); on a failed job: what the failure's reason was built from.
   */
  readonly workerError: string | null;
  readonly transitions: readonly JobTransitionEntry[];
  /** Every execution that worked on it (one per attempt), oldest first. */
  readonly executions: readonly string[];
  /** The mails about it: the send-once records of its mail keys. */
  readonly mails: readonly MailRecord[];
  /** An import's staging so far; null when it has none (not an import, not started, or ended). */
  readonly staging: ImportStaging | null;
  /** An export's progress; null when it has none (not an export, not 10 s in yet, or finished). */
  readonly exportProgress: ExportProgress | null;
  /**
   * A completed import's users its merge inserted or changed (`jobs.users_written`, which the
   * batch-worker sets as it completes the job); the other valid rows found their user already up to date, or were superseded by a
   * later row of the same id. Null for anything else, and for an import completed before it was
   * recorded.
   */
  readonly usersWritten: number | null;
  /** The failure mail of a job failed outside its workflow (sweeper, operator); null otherwise. */
  readonly sweepMail: SweepMail | null;
}

/** One row a completed import left out (`import_rejected_rows`): its line, the field and why. */
export interface RejectedRow {
  readonly line: number;
  readonly field: string;
  readonly message: string;
}

/**
 * One page of {@link Ledger.listRejectedRows}, in line order: `next` is the line to pass as `after`
 * for the following page, null on the last.
 */
export interface RejectedRowPage {
  readonly jobId: string;
  /** The job's state: only a `succeeded` import lists rows. */
  readonly state: JobState;
  /**
   * The job's count of rejected rows (`rows_rejected`, set when its import completed or failed; a
   * failed import's rows are not listed); null before.
   */
  readonly rowsRejected: number | null;
  readonly rows: readonly RejectedRow[];
  readonly next: number | null;
}

/** Jobs by state: running and registered now, failed and succeeded since a time. */
export interface JobCounts {
  readonly running: number;
  readonly registered: number;
  readonly failed24h: number;
  readonly succeeded24h: number;
}

/** One operator action as the audit trail keeps it. */
export interface AuditEntry extends AuditRecord {
  readonly id: number;
  readonly at: Date;
}

/** What {@link Ledger.failJob} did: the job's state after `fail`, and what its failure mail needs. */
export interface FailedJob {
  readonly jobId: string;
  readonly kind: JobKind;
  readonly state: JobState;
  readonly reason: string;
  readonly attempt: number;
  readonly fileName: string | null;
  readonly requestedBy: string | null;
  /** The language of its mails, kept from its register (`jobs.locale`); null: `en`. */
  readonly locale: string | null;
  /**
   * Who its failure mail goes to, as its workflow sends it: an export's requester, an import's
   * notify address (the ledger's `notifyAddress`); null when the ledger was given none.
   */
  readonly recipient: string | null;
}

/** What {@link Ledger.releaseMail} did. */
export interface ReleasedMail {
  readonly idempotencyKey: string;
  readonly recordId: string;
  readonly released: 'deleted INPROGRESS record';
}

/**
 * The jobs ledger as operators read it and act on it: the port `@sidestep/ops` works through. Two
 * adapters: {@link SqlLedger} on the database itself (the local cloud, or `--database-url`), and ops'
 * Lambda adapter, which sends the same requests (`LedgerQuery` / `LedgerAction` of
 * @sidestep/contracts) to the `ops-ledger` function that answers them with a `SqlLedger` inside the
 * environment's private network.
 */
export interface Ledger {
  /** Jobs newest first, `limit` per page; `after` is the previous page's `next`. */
  listJobs(query: {
    readonly status?: JobState;
    readonly kind?: JobKind;
    readonly limit?: number;
    readonly after?: string;
  }): Promise<JobPage>;
  /** @throws {JobNotFoundError} */
  describeJob(jobId: string): Promise<JobDetail>;
  /**
   * Every row a completed import left out, by line, `limit` per page; `after` is the previous page's
   * `next`. Empty for a job that rejected none, an export, and an import that did not complete (a
   * failed import imported nothing: its first row errors are on the job).
   * @throws {JobNotFoundError}
   */
  listRejectedRows(query: {
    readonly jobId: string;
    readonly limit?: number;
    readonly after?: number;
  }): Promise<RejectedRowPage>;
  /** Jobs running and registered now; jobs that finished (failed, succeeded) since `since`. */
  countJobs(since: Date): Promise<JobCounts>;
  /** The audit trail, newest first; `before` an entry id to page. */
  listAudit(query: { readonly limit?: number; readonly before?: number }): Promise<AuditEntry[]>;

  /**
   * Fires `fail` on a job stuck `registered`/`running` (operator `operator`, reason `reason`), and,
   * in the same transaction, marks its failure mail owed in the job-sweeper's outbox (`swept_at`,
   * as the sweeper's own fails do: `SWEEP_MAIL_PENDING` of @sidestep/jobs): the operator's process
   * queues the mail at once, but one killed before it does leaves the mail to the sweeper's next
   * run, the same envelope under the same key (sent once), instead of never sent.
   *
   * Every action is idempotent: the ops-ledger function may run one request twice (a synchronous
   * Invoke the SDK sends again when its answer was lost: "your function may be invoked multiple
   * times", https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html). A duplicate
   * answers what the first did and changes nothing; here, a job already failed by this operator's
   * `fail` with this reason, its last transition, answers the same result (so its failure mail is
   * still queued).
   * @throws {JobNotFoundError} @throws {JobStateError} the job already ended otherwise.
   */
  failJob(jobId: string, reason: string, operator: string): Promise<FailedJob>;
  /**
   * Records that the operator's process queued the failure mail `mailId` of job `jobId` that
   * {@link failJob} left owed, so the job-sweeper does not queue it again (it would be sent once
   * either way). Changes nothing when the mail is no longer owed (queued by the sweeper first, or
   * refused), nor when `mailId` is not the failed attempt's (the job retried since).
   * @throws {JobNotFoundError}
   */
  recordFailureMailQueued(jobId: string, mailId: string): Promise<void>;
  /**
   * Hands failed job `jobId`, still owned by `fromExecutionArn`, to the retry's execution
   * `executionArn` as attempt `attempt` (see ops' `retryJob`), without the failed attempt's export
   * progress (the new attempt has read nothing yet; {@link takeBackJob} restores it). A duplicate (the job already
   * `registered` to `executionArn` as `attempt` by this operator's hand-over from `fromExecutionArn`)
   * answers success and changes nothing.
   * `fromRedriveCount` is the `redriveCount` the retry's DescribeExecution of `fromExecutionArn`
   * found (0 when none): a redrive of it claimed at that count or later ({@link claimRedrive}) may
   * not have run yet, or runs, and the hand-over is refused. Absent (a caller from before redrive
   * claims): refused while any claim of `fromExecutionArn` stands.
   * @throws {JobNotFoundError} @throws {JobStateError} not failed, owned by another execution, or
   * claimed by a redrive of `fromExecutionArn`.
   */
  handOverJob(handOver: {
    readonly jobId: string;
    readonly fromExecutionArn: string;
    readonly executionArn: string;
    readonly attempt: number;
    readonly operator: string;
    readonly fromRedriveCount?: number;
  }): Promise<void>;
  /**
   * Claims job `jobId` for a redrive of `executionArn`, the execution that owns it, before ops'
   * `redriveExecution` calls RedriveExecution: under the job's row lock, as {@link handOverJob} is
   * made, so of a redrive and a retry (`job retry`) of one job at once exactly one goes through. The
   * claim records `redriveCount`, the execution's count before this redrive (a redrive makes it
   * one more), and refuses every hand-over from `executionArn` whose DescribeExecution saw that count
   * or less, i.e. that may have looked before the redrive ran. A `running` job's deadline is set
   * anew, as its start set it (now plus the start's seconds): the redrive does not run that start
   * again, and the job-sweeper would fail the job the redrive runs at the start's deadline; the claim
   * records it (`deadline`: `previous`, `deadlineAt`, `seconds`). A duplicate adds a second claim of
   * the same count, which changes nothing. `requestId`, the redrive's own id (the same in every copy
   * of the claim), is recorded with the claim for {@link releaseRedrive}.
   * @throws {JobNotFoundError} @throws {JobStateError} owned by another execution.
   */
  claimRedrive(claim: {
    readonly jobId: string;
    readonly executionArn: string;
    readonly redriveCount: number;
    readonly operator: string;
    readonly requestId?: string;
  }): Promise<void>;
  /**
   * Withdraws {@link claimRedrive}'s claim of `redriveCount` made with `claimRequestId` (its copies
   * too) when RedriveExecution refused the redrive (it did not run), and puts back the deadline the
   * claim replaced while the job still has the one the claim set and no other claim of the count
   * stands: nothing runs the job. Another claim of the count (the operator's next redrive) is not
   * this release's, so a copy of it delivered late (Lambda may run one Invoke twice) withdraws
   * nothing. Without `claimRequestId` (a caller from before claims carried one) only claims recorded
   * without one are withdrawn. Does nothing when there is no such claim.
   */
  releaseRedrive(release: {
    readonly jobId: string;
    readonly executionArn: string;
    readonly redriveCount: number;
    readonly claimRequestId?: string;
  }): Promise<void>;
  /**
   * Undoes {@link handOverJob} when the retry's execution could not be started, or may not have been
   * handed the job. Does nothing unless the job is still `registered` to `executionArn` (so a
   * duplicate, or a take-back of a hand-over that never happened, changes nothing).
   */
  takeBackJob(takeBack: {
    readonly jobId: string;
    readonly executionArn: string;
    readonly previous: {
      readonly executionArn: string;
      readonly attempt: number;
      readonly error: string | null;
    };
  }): Promise<void>;
  /**
   * Releases mail `idempotencyKey`'s INPROGRESS send-once record. `requestId` names the request the
   * release is made for: a copy of a request that released the key already (the same id) answers
   * what the first did and changes nothing; any other release of a released key is refused, as
   * the record is gone (the operator ran the command again). Ops' Lambda adapter makes one id per
   * call itself; without one (the direct adapter's caller) every release is a new request.
   * @throws {MailRecordNotReleasableError} no record for the key, or it is not INPROGRESS.
   */
  releaseMail(idempotencyKey: string, requestId?: string): Promise<ReleasedMail>;
  /**
   * Appends one entry to the audit trail. An entry whose `details.auditRequestId` an entry of the
   * trail has already is a duplicate of that append and is not appended again (ops' Lambda adapter
   * gives each append its own id; an entry without one is always appended).
   */
  appendAudit(entry: AuditRecord): Promise<void>;
  /** Releases what the adapter holds (a pool, a client). */
  close(): Promise<void>;
}
