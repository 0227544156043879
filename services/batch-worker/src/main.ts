/**
 * The batch-worker task's entry (`node index.mjs` in the image): runs the import
 * (src/import/import-mode.ts) or, with `MODE=export`, the export (src/export/export-mode.ts) through
 * one outline (src/run-task.ts) and exits 0 on success, 1 on failure, 143 when stopped by SIGTERM
 * (ECS's stop; SIGKILL follows after the stop timeout). ECS `runTask.sync` fails the workflow step on
 * a non-zero exit code.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { exportMode } from './export/export-mode.ts';
import { importMode } from './import/import-mode.ts';
import { runTask } from './run-task.ts';

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'batch-worker' });

process.exitCode =
  process.env.MODE === 'export'
    ? await runTask(exportMode, { logger })
    : await runTask(importMode, { logger });
