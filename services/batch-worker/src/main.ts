/**
 * The batch-worker task's entry (`node index.mjs` in the image): reads its inputs from the
 * environment (the workflow's ECS container overrides), runs the import (or, with `MODE=export`,
 * the export: src/export/run-export.ts), logs, and exits 0 on
 * success, 1 on failure, 143 when stopped by SIGTERM (ECS's stop; SIGKILL follows after the stop
 * timeout). ECS `runTask.sync` fails the workflow step on a non-zero exit code.
 */
import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { S3Client } from '@aws-sdk/client-s3';
import { resolveDatabaseUrl } from '@sidestep/runtime';
import { PostgresUserImportStore } from './adapters/postgres-user-import-store.ts';
import { openSourceObject } from './adapters/s3-source.ts';
import { loadConfig } from './config.ts';
import { ImportFailedError, ImportInterruptedError } from './errors.ts';
import { runExport } from './export/run-export.ts';
import { importUsers } from './import-users.ts';

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'batch-worker' });

/**
 * The process's peak resident set: the number that must stay flat as files grow. Linux's VmHWM
 * rather than getrusage's ru_maxrss (`process.resourceUsage().maxRSS`): ru_maxrss survives exec, so
 * a task spawned by a large parent (the local cloud, the benchmark) would report the parent's peak.
 */
function peakRssBytes(): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) * 1024;
  } catch {
    // not Linux: fall back to getrusage
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Runs the task and returns its exit code. Never throws: every failure is logged once, here. */
async function run(): Promise<number> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    logger.warn('stop requested: rolling the import back', { signal });
    controller.abort(new ImportInterruptedError(signal));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    logger.error('invalid configuration', { error: error as Error });
    return 1;
  }
  logger.appendPersistentKeys({ jobId: config.jobId, mode: config.mode });
  const s3 = new S3Client({ forcePathStyle: config.s3ForcePathStyle });
  let store: PostgresUserImportStore | undefined;
  const started = performance.now();
  try {
    store = await PostgresUserImportStore.connect({ url: await resolveDatabaseUrl() });
    logger.info('import started', { source: config.source, staging: store.stagingMethod });
    const summary = await importUsers({
      jobId: config.jobId,
      store,
      maxRejectedRows: config.maxRejectedRows,
      signal: controller.signal,
      progressIntervalMs: config.progressIntervalMs,
      onProgress: (progress) => {
        const { rss, heapUsed } = process.memoryUsage();
        logger.info('import progress', { ...progress, rssBytes: rss, heapUsedBytes: heapUsed });
      },
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
    });
    const seconds = (performance.now() - started) / 1000;
    logger.info('import finished', {
      rowsTotal: summary.rowsTotal,
      rowsImported: summary.rowsImported,
      rowsRejected: summary.rowsRejected,
      usersWritten: summary.usersWritten,
      bytesRead: summary.bytesRead,
      seconds: Number(seconds.toFixed(3)),
      rowsPerSecond: Math.round(summary.rowsTotal / seconds),
      maxRssBytes: peakRssBytes(),
    });
    return 0;
  } catch (error) {
    if (error instanceof ImportFailedError) {
      logger.error('import failed', {
        reason: error.reason,
        errorName: (error.cause as Error | undefined)?.name,
        rowsRejected: error.rowsRejected,
        ...(error.recordError === undefined ? {} : { recordError: error.recordError as Error }),
      });
      return error.cause instanceof ImportInterruptedError ? 143 : 1;
    }
    // Failed before the import could start (database unreachable, secret unavailable): nothing to
    // record on the job, the workflow's Catch records the task failure.
    logger.error('import could not start', { error: error as Error });
    return controller.signal.aborted ? 143 : 1;
  } finally {
    await store?.close();
    s3.destroy();
  }
}

process.exitCode = process.env.MODE === 'export' ? await runExport({ logger, peakRssBytes }) : await run();
