import {
  type JobRows,
  type JobState,
  StatusUpdateInput,
  StatusUpdateOutput,
  validate,
} from '@sidestep/contracts';

/**
 * An in-memory status-updater with the real one's contract: its input is validated against
 * `StatusUpdateInput` and its output against `StatusUpdateOutput` (both from @sidestep/contracts), the
 * job state machine is the plan's (register -> registered -> start -> running -> finish -> succeeded;
 * fail from registered or running), register is idempotent per object, and a re-run step returns
 * the same result. The workflow tests drive the definition through it; the real service is tested
 * against PostgreSQL in services/status-updater and end to end in scripts/tests/import-path.test.ts.
 */
export class StatusUpdaterFake {
  readonly calls: StatusUpdateInput[] = [];
  readonly jobs = new Map<string, FakeJob>();
  /** Errors to throw on the next calls of an event, in order (a transient Lambda error, say). */
  readonly failNext: Partial<Record<StatusUpdateInput['event'], Error[]>> = {};
  #next = 1;

  /** The `lambda:invoke` handler: `{ FunctionName, Payload }` in, `{ Payload, StatusCode }` out, as Step Functions returns it. */
  readonly invoke = (input: unknown): { Payload: StatusUpdateOutput; StatusCode: number } => {
    const { Payload } = input as { Payload: unknown };
    const update = validate(StatusUpdateInput, Payload);
    this.calls.push(update);
    const injected = this.failNext[update.event]?.shift();
    if (injected) throw injected;
    return { Payload: validate(StatusUpdateOutput, this.#apply(update)), StatusCode: 200 };
  };

  /** What the batch-worker writes to the ledger: row counts, or its own failure reason. */
  recordWorker(jobId: string, data: { rows?: JobRows; workerError?: string }): void {
    const job = this.#job(jobId);
    if (data.rows) job.rows = data.rows;
    if (data.workerError) job.workerError = data.workerError;
  }

  eventsOf(jobId: string): string[] {
    return this.calls.filter((call) => 'jobId' in call && call.jobId === jobId).map((call) => call.event);
  }

  #apply(update: StatusUpdateInput): StatusUpdateOutput {
    if (update.event === 'register') {
      const { bucket, key, versionId, etag } = update.source;
      const identity = `${update.kind}|${bucket}|${key}|${versionId ?? etag}`;
      const existing = [...this.jobs.values()].find((job) => job.identity === identity);
      if (existing) return this.#output(existing, existing.executionId !== update.executionId);
      const job: FakeJob = {
        id: `imp_${String(this.#next++).padStart(4, '0')}`,
        identity,
        state: 'registered',
        executionId: update.executionId,
        fileName: key.slice(key.lastIndexOf('/') + 1),
        rows: null,
        workerError: null,
        reason: null,
        done: new Set(['register']),
      };
      this.jobs.set(job.id, job);
      return this.#output(job, false);
    }
    const job = this.#job(update.jobId);
    if (job.executionId !== update.executionId) {
      throw lambdaError('ExecutionMismatchError', `executionId: job ${job.id} belongs to ${job.executionId}`);
    }
    // Re-running a step this execution already applied returns the same result.
    if (job.done.has(update.event)) return this.#output(job, false);
    const allowed = TRANSITIONS[update.event];
    if (!allowed.from.includes(job.state)) {
      throw lambdaError(
        'InvalidTransitionError',
        `event: cannot ${update.event} job ${job.id} in state ${job.state}`,
      );
    }
    if (allowed.to !== update.expectedState) {
      throw lambdaError('UnexpectedStateError', `expectedState: job ${job.id} would be ${allowed.to}`);
    }
    if (update.event === 'finish' && job.rows === null) {
      throw lambdaError('RowCountsMissingError', `job ${job.id}: the worker recorded no row counts`);
    }
    job.state = allowed.to;
    job.done.add(update.event);
    if (update.event === 'fail') job.reason = job.workerError ?? reasonOf(update.error);
    return this.#output(job, false);
  }

  #job(jobId: string): FakeJob {
    const job = this.jobs.get(jobId);
    if (!job) throw lambdaError('JobNotFoundError', `jobId: no job ${jobId}`);
    return job;
  }

  #output(job: FakeJob, duplicate: boolean): StatusUpdateOutput {
    return {
      jobId: job.id,
      kind: 'import',
      state: job.state,
      executionId: job.executionId,
      duplicate,
      fileName: job.fileName,
      rows: job.rows,
      reason: job.reason,
    };
  }
}

interface FakeJob {
  id: string;
  identity: string;
  state: JobState;
  executionId: string;
  fileName: string;
  rows: JobRows | null;
  workerError: string | null;
  reason: string | null;
  done: Set<string>;
}

const TRANSITIONS: Record<'start' | 'finish' | 'fail', { from: readonly JobState[]; to: JobState }> = {
  start: { from: ['registered'], to: 'running' },
  finish: { from: ['running'], to: 'succeeded' },
  fail: { from: ['registered', 'running'], to: 'failed' },
};

function reasonOf(error: { Error?: string | undefined; Cause?: string | undefined } | undefined): string {
  try {
    const cause = JSON.parse(error?.Cause ?? '') as { errorMessage?: string; StoppedReason?: string };
    return cause.errorMessage ?? cause.StoppedReason ?? `${error?.Error}`;
  } catch {
    return `${error?.Error}: ${error?.Cause}`;
  }
}

/**
 * The error a failed `lambda:invoke` task raises in Step Functions: `Error` is the function's
 * `errorType` (the thrown error's `name`) and `Cause` the document the Node.js runtime posted,
 * `{"errorType","errorMessage","trace"}`. aws-local-stepfunctions takes `Error` from `name` and
 * `Cause` from `message`, so the message is that document.
 */
export function lambdaError(errorType: string, errorMessage: string): Error {
  const error = new Error(
    JSON.stringify({
      errorType,
      errorMessage,
      trace: [`${errorType}: ${errorMessage}`, '    at handler (index.mjs:1:1)'],
    }),
  );
  error.name = errorType;
  return error;
}

/**
 * An error of the Lambda service itself (`Lambda.ServiceException`, ...): Step Functions gives a plain
 * message as Cause, not a function error document.
 */
export function lambdaServiceError(name: string): Error {
  const error = new Error(`${name}: Service unavailable (Service: Lambda, Status Code: 503)`);
  error.name = name;
  return error;
}
