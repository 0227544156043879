import { FinalizeExportInput, type FinalizeExportOutput } from '@sidestep/contracts';
import type { TaskHandlerOptions } from '@sidestep/runtime';
import type { DownloadLinkMaker } from './domain/download-link.ts';
import type { ExportObjectStore } from './domain/export-object-store.ts';
import { finalizeExport } from './finalize-export.ts';

/** What {@link finalizeTask} needs. */
export interface FinalizeTaskOptions {
  readonly store: ExportObjectStore;
  /** The link maker; called once per invocation, so it may fetch the signing key lazily. */
  readonly downloadLink: () => Promise<DownloadLinkMaker>;
  /** @default 5 MiB (tests against a relaxed store only) */
  readonly minPartBytes?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * The export-finalizer as a task for `createTaskHandler`: a `FinalizeExportInput` (anything else is
 * `InvalidInputError`) is finalized with {@link finalizeExport} and its output returned to the
 * workflow. The typed errors reach the workflow under their own names (only
 * `ExportStorageUnavailableError` and `SecretUnavailableError` are worth a retry); anything else is
 * a bug and propagates under its own name.
 */
export function finalizeTask(
  options: FinalizeTaskOptions,
): TaskHandlerOptions<typeof FinalizeExportInput, FinalizeExportOutput> {
  return {
    schema: FinalizeExportInput,
    subject: 'finalize input',
    correlation: (input) => ({ jobId: input.jobId }),
    run: async (input) => {
      const { output, stats } = await finalizeExport(options.store, input, {
        downloadLink: await options.downloadLink(),
        ...(options.minPartBytes ? { minPartBytes: options.minPartBytes } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      return { output, log: { ...stats, key: output.key, rows: output.rows, bytes: output.bytes } };
    },
    messages: { succeeded: 'export finalized', failed: 'export finalize failed' },
  };
}
