import { Logger } from '@aws-lambda-powertools/logger';
import {
  ContractValidationError,
  StatusUpdateInput,
  type StatusUpdateOutput,
  validate,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { isolate } from '@sidestep/runtime';
import type { Context } from 'aws-lambda';
import { InvalidInputError, JobLedgerUnavailableError, StatusUpdaterError } from './errors.ts';
import { type UpdateJobStatusOptions, updateJobStatus } from './update-job-status.ts';

/** Options of {@link createStatusHandler}. */
export interface StatusHandlerOptions extends UpdateJobStatusOptions {
  /** The job ledger; called once per invocation, so it may connect lazily and cache the connection. */
  readonly database: () => Promise<Database>;
  /** @default a Powertools Logger named by POWERTOOLS_SERVICE_NAME */
  readonly logger?: Logger;
}

/** The Lambda handler of the status-updater, invoked by Step Functions (`lambda:invoke`). */
export type StatusHandler = (event: unknown, context: Context) => Promise<StatusUpdateOutput>;

/**
 * Builds the status-updater's Lambda handler: validates the task input against `StatusUpdateInput`,
 * applies the event with {@link updateJobStatus} and returns its output, logging one line either way.
 *
 * A failure is thrown, never returned: Step Functions reads the thrown error's `name` as the task's
 * `Error`, which the workflow's Retry and Catch match. Invalid input becomes `InvalidInputError`; a
 * database that cannot be reached becomes `JobLedgerUnavailableError` (the one retryable name); the
 * typed domain errors pass through unchanged; anything else is a bug and propagates as it is.
 */
export function createStatusHandler(options: StatusHandlerOptions): StatusHandler {
  const logger = options.logger ?? new Logger();
  const updateOptions: UpdateJobStatusOptions = options.newJobId ? { newJobId: options.newJobId } : {};

  const handler = async (event: unknown, context: Context): Promise<StatusUpdateOutput> => {
    const started = performance.now();
    logger.addContext(context);
    try {
      const input = parseInput(event);
      logger.appendKeys({
        event: input.event,
        executionId: input.executionId,
        ...(input.event === 'register' ? {} : { jobId: input.jobId }),
      });
      const { output, outcome } = await updateJobStatus(await options.database(), input, updateOptions);
      logger.info({
        message: 'job status updated',
        outcome,
        jobId: output.jobId,
        state: output.state,
        expectedState: input.expectedState,
        durationMs: elapsed(started),
      });
      return output;
    } catch (thrown) {
      const error = asHandlerError(thrown);
      logger.error(
        {
          message: 'job status update failed',
          outcome: 'failed',
          errorName: error.name,
          permanent: (error as { permanent?: unknown }).permanent === true,
          durationMs: elapsed(started),
        },
        error,
      );
      throw error;
    } finally {
      logger.resetKeys();
    }
  };
  return isolate(handler);
}

function parseInput(event: unknown): StatusUpdateInput {
  try {
    return validate(StatusUpdateInput, event);
  } catch (error) {
    if (error instanceof ContractValidationError)
      throw new InvalidInputError(error.field, error.message, { cause: error });
    throw error;
  }
}

function asHandlerError(thrown: unknown): Error {
  if (thrown instanceof StatusUpdaterError) return thrown;
  if (JobLedgerUnavailableError.isTransient(thrown)) return new JobLedgerUnavailableError(thrown);
  // Anything else is a bug: it propagates as it is (its own name), for the workflow to fail on.
  return typeof thrown === 'object' && thrown !== null ? (thrown as Error) : new Error(String(thrown));
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
