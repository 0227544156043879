import { readFileSync } from 'node:fs';
import type { Logger } from '@aws-lambda-powertools/logger';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { TRANSIENT_FAILURE_EXIT_CODE } from '@sidestep/contracts';
import { type Environment, isDatabaseError, loggableError, resolveDatabaseUrl } from '@sidestep/runtime';
import { TaskFailedError, TaskInterruptedError } from './errors.ts';
import { isTransientFailure } from './transient-failure.ts';

/** What every mode's configuration holds (src/config.ts). */
export interface TaskConfig {
  readonly mode: 'import' | 'export' | 'migrate';
  /** The job the task works for; `undefined` for `migrate`, which serves no job. */
  readonly jobId: string | undefined;
  readonly progressIntervalMs: number;
  readonly s3ForcePathStyle: boolean;
}

/** A mode's database store: connected once, closed when the task ends. */
export interface TaskStore {
  close(): Promise<void>;
}

/** What {@link runTask} hands a mode's `run`. */
export interface TaskContext<Config extends TaskConfig, Store extends TaskStore> {
  readonly config: Config;
  readonly store: Store;
  readonly s3: S3Client;
  /** Aborted by SIGTERM or SIGINT, with the mode's interrupted error as the reason. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Logs a `<mode> progress` line with the process's memory. */
  readonly onProgress: (progress: object) => void;
}

/** One of the task's modes (`import`, `export`, `migrate`): what it adds to the outline of {@link runTask}. */
export interface TaskMode<Config extends TaskConfig, Store extends TaskStore, Summary> {
  /** The first word of the mode's log lines. */
  readonly name: Config['mode'];
  /** What a stop request does, for its log line (`rolling the import back`). */
  readonly onStop: string;
  readonly interrupted: (signal: NodeJS.Signals) => TaskInterruptedError;
  /** Reads and validates the mode's environment (throws `ConfigError`). */
  readonly loadConfig: (env: Environment) => Config;
  /**
   * Connects to the database at `url`; `env` holds `DATABASE_TLS` and the `DATABASE_*_MS` limits;
   * `logger` is for what the store reports on its own (a retried transaction); `config` is the
   * mode's, for the settings of its own the store takes.
   */
  readonly connect: (url: string, env: Environment, logger: Logger, config: Config) => Promise<Store>;
  /** Fields of the `<mode> started` line. */
  readonly startedFields: (config: Config, store: Store) => Record<string, unknown>;
  /** Does the work; throws the mode's {@link TaskFailedError} after recording it on the job. */
  readonly run: (context: TaskContext<Config, Store>) => Promise<Summary>;
  /**
   * The rows the summary counts (for rows/s; `undefined` for a mode that moves no rows) and the other
   * fields of the `<mode> finished` line.
   */
  readonly finished: (summary: Summary) => {
    readonly rows: number | undefined;
    readonly fields: Record<string, unknown>;
  };
  /** Fields the `<mode> failed` line adds for the mode's failure. */
  readonly failedFields?: (failure: TaskFailedError) => Record<string, unknown>;
}

/** Options of {@link runTask}. */
export interface RunTaskOptions {
  readonly logger: Logger;
  /** @default process.env */
  readonly env?: Environment;
  /** Where SIGTERM and SIGINT come from. @default process */
  readonly signals?: Pick<NodeJS.EventEmitter, 'once' | 'off'>;
  /** @default {@link STOP_DEADLINE_MS} */
  readonly stopDeadlineMs?: number;
  /** Ends the process when a stop outlasts its deadline. @default process.exit */
  readonly exit?: (code: number) => void;
}

/**
 * How long a stop may take before the task ends itself: ECS sends SIGKILL the task definition's
 * `stopTimeout` after SIGTERM (120 s, task.ts), which would end the process without a word of why.
 * A stop waits for the work in flight to settle (a segment's rollback, the last progress record, the
 * failure recorded on the job), each bounded by its own timeouts, but a run of stalled requests could
 * add up past it; 15 s before the SIGKILL the task logs that and exits 143, as a stop does. What it
 * leaves is what a SIGKILL leaves, which every mode is built to resume from: committed segments, the
 * parts a progress record lists.
 */
