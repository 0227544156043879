import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { readStateFile, writeStateFile } from './local-state.ts';
import { type SqsOperation, type SqsOperationHandler, xmlFields } from './sqs-operations.ts';

/** Calls an SQS action in-process (JSON protocol shapes); throws an error named with the AWS code. */
export type SqsCall = (action: string, input: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** `ListMessageMoveTasks`' statuses (AWS also reports CANCELLING, which is instant here). */
export type MessageMoveTaskStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';

/** The three DLQ-redrive operations fauxqs lacks, served by {@link createMessageMoveTasks}. */
export interface MessageMoveTasks {
  readonly operations: ReadonlyMap<string, SqsOperation>;
  /**
   * Runs on the tasks a stop (or a crash) of the last run left RUNNING in the state file, from the
   * counts it kept. Call it once the SQS API can be called.
   */
  resume(): Promise<void>;
  /**
   * Pauses every running task (it stays RUNNING in the state file, for {@link resume}; in memory
   * it is cancelled) and waits for it to let go of its messages.
   */
  stop(): Promise<void>;
}

/** Options of {@link createMessageMoveTasks}. */
export interface MessageMoveTasksOptions {
  /**
   * The JSON file the tasks are kept in (rewritten at every change), so that a restart lists them
   * and resumes the running ones. @default in memory: a stop ends running tasks, a restart forgets all
   */
  readonly file?: string;
}

// Errors are named with AWS's codes and carry its messages, as recorded against SQS
// (InvalidParameterValue 400, ResourceNotFoundException 404).

/** A parameter AWS refuses: a source that is no DLQ, a second task, a bad rate or handle. */
export class InvalidParameterValueError extends Error {
  override readonly name = 'InvalidParameterValue';
  readonly statusCode = 400;
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** A queue or task that does not exist. */
export class MoveTaskResourceNotFoundError extends Error {
  override readonly name = 'ResourceNotFoundException';
  readonly statusCode = 404;
  readonly field: string;
  constructor(field: string, message?: string) {
    super(message ?? `The resource that you specified for the ${field} parameter doesn't exist.`);
    this.field = field;
  }
}

/** A required parameter is missing. */
export class MissingParameterError extends Error {
  override readonly name = 'MissingParameter';
  readonly statusCode = 400;
  readonly field: string;
  constructor(field: string) {
    super(`The request must contain the parameter ${field}.`);
    this.field = field;
  }
}

/** A task as the state file keeps it (JSON: `undefined` fields are left out). */
interface SavedMoveTask {
  readonly taskHandle: string;
  readonly sourceArn: string;
  /** As given; `undefined` moves each message back to the queue it was dead-lettered from. */
  readonly destinationArn: string | undefined;
  readonly destinationUrl: string;
  readonly maxNumberOfMessagesPerSecond: number | undefined;
  readonly toMove: number;
  readonly startedTimestamp: number;
  readonly status: MessageMoveTaskStatus;
  readonly moved: number;
  readonly failureReason?: string;
}

interface MoveTask extends Omit<SavedMoveTask, 'status' | 'moved' | 'failureReason'> {
  status: MessageMoveTaskStatus;
  moved: number;
  failureReason?: string;
  done: Promise<void>;
  readonly cancel: AbortController;
}

/** How many tasks per source ListMessageMoveTasks remembers (its MaxResults is at most 10). */
const KEPT_TASKS_PER_SOURCE = 10;
/** How long a message being moved stays invisible in the DLQ. */
const MOVE_VISIBILITY_TIMEOUT_SECONDS = 30;
/** How often a task waiting for in-flight messages to come back looks again. */
const IN_FLIGHT_POLL_MS = 1000;

/**
 * SQS DLQ redrive: `StartMessageMoveTask`, `ListMessageMoveTasks`, `CancelMessageMoveTask`, as AWS
 * documents and answers them (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).
 * A task runs in the background, moving each message with fauxqs's own API (receive from the DLQ,
 * send body and message attributes to the destination, then delete from the DLQ: a crash mid-move
 * duplicates a message, never loses one), at most `MaxNumberOfMessagesPerSecond` a second.
 *
 * Known difference: AWS records which queue dead-lettered each message and, without
 * DestinationArn, moves each back there. fauxqs keeps no such record, so the default destination
 * is the one queue whose RedrivePolicy names the DLQ; when several do, DestinationArn is required.
 */
export function createMessageMoveTasks(
  sqs: SqsCall,
  options: MessageMoveTasksOptions = {},
): MessageMoveTasks {
  const tasksBySource = new Map<string, MoveTask[]>();
  /**
   * Sources whose StartMessageMoveTask is between its one-active-task check and recording its task:
   * the start awaits SQS calls in between, and a second start in that window would otherwise pass
   * the check too, its task overwritten in tasksBySource and left running unseen.
   */
  const starting = new Set<string>();

  const save = () => {
    if (options.file === undefined) return;
    const saved: SavedMoveTask[] = [...tasksBySource.values()]
      .flat()
      .map(({ done: _done, cancel: _cancel, ...task }) => task);
    writeStateFile(options.file, saved);
  };

  const queueUrl = async (arn: string, field: string): Promise<string> => {
    const name = /^arn:aws:sqs:[^:]+:\d{12}:([\w.-]+)$/.exec(arn)?.[1];
    if (!name) throw new MoveTaskResourceNotFoundError(field);
    try {
      return String((await sqs('GetQueueUrl', { QueueName: name })).QueueUrl);
    } catch {
      throw new MoveTaskResourceNotFoundError(field);
    }
  };

  /** The ARNs of the queues whose RedrivePolicy names `dlqArn`. */
  const sourcesOf = async (dlqArn: string): Promise<string[]> => {
    const urls = ((await sqs('ListQueues', {})).QueueUrls ?? []) as string[];
    const sources: string[] = [];
    for (const url of urls) {
      const attributes = (await sqs('GetQueueAttributes', { QueueUrl: url, AttributeNames: ['All'] }))
        .Attributes as Record<string, string> | undefined;
      if (!attributes?.RedrivePolicy) continue;
      const policy = JSON.parse(attributes.RedrivePolicy) as { deadLetterTargetArn?: string };
      if (policy.deadLetterTargetArn === dlqArn && attributes.QueueArn) sources.push(attributes.QueueArn);
    }
    return sources;
  };

  const run = async (task: MoveTask, sourceUrl: string): Promise<void> => {
    const pauseMs = task.maxNumberOfMessagesPerSecond ? 1000 / task.maxNumberOfMessagesPerSecond : 0;
    const signal = task.cancel.signal;
    let lastReceived = Date.now();
    while (!signal.aborted && task.moved < task.toMove) {
      const received = await sqs('ReceiveMessage', {
        QueueUrl: sourceUrl,
        MaxNumberOfMessages: Math.min(10, task.toMove - task.moved, task.maxNumberOfMessagesPerSecond ?? 10),
        VisibilityTimeout: MOVE_VISIBILITY_TIMEOUT_SECONDS,
        MessageAttributeNames: ['All'],
      });
      const messages = (received.Messages ?? []) as {
        Body: string;
        ReceiptHandle: string;
        MessageAttributes?: Record<string, unknown>;
      }[];
      if (messages.length === 0) {
        // Fewer messages than counted at the start: someone else consumed them, unless some are
        // in flight: those a run killed midway had received come back after their visibility timeout.
        if (Date.now() - lastReceived > MOVE_VISIBILITY_TIMEOUT_SECONDS * 1000) break;
        if (!(await inFlight(sourceUrl))) break;
        await sleep(IN_FLIGHT_POLL_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      lastReceived = Date.now();
      for (const [index, message] of messages.entries()) {
        if (signal.aborted) {
          await release(sourceUrl, messages.slice(index));
          return;
        }
        try {
          await sqs('SendMessage', {
            QueueUrl: task.destinationUrl,
            MessageBody: message.Body,
            ...(message.MessageAttributes ? { MessageAttributes: message.MessageAttributes } : {}),
          });
        } catch (error) {
          task.status = 'FAILED';
          const code = (error as Error).name;
          task.failureReason = `AWS.SimpleQueueService.${code === 'QueueDoesNotExist' ? 'NonExistentQueue' : code}`;
          await release(sourceUrl, messages.slice(index));
          save();
          return;
        }
        await sqs('DeleteMessage', { QueueUrl: sourceUrl, ReceiptHandle: message.ReceiptHandle });
        task.moved += 1;
        save();
        if (pauseMs > 0) await sleep(pauseMs, undefined, { signal }).catch(() => undefined);
      }
    }
    // Aborted by stop(): paused, still RUNNING (in the file, for resume()).
    if (task.status === 'RUNNING' && !signal.aborted) task.status = 'COMPLETED';
    save();
  };

  /** Whether the queue has messages in flight (received, not deleted, not yet visible again). */
  const inFlight = async (url: string): Promise<boolean> => {
    const { Attributes } = (await sqs('GetQueueAttributes', {
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessagesNotVisible'],
    })) as { Attributes?: Record<string, string> };
    return Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) > 0;
  };

  /** Starts `task` (new or resumed) in the background; its failure is recorded on it. */
  const launch = (task: MoveTask, sourceUrl: string) => {
    task.done = run(task, sourceUrl).catch((error: Error) => {
      task.status = 'FAILED';
      task.failureReason = error.name;
      save();
    });
  };

  /** Makes received but unmoved messages visible in the DLQ again at once. */
  const release = async (sourceUrl: string, messages: readonly { ReceiptHandle: string }[]) => {
    for (const message of messages) {
      await sqs('ChangeMessageVisibility', {
        QueueUrl: sourceUrl,
        ReceiptHandle: message.ReceiptHandle,
        VisibilityTimeout: 0,
      }).catch(() => undefined);
    }
  };

  const start: SqsOperationHandler = async (_operation, input) => {
    const sourceArn = requiredString(input, 'SourceArn');
    const destinationArn = optionalString(input, 'DestinationArn');
    const rate = input.MaxNumberOfMessagesPerSecond;
    if (
      rate !== undefined &&
      (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1 || rate > 500)
    ) {
      throw new InvalidParameterValueError(
        'MaxNumberOfMessagesPerSecond',
        'Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be an integer from 1 to 500.',
      );
    }
    const sourceUrl = await queueUrl(sourceArn, 'SourceArn');
    const sources = await sourcesOf(sourceArn);
    if (sources.length === 0) {
      throw new InvalidParameterValueError(
        'SourceArn',
        'Source queue must be configured as a Dead Letter Queue.',
      );
    }
    // AWS allows one active task per source queue and refuses a second with this error
    // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).
    // A start still on its way to recording its task counts as active.
    if (
      starting.has(sourceArn) ||
      (tasksBySource.get(sourceArn) ?? []).some((task) => task.status === 'RUNNING')
    ) {
      throw new InvalidParameterValueError(
        'SourceArn',
        'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
      );
    }
    starting.add(sourceArn);
    try {
      let destinationUrl: string;
      if (destinationArn !== undefined) {
        destinationUrl = await queueUrl(destinationArn, 'DestinationArn');
      } else if (sources.length === 1) {
        destinationUrl = await queueUrl(sources[0] as string, 'DestinationArn');
      } else {
        throw new InvalidParameterValueError(
          'DestinationArn',
          `Queues ${sources.join(', ')} all dead-letter to ${sourceArn}; the local cloud does not record which one each message came from, so give DestinationArn.`,
        );
      }
      const attributes = (
        await sqs('GetQueueAttributes', {
          QueueUrl: sourceUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        })
      ).Attributes as Record<string, string> | undefined;
      const taskId = randomUUID();
      const task: MoveTask = {
        taskHandle: Buffer.from(JSON.stringify({ taskId, sourceArn })).toString('base64'),
        sourceArn,
        destinationArn,
        destinationUrl,
        maxNumberOfMessagesPerSecond: rate,
        toMove: Number(attributes?.ApproximateNumberOfMessages ?? 0),
        startedTimestamp: Date.now(),
        status: 'RUNNING',
        moved: 0,
        done: Promise.resolve(),
        cancel: new AbortController(),
      };
      tasksBySource.set(
        sourceArn,
        [task, ...(tasksBySource.get(sourceArn) ?? [])].slice(0, KEPT_TASKS_PER_SOURCE),
      );
      save();
      launch(task, sourceUrl);
      return { TaskHandle: task.taskHandle };
    } finally {
      starting.delete(sourceArn);
    }
  };

  const list: SqsOperationHandler = async (_operation, input) => {
    const sourceArn = requiredString(input, 'SourceArn');
    const maxResults = input.MaxResults ?? 1;
    if (
      typeof maxResults !== 'number' ||
      !Number.isInteger(maxResults) ||
      maxResults < 1 ||
      maxResults > 10
    ) {
      throw new InvalidParameterValueError(
        'MaxResults',
        'Value for parameter MaxResults is invalid. Reason: Must be an integer from 1 to 10.',
      );
    }
    await queueUrl(sourceArn, 'SourceArn');
    const tasks = (tasksBySource.get(sourceArn) ?? []).slice(0, maxResults);
    return {
      Results: tasks.map((task) => ({
        // AWS gives the handle only while a task can still be cancelled.
        ...(task.status === 'RUNNING' ? { TaskHandle: task.taskHandle } : {}),
        Status: task.status,
        SourceArn: task.sourceArn,
        ...(task.destinationArn !== undefined ? { DestinationArn: task.destinationArn } : {}),
        ...(task.maxNumberOfMessagesPerSecond !== undefined
          ? { MaxNumberOfMessagesPerSecond: task.maxNumberOfMessagesPerSecond }
          : {}),
        ApproximateNumberOfMessagesMoved: task.moved,
        ApproximateNumberOfMessagesToMove: task.toMove,
        ...(task.failureReason !== undefined ? { FailureReason: task.failureReason } : {}),
        StartedTimestamp: task.startedTimestamp,
      })),
    };
  };

  const cancel: SqsOperationHandler = async (_operation, input) => {
    const taskHandle = requiredString(input, 'TaskHandle');
    let decoded: { taskId?: unknown; sourceArn?: unknown };
    try {
      decoded = JSON.parse(Buffer.from(taskHandle, 'base64').toString('utf8'));
    } catch {
      decoded = {};
    }
    if (typeof decoded.taskId !== 'string' || typeof decoded.sourceArn !== 'string') {
      throw new InvalidParameterValueError('TaskHandle', 'Value for parameter TaskHandle is invalid.');
    }
    await queueUrl(decoded.sourceArn, 'SourceArn');
    const task = tasksBySource.get(decoded.sourceArn)?.find((t) => t.taskHandle === taskHandle);
    if (!task) throw new MoveTaskResourceNotFoundError('TaskHandle', 'Task does not exist.');
    if (task.status !== 'RUNNING') {
      throw new InvalidParameterValueError(
        'TaskHandle',
        `Only a RUNNING task can be cancelled; this one is ${task.status}.`,
      );
    }
    task.status = 'CANCELLED';
    task.cancel.abort();
    await task.done;
    save();
    return { ApproximateNumberOfMessagesMoved: task.moved };
  };

  return {
    operations: new Map<string, SqsOperation>([
      ['StartMessageMoveTask', { handler: start }],
      [
        'ListMessageMoveTasks',
        {
          handler: list,
          // The query protocol lists each entry as a flattened <ListMessageMoveTasksResultEntry>.
          toXml: (output) =>
            ((output.Results ?? []) as Record<string, unknown>[])
              .map(
                (entry) =>
                  `<ListMessageMoveTasksResultEntry>${xmlFields(entry)}</ListMessageMoveTasksResultEntry>`,
              )
              .join(''),
        },
      ],
      ['CancelMessageMoveTask', { handler: cancel }],
    ]),
    async resume() {
      if (options.file === undefined) return;
      const saved = (readStateFile(options.file, 'array') ?? []) as SavedMoveTask[];
      for (const entry of saved) {
        const task: MoveTask = { ...entry, done: Promise.resolve(), cancel: new AbortController() };
        tasksBySource.set(task.sourceArn, [...(tasksBySource.get(task.sourceArn) ?? []), task]);
      }
      const running = [...tasksBySource.values()].flat().filter((task) => task.status === 'RUNNING');
      for (const task of running) {
        let sourceUrl: string;
        try {
          sourceUrl = await queueUrl(task.sourceArn, 'SourceArn');
        } catch {
          task.status = 'FAILED';
          task.failureReason = 'AWS.SimpleQueueService.NonExistentQueue';
          continue;
        }
        launch(task, sourceUrl);
      }
      save();
    },
    async stop() {
      const running = [...tasksBySource.values()].flat().filter((task) => task.status === 'RUNNING');
      for (const task of running) task.cancel.abort();
      await Promise.all(running.map((task) => task.done));
      save();
    },
  };
}

function requiredString(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (value === undefined || value === null || value === '') throw new MissingParameterError(field);
  if (typeof value !== 'string') {
    throw new InvalidParameterValueError(field, `Value for parameter ${field} is invalid.`);
  }
  return value;
}

function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new InvalidParameterValueError(field, `Value for parameter ${field} is invalid.`);
  }
  return value;
}
