import { setTimeout as sleep } from 'node:timers/promises';
import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  type Message,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { ContractValidationError, parseJob } from '@sidestep/contracts';
import { deadLetterQueueName, resourceName } from '@sidestep/manifest';
import { audited } from './audit.ts';
import { InvalidOptionError, OpsError } from './errors.ts';
import { hasRedriveSource, knownDeadLetterQueue, knownQueue, QUEUES, RULE_DEAD_LETTERS } from './names.ts';
import type { OpsContext } from './ops-context.ts';

/** Whether `error` is SQS's answer for a queue that does not exist. */
export function isMissingQueue(error: unknown): boolean {
  return error instanceof QueueDoesNotExist || (error as Error | undefined)?.name === 'QueueDoesNotExist';
}

/**
 * Whether `error` is SQS's answer for a call IAM refused: `AccessDenied`, as the SDK names it after
 * the `x-amzn-query-error` header SQS's JSON protocol sends, or `AccessDeniedException`, its `__type`
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
 */
export function isAccessDenied(error: unknown): boolean {
  const name = (error as Error | undefined)?.name;
  return name === 'AccessDenied' || name === 'AccessDeniedException';
}

/** A queue's depths, from its attributes. */
export interface QueueStatus {
  readonly queue: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly deadLetters: number;
  /** Age of the queue's oldest message, seconds; null when it is empty (or CloudWatch has no data). */
  readonly oldestAgeSeconds: number | null;
  /** The same for its dead-letter queue. */
  readonly deadLetterOldestAgeSeconds: number | null;
}

/** A dead-lettered message as `dlq show` lists it. */
export interface DeadLetter {
  readonly messageId: string;
  /** The envelope's `type` and `id`, when the body is JSON that has them. */
  readonly type: string | null;
  readonly id: string | null;
  /** `sidestep.error.type` / `sidestep.error.message`: why the consumer gave up on it. */
  readonly errorType: string | null;
  readonly errorMessage: string | null;
  /** Receives so far, this listing's own included (see {@link listDeadLetters}). */
  readonly receiveCount: number;
  /** When the message was first sent, and how long ago. */
  readonly sentAt: Date | null;
  readonly ageSeconds: number | null;
  readonly body: string;
}

/** The URL of queue `name`. */
export async function queueUrl(context: OpsContext, name: string): Promise<string> {
  const answer = await context.clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!answer.QueueUrl) throw new Error(`SQS returned no URL for ${name}`);
  return answer.QueueUrl;
}

/** A queue's messages by state, from its attributes (GetQueueAttributes' approximate counts). */
function messageCounts(queueAttributes: Record<string, string>) {
  return {
    visible: Number(queueAttributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(queueAttributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(queueAttributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/** Every attribute of the queue at `url`. */
export async function attributes(context: OpsContext, url: string): Promise<Record<string, string>> {
  const answer = await context.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
  );
  return answer.Attributes ?? {};
}

/**
 * The age in seconds of the oldest message of each queue (null for an empty one), by name.
 *
 * SQS has no queue attribute for it: it is the CloudWatch metric `ApproximateAgeOfOldestMessage`
 * (namespace AWS/SQS, one-minute data that arrives a few minutes late; SQS stops sending it for a
 * queue idle for six hours, which reads as empty), the latest `Maximum` of the last 15 minutes, one
 * `GetMetricData` for all queues. The local cloud's CloudWatch answers it from the messages
 * themselves (their `SentTimestamp`, read without receiving them): a receive-based peek would count
 * as a receive and could dead-letter a message.
 */
export async function oldestMessageAges(
  context: OpsContext,
  queueNames: readonly string[],
  now: Date = new Date(),
): Promise<Map<string, number | null>> {
  const answer = await context.clients.cloudWatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(now.getTime() - 15 * 60_000),
      EndTime: now,
      ScanBy: 'TimestampDescending',
      MetricDataQueries: queueNames.map((name, index) => ({
        Id: `q${index}`,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/SQS',
            MetricName: 'ApproximateAgeOfOldestMessage',
            Dimensions: [{ Name: 'QueueName', Value: name }],
          },
          Period: 60,
          Stat: 'Maximum',
        },
      })),
    }),
  );
  const byId = new Map((answer.MetricDataResults ?? []).map((result) => [result.Id, result.Values?.[0]]));
  return new Map(queueNames.map((name, index) => [name, byId.get(`q${index}`) ?? null]));
}

