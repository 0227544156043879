import { PostgresUserImportStore } from '../adapters/postgres-user-import-store.ts';
import { openSourceObject } from '../adapters/s3-source.ts';
import { type BatchWorkerConfig, loadConfig } from '../config.ts';
import { ImportFailedError, ImportInterruptedError } from '../errors.ts';
import type { TaskMode } from '../run-task.ts';
import { type ImportSummary, importUsers } from './import-users.ts';

/**
 * `MODE=import` (the default): the users CSV at SOURCE_* into `users` in one transaction, counts on
 * the job. A stop request rolls the import back.
 */
export const importMode: TaskMode<BatchWorkerConfig, PostgresUserImportStore, ImportSummary> = {
  name: 'import',
  onStop: 'rolling the import back',
  interrupted: (signal) => new ImportInterruptedError(signal),
  loadConfig,
  connect: (url, env) => PostgresUserImportStore.connect({ url, env }),
  startedFields: (config, store) => ({ source: config.source, staging: store.stagingMethod }),
  run: ({ config, store, s3, signal, logger, onProgress }) =>
    importUsers({
      jobId: config.jobId,
      store,
      maxRejectedRows: config.maxRejectedRows,
      signal,
      progressIntervalMs: config.progressIntervalMs,
      onProgress,
      openSource: async () => {
        const opened = await openSourceObject(s3, config.source, {
          onResume: ({ offset, attempt, error }) =>
            logger.warn('source broke off; resuming', { offset, attempt, error: error as Error }),
        });
        logger.info('source opened', {
          bytes: opened.contentLength,
          etag: opened.etag,
          versionId: opened.versionId,
        });
        return opened.body;
      },
    }),
  finished: (summary) => ({
    rows: summary.rowsTotal,
    fields: {
      rowsTotal: summary.rowsTotal,
      rowsImported: summary.rowsImported,
      rowsRejected: summary.rowsRejected,
      usersWritten: summary.usersWritten,
      bytesRead: summary.bytesRead,
    },
  }),
  failedFields: (failure) =>
    failure instanceof ImportFailedError ? { rowsRejected: failure.rowsRejected } : {},
};
