import {
  ContractValidationError,
  type JobRows,
  type JobState,
  StatusUpdateInput,
  StatusUpdateOutput,
  validate,
} from '@sidestep/contracts';
import {
  assertFinishable,
  failureReason,
  fileNameOf,
  type JobSnapshot,
  nextState,
  rejectedSamplesOf,
  sourceIdentity,
  statusOutput,
} from '@sidestep/jobs';
import { SidestepError } from '@sidestep/runtime';

/**
 * The status-updater inputs the fake understands, as the plan of issue 4 defines them: an import
 * registers its S3 object (`source`), an export its request (`request`, keyed by the envelope id), and
 * an export's `finish` carries the finalizer's output as `result`. Declared here rather than taken
 * from `StatusUpdateInput` so the fake reads the same fields whichever version of the contract is
 * installed; every payload is still validated against `StatusUpdateInput` first.
 */
export type FakeUpdate =
  | {
      event: 'register';
      kind: 'import';
      expectedState: JobState;
      executionId: string;
      source: {
        bucket: string;
        key: string;
        versionId?: string;
        etag?: string;
        sequencer?: string;
        size?: number;
      };
    }
  | {
      event: 'register';
      kind: 'export';
      expectedState: JobState;
      executionId: string;
      request: { id: string; requestedBy: string; fileName: string; filter?: Record<string, string> | null };
    }
  | { event: 'start'; jobId: string; expectedState: JobState; executionId: string }
  | {
      event: 'finish';
      jobId: string;
      expectedState: JobState;
      executionId: string;
      result?: { key: string; rows: number; bytes: number; downloadUrl: string };
    }
  | {
      event: 'fail';
      jobId: string;
      expectedState: JobState;
      executionId: string;
      error?: { Error?: string; Cause?: string };
    };

/**
 * An in-memory status-updater with the real one's contract: its input is validated against
 * `StatusUpdateInput` and its output against `StatusUpdateOutput` (both from @sidestep/contracts); the
 * job state machine, the finish guards, the failure reason and the step's output are the real ones
 * from @sidestep/jobs (their errors reach the workflow by name, as the Lambda's would); register is
 * idempotent per object (imports) or per request id (exports), and a re-run step returns the same
 * result. Only the ledger is in memory instead of PostgreSQL: the real service is tested against
 * PostgreSQL in services/status-updater and end to end in scripts/tests.
 */
export class StatusUpdaterFake {
  readonly calls: FakeUpdate[] = [];
  readonly jobs = new Map<string, FakeJob>();
  /** Errors to throw on the next calls of an event, in order (a transient Lambda error, say). */
  readonly failNext: Partial<Record<FakeUpdate['event'], Error[]>> = {};
  /** Errors to throw on the next calls of an event AFTER applying it: its answer is lost (a timeout after the commit). */
  readonly loseAnswer: Partial<Record<FakeUpdate['event'], Error[]>> = {};
  #next = 1;

  /** The `lambda:invoke` handler: `{ FunctionName, Payload }` in, `{ Payload, StatusCode }` out, as Step Functions returns it. */
  readonly invoke = (input: unknown): { Payload: StatusUpdateOutput; StatusCode: number } => {
    const { Payload } = input as { Payload: unknown };
    const update = this.#parse(Payload);
    this.calls.push(update);
    const injected = this.failNext[update.event]?.shift();
    if (injected) throw injected;
    try {
      const output = validate(StatusUpdateOutput, this.#apply(update));
      const lost = this.loseAnswer[update.event]?.shift();
      if (lost) throw lost;
      return { Payload: output, StatusCode: 200 };
    } catch (error) {
      // What the Lambda's runtime posts for a thrown sidestep error: its name and message.
      if (error instanceof SidestepError) throw lambdaError(error.name, error.message);
      throw error;
    }
  };

  /**
   * The input as the status-updater's task reads it: one that breaks `StatusUpdateInput` is its
   * `InvalidInputError` (createTaskHandler of @sidestep/runtime, subject `status update input`).
   */
  #parse(payload: unknown): FakeUpdate {
    try {
      return validate(StatusUpdateInput, payload) as unknown as FakeUpdate;
    } catch (error) {
      if (error instanceof ContractValidationError) {
        throw lambdaError('InvalidInputError', `invalid status update input: ${error.message}`);
      }
      throw error;
    }
  }

  /** What the batch-worker writes to the ledger: row counts, or its own failure reason. */
  recordWorker(jobId: string, data: { rows?: JobRows; rowErrors?: unknown; workerError?: string }): void {
    const job = this.#job(jobId);
    if (data.rows) job.rows = data.rows;
    if (data.rowErrors) job.rowErrors = data.rowErrors;
    if (data.workerError) job.workerError = data.workerError;
  }

  /**
   * What the batch-worker does when its import commits: the counts and `finish`, in the transaction
   * that commits the rows, so the job is `succeeded` whatever happens to the task afterwards.
   */
  completeByWorker(jobId: string, rows: JobRows): void {
    const job = this.#job(jobId);
    job.rows = rows;
    job.state = nextState(job.id, job.state, 'finish');
  }

