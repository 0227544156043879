import { Logger } from '@aws-lambda-powertools/logger';
import {
  ContractValidationError,
  SweepStaleJobsInput,
  type SweepStaleJobsOutput,
  validate,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { isolate } from '@sidestep/runtime';
import { JobLedgerUnavailableError } from '@sidestep/status-updater/jobs-ledger';
import type { Context } from 'aws-lambda';
import { JobSweeperError } from './errors.ts';
import { type MailQueue, sweepStaleJobs } from './sweep-stale-jobs.ts';

/** Options of {@link createSweeperHandler}. */
export interface SweeperHandlerOptions {
  /** The jobs ledger; called once per invocation, so it may connect lazily and cache the connection. */
  readonly database: () => Promise<Database>;
  readonly mailQueue: MailQueue;
  /** Who gets an import's failure mail. */
  readonly notifyAddress: string;
  /** The sweep's clock. @default the system clock */
  readonly now?: () => Date;
  /** Jobs failed per sweep at most. @default 100 */
  readonly limit?: number;
  /** @default a Powertools Logger named by POWERTOOLS_SERVICE_NAME */
  readonly logger?: Logger;
}

/** The job-sweeper's Lambda handler, invoked by its schedule or the operator rule with `{}`. */
export type SweeperHandler = (event: unknown, context: Context) => Promise<SweepStaleJobsOutput>;

/**
 * Builds the job-sweeper's handler: validates the input (`SweepStaleJobsInput`), runs one
 * {@link sweepStaleJobs} with the Lambda request id as the sweeper's id in the audit trail, logs one
 * line with what it failed and mailed, and returns the summary. Errors are thrown with their `name`
 * (the scheduler retries, then dead-letters with it); a database that cannot be reached becomes
 * `JobLedgerUnavailableError`.
 */
export function createSweeperHandler(options: SweeperHandlerOptions): SweeperHandler {
  const logger = options.logger ?? new Logger();
  const now = options.now ?? (() => new Date());

  const handler = async (event: unknown, context: Context): Promise<SweepStaleJobsOutput> => {
    const started = performance.now();
    logger.addContext(context);
    try {
      validate(SweepStaleJobsInput, event ?? {});
      const output = await sweepStaleJobs(await options.database(), options.mailQueue, {
        now: now(),
        sweeperId: `job-sweeper:${context.awsRequestId}`,
        notifyAddress: options.notifyAddress,
        ...(options.limit === undefined ? {} : { limit: options.limit }),
      });
      logger.info({
        message: 'stale jobs swept',
        failed: output.failed.map((job) => job.jobId),
        mailed: output.mailed.map((job) => job.jobId),
        durationMs: elapsed(started),
      });
      return output;
    } catch (thrown) {
      const error = asHandlerError(thrown);
      logger.error({ message: 'sweep failed', errorName: error.name, durationMs: elapsed(started) }, error);
      throw error;
    } finally {
      logger.resetKeys();
    }
  };
  return isolate(handler);
}

function asHandlerError(thrown: unknown): Error {
  if (thrown instanceof JobSweeperError || thrown instanceof ContractValidationError) return thrown;
  if (JobLedgerUnavailableError.isTransient(thrown)) return new JobLedgerUnavailableError(thrown);
  return typeof thrown === 'object' && thrown !== null ? (thrown as Error) : new Error(String(thrown));
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
