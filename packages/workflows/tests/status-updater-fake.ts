import {
  type JobRows,
  type JobState,
  StatusUpdateInput,
  StatusUpdateOutput,
  validate,
} from '@sidestep/contracts';

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
      source: { bucket: string; key: string; versionId?: string; etag?: string; size?: number };
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
 * `StatusUpdateInput` and its output against `StatusUpdateOutput` (both from @sidestep/contracts), the
 * job state machine is the plan's (register -> registered -> start -> running -> finish -> succeeded;
 * fail from registered or running), register is idempotent per object (imports) or per request id
 * (exports), and a re-run step returns the same result. The workflow tests drive the definitions
 * through it; the real service is tested against PostgreSQL in services/status-updater and end to end
 * in scripts/tests.
 */
export class StatusUpdaterFake {
  readonly calls: FakeUpdate[] = [];
  readonly jobs = new Map<string, FakeJob>();
  /** Errors to throw on the next calls of an event, in order (a transient Lambda error, say). */
  readonly failNext: Partial<Record<FakeUpdate['event'], Error[]>> = {};
  #next = 1;

  /** The `lambda:invoke` handler: `{ FunctionName, Payload }` in, `{ Payload, StatusCode }` out, as Step Functions returns it. */
  readonly invoke = (input: unknown): { Payload: StatusUpdateOutput; StatusCode: number } => {
    const { Payload } = input as { Payload: unknown };
    const update = validate(StatusUpdateInput, Payload) as unknown as FakeUpdate;
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

  #apply(update: FakeUpdate): FakeOutput {
    if (update.event === 'register') {
      const identity =
        update.kind === 'import'
          ? `import|${update.source.bucket}|${update.source.key}|${update.source.versionId ?? update.source.etag}`
          : `export|${update.request.id}`;
      const existing = [...this.jobs.values()].find((job) => job.identity === identity);
      if (existing) return this.#output(existing, existing.executionId !== update.executionId);
      const job: FakeJob = {
        id: `${update.kind === 'import' ? 'imp' : 'exp'}_${String(this.#next++).padStart(4, '0')}`,
        kind: update.kind,
        identity,
        state: 'registered',
        executionId: update.executionId,
        fileName:
          update.kind === 'import'
            ? update.source.key.slice(update.source.key.lastIndexOf('/') + 1)
            : update.request.fileName,
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
    if (update.event === 'finish' && job.kind === 'import' && job.rows === null) {
      throw lambdaError('RowCountsMissingError', `job ${job.id}: the worker recorded no row counts`);
    }
    if (update.event === 'finish' && job.kind === 'export') {
      if (!update.result)
        throw lambdaError('InvalidInputError', `result: required to finish export ${job.id}`);
      job.result = update.result;
      job.rows = { total: update.result.rows, imported: 0, rejected: 0 };
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

  #output(job: FakeJob, duplicate: boolean): FakeOutput {
    return {
      jobId: job.id,
      kind: job.kind,
      state: job.state,
      executionId: job.executionId,
      duplicate,
      fileName: job.fileName,
      rows: job.rows,
      reason: job.reason,
      requestedBy: job.requestedBy,
      downloadUrl: job.result?.downloadUrl ?? null,
      resultKey: job.result?.key ?? null,
      bytes: job.result?.bytes ?? null,
    };
  }
}

/** What the fake answers; validated against `StatusUpdateOutput` before it is returned. */
type FakeOutput = Record<string, unknown>;

export interface FakeJob {
  id: string;
  kind: 'import' | 'export';
  identity: string;
  state: JobState;
  executionId: string;
  fileName: string;
  requestedBy: string | null;
  rows: JobRows | null;
  result: { key: string; rows: number; bytes: number; downloadUrl: string } | null;
  workerError: string | null;
  reason: string | null;
  done: Set<string>;
}

const TRANSITIONS: Record<'start' | 'finish' | 'fail', { from: readonly JobState[]; to: JobState }> = {
  start: { from: ['registered'], to: 'running' },
  finish: { from: ['running'], to: 'succeeded' },
  fail: { from: ['registered', 'running'], to: 'failed' },
};

function reasonOf(error: { Error?: string; Cause?: string } | undefined): string {
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
