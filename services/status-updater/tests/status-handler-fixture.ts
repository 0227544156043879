import { Logger } from '@aws-lambda-powertools/logger';
import { expect } from '@jest/globals';
import { StatusUpdateOutput, validate } from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { suiteDatabase } from '@sidestep/db/testing';
import { createTaskHandler, type TaskHandler } from '@sidestep/runtime';
import type { Context } from 'aws-lambda';
import { type StatusUpdateTaskOptions, statusUpdateTask } from '../src/status-update-task.ts';

/** The Lambda context the handler tests invoke with. */
export const context = {
  awsRequestId: 'req-1',
  functionName: 'sidestep-test-status-updater',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-test-status-updater',
  memoryLimitInMB: '256',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

/** The status-updater's handler as `handler.ts` builds it, on `database`, logging nothing. */
export function statusHandler(
  database: StatusUpdateTaskOptions['database'],
): TaskHandler<StatusUpdateOutput> {
  return createTaskHandler({ ...statusUpdateTask({ database }), logger: new Logger({ logLevel: 'SILENT' }) });
}

/**
 * Each step delivered twice, as at-least-once delivery may: both deliveries must answer the same,
 * and the answer must be a valid `StatusUpdateOutput`.
 */
export function deliveredTwice(
  handler: TaskHandler<StatusUpdateOutput>,
): (input: unknown) => Promise<StatusUpdateOutput> {
  return async (input) => {
    const first = await handler(input, context);
    const second = await handler(input, context);
    expect(second).toEqual(first);
    return validate(StatusUpdateOutput, first);
  };
}

let executions = 0;
/** A fresh execution ARN of the `workflow` state machine. */
export function executionArn(workflow: 'import' | 'export'): string {
  executions += 1;
  return `arn:aws:states:us-east-1:000000000000:execution:sidestep-test-${workflow}:e${executions}`;
}

/** The `fail` step's input for a job its execution owns, with the error the workflow's Catch passes. */
export function failInput(
  owned: { readonly jobId: string; readonly executionId: string },
  error?: { readonly Error: string; readonly Cause?: string },
) {
  const { jobId, executionId } = owned;
  return {
    event: 'fail',
    jobId,
    expectedState: 'failed',
    executionId,
    ...(error === undefined ? {} : { error }),
  };
}

/** Invokes the handler and returns what it threw (or fails the test if it resolved). */
export async function rejection(invoke: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await invoke;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the handler to throw');
}

/** The job's row in the ledger, every column. */
export async function jobRow(db: Database, jobId: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM jobs WHERE id = $1', [jobId]);
  return rows[0];
}

/** The job's audit trail, oldest first. */
export async function transitionsOf(db: Database, jobId: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    'SELECT event, from_state, to_state, execution_id FROM job_transitions WHERE job_id = $1 ORDER BY id',
    [jobId],
  );
  return rows;
}

/** What the tests of one `describeEachDatabase` suite share. */
export interface StatusSuite {
  /** The suite's database: open from its `beforeAll` on, closed after its tests. */
  readonly db: Database;
  /** The handler on that database. */
  readonly handler: TaskHandler<StatusUpdateOutput>;
  /** The handler, each step delivered twice ({@link deliveredTwice}). */
  twice(input: unknown): Promise<StatusUpdateOutput>;
  /** The error of each of two deliveries of `input`, which the handler must refuse both times. */
  refusedTwice(input: unknown): Promise<(Error & Record<string, unknown>)[]>;
  /** {@link jobRow} on the suite's database. */
  job(jobId: string): Promise<Record<string, unknown> | undefined>;
  /** {@link transitionsOf} on the suite's database. */
  transitions(jobId: string): Promise<Record<string, unknown>[]>;
}

/** Opens the suite's database before its tests and closes it after; the handler runs on it. */
export function statusSuite(open: () => Promise<Database>): StatusSuite {
  const db = suiteDatabase(open);
  const handler = statusHandler(async () => db());
  return {
    get db() {
      return db();
    },
    handler,
    twice: deliveredTwice(handler),
    refusedTwice: async (input) => [
      await rejection(handler(input, context)),
      await rejection(handler(input, context)),
    ],
    job: (jobId) => jobRow(db(), jobId),
    transitions: (jobId) => transitionsOf(db(), jobId),
  };
}
