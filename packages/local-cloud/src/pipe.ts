import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type AuthorizationCheck, sqsAuthorization, sqsTargetOf } from '@sidestep/iam';
import { messageRetentionSeconds } from '@sidestep/manifest';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import {
  createDeadLetteredQueue,
  type JobQueue,
  MAXIMUM_MESSAGE_SIZE_BYTES,
  type QueueScope,
} from './queues.ts';
import { type SqsEventRecord, toSqsEvent } from './sqs-event.ts';

/**
 * A pipe's source queue: a queue no Lambda consumes, with its DLQ (infra's export-requests queue).
 */
export interface PipeSourceQueue {
  /** Without prefix: `export-requests` becomes `sidestep-<env>-export-requests`. */
  readonly name: string;
  /** @default 30 (SQS's) */
  readonly visibilityTimeoutSeconds?: number;
  /** Receives before SQS moves a message to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;
  /** Seconds SQS keeps a message, as infra's WorkflowQueue takes it. @default SQS's 4 days */
  readonly messageRetentionSeconds?: number;
}

/**
 * Creates a pipe source queue `sidestep-<env>-<name>` and its DLQ `sidestep-<env>-<name>-dlq`
 * with the attributes job queues get (redrive, 1 MiB messages, SSE, retention; the DLQ keeps 14 days and
 * accepts only this queue). Idempotent, as CreateQueue is for identical attributes.
 */
export async function createPipeSourceQueue(
  sqs: SQSClient,
  queue: PipeSourceQueue,
  scope: QueueScope,
): Promise<JobQueue> {
  return createDeadLetteredQueue(sqs, queue.name, scope, (dlqArn) => ({
    VisibilityTimeout: String(queue.visibilityTimeoutSeconds ?? 30),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: queue.maxReceiveCount ?? 5,
    }),
    MaximumMessageSize: String(MAXIMUM_MESSAGE_SIZE_BYTES),
    SqsManagedSseEnabled: 'true',
    // Stated, as infra's dead-lettered queue states it, so the local retention is the deployed one.
    MessageRetentionPeriod: String(messageRetentionSeconds(queue)),
  }));
}

/**
 * One record as an EventBridge Pipe with an SQS source passes it on: Lambda's SQS record fields
 * (`messageId`, `receiptHandle`, `body`, `attributes`, `messageAttributes`, `md5OfBody`,
 * `eventSource`, `eventSourceARN`, `awsRegion`); the target gets an array of them.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html
 */
export type PipeSqsRecord = Omit<SqsEventRecord, 'md5OfMessageAttributes'> & {
  md5OfMessageAttributes?: string;
};

/** Options of {@link startPipe}. */
export interface PipeOptions {
  /** The pipe name, e.g. `sidestep-local-export-requests`, for the console. */
  readonly name: string;
  readonly sqs: SQSClient;
  readonly queue: { readonly url: string; readonly arn: string; readonly region: string };
  /**
   * Starts the target (StartExecution, fire-and-forget for a Standard workflow) with the batch as
   * JSON text; resolves with the execution ARN once it started. A rejection leaves the message in
   * the queue.
   */
  readonly start: (input: string) => Promise<string>;
  readonly reporter: LocalCloudReporter;
  /**
   * Checks the pipe's SQS calls as the pipe's role (throws AccessDeniedError; the message stays).
   * @default nothing is checked
   */
  readonly authorize?: (checks: readonly AuthorizationCheck[]) => void;
  /** Long-poll wait per ReceiveMessage (0-20). @default 20 */
  readonly waitTimeSeconds?: number;
}

/** A running pipe. */
export interface Pipe {
  /** Stops polling (a pending long poll is aborted) and waits for a delivery in progress. */
  stop(): Promise<void>;
}

/**
 * An EventBridge Pipe from an SQS queue to a Step Functions Standard workflow with batch size 1,
 * as infra deploys the export-requests pipe: long-polls the queue, starts an execution with
 * `[record]` as input (no execution name: a pipe cannot name it), and deletes the message once the
 * execution started (FIRE_AND_FORGET: the execution's outcome is not the pipe's). When the start
 * fails the message stays and becomes visible again after the visibility timeout; SQS's redrive
 * policy moves it to the DLQ after `maxReceiveCount` receives.
 */
export function startPipe(options: PipeOptions): Pipe {
  const polling = new AbortController();
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  const queueTarget = sqsTargetOf(options.queue.arn);
  const check = (operation: string) => options.authorize?.(sqsAuthorization(operation, queueTarget));
  const loop = (async () => {
    let backoffMs = 100;
    while (!polling.signal.aborted) {
      try {
        check('ReceiveMessage');
        const { Messages = [] } = await options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queue.url,
            MaxNumberOfMessages: 1,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: polling.signal },
        );
        for (const record of toSqsEvent(Messages, options.queue).Records) {
          const { md5OfMessageAttributes, ...rest } = record;
          const pipeRecord: PipeSqsRecord = {
            ...rest,
            ...(md5OfMessageAttributes ? { md5OfMessageAttributes } : {}),
          };
          const executionArn = await options.start(JSON.stringify([pipeRecord]));
          check('DeleteMessage');
          await options.sqs.send(
            new DeleteMessageCommand({ QueueUrl: options.queue.url, ReceiptHandle: record.receiptHandle }),
          );
          options.reporter({
            type: 'pipe-delivered',
            pipe: options.name,
            messageId: record.messageId,
            executionArn,
          });
        }
        backoffMs = 100;
      } catch (error) {
        if (polling.signal.aborted) return;
        options.reporter({
          type: 'error',
          source: `pipe ${options.name}`,
          message: error instanceof Error ? error.message : String(error),
        });
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  })();
  return {
    async stop() {
      polling.abort();
      await loop;
    },
  };
}
