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
 * every other job's mail was still queued.
 */
export class FailureMailInvalidError extends JobSweeperError {
  override readonly name: string = 'FailureMailInvalidError';
  readonly jobId: string;
  override readonly field: string;
  constructor(jobId: string, field: string, message: string) {
    super(`job ${jobId}: failure mail ${field}: ${message}`, { permanent: true, field });
    this.jobId = jobId;
    this.field = field;
  }
}