/**
 * Depths and oldest message ages of every queue and its DLQ. A queue the environment does not have
 * (a stack, or a local cloud, without the export path) is left out with a warning, not an error.
 */
export async function queueStatuses(context: OpsContext, now: Date = new Date()): Promise<QueueStatus[]> {
  const names = QUEUES.flatMap((queue) => [
    resourceName(context.environment, queue),
    deadLetterQueueName(context.environment, queue),
  ]);
  const ages = await oldestMessageAges(context, names, now);
  const statuses = await Promise.all(
    QUEUES.map(async (queue): Promise<QueueStatus | undefined> => {
      let main: Record<string, string>;
      let dlq: Record<string, string>;
      try {
        [main, dlq] = await Promise.all([
          queueUrl(context, resourceName(context.environment, queue)).then((url) => attributes(context, url)),
          queueUrl(context, deadLetterQueueName(context.environment, queue)).then((url) =>
            attributes(context, url),
          ),
        ]);
      } catch (error) {
        if (!isMissingQueue(error)) throw error;
        context.warn(`queue ${resourceName(context.environment, queue)} (or its DLQ) does not exist here`);
        return undefined;
      }
      return {
        queue,
        ...messageCounts(main),
        deadLetters: Number(dlq.ApproximateNumberOfMessages ?? 0),
        oldestAgeSeconds: ages.get(resourceName(context.environment, queue)) ?? null,
        deadLetterOldestAgeSeconds: ages.get(deadLetterQueueName(context.environment, queue)) ?? null,
      };
    }),
  );
  return statuses.filter((entry): entry is QueueStatus => entry !== undefined);
}

/** What one dead-letter queue without a source queue holds (`RULE_DEAD_LETTERS`). */
export interface RuleDeadLetterStatus {
  /** `schedules`, `import-trigger`, `workflow-ended`. */
  readonly queue: string;
  readonly deadLetters: number;
  /** The oldest message's age; null when there is none or it could not be read. */
  readonly oldestAgeSeconds: number | null;
}

/**
 * What each dead-letter queue without a source queue holds, as `queueStatuses` reads the job
 * queues' DLQs: each is alarmed on AWS, so the overview shows them beside the job queues. A queue
 * missing here (an environment applied before it existed), or one this caller may not read, is
 * left out with a warning.
 */
export async function ruleDeadLetterStatuses(
  context: OpsContext,
  now: Date = new Date(),
): Promise<RuleDeadLetterStatus[]> {
  const names = RULE_DEAD_LETTERS.map((queue) => deadLetterQueueName(context.environment, queue));
  const ages = await oldestMessageAges(context, names, now);
  const statuses = await Promise.all(
    RULE_DEAD_LETTERS.map(async (queue, index): Promise<RuleDeadLetterStatus | undefined> => {
      const name = names[index] ?? '';
      try {
        const held = await attributes(context, await queueUrl(context, name));
        return {
          queue,
          deadLetters: Number(held.ApproximateNumberOfMessages ?? 0),
          oldestAgeSeconds: ages.get(name) ?? null,
        };
      } catch (error) {
        if (!isMissingQueue(error) && !isAccessDenied(error)) throw error;
        context.warn(
          `queue ${name} left out: ${(error as Error).name} (it does not exist here, or this caller may not read it)`,
        );
        return undefined;
      }
    }),
  );
  return statuses.filter((entry): entry is RuleDeadLetterStatus => entry !== undefined);
}

/** How long a listing keeps the messages it read hidden before handing them back. */
const PEEK_VISIBILITY_SECONDS = 30;

