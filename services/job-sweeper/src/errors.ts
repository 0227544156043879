import { JobLedgerUnavailableError } from '@sidestep/jobs';
import { describeCause, SidestepError } from '@sidestep/runtime';

// Every class sets `name` as a literal class field: the Lambda runtime reports it as `errorType`,
// which EventBridge Scheduler's retry policy and the dead-letter queue show to operators.

/** Base of every job-sweeper error. */
export class JobSweeperError extends SidestepError {
  override readonly name: string = 'JobSweeperError';
}

/**
 * A failure mail the sweeper will not try again, as it records it on its job
 * (`sweep_mail_refused_at`, and `refusal` in `sweep_mail_error`): the contract refuses it, or SQS
 * did not take it while its job was within the retention.
 */
export interface FailureMailRefusal {
  readonly jobId: string;
  /** The mail field the contract refuses (`payload.to`); null for a mail SQS never took. */
  readonly field: string | null;
  /**
   * Why: the field and why the contract refuses it (`payload.to: not a valid email`: the
   * contract's reasons name the rule a field breaks, never its value, so no address), or
   * `not queued within <days> days: <SQS's last error>`.
   */
  readonly refusal: string;
}

/** The refusal of job `jobId`'s mail, from the producer's message (which names the field already). */
export function failureMailRefusal(jobId: string, field: string, message: string): FailureMailRefusal {
  // ContractValidationError's message is `<field>: <why>`: the field is not named twice.
  const refusal = message.startsWith(`${field}: `) ? message : `${field}: ${message}`;
  return { jobId, field, refusal };
}

/** `<n> job(s): <jobId> (<why>); ...`, the jobs an error is about. */
function jobList(entries: readonly { readonly jobId: string; readonly why: string }[]): string {
  return `${entries.length} job(s): ${entries.map((entry) => `${entry.jobId} (${entry.why})`).join('; ')}`;
}

/**
 * Some failure mails could not be queued (SQS throttled or unreachable). Transient: the jobs are
 * failed already and their mails stay pending (`sweep_mail_queued_at` null), so the next sweep, or
 * the schedule's retry of this one, queues them; the mail-dispatcher sends once per key either way.
 * Mails the same sweep refused for good are named too (`refusedJobIds`): they are recorded, and
 * the retry that queues the others does not report them again.
 */
export class FailureMailNotQueuedError extends JobSweeperError {
  override readonly name: string = 'FailureMailNotQueuedError';
  /** The jobs whose mail is still pending. */
  readonly jobIds: readonly string[];
  /** The jobs whose mail this sweep refused for good (see {@link FailureMailRefusedError}). */
  readonly refusedJobIds: readonly string[];
  readonly refusals: readonly FailureMailRefusal[];
  constructor(
    failures: readonly { readonly jobId: string; readonly reason: string }[],
    refusals: readonly FailureMailRefusal[] = [],
  ) {
    const refused = refusals.map(({ jobId, refusal }) => ({ jobId, why: refusal }));
    super(
      `failure mails not queued for ${jobList(failures.map(({ jobId, reason }) => ({ jobId, why: reason })))}${
        refused.length > 0 ? `; refused for good for ${jobList(refused)}` : ''
      }`,
      { permanent: false },
    );
    this.jobIds = failures.map((failure) => failure.jobId);
    this.refusedJobIds = refusals.map((refusal) => refusal.jobId);
    this.refusals = refusals;
  }
}

/**
 * Swept jobs' failure mails are refused for good: they break the mail contract (an export without a
 * valid requester: a row written by hand), or SQS failed them until their job was past the
 * retention. Permanent: retrying sends nothing; `jobIds` names every such job of the sweep, `field`
 * the first mail field the contract refuses, and every other job's mail was still queued. The
 * sweeper records each refusal on its job (`sweep_mail_error`, with `sweep_mail_refused_at`) and
 * does not try the mail again, so only the sweep that found them throws this.
 */
export class FailureMailRefusedError extends JobSweeperError {
  override readonly name: string = 'FailureMailRefusedError';
  readonly jobIds: readonly string[];
  readonly refusals: readonly FailureMailRefusal[];
  constructor(refusals: readonly FailureMailRefusal[]) {
    const field = refusals.find((refusal) => refusal.field !== null)?.field ?? undefined;
    super(
      `failure mails refused for ${jobList(refusals.map(({ jobId, refusal }) => ({ jobId, why: refusal })))}`,
      { permanent: true, ...(field === undefined ? {} : { field }) },
    );
    this.jobIds = refusals.map((refusal) => refusal.jobId);
    this.refusals = refusals;
  }
}

