import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { StateMachine } from 'aws-local-stepfunctions';
import {
  type ExportWorkflowProps,
  exportWorkflow,
  type ImportWorkflowProps,
  importWorkflow,
  type Retrier,
  type StateMachineDefinition,
  TRANSIENT_STATUS_UPDATER_ERRORS,
} from '../src/index.ts';
import { lambdaError } from './status-updater-fake.ts';
import { localWiring, WorkflowCloud } from './workflow-cloud.ts';
import { type LocalHandlers, runWorkflow, type WorkflowRun } from './workflow-run.ts';

/**
 * An RDS Multi-AZ DB instance's failover: "typically 60-120 seconds", longer after large transactions
 * or a lengthy recovery (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.MultiAZ.Failover.html).
 * Every status-updater call meanwhile fails with JobLedgerUnavailableError, and the workflow's retries
 * must outlast it, whatever their jitter draws: at least 3 minutes of waits.
 */
const LEAST_LEDGER_WINDOW_SECONDS = 180;

/** The status-updater's steps: each calls the ledger. */
const STATUS_STEPS = ['RegisterJob', 'StartJob', 'FinishJob', 'MarkFailed'] as const;

const importProps: ImportWorkflowProps = { ...localWiring, notifyAddress: 'ops@example.com' };
const exportProps: ExportWorkflowProps = {
  ...localWiring,
  exportFinalizerFunctionArn:
    'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-export-finalizer',
  exportsBucket: 'sidestep-local-exports',
};

/** The retrier a state applies to JobLedgerUnavailableError (the first that names it, as Step Functions picks). */
function ledgerRetrier(definition: StateMachineDefinition, state: string): Retrier | undefined {
  const task = definition.States[state];
  if (task?.Type !== 'Task') return undefined;
  return task.Retry?.find((retrier) => retrier.ErrorEquals.includes(TRANSIENT_STATUS_UPDATER_ERRORS[0]));
}

/**
 * The least time a retrier waits in all before it gives up: each retry waits IntervalSeconds ×
 * BackoffRate^n capped at MaxDelaySeconds, and with `JitterStrategy: FULL` a random time between 0
 * and that, so at least nothing (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
 */
