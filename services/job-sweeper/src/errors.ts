import { SidestepError } from '@sidestep/runtime';

// Every class sets `name` as a literal class field: the Lambda runtime reports it as `errorType`,
// which EventBridge Scheduler's retry policy and the dead-letter queue show to operators.

/** Base of every job-sweeper error. */
export class JobSweeperError extends SidestepError {
  override readonly name: string = 'JobSweeperError';
}

/**
 * Some failure mails could not be queued (SQS throttled or unreachable). Transient: the jobs are
 * failed already and their mails stay pending (`sweep_mail_queued_at` null), so the next sweep, or
 * the schedule's retry of this one, queues them; the mail-dispatcher sends once per key either way.
 */
export class FailureMailNotQueuedError extends JobSweeperError {
  override readonly name: string = 'FailureMailNotQueuedError';
  /** The jobs whose mail is still pending. */
  readonly jobIds: readonly string[];
  constructor(failures: readonly { readonly jobId: string; readonly reason: string }[]) {
    super(
      `failure mails not queued for ${failures.length} job(s): ${failures.map((f) => `${f.jobId} (${f.reason})`).join('; ')}`,
      { permanent: false },
    );
    this.jobIds = failures.map((failure) => failure.jobId);
  }
}

/**
 * A swept job's failure mail breaks the mail contract (an export without a valid requester: a row
 * written by hand). Permanent: retrying sends nothing; `field` names the job and the mail field, and
 * every other job's mail was still queued. The sweeper records `refusal` on the job
 * (`sweep_mail_error`, with `sweep_mail_refused_at`) and does not try the mail again.
 */
export class FailureMailInvalidError extends JobSweeperError {
  override readonly name: string = 'FailureMailInvalidError';
  readonly jobId: string;
  override readonly field: string;
  /** The field and why the contract refuses it: `payload.to: not a valid email`. */
  readonly refusal: string;
  constructor(jobId: string, field: string, message: string) {
    // The producer's message names the field already (ContractValidationError's `<field>: <why>`).
    const refusal = message.startsWith(`${field}: `) ? message : `${field}: ${message}`;
    super(`job ${jobId}: failure mail ${refusal}`, { permanent: true, field });
    this.jobId = jobId;
    this.field = field;
    this.refusal = refusal;
  }
}
