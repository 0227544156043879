import { Logger } from '@aws-lambda-powertools/logger';
import {
  ContractValidationError,
  FinalizeExportInput,
  type FinalizeExportOutput,
  validate,
} from '@sidestep/contracts';
import { isolate } from '@sidestep/runtime';
import type { Context } from 'aws-lambda';
import type { DownloadLink } from './domain/download-link.ts';
import type { ExportObjectStore } from './domain/export-object-store.ts';
import { ExportFinalizerError, InvalidInputError } from './errors.ts';
import { finalizeExport } from './finalize-export.ts';

/** Options of {@link createFinalizerHandler}. */
export interface FinalizerHandlerOptions {
  readonly store: ExportObjectStore;
  /** The link maker; called once per invocation, so it may fetch the signing key lazily. */
  readonly downloadLink: () => Promise<(key: string, now: Date) => DownloadLink>;
  /** @default a Powertools Logger named by POWERTOOLS_SERVICE_NAME */
  readonly logger?: Logger;
  /** @default 5 MiB (tests against a relaxed store only) */
  readonly minPartBytes?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The export-finalizer's Lambda handler, invoked by Step Functions (`lambda:invoke`). */
export type FinalizerHandler = (event: unknown, context: Context) => Promise<FinalizeExportOutput>;

/**
 * Builds the export-finalizer's Lambda handler: validates the task input (`FinalizeExportInput`),
 * runs {@link finalizeExport} and returns its output, logging one line either way.
 *
 * A failure is thrown, never returned: Step Functions reads the error's `name` as the task's `Error`.
 * Invalid input becomes `InvalidInputError`; the typed errors pass through (only
 * `ExportStorageUnavailableError` and `SecretUnavailableError` are worth a retry); anything else is a
 * bug and propagates under its own name.
 */
export function createFinalizerHandler(options: FinalizerHandlerOptions): FinalizerHandler {
  const logger = options.logger ?? new Logger();
  const handler = async (event: unknown, context: Context): Promise<FinalizeExportOutput> => {
    const started = performance.now();
    logger.addContext(context);
    try {
      const input = parseInput(event);
      logger.appendKeys({ jobId: input.jobId });
      const { output, stats } = await finalizeExport(options.store, input, {
        downloadLink: await options.downloadLink(),
        ...(options.minPartBytes ? { minPartBytes: options.minPartBytes } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      logger.info({
        message: 'export finalized',
        ...stats,
        key: output.key,
        rows: output.rows,
        bytes: output.bytes,
        durationMs: elapsed(started),
      });
      return output;
    } catch (thrown) {
      const error =
        typeof thrown === 'object' && thrown !== null ? (thrown as Error) : new Error(String(thrown));
      logger.error(
        {
          message: 'export finalize failed',
          outcome: 'failed',
          errorName: error.name,
          permanent: error instanceof ExportFinalizerError ? error.permanent : undefined,
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

function parseInput(event: unknown): FinalizeExportInput {
  try {
    return validate(FinalizeExportInput, event);
  } catch (error) {
    if (error instanceof ContractValidationError)
      throw new InvalidInputError(error.field, error.message, { cause: error });
    throw error;
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
