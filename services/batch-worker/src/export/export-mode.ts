import { PostgresUserExportStore } from '../adapters/postgres-user-export-store.ts';
import { S3ExportTarget } from '../adapters/s3-export-target.ts';
import { type ExportConfig, loadExportConfig } from '../config.ts';
import { ExportInterruptedError } from '../errors.ts';
import { loggable, type TaskMode } from '../run-task.ts';
import { type ExportSummary, exportUsers } from './export-users.ts';

/**
 * `MODE=export`: the users the filter selects as gzip CSV parts uploaded into the multipart upload of
 * `exports/<JOB_ID>/<EXPORT_FILE_NAME>.csv.gz` in EXPORTS_BUCKET, plus a worker manifest, counts on
 * the job. A stop request stops before the manifest is written; a retry resumes after the parts
 * uploaded when the rows they hold are unchanged, and starts over (logging why) otherwise.
 */
export const exportMode: TaskMode<ExportConfig, PostgresUserExportStore, ExportSummary> = {
  name: 'export',
  onStop: 'stopping the export',
  interrupted: (signal) => new ExportInterruptedError(signal),
  loadConfig: loadExportConfig,
  connect: (url, env, logger) =>
    PostgresUserExportStore.connect({
      url,
      env,
      onProgressFailure: (error) =>
        logger.warn('recording the export progress failed; the export goes on without it', {
          error: loggable(error) as Error,
        }),
    }),
  startedFields: (config) => ({
    bucket: config.exportsBucket,
    fileName: config.fileName,
    filter: config.filter ?? null,
  }),
  run: ({ config, store, s3, signal, logger, onProgress }) =>
    exportUsers({
      jobId: config.jobId,
      fileName: config.fileName,
      filter: config.filter,
      byteOrderMark: config.byteOrderMark,
      ...(config.partBytes === undefined ? {} : { partBytes: config.partBytes }),
      store,
      target: new S3ExportTarget(s3, config.exportsBucket),
      signal,
      progressIntervalMs: config.progressIntervalMs,
      onProgress: (progress) => {
        onProgress(progress);
        void store.recordProgress(config.jobId, progress);
      },
      onStartOver: (reason) =>
        logger.warn('export starts over: the earlier attempt’s parts are not kept', { reason }),
      onWait: (reason) =>
        logger.warn('export waits for another task of its job, then takes its result or resumes', {
          reason,
        }),
    }),
  finished: (summary) => ({
    rows: summary.manifest.rows,
    fields: {
      manifestKey: summary.manifestKey,
      key: summary.manifest.key,
      rows: summary.manifest.rows,
      parts: summary.manifest.parts.length,
      bytes: summary.manifest.bytes,
      csvBytes: summary.csvBytes,
      resumedParts: summary.resumedParts,
      rowsWritten: summary.rowsWritten,
    },
  }),
};
