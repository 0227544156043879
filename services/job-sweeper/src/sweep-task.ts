import { SweepStaleJobsInput, type SweepStaleJobsOutput } from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { ledgerError } from '@sidestep/jobs';
import type { TaskHandlerOptions } from '@sidestep/runtime';
import { JobSweeperError } from './errors.ts';
import { type MailQueue, sweepStaleJobs } from './sweep-stale-jobs.ts';

/** What {@link sweepTask} needs. */
export interface SweepTaskOptions {
  /** The jobs ledger; called once per invocation, so it may connect lazily and cache the connection. */
  readonly database: () => Promise<Database>;
  readonly mailQueue: MailQueue;
  /** Who gets an import's failure mail. */
  readonly notifyAddress: string;
  /** The sweep's clock. @default the system clock */
  readonly now?: () => Date;
  /** Jobs failed per sweep at most. @default 100 */
  readonly limit?: number;
}

/**
 * The job-sweeper as a task for `createTaskHandler`, invoked by its schedule or the operator rule
 * with `{}` (or nothing): one {@link sweepStaleJobs} with the Lambda request id as the sweeper's id
 * in the audit trail, logging what it failed and mailed. Errors are thrown with their `name` (the
 * scheduler retries, then dead-letters with it): a bad input is `InvalidInputError`, a database that
 * cannot be reached `JobLedgerUnavailableError`.
 */
export function sweepTask(
  options: SweepTaskOptions,
): TaskHandlerOptions<typeof SweepStaleJobsInput, SweepStaleJobsOutput> {
  const now = options.now ?? (() => new Date());
  return {
    schema: SweepStaleJobsInput,
    subject: 'sweep input',
    defaultInput: {},
    run: async (_input, { lambdaContext }) => {
      const output = await sweepStaleJobs(await options.database(), options.mailQueue, {
        now: now(),
        sweeperId: `job-sweeper:${lambdaContext.awsRequestId}`,
        notifyAddress: options.notifyAddress,
        ...(options.limit === undefined ? {} : { limit: options.limit }),
      });
      const log = {
        failed: output.failed.map((job) => job.jobId),
        mailed: output.mailed.map((job) => job.jobId),
      };
      return { output, log };
    },
    // The sweeper's own errors keep their names (FailureMailNotQueuedError is transient, not the ledger's).
    mapError: (error) => (error instanceof JobSweeperError ? error : ledgerError(error)),
    messages: { succeeded: 'stale jobs swept', failed: 'sweep failed' },
  };
}
