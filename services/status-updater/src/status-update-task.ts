import { STATUS_UPDATE_INPUT_SUBJECT, StatusUpdateInput, type StatusUpdateOutput } from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { ledgerError } from '@sidestep/jobs';
import type { TaskHandlerOptions } from '@sidestep/runtime';
import { type UpdateJobStatusOptions, updateJobStatus } from './update-job-status.ts';

/** What {@link statusUpdateTask} needs. */
export interface StatusUpdateTaskOptions extends UpdateJobStatusOptions {
  /** The job ledger; called once per invocation, so it may connect lazily and cache the connection. */
  readonly database: () => Promise<Database>;
}

/**
 * The status-updater as a task for `createTaskHandler`: a `StatusUpdateInput` (anything else is
 * `InvalidInputError`) is applied with {@link updateJobStatus}, and its output returned to the
 * workflow. The typed errors (`JobNotFoundError`, `InvalidTransitionError`, `UnexpectedStateError`,
 * ...) reach the workflow's Catch by name; a ledger that cannot be reached becomes
 * `JobLedgerUnavailableError`, the one name its Retry lists; anything else is a bug and propagates.
 */
export function statusUpdateTask(
  options: StatusUpdateTaskOptions,
): TaskHandlerOptions<typeof StatusUpdateInput, StatusUpdateOutput> {
  const updateOptions: UpdateJobStatusOptions = options.newJobId ? { newJobId: options.newJobId } : {};
  return {
    schema: StatusUpdateInput,
    subject: STATUS_UPDATE_INPUT_SUBJECT,
    correlation: (input) => ({
      event: input.event,
      executionId: input.executionId,
      jobId: input.event === 'register' ? undefined : input.jobId,
      // An export's request (the envelope id its requester sent): a search by it finds its register
      // line, which names the job it became (`jobId` of the outcome), and from there the job's lines.
      requestId: input.event === 'register' && input.kind === 'export' ? input.request.id : undefined,
    }),
    run: async (input) => {
      const { output, outcome } = await updateJobStatus(await options.database(), input, updateOptions);
      const log = { outcome, jobId: output.jobId, state: output.state, expectedState: input.expectedState };
      return { output, log };
    },
    mapError: ledgerError,
    messages: { succeeded: 'job status updated', failed: 'job status update failed' },
  };
}
