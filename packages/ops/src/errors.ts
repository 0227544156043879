import { PermanentError } from '@sidestep/runtime';

/**
 * Base of every error the operations library raises on purpose; `field` names what was wrong.
 * Permanent: the same command fails the same way until the operator changes it.
 */
export class OpsError extends PermanentError {
  override readonly name: string = 'OpsError';
}

/** A name (queue, workflow, schedule, environment) sidestep does not declare. */
export class UnknownNameError extends OpsError {
  override readonly name: string = 'UnknownNameError';
  readonly value: string;
  readonly known: readonly string[];
  constructor(field: string, value: string, known: readonly string[]) {
    super(`${field}: no ${field} named "${value}" (declared: ${known.join(', ') || 'none'})`, { field });
    this.value = value;
    this.known = known;
  }
}

/** The action needs an AWS API the local cloud does not serve. */
export class UnsupportedLocallyError extends OpsError {
  override readonly name: string = 'UnsupportedLocallyError';
  constructor(action: string, reason: string) {
    super(`env: ${action} is not supported with --env local: ${reason}`, { field: 'env' });
  }
}

/** An execution ARN or name that names no execution of sidestep's workflows. */
export class ExecutionNotFoundError extends OpsError {
  override readonly name: string = 'ExecutionNotFoundError';
  readonly execution: string;
  constructor(execution: string) {
    super(`execution: no execution "${execution}" in sidestep's workflows`, { field: 'execution' });
    this.execution = execution;
  }
}

/** A value given on the command line that cannot be used (a duration, a rate, a JSON input). */
export class InvalidOptionError extends OpsError {
  override readonly name: string = 'InvalidOptionError';
}

/** A job retry asked while the execution that ran the job last is still running. */
export class ExecutionStillRunningError extends OpsError {
  override readonly name: string = 'ExecutionStillRunningError';
  readonly jobId: string;
  readonly executionArn: string;
  /** `RUNNING`, or `PENDING_REDRIVE` (a redrive about to run it again). */
  readonly status: 'RUNNING' | 'PENDING_REDRIVE';
  /** `then`: what the operator was doing, done once the execution is stopped (`retry`, `fail it`). */
  constructor(
    jobId: string,
    executionArn: string,
    status: 'RUNNING' | 'PENDING_REDRIVE',
    then: 'retry' | 'fail it' = 'retry',
  ) {
    super(
      `jobId: ${jobId}'s execution ${executionArn} is still ${status}: stop it first (sidestep stop), then ${then}`,
      { field: 'jobId' },
    );
    this.status = status;
    this.jobId = jobId;
    this.executionArn = executionArn;
  }
}

/** The name a job retry's execution needs is held by an execution of another input. */
export class RetryExecutionNameTakenError extends OpsError {
  override readonly name: string = 'RetryExecutionNameTakenError';
  readonly jobId: string;
  readonly executionArn: string;
  constructor(jobId: string, executionArn: string, why: string) {
    super(
      `jobId: cannot retry ${jobId}: execution ${executionArn} already exists (${why}); the job is as it was`,
      {
        field: 'jobId',
      },
    );
    this.jobId = jobId;
    this.executionArn = executionArn;
  }
}

/**
 * None of a job's executions exists for its retry to take the input and state machine of: the newest
 * one never started (a retry cut before StartExecution), and the ones before it are gone (Step
 * Functions keeps an ended Standard execution for 90 days:
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-state-machine-executions).
 */
export class RetryInputNotFoundError extends OpsError {
  override readonly name: string = 'RetryInputNotFoundError';
  readonly jobId: string;
  /** The executions looked for, newest first. */
  readonly executionArns: readonly string[];
  constructor(jobId: string, executionArns: readonly string[]) {
    super(
      `jobId: cannot retry ${jobId}: none of its executions exists to take the input of (${executionArns.join(', ')}); the job is as it was`,
      { field: 'jobId' },
    );
    this.jobId = jobId;
    this.executionArns = executionArns;
  }
}

/**
 * A search that could not run: a call refused (`action`, the IAM action), or what it reads missing.
 * What it would answer would be a guess, so nothing is answered.
 */
export class SearchError extends OpsError {
  override readonly name: string = 'SearchError';
  /** The IAM action refused (`logs:FilterLogEvents`), or null when what it reads is missing. */
  readonly action: string | null;
  /** What was read: the log group's or queue's name, or the outbox directory. */
  readonly resource: string;
  constructor(
    field: string,
    message: string,
    details: { readonly action?: string; readonly resource: string; readonly cause?: unknown },
  ) {
    super(`${field}: ${message}`, { field, cause: details.cause });
    this.action = details.action ?? null;
    this.resource = details.resource;
  }
}

/**
 * A search for a mail's records that could not run: a call refused, or what it reads missing (the log
 * group, the dead-letter queue, the local outbox). Its verdict would be a guess, so none is given.
 */
export class MailSearchError extends SearchError {
  override readonly name: string = 'MailSearchError';
}

/** A search for a job's log lines that could not run: a FilterLogEvents call refused. */
export class JobLogsError extends SearchError {
  override readonly name: string = 'JobLogsError';
}

/**
 * A `mail release` refused because its search ({@link findMail} of mail.ts) says the mail went out, or
 * cannot tell: releasing would let a redrive send it a second time. `--force` releases it anyway.
 */
export class MailMaybeSentError extends OpsError {
  override readonly name: string = 'MailMaybeSentError';
  readonly idempotencyKey: string;
  /** `sent`, or `no record` with caveats. */
  readonly verdict: string;
  /** The caveats' kinds of a "no record". */
  readonly caveats: readonly string[];
  constructor(search: {
    readonly idempotencyKey: string;
    readonly verdict: string;
    readonly advice: string;
    readonly caveats: readonly { readonly kind: string }[];
  }) {
    const key = search.idempotencyKey;
    const why =
      search.verdict === 'sent'
        ? `a mail with it went out (${search.advice})`
        : `whether a mail with it went out cannot be told (${search.verdict}, but ${search.caveats.map((caveat) => caveat.kind).join(', ')})`;
    super(
      `idempotencyKey: ${key} not released: ${why}; a redrive would send it again. See sidestep mail find ${key}; release with --force only once sure it was not sent`,
      { field: 'idempotencyKey' },
    );
    this.idempotencyKey = key;
    this.verdict = search.verdict;
    this.caveats = search.caveats.map((caveat) => caveat.kind);
  }
}