export const STOP_DEADLINE_MS = 105_000;

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

/**
 * `error` as a log line may show it: {@link loggableError} of `@sidestep/runtime`, without what a
 * database error (or one in its causes) quotes of a row or of a statement's values (its DETAIL, the
 * bind parameters in its CONTEXT when log_parameter_max_length_on_error is set). Powertools' Logger
 * writes every enumerable property of a logged error and of its cause.
 */
export function loggable(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? loggableError(error as Error) : error;
}

/** User plus system CPU seconds of the process so far. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return Number(((user + system) / 1e6).toFixed(3));
}

/** How long the task's S3 requests may wait on the network. */
export interface S3Timeouts {
  /** To open a connection. */
  readonly connectionTimeoutMs: number;
  /** Without a byte received or sent on an open connection. */
  readonly socketTimeoutMs: number;
}

/**
 * The task's timeouts: the AWS SDK's S3 client sets none (`@smithy/node-http-handler` applies a
 * socket timeout only when configured), so a connection that went silent held a part's upload, or
 * a stop's last progress record, until ECS's SIGKILL. 30 s without a byte is far beyond a healthy
 * part's upload stalling, and a request's three attempts then end within the task's 120 s stop timeout.
 */
export const TASK_S3_TIMEOUTS: S3Timeouts = { connectionTimeoutMs: 5_000, socketTimeoutMs: 30_000 };

/** The S3 client of a task: path-style addressing as configured, the network timeouts above. */
export function taskS3Client(
  config: Pick<TaskConfig, 's3ForcePathStyle'>,
  timeouts: S3Timeouts = TASK_S3_TIMEOUTS,
  overrides: S3ClientConfig = {},
): S3Client {
  return new S3Client({
    forcePathStyle: config.s3ForcePathStyle,
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs,
      socketTimeout: timeouts.socketTimeoutMs,
    },
    ...overrides,
  });
}

/**
 * The exit code of a failure: 143 for a stop request (128 + SIGTERM, as ECS reports a container
 * SIGTERM ended), {@link TRANSIENT_FAILURE_EXIT_CODE} (75) for a transient cause (a database
 * conflict, the database or S3 unreachable or failing: {@link isTransientFailure}; nothing imported,
 * the staging or the stored parts kept: the workflow reruns the task), 1 for the rest.
 */
function exitCodeOf(cause: unknown, stopped: boolean): number {
  if (stopped) return 143;
  return isTransientFailure(cause) ? TRANSIENT_FAILURE_EXIT_CODE : 1;
}

/**
 * Runs one mode of the task and returns the exit code: reads the configuration, connects to the
 * database, runs the mode with SIGTERM/SIGINT wired to an abort, logs once per outcome. 0 done
 * (counts on the job), 1 failed (reason on the job's `worker_error`, or invalid configuration, or the
 * mode could not start), 75 a transient failure (a database conflict, the database or S3 unreachable
 * or failing) outlasted the worker's own retries (reason on the job; safe to rerun, which resumes), 143
 * stopped by a signal. Never throws: every failure is logged once, here.
 */
