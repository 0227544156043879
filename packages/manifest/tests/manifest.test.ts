import { describe, expect, it } from '@jest/globals';
import {
  deadLetterQueueName,
  defineService,
  defineTask,
  ManifestError,
  resourceName,
  type ServiceManifest,
  type TaskManifest,
  visibilityTimeoutSeconds,
} from '../src/index.ts';
import { sampleServiceInput, sampleTaskInput } from '../src/testing.ts';

const valid = sampleServiceInput;

/** The field of the ManifestError that `define` throws. */
function fieldOf(define: () => unknown): string {
  try {
    define();
  } catch (error) {
    if (error instanceof ManifestError) return error.field;
    throw error;
  }
  throw new Error('expected a ManifestError');
}

describe('defineService', () => {
  it('returns a valid manifest unchanged', () => {
    expect(defineService(valid)).toBe(valid);
  });

  it('names resources sidestep-<env>-<name>', () => {
    expect(resourceName('local', 'mail')).toBe('sidestep-local-mail');
    expect(deadLetterQueueName('local', 'mail')).toBe('sidestep-local-mail-dlq');
  });

  it('takes a queue retention of 60 s and of 14 days, the ends of SQS range', () => {
    for (const messageRetentionSeconds of [60, 1_209_600]) {
      const manifest = { ...valid, queue: { ...valid.queue, messageRetentionSeconds } } as ServiceManifest;
      expect(defineService(manifest)).toBe(manifest);
    }
  });

  it('defaults the visibility timeout to 6x the function timeout', () => {
    expect(visibilityTimeoutSeconds(valid)).toBe(180);
  });

  it.each([
    [{ ...valid, name: 'Mail_Dispatcher' }, 'name'],
    [{ ...valid, handler: 'index' }, 'handler'],
    [{ ...valid, memoryMb: 64 }, 'memoryMb'],
    [{ ...valid, timeoutSeconds: 901 }, 'timeoutSeconds'],
    [
      { ...valid, queue: { ...valid.queue, batchSize: 11, maximumBatchingWindowSeconds: 0 } },
      'queue.batchSize',
    ],
    [{ ...valid, queue: { ...valid.queue, maximumConcurrency: 1 } }, 'queue.maximumConcurrency'],
    [{ ...valid, queue: { ...valid.queue, visibilityTimeoutSeconds: 60 } }, 'queue.visibilityTimeoutSeconds'],
    [{ ...valid, queue: { ...valid.queue, jobTypes: [] } }, 'queue.jobTypes'],
    // SQS's MessageRetentionPeriod range, 60 s to 14 days (API_SetQueueAttributes).
    [{ ...valid, queue: { ...valid.queue, messageRetentionSeconds: 59 } }, 'queue.messageRetentionSeconds'],
    [
      { ...valid, queue: { ...valid.queue, messageRetentionSeconds: 1_209_601 } },
      'queue.messageRetentionSeconds',
    ],
    [{ ...valid, queue: { ...valid.queue, messageRetentionSeconds: 90.5 } }, 'queue.messageRetentionSeconds'],
    [
      { ...valid, permissions: [{ resource: 'mail-identity', actions: ['ses:*'] }] },
      'permissions[0].actions',
    ],
    [{ ...valid, permissions: [{ resource: 'mail-identity', actions: ['*'] }] }, 'permissions[0].actions'],
  ])('rejects a bad manifest and names the field (%#)', (manifest, field) => {
    expect(fieldOf(() => defineService(manifest as ServiceManifest))).toBe(field);
  });
});

describe('defineTask', () => {
  const task = sampleTaskInput;

  it('returns a valid task unchanged', () => {
    expect(defineTask(task)).toBe(task);
  });

  it.each([
    [{ ...task, cpu: 300 }, 'cpu'],
    [{ ...task, memoryMb: 1024 }, 'memoryMb'],
    [{ ...task, command: [] }, 'command'],
    [{ ...task, inputs: { jobId: 'x' } }, 'inputs.jobId'],
    [{ ...task, timeoutSeconds: 10 }, 'timeoutSeconds'],
    [
      { ...task, permissions: [{ resource: 'database-secret', actions: ['secretsmanager:*'] }] },
      'permissions[0].actions',
    ],
  ])('rejects a bad task and names the field (%#)', (manifest, field) => {
    expect(fieldOf(() => defineTask(manifest as TaskManifest))).toBe(field);
  });
});