/**
 * A listing's receives long-poll: a short poll (WaitTimeSeconds 0) samples a subset of the SQS
 * servers, and for a queue of few messages, a dead-letter queue's usual size, may return none of
 * them, which would list a DLQ as empty that is not; a long poll queries them all and returns as
 * soon as it has a message. The listing's last, empty receive waits this long.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html
 */
const LIST_WAIT_SECONDS = 1;

/**
 * The messages in `queue`'s dead-letter queue (`mail` or `mail-dlq`; `schedules` for the schedule
 * group's), up to `limit`.
 *
 * SQS has no read-only peek. Like the AWS console's "poll for messages", this receives the messages
 * (hidden for 30 s so one listing does not read a message twice), then makes every one of them
 * visible again at once (ChangeMessageVisibility 0). Nothing is deleted and nothing is re-sent, so
 * no message is lost or moved. The side effect: each listing counts as a receive, so
 * ApproximateReceiveCount goes up by one (a DLQ has no redrive policy of its own, so that never
 * moves a message anywhere), and for a moment other readers do not see them.
 */
export async function listDeadLetters(
  context: OpsContext,
  queue: string,
  options: { readonly limit?: number; readonly now?: Date } = {},
): Promise<DeadLetter[]> {
  const url = await queueUrl(context, deadLetterQueueName(context.environment, knownDeadLetterQueue(queue)));
  return deadLettersAt(context, url, options);
}

/** {@link listDeadLetters} of the dead-letter queue at `url`. */
async function deadLettersAt(
  context: OpsContext,
  url: string,
  options: { readonly limit?: number; readonly now?: Date },
): Promise<DeadLetter[]> {
  const received = await peekMessages(context, url, options.limit ?? 100);
  const now = (options.now ?? new Date()).getTime();
  return received.map((message) => deadLetter(message, now));
}

/**
 * Up to `limit` messages of the queue at `url`, read as {@link listDeadLetters} describes: received
 * (hidden for `visibilitySeconds`), then made visible again at once, unless `keep` says to hold
 * them (the caller then releases or deletes each).
 */
export async function peekMessages(
  context: OpsContext,
  url: string,
  limit: number,
  options: { readonly visibilitySeconds?: number; readonly keep?: boolean } = {},
): Promise<Message[]> {
  const received: Message[] = [];
  try {
    while (received.length < limit) {
      const { Messages = [] } = await context.clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(10, limit - received.length),
          VisibilityTimeout: options.visibilitySeconds ?? PEEK_VISIBILITY_SECONDS,
          WaitTimeSeconds: LIST_WAIT_SECONDS,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) break;
      received.push(...Messages);
    }
  } catch (error) {
    await release(context, url, received);
    throw error;
  }
  if (!options.keep) await release(context, url, received);
  return received;
}

/** Makes the received messages visible again, 10 handles per call. */
export async function release(context: OpsContext, url: string, messages: readonly Message[]): Promise<void> {
  await changeVisibility(context, url, messages, 0);
}

/**
 * Hides the received messages for `seconds` from now (0: visible again), 10 handles per call; answers
 * those SQS did not change, with its reason (a receipt handle no longer in flight, for one).
 */
export async function changeVisibility(
  context: OpsContext,
  url: string,
  messages: readonly Message[],
  seconds: number,
): Promise<{ readonly message: Message; readonly error: string }[]> {
  const unchanged: { message: Message; error: string }[] = [];
  for (let start = 0; start < messages.length; start += 10) {
    const batch = messages.slice(start, start + 10);
    const { Failed = [] } = await context.clients.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: batch.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? '',
          VisibilityTimeout: seconds,
        })),
      }),
    );
    for (const failed of Failed) {
      const message = batch[Number(failed.Id)];
      if (message) unchanged.push({ message, error: `${failed.Code}: ${failed.Message ?? ''}` });
    }
  }
  return unchanged;
}