export async function runTask<Config extends TaskConfig, Store extends TaskStore, Summary>(
  mode: TaskMode<Config, Store, Summary>,
  options: RunTaskOptions,
): Promise<number> {
  const { logger } = options;
  const env = options.env ?? process.env;
  const signals = options.signals ?? process;
  const stopDeadlineMs = options.stopDeadlineMs ?? STOP_DEADLINE_MS;
  const controller = new AbortController();
  let deadline: NodeJS.Timeout | undefined;
  const stop = (signal: NodeJS.Signals) => {
    logger.warn(`stop requested: ${mode.onStop}`, { signal });
    controller.abort(mode.interrupted(signal));
    deadline ??= setTimeout(() => {
      logger.error(`${mode.name} stop outlasted its deadline: exiting before the stop timeout's SIGKILL`, {
        signal,
        deadlineMs: stopDeadlineMs,
        exitCode: 143,
      });
      (options.exit ?? process.exit)(143);
    }, stopDeadlineMs);
    deadline.unref();
  };
  signals.once('SIGTERM', stop);
  signals.once('SIGINT', stop);

  let config: Config;
  try {
    config = mode.loadConfig(env);
  } catch (error) {
    logger.error('invalid configuration', { error: error as Error });
    return 1;
  }
  // The workflow's execution (its ARN, the `EXECUTION_ID` override), as the functions' lines carry
  // it: one query by the execution finds the task's lines too. Only for the logs: read as it is.
  const executionId = env.EXECUTION_ID;
  logger.appendPersistentKeys({
    ...(config.jobId === undefined ? {} : { jobId: config.jobId }),
    ...(executionId ? { executionId } : {}),
    mode: config.mode,
  });
  const s3 = taskS3Client(config);
  let store: Store | undefined;
  /** Set once connected: a failure after it is the mode's, not the start's. */
  let started = false;
  const startedAt = performance.now();
  try {
    store = await mode.connect(await resolveDatabaseUrl(env), env, logger, config);
    started = true;
    logger.info(`${mode.name} started`, {
      ...mode.startedFields(config, store),
      // Since the process started (performance's time origin): loading, configuration, connecting.
      startupMs: Math.round(performance.now()),
    });
    const summary = await mode.run({
      config,
      store,
      s3,
      signal: controller.signal,
      logger,
      onProgress: (progress) => {
        const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
        logger.info(`${mode.name} progress`, {
          ...progress,
          rssBytes: rss,
          heapUsedBytes: heapUsed,
          externalBytes: external,
          arrayBuffersBytes: arrayBuffers,
        });
      },
    });
    const seconds = (performance.now() - startedAt) / 1000;
    const { rows, fields } = mode.finished(summary);
    logger.info(`${mode.name} finished`, {
      ...fields,
      seconds: Number(seconds.toFixed(3)),
      ...(rows === undefined ? {} : { rowsPerSecond: Math.round(rows / seconds) }),
      maxRssBytes: peakRssBytes(),
      // The process's own CPU (all threads: zlib's compress on the thread pool): on a shared machine
      // a steadier measure of the work done than the wall time.
      cpuSeconds: cpuSeconds(),
    });
    return 0;
  } catch (error) {
    if (error instanceof TaskFailedError) {
      const { cause } = error;
      const exitCode = exitCodeOf(cause, cause instanceof TaskInterruptedError);
      logger.error(`${mode.name} failed`, {
        reason: error.reason,
        // node-postgres names every database error `error`: its class's name says what it is, and
        // the error itself (its SQLSTATE, constraint and table; not what it quotes) what failed.
        ...(isDatabaseError(cause)
          ? { errorName: 'DatabaseError', error: loggable(cause) as Error }
          : { errorName: (cause as Error | undefined)?.name }),
        exitCode,
        ...mode.failedFields?.(error),
        ...(error.recordError === undefined ? {} : { recordError: loggable(error.recordError) as Error }),
      });
      return exitCode;
    }
    if (started) {
      // A mode with no job to record on (migrate) fails with its own error: log its reason.
      logger.error(`${mode.name} failed`, {
        reason: error instanceof Error ? error.message : String(error),
        errorName: (error as Error | undefined)?.name,
        error: loggable(error) as Error,
      });
      return controller.signal.aborted ? 143 : 1;
    }
    // Failed before the work could start (database unreachable, secret unavailable): nothing to
    // record on the job. A transient cause exits 75 (the workflow runs the task again after a wait),
    // any other 1 (the workflow's Catch records the task failure).
    const exitCode = exitCodeOf(error, controller.signal.aborted);
    logger.error(`${mode.name} could not start`, { error: loggable(error) as Error, exitCode });
    return exitCode;
  } finally {
    signals.off('SIGTERM', stop);
    signals.off('SIGINT', stop);
    await store?.close();
    s3.destroy();
    // Last: a stop's deadline covers closing the database connections too.
    clearTimeout(deadline);
  }
}
