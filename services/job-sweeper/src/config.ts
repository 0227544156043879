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
  NOTIFY_ADDRESS: z.email(),
});

/** The job-sweeper's configuration. */
export interface JobSweeperConfig {
  /** Where the database URL comes from; `resolveDatabaseUrl` reads the variable it names. */
  readonly database: 'url' | 'secret';
  readonly mailQueueUrl: string;
  readonly notifyAddress: string;
}

/**
 * Reads the job-sweeper's environment once, at cold start: a function deployed without its
 * database, its mail queue or its notify address fails at init naming the variable, not at 3 a.m.
 * in the middle of a sweep.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): JobSweeperConfig {
  const config = readConfig(JobSweeperEnvironment, env);
  return {
    database: databaseSource(config),
    mailQueueUrl: config.MAIL_QUEUE_URL,
    notifyAddress: config.NOTIFY_ADDRESS,
  };
}