  /** What the job-sweeper does to a job past its deadline: fails it with `reason`, outside any step. */
  sweep(jobId: string, reason: string): void {
    const job = this.#job(jobId);
    job.state = nextState(job.id, job.state, 'fail');
    job.reason = reason;
    job.swept = true;
  }

  eventsOf(jobId: string): string[] {
    return this.calls.filter((call) => 'jobId' in call && call.jobId === jobId).map((call) => call.event);
  }

  #apply(update: FakeUpdate): StatusUpdateOutput {
    if (update.event === 'register') {
      const identity =
        update.kind === 'import'
          ? `import|${update.source.bucket}|${update.source.key}|${sourceIdentity(update.source).version}`
          : `export|${update.request.id}`;
      const existing = [...this.jobs.values()].find((job) => job.identity === identity);
      if (existing && update.kind === 'export' && existing.requestedBy !== update.request.requestedBy) {
        // The status-updater's RequestConflictError (its filter comparison is tested there).
        throw lambdaError(
          'RequestConflictError',
          `request.id: request ${update.request.id} was already used by another export request (its requestedBy differ); send this request with a new id`,
        );
      }
      if (existing?.handedOver) {
        // An operator's retry (@sidestep/ops retryJob: the ledger's handOverJob): the job, registered
        // again, belongs to the execution that registers it next, which replays the register.
        Object.assign(existing, {
          handedOver: false,
          attempt: existing.attempt + 1,
          executionId: update.executionId,
          state: 'registered',
          done: new Set(['register']),
        });
        return this.#output(existing, false);
      }
      if (existing) return this.#output(existing, existing.executionId !== update.executionId);
      const job: FakeJob = {
        id: `${update.kind === 'import' ? 'imp' : 'exp'}_${String(this.#next++).padStart(4, '0')}`,
        kind: update.kind,
        identity,
        state: 'registered',
        executionId: update.executionId,
        attempt: 1,
        fileName: update.kind === 'import' ? fileNameOf(update.source.key) : update.request.fileName,
        requestedBy: update.kind === 'export' ? update.request.requestedBy : null,
        rows: null,
        result: null,
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
    // A job that succeeded (the worker finished it with its commit) answers finish and fail as it is.
    if ((update.event === 'finish' || update.event === 'fail') && job.state === 'succeeded') {
      return this.#output(job, false);
    }
    // The workflow's own fail of a job the sweeper failed is answered with the sweeper's reason.
    if (update.event === 'fail' && job.swept) return this.#output(job, false);
    const to = nextState(job.id, job.state, update.event);
    if (to !== update.expectedState) {
      // The status-updater's own UnexpectedStateError (not in @sidestep/jobs: only its steps name a state).
      throw lambdaError('UnexpectedStateError', `expectedState: job ${job.id} would be ${to}`);
    }
    if (update.event === 'finish') {
      assertFinishable({ id: job.id, kind: job.kind, rowsTotal: job.rows?.total ?? null }, update.result);
      if (job.kind === 'export' && update.result) {
        job.result = update.result;
        job.rows = { total: update.result.rows, imported: 0, rejected: 0, written: null };
      }
    }
    job.state = to;
    job.done.add(update.event);
    if (update.event === 'fail') job.reason = failureReason(job.workerError, update.error);
    return this.#output(job, false);
  }

  #job(jobId: string): FakeJob {
    const job = this.jobs.get(jobId);
    if (!job) throw lambdaError('JobNotFoundError', `jobId: no job ${jobId}`);
    return job;
  }

  #output(job: FakeJob, duplicate: boolean): StatusUpdateOutput {
    const snapshot: JobSnapshot = {
      id: job.id,
      kind: job.kind,
      state: job.state,
      executionId: job.executionId,
      attempt: job.attempt,
      fileName: job.fileName,
      rowsTotal: job.rows?.total ?? null,
      rowsImported: job.rows?.imported ?? null,
      rowsRejected: job.rows?.rejected ?? null,
      usersWritten: job.rows?.written ?? null,
      rejectedSamples: rejectedSamplesOf(job.rowErrors),
      error: job.reason,
      requestedBy: job.requestedBy,
      resultKey: job.result?.key ?? null,
      downloadUrl: job.result?.downloadUrl ?? null,
      bytes: job.result?.bytes ?? null,
    };
    return statusOutput(snapshot, duplicate);
  }
}

export interface FakeJob {
  id: string;
  kind: 'import' | 'export';
  identity: string;
  state: JobState;
  executionId: string;
  /** 1, counted up by each hand-over to a retry. */
  attempt: number;
  fileName: string;
  requestedBy: string | null;
  rows: JobRows | null;
  /** What the worker wrote to `row_errors`. */
  rowErrors?: unknown;
  result: { key: string; rows: number; bytes: number; downloadUrl: string } | null;
  workerError: string | null;
  reason: string | null;
  done: Set<string>;
  /** Set by a test to hand the job over to the next execution that registers it (a retry). */
  handedOver?: boolean;
  /** Failed by the job-sweeper ({@link StatusUpdaterFake.sweep}). */
  swept?: boolean;
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