function deadLetter(message: Message, now: number): DeadLetter {
  const body = message.Body ?? '';
  let envelope: { type?: unknown; id?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object') envelope = parsed;
  } catch {
    // Not JSON: the error attributes say so; type and id stay unknown.
  }
  const sent = Number(message.Attributes?.SentTimestamp ?? Number.NaN);
  const attribute = (name: string) => message.MessageAttributes?.[name]?.StringValue;
  return {
    messageId: message.MessageId ?? '',
    type: typeof envelope.type === 'string' ? envelope.type : null,
    id: typeof envelope.id === 'string' ? envelope.id : null,
    // The runtime's own attributes, else those EventBridge Scheduler and EventBridge rules give a
    // dead-letter event (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).
    errorType: attribute('sidestep.error.type') ?? attribute('ERROR_CODE') ?? null,
    errorMessage: attribute('sidestep.error.message') ?? attribute('ERROR_MESSAGE') ?? null,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
    sentAt: Number.isFinite(sent) ? new Date(sent) : null,
    ageSeconds: Number.isFinite(sent) ? Math.max(0, Math.round((now - sent) / 1000)) : null,
    body,
  };
}

/** A dead letter checked against today's contracts: would a redrive fail again, and why. */
export interface RedriveCheck {
  readonly message: DeadLetter;
  readonly valid: boolean;
  /** The offending field (`payload.template`) or `(body)` when the body is not JSON. */
  readonly field: string | null;
  readonly reason: string | null;
}

/** Checks one dead letter's body with `parseJob`, as the consumer will on redelivery. */
export function checkDeadLetter(message: DeadLetter): RedriveCheck {
  let value: unknown;
  try {
    value = JSON.parse(message.body);
  } catch (error) {
    return { message, valid: false, field: '(body)', reason: `not JSON: ${(error as Error).message}` };
  }
  try {
    parseJob(value);
    return { message, valid: true, field: null, reason: null };
  } catch (error) {
    if (!(error instanceof ContractValidationError)) throw error;
    return { message, valid: false, field: error.field, reason: error.message };
  }
}

/** Progress of a message move task, as ListMessageMoveTasks reports it. */
export interface RedriveProgress {
  readonly taskHandle: string | null;
  readonly status: string;
  readonly moved: number;
  readonly toMove: number | null;
  readonly failureReason: string | null;
}

/**
 * A redrive's message move task ended other than COMPLETED: FAILED (SQS's FailureReason says why) or
 * CANCELLED. What it moved before it ended stays moved; the rest is still in the dead-letter queue.
 * Status `UNKNOWN`: ListMessageMoveTasks never listed the task started, so what it did is not known.
 */
export class MessageMoveTaskError extends OpsError {
  override readonly name: string = 'MessageMoveTaskError';
  readonly queue: string;
  readonly progress: RedriveProgress;
  constructor(queue: string, progress: RedriveProgress) {
    super(
      progress.status === 'UNKNOWN'
        ? `queue: no move task of ${queue} was listed after its start (ListMessageMoveTasks); see whether it moved the dead letters before starting another`
        : `queue: the redrive of ${queue} ended ${progress.status}${progress.failureReason ? ` (${progress.failureReason})` : ''} after moving ${progress.moved}${progress.toMove === null ? '' : ` of ${progress.toMove}`} message(s); those not moved are still in its dead-letter queue`,
      { field: 'queue' },
    );
    this.queue = queue;
    this.progress = progress;
  }
}

/**
 * A redrive of a dead-letter queue that has no source queue to move its messages back to: the
 * schedule group's (a firing is sent again by firing its schedule, `sidestep fire`).
 */
