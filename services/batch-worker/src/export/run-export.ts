import type { Logger } from '@aws-lambda-powertools/logger';
import { S3Client } from '@aws-sdk/client-s3';
import { resolveDatabaseUrl } from '@sidestep/runtime';
import { PostgresUserExportStore } from '../adapters/postgres-user-export-store.ts';
import { S3ExportTarget } from '../adapters/s3-export-target.ts';
import { type ExportConfig, loadExportConfig } from '../config.ts';
import { ExportFailedError, ExportInterruptedError } from '../errors.ts';
import { exportUsers } from './export-users.ts';

/** What the task's entry hands the export. */
export interface RunExportOptions {
  readonly logger: Logger;
  /** The process's peak resident set, for the `export finished` line. */
  readonly peakRssBytes: () => number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The `MODE=export` task: reads its inputs, exports, logs once per outcome and returns the exit
 * code: 0 exported (manifest written, counts on the job), 1 failed (reason on the job's
 * `worker_error`), 143 stopped by SIGTERM. Never throws.
 */
export async function runExport(options: RunExportOptions): Promise<number> {
  const { logger } = options;
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    logger.warn('stop requested: stopping the export', { signal });
    controller.abort(new ExportInterruptedError(signal));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  let config: ExportConfig;
  try {
    config = loadExportConfig(options.env);
  } catch (error) {
    logger.error('invalid configuration', { error: error as Error });
    return 1;
  }
  logger.appendPersistentKeys({ jobId: config.jobId, mode: config.mode });
  const s3 = new S3Client({ forcePathStyle: config.s3ForcePathStyle });
  let store: PostgresUserExportStore | undefined;
  const started = performance.now();
  try {
    store = await PostgresUserExportStore.connect({ url: await resolveDatabaseUrl(options.env) });
    logger.info('export started', { bucket: config.exportsBucket, filter: config.filter ?? null });
    const summary = await exportUsers({
      jobId: config.jobId,
      filter: config.filter,
      store,
      target: new S3ExportTarget(s3, config.exportsBucket),
      signal: controller.signal,
      progressIntervalMs: config.progressIntervalMs,
      onProgress: (progress) => {
        const { rss, heapUsed } = process.memoryUsage();
        logger.info('export progress', { ...progress, rssBytes: rss, heapUsedBytes: heapUsed });
      },
    });
    const seconds = (performance.now() - started) / 1000;
    logger.info('export finished', {
      manifestKey: summary.manifestKey,
      rows: summary.manifest.rows,
      parts: summary.manifest.parts.length,
      bytes: summary.manifest.bytes,
      csvBytes: summary.csvBytes,
      seconds: Number(seconds.toFixed(3)),
      rowsPerSecond: Math.round(summary.manifest.rows / seconds),
      maxRssBytes: options.peakRssBytes(),
    });
    return 0;
  } catch (error) {
    if (error instanceof ExportFailedError) {
      logger.error('export failed', {
        reason: error.reason,
        errorName: (error.cause as Error | undefined)?.name,
        ...(error.recordError === undefined ? {} : { recordError: error.recordError as Error }),
      });
      return error.cause instanceof ExportInterruptedError ? 143 : 1;
    }
    // Failed before the export could start (database unreachable, secret unavailable): nothing to
    // record on the job, the workflow's Catch records the task failure.
    logger.error('export could not start', { error: error as Error });
    return controller.signal.aborted ? 143 : 1;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await store?.close();
    s3.destroy();
  }
}
