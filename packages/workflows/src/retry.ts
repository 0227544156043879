import type { Retrier } from './asl.ts';

/** The most a retrier waits between two attempts (its `MaxDelaySeconds`). */
const MAX_RETRY_DELAY_SECONDS = 60;

/**
 * Errors of the Lambda service itself (the function did not run, or its result was lost), retried:
 * the list the AWS CDK's `LambdaInvoke` retries by default, plus throttling, `Sandbox.Timedout` (the
 * function's sandbox timed out or was recycled mid-invocation) and `Lambda.Unknown` (the invocation
 * ended without a result) and `Runtime.ExitError` (the function's process died mid-invocation: killed,
 * out of memory; Lambda reports it as the function's error). Every step is idempotent, so invoking it
 * again is safe.
 * Errors the functions throw (`InvalidTransitionError`, `UnexpectedStateError`, validation errors)
 * are deliberately absent: they are permanent, and retrying cannot change their outcome.
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
 */
export const TRANSIENT_LAMBDA_ERRORS = [
  'Sandbox.Timedout',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.Unknown',
  'Runtime.ExitError',
] as const;

/**
 * Errors the status-updater itself reports as transient: its ledger (PostgreSQL) could not be reached
 * and nothing was committed, so the same step retried is safe. Everything else it throws is permanent.
 */
export const TRANSIENT_STATUS_UPDATER_ERRORS = ['JobLedgerUnavailableError'] as const;

/**
 * The retrier of {@link TRANSIENT_STATUS_UPDATER_ERRORS}: 8 retries waiting 3, 6, 12, 24, 48, 60, 60
 * and 60 s, 4 min 33 s in all before the step gives up (plus the attempts' own time). An RDS Multi-AZ
 * failover takes "typically 60-120 seconds", longer after large transactions
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.MultiAZ.Failover.html), and a
 * RegisterJob that gives up loses the upload (no job exists to retry), a MarkFailed leaves the job to
 * the job-sweeper. Without jitter, so the window is certain: full jitter draws each wait between 0
 * and the backoff, so it promises none (these waits, jittered, would total 2 min 16 s on average and
 * less than 2 min about one time in three). The price: executions whose calls failed in the same
 * second retry in the same second; the others are spread by when their own calls failed.
 */
export const LEDGER_OUTAGE_RETRY: Retrier = retry(TRANSIENT_STATUS_UPDATER_ERRORS, 3, 8, 'NONE');

/**
 * Errors the export-finalizer reports as transient: S3 throttled it, answered 5xx or could not be
 * reached; it aborted its multipart upload and reported nothing, so the same step retried starts over
 * (the finalizer is idempotent); or Secrets Manager could not give it the download links' signing key
 * (`SecretUnavailableError`, before any S3 work: a throttle or a network error on a cold start, or
 * when its cached key expires). Its other errors (a part missing or corrupt, a result that fails its
 * check) are permanent.
 */
export const TRANSIENT_EXPORT_FINALIZER_ERRORS = [
  'ExportStorageUnavailableError',
  'SecretUnavailableError',
] as const;

/**
 * ECS's answer that there is no room for the task yet, retried as long as
 * {@link ECS_CAPACITY_WAIT_SECONDS} ({@link ECS_CAPACITY_RETRY}): `AmazonECS.Unknown`, RunTask answered
 * 200 with a non-empty `Failures` and started no task, which the `.sync` integration raises under that
 * name (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html): the account's Fargate
 * vCPU quota is full ({@link FARGATE_VCPU_LIMIT_REASON}; a new account's may fit only a task or two),
 * or Fargate Spot has no capacity ("Capacity is unavailable at this time"; both in
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html). Each
 * clears as other tasks stop.
 */
export const ECS_CAPACITY_ERRORS = ['AmazonECS.Unknown'] as const;

/**
 * ECS API errors while starting the task that pass in minutes, retried with jitter
 * ({@link ECS_START_RETRY}).
 * `ECS.AmazonECSException`: among others RunTask throttled ("Rate exceeded"), which Fargate does past
 * {@link FARGATE_RUN_TASK_RATE} calls a second: jittered, the executions of a burst do not call again
 * in the same second. Step Functions reports Fargate capacity unavailable under this name too
 * (https://repost.aws/knowledge-center/ecs-fargate-runtask-capacity), which a Retry cannot tell from
 * the throttle: it gets these retries, not the hour of {@link ECS_CAPACITY_RETRY}.
 * `ECS.ServerException`, `ECS.ThrottlingException`: a fault of the service, the ECS API throttled.
 * `ECS.InvalidParameterException`: what RunTask answers when the EC2 calls it makes for the task's
 * network interface are throttled ("Error retrieving security group information for [sg-…]: Request
 * limit exceeded", the "asynchronous throttling" of
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/operating-at-scale-dealing-with-throttles.html),
 * as well as for a request that is wrong for good; a Retry cannot tell them apart by the cause, so a
 * wrong request fails the job after the retries, its cause kept, a few minutes later instead of at
 * once. A failure that persists (a task definition gone) fails the job after the retries too.
 */
export const ECS_START_ERRORS = [
  'ECS.AmazonECSException',
  'ECS.ServerException',
  'ECS.ThrottlingException',
  'ECS.InvalidParameterException',
] as const;