export class NoRedriveSourceError extends OpsError {
  override readonly name: string = 'NoRedriveSourceError';
  readonly queue: string;
  constructor(queue: string) {
    super(
      `queue: ${queue} has no source queue to redrive into (${
        queue === 'schedules'
          ? 'EventBridge Scheduler dead-letters there); read it with `dlq show schedules` and fire the schedule again with `sidestep fire <schedule>`'
          : `EventBridge dead-letters there what its rule could not deliver); read it with \`dlq show ${queue}\` and act on each event: start its workflow (\`sidestep start\`) or invoke its target again`
      }`,
      { field: 'queue' },
    );
    this.queue = queue;
  }
}

/**
 * The most dead letters a dry run reads and checks: 100 receives of 10, each message held out of
 * sight for the check (ReceiveMessage takes at most 10). A redrive moves every dead letter, checked or
 * not (StartMessageMoveTask moves the queue, not a list).
 */
export const DRY_RUN_LIMIT = 1000;

/** What {@link redriveDeadLetters} did. */
export type RedriveResult =
  | {
      readonly dryRun: true;
      readonly queue: string;
      /** The first {@link DRY_RUN_LIMIT} dead letters, each checked. */
      readonly checks: RedriveCheck[];
      /**
       * How many dead letters a redrive would move: the checks when the queue held no more, else
       * SQS's approximate count (visible, in flight and delayed), at least one more than checked.
       */
      readonly total: number;
    }
  | { readonly dryRun: false; readonly queue: string; readonly progress: RedriveProgress };

/** Options of {@link redriveDeadLetters}. */
export interface RedriveOptions {
  /** Check the messages against the contracts and move nothing. */
  readonly dryRun?: boolean;
  /** Messages per second (StartMessageMoveTask's MaxNumberOfMessagesPerSecond, 1-500). @default SQS's own */
  readonly rate?: number;
  /** Called with every progress report until the task ends. */
  readonly onProgress?: (progress: RedriveProgress) => void;
  /** Between progress polls. @default 1000 */
  readonly pollMs?: number;
}

/**
 * Moves `queue`'s dead letters back to `queue` with StartMessageMoveTask and follows the task with
 * ListMessageMoveTasks until it ends (recorded in the audit trail). With `dryRun`, lists every dead
 * letter with whether today's contracts accept it, and moves nothing.
 *
 * @throws {MessageMoveTaskError} when the task ends other than COMPLETED (audited as an error).
 * @throws {NoRedriveSourceError} for a DLQ without a source queue (`schedules`, `import-trigger`, `workflow-ended`).
 */
export async function redriveDeadLetters(
  context: OpsContext,
  queue: string,
  options: RedriveOptions = {},
): Promise<RedriveResult> {
  // Before any call: a move task from a rule's or the schedules' DLQ would have no destination.
  const deadLetters = knownDeadLetterQueue(queue);
  if (!hasRedriveSource(deadLetters)) throw new NoRedriveSourceError(deadLetters);
  const name = knownQueue(queue);
  if (
    options.rate !== undefined &&
    !(Number.isInteger(options.rate) && options.rate >= 1 && options.rate <= 500)
  ) {
    throw new InvalidOptionError(
      `rate: ${options.rate} is not a whole number of messages per second from 1 to 500`,
      {
        field: 'rate',
      },
    );
  }
  if (options.dryRun) {
    const url = await queueUrl(context, deadLetterQueueName(context.environment, name));
    // One more than is checked: whether the queue holds more than the checks says so.
    const messages = await deadLettersAt(context, url, { limit: DRY_RUN_LIMIT + 1 });
    const checks = messages.slice(0, DRY_RUN_LIMIT).map(checkDeadLetter);
    let total = messages.length;
    if (messages.length > DRY_RUN_LIMIT) {
      const { visible, inFlight, delayed } = messageCounts(await attributes(context, url));
      total = Math.max(visible + inFlight + delayed || 0, DRY_RUN_LIMIT + 1);
    }
    return { dryRun: true, queue: name, checks, total };
  }
  return audited(
    context,
    'dlq-redrive',
    name,
    async () => {
      const [sourceArn, destinationArn] = await Promise.all(
        [deadLetterQueueName(context.environment, name), resourceName(context.environment, name)].map(
          async (queueName) =>
            (await attributes(context, await queueUrl(context, queueName))).QueueArn ?? queueName,
        ),
      );
      const startedAt = Date.now();
      const started = await context.clients.sqs.send(
        new StartMessageMoveTaskCommand({
          SourceArn: sourceArn,
          DestinationArn: destinationArn,
          ...(options.rate ? { MaxNumberOfMessagesPerSecond: options.rate } : {}),
        }),
      );
      const progress = await followMoveTask(context, sourceArn ?? '', started.TaskHandle ?? null, {
        ...options,
        startedAt,
      });
      if (progress.status !== 'COMPLETED') throw new MessageMoveTaskError(name, progress);
      return { dryRun: false as const, queue: name, progress };
    },
    (result) => ({ ...result.progress, rate: options.rate ?? null }),
  );
}

/** How many polls of ListMessageMoveTasks a task just started may go unlisted before the redrive says so. */
const UNLISTED_TASK_POLLS = 10;

/**
 * How much earlier than this machine's clock SQS may have stamped a task started now
 * (`StartedTimestamp`): a task listed as started before that is an earlier redrive's.
 */
const CLOCK_SKEW_MS = 60_000;

/**
 * Polls ListMessageMoveTasks until the task started with `taskHandle` is no longer RUNNING; status
 * `UNKNOWN` when no task was listed in {@link UNLISTED_TASK_POLLS} polls. Once the task is listed with
 * its handle it is followed by its StartedTimestamp. With `startedAt` (when the task was started, by
 * this machine's clock), a task started well before it is not taken for it, nor one started after it
 * ended; one that ended before it was ever listed is taken to be the earliest started since
 * `startedAt` less {@link CLOCK_SKEW_MS} (an earlier redrive ended within that margin would be taken
 * for it: the listing says nothing more to tell them apart).
 */
export async function followMoveTask(
  context: OpsContext,
  sourceArn: string,
  taskHandle: string | null,
  options: Pick<RedriveOptions, 'onProgress' | 'pollMs'> & { readonly startedAt?: number } = {},
): Promise<RedriveProgress> {
  const recent = (started: number | undefined) =>
    options.startedAt === undefined || started === undefined || started >= options.startedAt - CLOCK_SKEW_MS;
  // The StartedTimestamp of this task, once it is known: a finished task is listed without its
  // handle (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html),
  // and another redrive of the queue may be started, and listed first, once this one has finished.
  let ownStart: number | undefined;
  for (let poll = 1; ; poll++) {
    const { Results = [] } = await context.clients.sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }),
    );
    const byHandle =
      taskHandle === null ? undefined : Results.find((result) => result.TaskHandle === taskHandle);
    let task: (typeof Results)[number] | undefined;
    if (byHandle !== undefined) {
      task = byHandle;
    } else if (ownStart !== undefined) {
      task = Results.find((result) => result.StartedTimestamp === ownStart);
    } else if (options.startedAt === undefined) {
      // No start time to go by: the most recent task (listed first).
      task = Results[0];
    } else {
      // Never listed with its handle yet: one source runs one task at a time, so a task started
      // since this one was started is this one or started after it ended. This one is the earliest
      // of those, not the latest; a task holding another handle is another redrive's.
      const since = Results.filter(
        (result) => result.TaskHandle === undefined && recent(result.StartedTimestamp),
      );
      task = since.reduce<(typeof since)[number] | undefined>(
        (earliest, result) =>
          earliest === undefined ||
          (result.StartedTimestamp ?? Infinity) <= (earliest.StartedTimestamp ?? Infinity)
            ? result
            : earliest,
        undefined,
      );
    }
    ownStart ??= task?.StartedTimestamp;
    const progress: RedriveProgress = {
      taskHandle,
      status: task?.Status ?? 'UNKNOWN',
      moved: task?.ApproximateNumberOfMessagesMoved ?? 0,
      toMove: task?.ApproximateNumberOfMessagesToMove ?? null,
      failureReason: task?.FailureReason ?? null,
    };
    // A task just started may not be listed yet: wait a few polls for it before saying so.
    const unlisted = task === undefined && poll < UNLISTED_TASK_POLLS;
    if (!unlisted) options.onProgress?.(progress);
    if (!unlisted && progress.status !== 'RUNNING' && progress.status !== 'CANCELLING') return progress;
    await sleep(options.pollMs ?? 1000);
  }
}
