import type { QueuedMessage } from './aws-endpoint.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';

/** Message attribute the runtime sets when it dead-letters a permanent error itself. */
export const ERROR_TYPE_ATTRIBUTE = 'sidestep.error.type';
/** Message attribute the runtime sets with the error's message. */
export const ERROR_MESSAGE_ATTRIBUTE = 'sidestep.error.message';
/** Message attribute the runtime sets with the id the message had on its source queue. */
export const SOURCE_MESSAGE_ID_ATTRIBUTE = 'sidestep.source.messageId';

/** Options of {@link watchDeadLetterQueue}. */
export interface DeadLetterWatchOptions {
  /** The DLQ's name. */
  readonly queueName: string;
  /** Reads the queue's messages without receiving them (so the watch changes nothing). */
  readonly peek: (queueName: string) => Promise<readonly QueuedMessage[] | undefined>;
  readonly reporter: LocalCloudReporter;
  /** @default 500 */
  readonly intervalMs?: number;
}

/**
 * Reports every message that lands in a dead-letter queue after the watch started (not those a
 * restart finds there: they were reported by the run they landed in), by either road: the runtime sending a
 * permanent failure there with `sidestep.error.*` attributes, or SQS redrive after
 * `maxReceiveCount`. Redrive happens inside SQS, not through an API call a proxy could see, hence
 * a non-destructive look at the queue twice a second instead.
 */
export function watchDeadLetterQueue(options: DeadLetterWatchOptions): { stop(): Promise<void> } {
  const seen = new Set<string>();
  const check = async () => {
    const messages = (await options.peek(options.queueName)) ?? [];
    // Only what the queue holds now is remembered: an id that left it (redriven, purged, expired)
    // is forgotten, so the set does not grow with every message the queue ever held, and one that
    // lands again is reported again.
    const present = new Set(messages.map((message) => message.messageId));
    for (const id of seen) if (!present.has(id)) seen.delete(id);
    for (const message of messages) {
      if (seen.has(message.messageId)) continue;
      seen.add(message.messageId);
      const errorType = message.messageAttributes[ERROR_TYPE_ATTRIBUTE]?.StringValue;
      const errorMessage = message.messageAttributes[ERROR_MESSAGE_ATTRIBUTE]?.StringValue;
      options.reporter({
        type: 'dead-lettered',
        queue: options.queueName,
        // The id the job had on its source queue is the one earlier reports showed; redrive keeps it.
        messageId: message.messageAttributes[SOURCE_MESSAGE_ID_ATTRIBUTE]?.StringValue ?? message.messageId,
        cause: errorType === undefined ? 'redrive' : 'runtime',
        // The receive that triggers redrive counts one more than the deliveries that failed.
        ...(errorType === undefined
          ? { receiveCount: Math.max(0, message.approximateReceiveCount - 1) }
          : {}),
        ...(errorType !== undefined ? { errorType } : {}),
        ...(errorMessage !== undefined ? { errorMessage } : {}),
      });
    }
  };

  const reportFailure = (error: unknown) => {
    options.reporter({
      type: 'error',
      source: `dead-letter watch ${options.queueName}`,
      message: error instanceof Error ? error.message : String(error),
    });
  };
  // What the DLQ holds at the start (kept from the last run) was reported then: only what lands
  // after it is new.
  let running: Promise<void> = Promise.resolve(options.peek(options.queueName))
    .then((messages) => {
      for (const message of messages ?? []) seen.add(message.messageId);
    })
    .catch(reportFailure);
  const timer = setInterval(() => {
    running = running.then(check).catch(reportFailure);
  }, options.intervalMs ?? 500);
  timer.unref();

  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