/**
 * Every ECS error a batch task's start retries: {@link ECS_CAPACITY_ERRORS} and
 * {@link ECS_START_ERRORS}. A task that ran and stopped with a non-zero exit fails with
 * `States.TaskFailed` and is NOT retried: the worker exits non-zero for bad input (a bad header, too
 * many rejected rows), which a retry cannot fix.
 */
export const TRANSIENT_ECS_ERRORS = [...ECS_CAPACITY_ERRORS, ...ECS_START_ERRORS] as const;

/**
 * Fargate's RunTask calls a second per account and Region, burst and sustained: "The rate quota for
 * calls to the Amazon ECS RunTask API is 20 calls per second (burst and sustained)"
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html). A burst of uploads
 * starts a task each; the local cloud throttles RunTask at it.
 */
export const FARGATE_RUN_TASK_RATE = 20;

/**
 * The reason of RunTask's `Failures` entry when the task's vCPUs do not fit in what the account may
 * run on Fargate at once, in ECS's words
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html); the
 * local cloud answers it past its `fargateVcpuQuota`.
 */
export const FARGATE_VCPU_LIMIT_REASON =
  'You’ve reached the limit on the number of vCPUs you can run concurrently';

/**
 * How long a batch task's start waits for room ({@link ECS_CAPACITY_ERRORS}) before its job fails: an
 * hour, the default batch task's timeout, so a task that waits outlasts every task of the same
 * timeout that was running when it began. Without jitter, so the hour is certain (full jitter would
 * wait half as long on average and promise nothing). Fargate starts tasks in no queue, so one that
 * waits can be passed by a later one that called at the right moment.
 */
export const ECS_CAPACITY_WAIT_SECONDS = 3600;

/**
 * The batch task's start retried while ECS has no room for it ({@link ECS_CAPACITY_ERRORS}): from
 * 10 s, doubling, then once a minute, until {@link ECS_CAPACITY_WAIT_SECONDS} have passed (62
 * retries, 1 h 10 s of waits). Each is a RunTask call, one a minute per waiting job; one throttled
 * meanwhile is retried by {@link ECS_START_RETRY}, whose 7 retries last the state's whole wait. The
 * waits are the same for every job, so jobs refused in different seconds call in different seconds;
 * those refused in the same second, at most {@link FARGATE_RUN_TASK_RATE} as RunTask's rate lets them
 * through, call together, within that rate.
 */
export const ECS_CAPACITY_RETRY = retry(
  ECS_CAPACITY_ERRORS,
  10,
  attemptsLasting(ECS_CAPACITY_WAIT_SECONDS, 10),
  'NONE',
);

/**
 * The batch task's start retried on {@link ECS_START_ERRORS}: 7 retries from 10 s, doubling, at most
 * 60 s apart (10, 20, 40, 60, 60, 60, 60: at most 5 min 10 s, with full jitter about half), long
 * enough for a burst of a few hundred uploads at Fargate's {@link FARGATE_RUN_TASK_RATE} RunTask calls
 * a second.
 */
export const ECS_START_RETRY = retry(ECS_START_ERRORS, 10, 7);

/**
 * SQS errors a later attempt can get past (throttling, network faults), retried. Not the catch-all
 * `SQS.AmazonSQSException`, which also stands for access denied and other permanent errors.
 */
export const TRANSIENT_SQS_ERRORS = [
  'SQS.SdkClientException',
  'SQS.RequestThrottledException',
  'SQS.ThrottlingException',
  'SQS.KmsThrottledException',
] as const;

/**
 * A retrier for `errors`: exponential backoff (base 2, at most 60 s apart), by default with full
 * jitter, so the executions of a burst do not retry in lockstep. Full jitter waits a random time
 * between 0 and the backoff, so it promises no least wait: a retrier that must outlast an outage
 * passes `jitter: 'NONE'` (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
 */
export function retry(
  errors: readonly string[],
  intervalSeconds: number,
  maxAttempts: number,
  jitter: 'FULL' | 'NONE' = 'FULL',
): Retrier {
  return {
    ErrorEquals: [...errors],
    IntervalSeconds: intervalSeconds,
    MaxAttempts: maxAttempts,
    BackoffRate: 2,
    MaxDelaySeconds: MAX_RETRY_DELAY_SECONDS,
    JitterStrategy: jitter,
  };
}

/**
 * The longest `retrier` waits in all, every attempt made: each wait at its backoff (full jitter waits
 * up to it), capped at `MaxDelaySeconds`
 * (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
 */
export function retryWaitSeconds(retrier: Retrier): number {
  let seconds = 0;
  for (let attempt = 0; attempt < (retrier.MaxAttempts ?? 3); attempt++) {
    const backoff = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt;
    seconds += Math.min(backoff, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
  }
  return seconds;
}

/** The fewest attempts of {@link retry}'s backoff from `intervalSeconds` whose waits add up to `seconds`. */
function attemptsLasting(seconds: number, intervalSeconds: number): number {
  let attempts = 1;
  while (retryWaitSeconds(retry([], intervalSeconds, attempts)) < seconds) attempts += 1;
  return attempts;
}
