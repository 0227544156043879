import { describe, expect, it } from '@jest/globals';
import type { QueuedMessage } from '../src/aws-endpoint.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { watchDeadLetterQueue } from '../src/dead-letter-watch.ts';

const message = (messageId: string): QueuedMessage => ({
  messageId,
  body: '{}',
  messageAttributes: {},
  approximateReceiveCount: 6,
});

describe('watchDeadLetterQueue', () => {
  it('reports what is dead-lettered after it started, not what the DLQ held from before a restart', async () => {
    const inQueue = [message('from-the-last-run')];
    const report = createCollectingReporter();
    const watch = watchDeadLetterQueue({
      queueName: 'sidestep-local-mail-dlq',
      peek: async () => inQueue,
      reporter: report.reporter,
      intervalMs: 10,
    });
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
});
