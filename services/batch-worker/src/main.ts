/**
 * The batch-worker task's entry (`node index.mjs` in the image): runs the import
 * (src/import/import-mode.ts), with `MODE=export` the export (src/export/export-mode.ts), or with
 * `MODE=migrate` the database migrations (src/migrate-mode.ts, the deploy's one-off task) through
 * one outline (src/run-task.ts) and exits 0 on success, 1 on failure, 75 when a transient failure (a
 * database conflict, the database or S3 unreachable or failing) outlasted the worker's own retries
 * (safe to rerun, which resumes: the workflow does), 143 when stopped by
 * SIGTERM (ECS's stop; SIGKILL follows after the stop timeout). ECS `runTask.sync` fails the workflow
 * step on a non-zero exit code.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { runTask } from './run-task.ts';

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'batch-worker' });

// Each mode is a chunk of its own (build.ts splits the bundle): a task loads the code of its mode.
process.exitCode =
  process.env.MODE === 'export'
    ? await runTask((await import('./export/export-mode.ts')).exportMode, { logger })
    : process.env.MODE === 'migrate'
      ? await runTask((await import('./migrate-mode.ts')).migrateMode, { logger })
      : await runTask((await import('./import/import-mode.ts')).importMode, { logger });
