import { describe, expect, it } from '@jest/globals';
import type { QueuedMessage } from '../src/aws-endpoint.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { watchDeadLetterQueue } from '../src/dead-letter-watch.ts';

const message = (messageId: string): QueuedMessage => ({
  messageId,
  body: '{}',
  messageAttributes: {},
  approximateReceiveCount: 6,
  sentTimestamp: 0,
});

/** A watch of the mail DLQ holding what `held` gives, checked every 10 ms, and what it reported. */
function startWatch(held: () => readonly QueuedMessage[]) {
  const report = createCollectingReporter();
  const watch = watchDeadLetterQueue({
    queueName: 'sidestep-local-mail-dlq',
    peek: async () => held(),
    reporter: report.reporter,
    intervalMs: 10,
  });
  return { report, watch };
}

describe('watchDeadLetterQueue', () => {
  it('reports what is dead-lettered after it started, not what the DLQ held from before a restart', async () => {
    const inQueue = [message('from-the-last-run')];
    const { report, watch } = startWatch(() => inQueue);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      inQueue.push(message('new'));
      const event = await report.waitFor('dead-lettered', () => true);
      expect(event).toMatchObject({ messageId: 'new', cause: 'redrive', receiveCount: 5 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(report.events.filter((e) => e.type === 'dead-lettered')).toHaveLength(1);
    } finally {
      await watch.stop();
    }
  });

  it('forgets a message that left the queue, and reports it again when it lands again', async () => {
    let inQueue = [message('m-1')];
    const { report, watch } = startWatch(() => inQueue);
    const reported = () => report.events.filter((e) => e.type === 'dead-lettered').length;
    const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
    try {
      await pause();
      // Redriven out of the DLQ, then dead-lettered again: it landed twice.
      inQueue = [];
      await pause();
      inQueue = [message('m-1')];
      await pause();
      expect(reported()).toBe(1);
    } finally {
      await watch.stop();
    }
  });
});