function leastWaitSeconds(retrier: Retrier): number {
  if (retrier.JitterStrategy === 'FULL') return 0;
  let total = 0;
  let delay = retrier.IntervalSeconds ?? 1;
  for (let retry = 0; retry < (retrier.MaxAttempts ?? 3); retry++) {
    total += Math.min(delay, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
    delay *= retrier.BackoffRate ?? 2;
  }
  return total;
}

describe.each([
  ['import', importWorkflow(importProps)],
  ['export', exportWorkflow(exportProps)],
])('the %s workflow, while the job ledger is unavailable', (_name, definition) => {
  it.each(STATUS_STEPS)(
    `retries JobLedgerUnavailableError in %s for at least ${LEAST_LEDGER_WINDOW_SECONDS} s of waits, longer than an RDS Multi-AZ failover`,
    (state) => {
      const retrier = ledgerRetrier(definition, state);
      expect(retrier).toBeDefined();
      expect(leastWaitSeconds(retrier as Retrier)).toBeGreaterThanOrEqual(LEAST_LEDGER_WINDOW_SECONDS);
    },
  );
});

/** An S3 "Object Created" event (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). */
const upload = {
  version: '0',
  'detail-type': 'Object Created',
  source: 'aws.s3',
  detail: {
    bucket: { name: 'sidestep-local-imports' },
    object: { key: 'imports/users.csv', size: 10, etag: 'e1', sequencer: '001' },
  },
};

/**
 * The status-updater's handler for `state`, failing with JobLedgerUnavailableError (as the real one
 * does when it cannot connect: nothing committed) for `seconds` from its first call; `attempts`
 * records each call's time since then.
 */
function ledgerDownFor(
  handlers: LocalHandlers,
  state: (typeof STATUS_STEPS)[number],
  seconds: number,
  attempts: number[],
): LocalHandlers {
  const real = handlers[state];
  if (real === undefined) throw new Error(`no handler for ${state}`);
  let downSince: number | undefined;
  return {
    ...handlers,
    [state]: (input: Parameters<typeof real>[0]) => {
      downSince ??= Date.now();
      const elapsed = (Date.now() - downSince) / 1000;
      attempts.push(elapsed);
      if (elapsed < seconds)
        throw lambdaError('JobLedgerUnavailableError', 'the job ledger is unavailable: connect ECONNREFUSED');
      return real(input);
    },
  };
}

describe('import workflow execution while the job ledger is unavailable (the definition’s own retry waits, on a fake clock)', () => {
  const definition = importWorkflow(importProps);
  const machine = new StateMachine(definition);
  const window = leastWaitSeconds(ledgerRetrier(definition, 'RegisterJob') as Retrier);

  afterEach(() => {
    jest.useRealTimers();
  });

  /**
   * Runs one import with the ledger down for `seconds` from `state`'s first call. The status-updater's
   * steps wait as the definition says (no retry override), on jest's fake clock, which runs each
   * timer the engine sets as soon as nothing else is left to do.
   */
  async function importWithOutage(
    state: (typeof STATUS_STEPS)[number],
    seconds: number,
    env: WorkflowCloud,
  ): Promise<{ run: WorkflowRun; attempts: number[] }> {
    jest.useFakeTimers();
    const attempts: number[] = [];
    const handlers = ledgerDownFor(
      env.handlers({ batchTask: 'ImportRows', mails: ['NotifyCompleted', 'NotifyFailed'] }),
      state,
      seconds,
      attempts,
    );
    let settled = false;
    const running = runWorkflow(
      machine,
      upload,
      'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:exec-1',
      handlers,
      ['ImportRows', 'NotifyCompleted', 'NotifyFailed'],
    ).finally(() => {
      settled = true;
    });
    while (!settled) await jest.advanceTimersByTimeAsync(1000);
    return { run: await running, attempts };
  }

  const successful = () =>
    new WorkflowCloud({
      worker: (jobId, status) =>
        status.recordWorker(jobId, { rows: { total: 2, imported: 2, rejected: 0, written: 2 } }),
    });

  it.each(['RegisterJob', 'StartJob', 'FinishJob'] as const)(
    'imports the upload when the ledger comes back 150 s after %s first found it down',
    async (state) => {
      const { run, attempts } = await importWithOutage(state, 150, successful());

      expect(run.failure).toBeUndefined();
      expect(run.statesEntered.at(-1)).toBe('Imported');
      expect(attempts.at(-1)).toBeGreaterThanOrEqual(150);
      expect(attempts.slice(0, -1).every((elapsed) => elapsed < 150)).toBe(true);
    },
  );

  it('records the failure and mails it when the ledger comes back 150 s after MarkFailed first found it down', async () => {
    const env = new WorkflowCloud({
      worker: WorkflowCloud.failingWorker('line 1: the header has no email column'),
    });
    const { run, attempts } = await importWithOutage('MarkFailed', 150, env);

    expect(run.statesEntered.at(-1)).toBe('ImportFailed');
    expect(attempts.at(-1)).toBeGreaterThanOrEqual(150);
    expect([...env.status.jobs.values()].map((job) => job.state)).toEqual(['failed']);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('gives up at RegistrationFailed, with nothing registered, once the outage outlasts the window', async () => {
    const env = successful();
    const { run, attempts } = await importWithOutage('RegisterJob', window + 60, env);

    expect(run.statesEntered.at(-1)).toBe('RegistrationFailed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'JobLedgerUnavailableError' });
    expect(attempts.at(-1)).toBeGreaterThanOrEqual(window);
    expect(env.status.jobs.size).toBe(0);
  });
});
