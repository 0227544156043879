import { PostgresUserImportStore } from '../adapters/postgres-user-import-store.ts';
import { openSourceObject } from '../adapters/s3-source.ts';
import { type BatchWorkerConfig, loadConfig } from '../config.ts';
import { ImportFailedError, ImportInterruptedError } from '../errors.ts';
import { loggable, type TaskMode } from '../run-task.ts';
import { type ImportSummary, importUsers } from './import-users.ts';

/**
 * `MODE=import` (the default): the users CSV at SOURCE_* staged (resumably) and merged into `users`
 * in one transaction that also completes the job with its counts. A stop request keeps what was
 * staged for the retry; nothing reaches `users`.
 */
export const importMode: TaskMode<BatchWorkerConfig, PostgresUserImportStore, ImportSummary> = {
  name: 'import',
  onStop: 'stopping the import; staged records are kept for the retry',
  interrupted: (signal) => new ImportInterruptedError(signal),
  loadConfig,
  connect: (url, env, logger, config) =>
    PostgresUserImportStore.connect({
      url,
      env,
      mergeWorkMem: config.mergeWorkMem,
      onCompleteRetry: (retry) =>
        logger.warn('completing transaction aborted by a database conflict; trying it again', { ...retry }),
      onMergeFallback: () =>
        logger.warn('the merge met a user another writer inserted meanwhile; merging again as an upsert'),
      onValidatorFailure: (error) =>
        logger.warn(
          'validating staged segments on a second connection failed; the completion validates them',
          { error: loggable(error) as Error },
        ),
    }),
  startedFields: (config, store) => ({ source: config.source, staging: store.stagingMethod }),
  run: ({ config, store, s3, signal, logger, onProgress }) =>
    importUsers({
      jobId: config.jobId,
      store,
      maxRejectedRows: config.maxRejectedRows,
      signal,
      progressIntervalMs: config.progressIntervalMs,
      onProgress,
      ...(config.segmentBytes === undefined ? {} : { segmentBytes: config.segmentBytes }),
      openSource: async (range) => {
        // The registered identity first; a resume without one keeps to the ETag the first read found.
        const source = { ...config.source, etag: config.source.etag ?? range.etag };
        const opened = await openSourceObject(s3, source, {
          offset: range.offset,
          onResume: ({ offset, attempt, error }) =>
            logger.warn('source broke off; resuming', { offset, attempt, error: loggable(error) as Error }),
        });
        logger.info('source opened', {
          bytes: opened.contentLength,
          offset: opened.offset,
          etag: opened.etag,
          versionId: opened.versionId,
        });
        return opened;
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
      resumedAt: summary.resumedAt,
    },
  }),
  failedFields: (failure) =>
    failure instanceof ImportFailedError ? { rowsRejected: failure.rowsRejected } : {},
};