/** A stale job the sweep could not fail, and the error its transaction ended with. */
export interface StaleJobFailure {
  readonly jobId: string;
  readonly error: unknown;
}

/**
 * Stale jobs the sweep could not fail: the transaction failing one of them threw (its staging's drop
 * ran out of `lock_timeout` behind a dead worker session still holding a segment table, or any error
 * of that row). Each job is failed in a transaction of its own, so the sweep failed the others and
 * queued the mails before throwing this; the jobs named stay `running`, untouched, for the next sweep.
 * Transient when every cause is one a retry may cure ({@link JobLedgerUnavailableError.isTransient}):
 * Lambda retries the invocation. A cause a retry cannot cure (a constraint the row breaks, a bug)
 * makes it permanent, with that cause as its `cause`, so that it surfaces as what it is rather than
 * as an outage. When the mail phase failed too, its error is named as well (`mailError`), as
 * {@link FailureMailNotQueuedError} names the refusals beside it: a mail not queued or refused does
 * not make this permanent (the mail stays pending, or the refusal is recorded and reported once), a
 * mail phase that threw anything else does when that is no transient database failure.
 */
export class StaleJobsNotFailedError extends JobSweeperError {
  override readonly name: string = 'StaleJobsNotFailedError';
  /** The stale jobs left running. */
  readonly jobIds: readonly string[];
  readonly failures: readonly StaleJobFailure[];
  /** What the mail phase of the same sweep threw, if it did. */
  readonly mailError: unknown;
  constructor(failures: readonly StaleJobFailure[], mailError?: unknown) {
    const curable = (error: unknown) =>
      error instanceof JobSweeperError ? !error.permanent : JobLedgerUnavailableError.isTransient(error);
    const mailCurable =
      mailError === undefined ||
      mailError instanceof FailureMailNotQueuedError ||
      mailError instanceof FailureMailRefusedError ||
      curable(mailError);
    const incurable = [
      ...failures.map((failure) => failure.error).filter((error) => !curable(error)),
      ...(mailCurable ? [] : [mailError]),
    ];
    super(
      `stale jobs not failed (left running) for ${jobList(
        failures.map(({ jobId, error }) => ({ jobId, why: describeCause(error) })),
      )}${mailError === undefined ? '' : `; and ${describeCause(mailError)}`}`,
      { permanent: incurable.length > 0, cause: incurable[0] ?? failures[0]?.error ?? mailError },
    );
    this.jobIds = failures.map((failure) => failure.jobId);
    this.failures = failures;
    this.mailError = mailError;
  }
}

/**
 * The mail an execution could not queue (its `MailNotQueuedError`, the envelope its Cause) cannot be
 * queued by the sweeper either: the Cause is no mail (`field` `detail.cause`), or the mail contract
 * refuses it (`field` the mail field). Permanent: a retry reads the same Cause; Lambda keeps the event
 * with this error in the job-sweeper's asynchronous-failure queue, where an operator sees it.
 */
export class UnsentMailRefusedError extends JobSweeperError {
  override readonly name: string = 'UnsentMailRefusedError';
  constructor(executionName: string, field: string, why: string) {
    // The producer's message (ContractValidationError's) names the field already.
    const refusal = why.startsWith(`${field}: `) ? why : `${field}: ${why}`;
    super(`the mail execution ${executionName} could not queue is refused: ${refusal}`, {
      permanent: true,
      field,
    });
  }
}

/**
 * The mail an execution could not queue could not be queued again: SQS did not take it (throttled,
 * unreachable, the queue or a grant missing). Transient: Lambda retries the invocation twice, then
 * keeps the event with this error in the job-sweeper's asynchronous-failure queue, for an operator to
 * invoke it again once the queue takes mails; the mail-dispatcher sends once per key either way.
 */
export class UnsentMailNotQueuedError extends JobSweeperError {
  override readonly name: string = 'UnsentMailNotQueuedError';
  constructor(executionName: string, mailId: string, why: string) {
    super(`mail ${mailId}, which execution ${executionName} could not queue, not queued again: ${why}`, {
      permanent: false,
    });
  }
}

/**
 * The workflows' executions could not be listed or described (Step Functions throttled or
 * unreachable, a grant missing), so this sweep could not look for execution ends no status change
 * event handled. Transient: the schedule's retry or the next sweep looks again (ends stay unrecorded
 * until handled). The sweep's other work is done before it is thrown.
 */
export class WorkflowExecutionsUnavailableError extends JobSweeperError {
  override readonly name: string = 'WorkflowExecutionsUnavailableError';
  constructor(operation: string, cause: unknown) {
    super(`Step Functions ${operation} failed: ${describeCause(cause)}`, { permanent: false, cause });
  }
}
