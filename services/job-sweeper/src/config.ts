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
  /**
   * The workflows' state machines, comma-separated ARNs (the `workflow-executions` permission sets
   * it): the scheduled sweep lists their ended executions, for the ends no status change event handled.
   * Empty in a stack without workflows (the local cloud running services alone): nothing to list.
   */
  WORKFLOW_STATE_MACHINE_ARNS: z
    .string()
    .check(
      z.regex(
        /^(arn:[\w-]+:states:[\w-]+:\d{12}:stateMachine:[\w-]+(,arn:[\w-]+:states:[\w-]+:\d{12}:stateMachine:[\w-]+)*)?$/,
      ),
    ),
  /**
   * How long the scheduled sweep leaves an ended execution to its own status change event before it
   * handles the end itself: whole seconds, 60 unless set (the event usually comes within seconds;
   * handling an end twice is harmless, only wasted work).
   */
  WORKFLOW_END_GRACE_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 60),
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
  /** The workflows' state machines (`WORKFLOW_STATE_MACHINE_ARNS`). */
  readonly workflowStateMachineArns: readonly string[];
  /** How long an ended execution is left to its event (`WORKFLOW_END_GRACE_SECONDS`), in ms. */
  readonly workflowEndGraceMs: number;
}

/**
 * Reads the job-sweeper's environment once, at cold start: a function deployed without its
 * database, its mail queue, its notify address or its workflows, or with a retention that is not whole days of at
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
    workflowStateMachineArns: config.WORKFLOW_STATE_MACHINE_ARNS.split(',').filter((arn) => arn !== ''),
    workflowEndGraceMs: config.WORKFLOW_END_GRACE_SECONDS * 1000,
  };
}
