import { Logger } from '@aws-lambda-powertools/logger';
import { ContractValidationError, shorten, validate } from '@sidestep/contracts';
import type { Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import { InvalidInputError, isPermanentError, toError } from './errors.ts';
import { type InvocationState, isolate } from './isolate.ts';
import { loggableError } from './loggable-error.ts';
import { startStopwatch } from './stopwatch.ts';

/** What a task's `run` receives beside its input. */
export interface TaskContext {
  /** The Lambda context of the invocation (`awsRequestId`, remaining time). */
  readonly lambdaContext: Context;
  /** The handler's logger, with the input's correlation ids appended. */
  readonly logger: Logger;
}

/** What a task's `run` returns: the task's output, and fields for the handler's one log line. */
export interface TaskResult<O> {
  /** Returned to the caller: Step Functions' task result, or the scheduler's. */
  readonly output: O;
  /** Merged into the success log line (`outcome`, counts, keys). */
  readonly log?: Readonly<Record<string, unknown>>;
}

/** Options of {@link createTaskHandler}. */
export interface TaskHandlerOptions<S extends z.core.$ZodType, O> {
  /** The task input's contract (from @sidestep/contracts). */
  readonly schema: S;
  /** What the input is called in an `InvalidInputError`'s message: `invalid <subject>: ...`. */
  readonly subject: string;
  /**
   * What a missing input (`null`/`undefined`, as a schedule without input sends) is validated as.
   * @default the missing input itself (which a schema of an object refuses)
   */
  readonly defaultInput?: unknown;
  /** Correlation ids for every log line of the invocation; an `undefined` value leaves that key out. */
  readonly correlation?: (input: z.infer<S>) => Record<string, string | undefined>;
  /** Does the task. Throw a typed error (`SidestepError`) whose `name` the workflow catches. */
  readonly run: (input: z.infer<S>, context: TaskContext) => Promise<TaskResult<O>>;
  /**
   * Turns what `run` threw into the error to throw, e.g. a database that cannot be reached into the
   * one retryable name the workflow's Retry lists. @default the thrown value unchanged
   */
  readonly mapError?: (error: unknown) => unknown;
  /** The `message` of the success and the failure log line. */
  readonly messages: { readonly succeeded: string; readonly failed: string };
  /** @default a Powertools Logger named by POWERTOOLS_SERVICE_NAME */
  readonly logger?: Logger;
  /** Module state reset around every invocation (see `isolate`). @default [] */
  readonly state?: readonly InvocationState<unknown>[];
}

/** The Lambda handler {@link createTaskHandler} returns. */
export type TaskHandler<O> = (event: unknown, context: Context) => Promise<O>;

/**
 * Builds the Lambda handler of a task: a Step Functions `lambda:invoke` step or a scheduled run.
 * The outline every task shares, once: the input is validated against its contract (a bad one
 * becomes {@link InvalidInputError} naming the first bad field), its correlation ids are on every
 * log line, `run` does the work inside {@link isolate}, one log line reports the outcome with
 * `durationMs`, and a failure is thrown, never returned.
 *
 * Step Functions reads the thrown error's `name` as the task's `Error`, which the workflow's Retry
 * and Catch match: typed errors pass through under their own class's `name`, `mapError` may turn
 * anything else into one, and what is left (a bug) propagates as it is.
 *
 * @example
 * ```ts
 * export const handler = createTaskHandler({
 *   schema: FinalizeExportInput,
 *   subject: 'finalize input',
 *   correlation: (input) => ({ jobId: input.jobId }),
 *   run: async (input) => ({ output: await finalize(input) }),
 *   messages: { succeeded: 'export finalized', failed: 'export finalize failed' },
 * });
 * ```
 */
export function createTaskHandler<S extends z.core.$ZodType, O>(
  options: TaskHandlerOptions<S, O>,
): TaskHandler<O> {
  const logger = options.logger ?? new Logger();

  const handler = async (event: unknown, lambdaContext: Context): Promise<O> => {
    const elapsed = startStopwatch();
    logger.addContext(lambdaContext);
    try {
      const input = parseInput(options, event);
      const correlation = options.correlation?.(input) ?? {};
      logger.appendKeys(
        Object.fromEntries(Object.entries(correlation).filter(([, value]) => value !== undefined)),
      );
      let result: TaskResult<O>;
      try {
        result = await options.run(input, { lambdaContext, logger });
      } catch (thrown) {
        throw options.mapError ? options.mapError(thrown) : thrown;
      }
      logger.info({ message: options.messages.succeeded, ...result.log, durationMs: elapsed() });
      return result.output;
    } catch (thrown) {
      const error = toError(thrown);
      logger.error(
        {
          message: options.messages.failed,
          outcome: 'failed',
          errorName: error.name,
          permanent: isPermanentError(error),
          durationMs: elapsed(),
        },
        // Without the values a database error quotes; what is thrown (the workflow reads its name
        // and message, nothing else) stays as it was.
        loggableError(error),
      );
      throw error;
    } finally {
      logger.resetKeys();
    }
  };
  return isolate(handler, options.state ? { state: options.state } : {});
}

/** The longest message of the InvalidInputError an input that breaks its schema throws. */
const MAX_INVALID_INPUT_MESSAGE = 1000;

function parseInput<S extends z.core.$ZodType>(
  options: Pick<TaskHandlerOptions<S, unknown>, 'schema' | 'subject' | 'defaultInput'>,
  event: unknown,
): z.infer<S> {
  try {
    return validate(options.schema, event ?? options.defaultInput);
  } catch (error) {
    if (error instanceof ContractValidationError) {
      // Cut: a message lists every issue (a request with 60 unknown keys, 3,000 characters), and the
      // workflows quote it where a limit applies (an export refusal's reason: 2,000). The field names
      // the first issue; the cause keeps them all.
      throw new InvalidInputError(
        error.field,
        shorten(`invalid ${options.subject}: ${error.message}`, MAX_INVALID_INPUT_MESSAGE),
        { cause: error },
      );
    }
    throw error;
  }
}
