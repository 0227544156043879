import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  createTaskHandler,
  InvalidInputError,
  invocationState,
  PermanentError,
  type TaskHandlerOptions,
  TransientError,
} from '../src/index.ts';
import { captureOutput, type OutputCapture } from '../src/output-capture.ts';
import { lambdaContext } from './sqs-event.ts';

const Input = z.object({ jobId: z.string().min(1), rows: z.number().int() });
type Input = z.infer<typeof Input>;

/** The error a workflow's Retry lists: what `mapError` makes of an unreachable dependency. */
class LedgerUnavailableError extends TransientError {
  override readonly name: string = 'LedgerUnavailableError';
}

/** An impossible transition: a Catch sends the workflow to its failure branch. */
class InvalidTransitionError extends PermanentError {
  override readonly name: string = 'InvalidTransitionError';
}

describe('createTaskHandler', () => {
  let output: OutputCapture;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  const logs = () => output.lines().filter((line) => line.service === 'test-task');
  const handlerWith = (
    run: TaskHandlerOptions<typeof Input, { jobId: string }>['run'],
    extra: Partial<TaskHandlerOptions<typeof Input, { jobId: string }>> = {},
  ) =>
    createTaskHandler({
      schema: Input,
      subject: 'test input',
      correlation: (input: Input) => ({ jobId: input.jobId, executionId: undefined }),
      run,
      mapError: (error) =>
        error instanceof Error && error.message === 'ECONNREFUSED'
          ? new LedgerUnavailableError('down', { cause: error })
          : error,
      messages: { succeeded: 'task done', failed: 'task failed' },
      logger: new Logger({ serviceName: 'test-task' }),
      ...extra,
    });

  it("runs a valid input and logs one line with its correlation ids, the run's fields and durationMs", async () => {
    const handler = handlerWith(async (input, { logger, lambdaContext: context }) => {
      logger.info('inside the run');
      return { output: { jobId: input.jobId }, log: { outcome: 'applied', request: context.awsRequestId } };
    });

    await expect(handler({ jobId: 'imp_1', rows: 3 }, lambdaContext('req-1'))).resolves.toEqual({
      jobId: 'imp_1',
    });
    const [inside, done] = logs();
    expect(inside).toMatchObject({ message: 'inside the run', jobId: 'imp_1', function_request_id: 'req-1' });
    expect(inside).not.toHaveProperty('executionId');
    expect(done).toMatchObject({
      level: 'INFO',
      message: 'task done',
      outcome: 'applied',
      request: 'req-1',
      jobId: 'imp_1',
      durationMs: expect.any(Number),
    });
    expect(done?.durationMs as number).toBeGreaterThanOrEqual(0);
  });

  it('refuses an invalid input with InvalidInputError naming the first bad field, without running', async () => {
    let ran = false;
    const handler = handlerWith(async (input) => {
      ran = true;
      return { output: { jobId: input.jobId } };
    });

    const error = await handler({ jobId: 'imp_1', rows: 'many' }, lambdaContext()).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ name: 'InvalidInputError', field: 'rows', permanent: true });
    expect((error as Error).message).toMatch(/^invalid test input: rows: /);
    expect(ran).toBe(false);
    expect(logs()).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'task failed',
        outcome: 'failed',
        errorName: 'InvalidInputError',
        permanent: true,
        durationMs: expect.any(Number),
      }),
    ]);
  });

  it("cuts an invalid input's message at 1,000 characters, naming the first bad field still", async () => {
    // A request with many unknown keys lists every one; its refusal mail (reason at most 2,000
    // characters) quotes the message, and a longer one made the mail itself invalid.
    const Strict = z.strictObject({ jobId: z.string(), rows: z.number() });
    const handler = handlerWith(async (input) => ({ output: { jobId: input.jobId } }), {
      schema: Strict as unknown as typeof Input,
    });
    const many = Object.fromEntries(
      Array.from({ length: 60 }, (_, index) => [`unrecognised_filter_key_number_${index}`, 1]),
    );
    const error = await handler({ jobId: 'imp_1', rows: 1, ...many }, lambdaContext()).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    const { message } = error as Error;
    expect(message).toMatch(/^invalid test input: /);
    expect(message).toContain('unrecognised_filter_key_number_0');
    expect(message.length).toBe(1000);
    expect(message.endsWith('…')).toBe(true);
  });

  it('validates a missing input as defaultInput when one is given', async () => {
    const handler = handlerWith(async (input) => ({ output: { jobId: input.jobId } }), {
      defaultInput: { jobId: 'scheduled', rows: 0 },
    });
    await expect(handler(undefined, lambdaContext())).resolves.toEqual({ jobId: 'scheduled' });
    await expect(
      handlerWith(async (input) => ({ output: input }))(null, lambdaContext()),
    ).rejects.toMatchObject({
      name: 'InvalidInputError',
      field: '(root)',
    });
  });

  it('throws permanent typed errors under their own name, the name Step Functions Catch matches', async () => {
    const handler = handlerWith(async (input) => {
      throw new InvalidTransitionError(`event: cannot finish job ${input.jobId}`, { field: 'event' });
    });

    await expect(handler({ jobId: 'imp_1', rows: 1 }, lambdaContext())).rejects.toMatchObject({
      name: 'InvalidTransitionError',
      field: 'event',
    });
    expect(logs()).toEqual([
      expect.objectContaining({ errorName: 'InvalidTransitionError', permanent: true, jobId: 'imp_1' }),
    ]);
  });

  it('maps what run throws through mapError into the transient name a Retry lists', async () => {
    const refused = new Error('ECONNREFUSED');
    const handler = handlerWith(async () => {
      throw refused;
    });

    const error = await handler({ jobId: 'imp_1', rows: 1 }, lambdaContext()).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    expect(error).toMatchObject({ name: 'LedgerUnavailableError', permanent: false, cause: refused });
    expect(logs()).toEqual([
      expect.objectContaining({ errorName: 'LedgerUnavailableError', permanent: false }),
    ]);
  });

  it('lets an unexpected error propagate as it is (a thrown string becomes an Error)', async () => {
    const handler = handlerWith(async () => {
      throw 'boom';
    });
    const error = await handler({ jobId: 'imp_1', rows: 1 }, lambdaContext()).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'Error', message: 'boom' });
    expect(logs()).toEqual([expect.objectContaining({ errorName: 'Error', permanent: false })]);
  });

  it('isolates invocations: no correlation id, environment variable or state leaks into the next', async () => {
    const seen = invocationState(() => [] as string[]);
    const handler = handlerWith(
      async (input, { logger }) => {
        seen.get().push(input.jobId);
        process.env.SIDESTEP_TASK_LEAK = input.jobId;
        logger.info({ message: 'seen', seen: [...seen.get()] });
        return { output: { jobId: input.jobId } };
      },
      { state: [seen] },
    );
    const unrelated = new Logger({ serviceName: 'test-task' });

    await handler({ jobId: 'imp_1', rows: 1 }, lambdaContext());
    expect(process.env.SIDESTEP_TASK_LEAK).toBeUndefined();
    await handler({ jobId: 'imp_2', rows: 1 }, lambdaContext());
    unrelated.info('after');
    expect(
      logs()
        .filter((line) => line.message === 'seen')
        .map((line) => line.seen),
    ).toEqual([['imp_1'], ['imp_2']]);
    await expect(handler({ jobId: '', rows: 1 }, lambdaContext())).rejects.toThrow(InvalidInputError);
    const failed = logs().find((line) => line.message === 'task failed');
    // The failed invocation's line does not carry the previous invocation's jobId.
    expect(failed).not.toHaveProperty('jobId');
  });
});
