import { DEFAULT_JOB_RETENTION_DAYS, EmailAddress, MIN_JOB_RETENTION_DAYS } from '@sidestep/contracts';
import { DATABASE_ENVIRONMENT, databaseSource, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const JobSweeperEnvironment = z.object({
  ...DATABASE_ENVIRONMENT,
  /**
   * The mail job queue (the `mail-queue` permission sets it). Checked as an http(s) URL by pattern,
   * not `z.url()`: local emulators answer with hosts like `sqs.us-east-1.127.0.0.1`, which zod's
   * hostname rule refuses although the SDK uses them fine.
   */
  MAIL_QUEUE_URL: z.string().check(z.regex(/^https?:\/\/[^\s/]+\/\S+$/)),
  /** Who receives an import's failure mail: the import workflow's `notifyAddress`. */
  NOTIFY_ADDRESS: EmailAddress,
  /**
   * How many days the ledger keeps a finished job and an operator audit entry: whole days, at least
   * `MIN_JOB_RETENTION_DAYS` (14: an execution may be redriven that long after it failed), 90 unless
   * set (Step Functions' execution history).
   */
  JOB_RETENTION_DAYS: z._default(
    z.coerce.number().check(z.int(), z.minimum(MIN_JOB_RETENTION_DAYS)),
    DEFAULT_JOB_RETENTION_DAYS,
  ),
});

/** The job-sweeper's configuration. */
export interface JobSweeperConfig {
  /** Where the database URL comes from; `resolveDatabaseUrl` reads the variable it names. */
  readonly database: 'url' | 'secret';
  readonly mailQueueUrl: string;
  readonly notifyAddress: string;
  /** How many days finished jobs and audit entries are kept (`JOB_RETENTION_DAYS`). */
  readonly jobRetentionDays: number;
}

/**
 * Reads the job-sweeper's environment once, at cold start: a function deployed without its
 * database, its mail queue or its notify address, or with a retention that is not whole days of at
 * least 14, fails at init naming the variable, not at 3 a.m. in the middle of a sweep.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): JobSweeperConfig {
  const config = readConfig(JobSweeperEnvironment, env);
  return {
    database: databaseSource(config),
    mailQueueUrl: config.MAIL_QUEUE_URL,
    notifyAddress: config.NOTIFY_ADDRESS,
    jobRetentionDays: config.JOB_RETENTION_DAYS,
  };
}
