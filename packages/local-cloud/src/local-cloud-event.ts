import type { QueueAttributeChange } from './queues.ts';
import type { QuotaExceededMail, RejectedMail, ThrottledMail } from './smtp-sink.ts';

/**
 * Everything the local cloud tells a person about: what arrived, what ran, what failed and why.
 * One discriminated union so a reporter is a single function and a test can collect the events.
 */
export type LocalCloudEvent =
  | {
      readonly type: 'queue-created';
      readonly queue: string;
      readonly url: string;
      /** The dead-letter queue redrive sends to, for a job queue. */
      readonly deadLetterQueue?: string;
      /** What this start changed on a queue kept with other attributes (a release changed them). */
      readonly updated?: readonly QueueAttributeChange[];
    }
  | {
      readonly type: 'service-started';
      readonly service: string;
      /**
       * Time from spawning the sandbox to the function being ready to invoke; absent when the cloud
       * starts sandboxes on their first invocation (`prewarm: false`).
       */
      readonly coldStartMs?: number;
    }
  | {
      readonly type: 'message-received';
      readonly queue: string;
      readonly messageId: string;
      /** The envelope `type` when the body is a sidestep envelope. */
      readonly jobType?: string;
      /** The envelope `id` when the body is a sidestep envelope. */
      readonly jobId?: string;
      /** `ApproximateReceiveCount`: 1 on first delivery. */
      readonly receiveCount: number;
    }
  | {
      readonly type: 'invocation';
      readonly service: string;
      readonly queue: string;
      readonly requestId: string;
      readonly batchSize: number;
      readonly durationMs: number;
      /** `ok`: every record succeeded; `partial`: some records failed; `error`: the whole batch failed. */
      readonly outcome: 'ok' | 'partial' | 'error';
      readonly failedRecords: number;
      /** Why the whole batch failed (function error, timeout, malformed batch response). */
      readonly reason?: string;
    }
  | {
      readonly type: 'record-failed';
      readonly service: string;
      readonly queue: string;
      readonly messageId: string;
      readonly reason: string;
      readonly receiveCount: number;
      readonly maxReceiveCount?: number;
      /** True when this was the last receive SQS allows: the next receive moves it to the DLQ. */
      readonly deadLetterNext: boolean;
    }
  | {
      readonly type: 'dead-lettered';
      /** The dead-letter queue. */
      readonly queue: string;
      readonly messageId: string;
      /**
       * `runtime`: the service's runtime sent it there itself (a permanent error), with the reason
       * in message attributes; `redrive`: SQS moved it after `maxReceiveCount` failed receives.
       */
      readonly cause: 'runtime' | 'redrive';
      /** For a redrive: how many deliveries failed before SQS moved it. */
      readonly receiveCount?: number;
      /** `sidestep.error.type` set by the runtime when it dead-letters a permanent error itself. */
      readonly errorType?: string;
      /** `sidestep.error.message` set by the runtime. */
      readonly errorMessage?: string;
    }
  | {
      readonly type: 'mail-delivered';
      readonly to: readonly string[];
      readonly subject: string;
      readonly file: string;
      /** The http(s) links in the decoded body (the export-ready mail's download link). */
      readonly links: readonly string[];
    }
  /** The SMTP sink refused a mail over its maximum send rate (454, as SES throttles it). */
  | ({ readonly type: 'mail-throttled' } & ThrottledMail)
  /** The SMTP sink's SES sandbox refused a mail to a recipient not verified (554, as SES does). */
  | ({ readonly type: 'mail-rejected' } & RejectedMail)
  /** The SMTP sink's SES sandbox refused a mail past its sending quota of 24 hours (454, as SES does). */
  | ({ readonly type: 'mail-quota-exceeded' } & QuotaExceededMail)
  | {
      readonly type: 'bucket-created';
      readonly bucket: string;
      /** Whether the bucket sends "Object Created" events to EventBridge. */
      readonly eventBridge: boolean;
    }
  | {
      readonly type: 'event-routed';
      /** The bus, when not `default` (operator events go to `sidestep-<env>`). */
      readonly eventBus?: string;
      /** The event's `source` and `detail-type`, e.g. `aws.s3` / `Object Created`. */
      readonly source: string;
      readonly detailType: string;
      /** What the event is about, e.g. `sidestep-local-imports/imports/users.csv`. */
      readonly subject: string;
      /** The rules whose pattern matched (none: the event was dropped, as EventBridge does). */
      readonly rules: readonly string[];
    }
  | {
      readonly type: 'execution-started';
      readonly stateMachine: string;
      /** The execution name. */
      readonly execution: string;
      readonly executionArn: string;
    }
  | {
      readonly type: 'execution-finished';
      readonly stateMachine: string;
      readonly execution: string;
      readonly executionArn: string;
      readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'RUNNING';
      readonly durationMs: number;
      /** For a failed execution: the error name (`States.TaskFailed`, a Fail state's `Error`). */
      readonly error?: string;
      readonly cause?: string;
    }
  | {
      readonly type: 'state-entered';
      readonly execution: string;
      readonly state: string;
      /** `Task`, `Choice`, `Succeed`, ... */
      readonly stateType: string;
    }
  | {
      readonly type: 'state-exited';
      readonly execution: string;
      readonly state: string;
      readonly stateType: string;
      readonly durationMs: number;
    }
  | {
      readonly type: 'state-failed';
      readonly execution: string;
      readonly state: string;
      readonly error: string;
      readonly cause: string;
    }
  | {
      readonly type: 'state-retried';
      readonly execution: string;
      readonly state: string;
      /** Retries so far by the matching retrier (1 for the first retry). */
      readonly attempt: number;
    }
  | {
      readonly type: 'task-started';
      /** The task manifest name, e.g. `batch-worker`. */
      readonly task: string;
      readonly taskArn: string;
      /** The container's local process id (a local detail, for tools and tests that act on it). */
      readonly pid?: number;
      /** The execution that ran it (`ecs:runTask.sync`), if any. */
      readonly execution?: string;
    }
  | {
      readonly type: 'task-stopped';
      readonly task: string;
      readonly taskArn: string;
      /** The execution that ran it (`ecs:runTask.sync`), if any. */
      readonly execution?: string;
      readonly exitCode: number | null;
      readonly signal: string | null;
      readonly durationMs: number;
      readonly stoppedReason: string;
    }
  | {
      readonly type: 'schedule-fired';
      readonly schedule: string;
      /** When it was due (`scheduler`), or the operator event's time (`operator`). */
      readonly scheduledTime: string;
      /** `queue export-requests`, `function job-sweeper`. */
      readonly target: string;
      /** `scheduler`: its time came; `operator`: an operator event matched its rule. */
      readonly trigger: 'scheduler' | 'operator';
    }
  | {
      readonly type: 'pipe-delivered';
      /** `sidestep-local-export-requests-pipe` */
      readonly pipe: string;
      readonly messageId: string;
      /** The execution the message started (fire-and-forget). */
      readonly executionArn: string;
    }
  | {
      readonly type: 'log';
      readonly service: string;
      /** One line of the sandbox's stdout/stderr (Powertools writes JSON lines). */
      readonly line: string;
      /** A Fargate task's line: the task's ARN (its log stream ends with the task's id). */
      readonly taskArn?: string;
    }
  | {
      /** The stack's policies refused a call (over the endpoint or in-process). */
      readonly type: 'access-denied';
      /** Who called: a role's session ARN, a service principal or `anonymous`. */
      readonly caller: string;
      readonly action: string;
      readonly resource: string;
      /** AWS's AccessDenied message. */
      readonly message: string;
    }
  | {
      /**
       * An invocation past the account's Lambda concurrency (`lambdaConcurrency`) was throttled: it
       * ran nothing, and its caller answers as on AWS (a 429, a retry later).
       */
      readonly type: 'lambda-throttled';
      /** The function's name (`sidestep-local-<service>`). */
      readonly functionName: string;
      /** The quota: this many invocations were running. */
      readonly limit: number;
    }
  | {
      readonly type: 'error';
      /** What failed: `poller sidestep-local-mail`, `smtp-sink`, ... */
      readonly source: string;
      readonly message: string;
    };

/** Receives every {@link LocalCloudEvent}; the console reporter prints them, tests collect them. */
export type LocalCloudReporter = (event: LocalCloudEvent) => void;
