import { describe, expect, it } from '@jest/globals';
import {
  deadLetterQueueName,
  defineService,
  defineTask,
  ManifestError,
  resourceName,
  type ServiceManifest,
  type TaskManifest,
  taskStopTimeoutSeconds,
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

  // Each limit's last accepted value; the refused value past it is in the next test.
  it.each([
    // Lambda memory, 128 to 10,240 MB: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
    [{ ...valid, memoryMb: 10_240 }],
    // Lambda Timeout, 1 to 900 s (API_CreateFunction); the visibility default follows it (6 s).
    [{ ...valid, timeoutSeconds: 1 }],
    // CreateEventSourceMapping: a standard queue's BatchSize goes to 10,000 with a batching window of
    // at least 1 s (over 10 needs one), MaximumBatchingWindowInSeconds 0 to 300.
    // https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
    [{ ...valid, queue: { ...valid.queue, batchSize: 11, maximumBatchingWindowSeconds: 1 } }],
    [{ ...valid, queue: { ...valid.queue, batchSize: 10_000, maximumBatchingWindowSeconds: 300 } }],
    // SetQueueAttributes: RedrivePolicy maxReceiveCount 1 to 1,000 (the console's Maximum receives),
    // VisibilityTimeout 0 to 43,200 s (12 hours).
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
    [{ ...valid, queue: { ...valid.queue, maxReceiveCount: 1 } }],
    [{ ...valid, queue: { ...valid.queue, maxReceiveCount: 1000 } }],
    [{ ...valid, queue: { ...valid.queue, visibilityTimeoutSeconds: 43_200 } }],
  ])('accepts a manifest at the edge of a limit (%#)', (manifest) => {
    expect(defineService(manifest as ServiceManifest)).toBe(manifest);
  });

  it.each([
    [{ ...valid, name: 'Mail_Dispatcher' }, 'name'],
    [{ ...valid, handler: 'index' }, 'handler'],
    [{ ...valid, memoryMb: 64 }, 'memoryMb'],
    [{ ...valid, memoryMb: 10_241 }, 'memoryMb'],
    [{ ...valid, timeoutSeconds: 0 }, 'timeoutSeconds'],
    [{ ...valid, timeoutSeconds: 901 }, 'timeoutSeconds'],
    [
      { ...valid, queue: { ...valid.queue, batchSize: 11, maximumBatchingWindowSeconds: 0 } },
      'queue.batchSize',
    ],
    [
      { ...valid, queue: { ...valid.queue, batchSize: 10_001, maximumBatchingWindowSeconds: 1 } },
      'queue.batchSize',
    ],
    [
      { ...valid, queue: { ...valid.queue, maximumBatchingWindowSeconds: 301 } },
      'queue.maximumBatchingWindowSeconds',
    ],
    // Lambda takes the batching window "in increments of seconds", and a batch size over 10 needs a
    // window of at least 1 (API_CreateEventSourceMapping, MaximumBatchingWindowInSeconds): a window of
    // 0.5 ran locally and would be refused, or rounded to 0, by the deploy.
    [
      { ...valid, queue: { ...valid.queue, batchSize: 100, maximumBatchingWindowSeconds: 0.5 } },
      'queue.maximumBatchingWindowSeconds',
    ],
    [
      { ...valid, queue: { ...valid.queue, batchSize: 10, maximumBatchingWindowSeconds: 1.5 } },
      'queue.maximumBatchingWindowSeconds',
    ],
    [{ ...valid, queue: { ...valid.queue, maximumConcurrency: 1 } }, 'queue.maximumConcurrency'],
    // Both are integers in the Lambda and SQS APIs (ScalingConfig.MaximumConcurrency, the redrive
    // policy's maxReceiveCount).
    [{ ...valid, queue: { ...valid.queue, maximumConcurrency: 2.5 } }, 'queue.maximumConcurrency'],
    [{ ...valid, queue: { ...valid.queue, maxReceiveCount: 2.5 } }, 'queue.maxReceiveCount'],
    [{ ...valid, queue: { ...valid.queue, maxReceiveCount: 0 } }, 'queue.maxReceiveCount'],
    [{ ...valid, queue: { ...valid.queue, maxReceiveCount: 1001 } }, 'queue.maxReceiveCount'],
    [{ ...valid, queue: { ...valid.queue, visibilityTimeoutSeconds: 60 } }, 'queue.visibilityTimeoutSeconds'],
    [
      { ...valid, queue: { ...valid.queue, visibilityTimeoutSeconds: 43_201 } },
      'queue.visibilityTimeoutSeconds',
    ],
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
    // A statement grants what its Action lists: an empty list grants nothing (IAM JSON policy grammar).
    [{ ...valid, permissions: [{ resource: 'mail-identity', actions: [] }] }, 'permissions[0].actions'],
  ])('rejects a bad manifest and names the field (%#)', (manifest, field) => {
    expect(fieldOf(() => defineService(manifest as ServiceManifest))).toBe(field);
  });
});

describe('defineTask', () => {
  const task = sampleTaskInput;

  it('returns a valid task unchanged', () => {
    expect(defineTask(task)).toBe(task);
  });

  it("gives a task Fargate's 30 s between SIGTERM and SIGKILL unless it sets its own stop timeout", () => {
    expect(taskStopTimeoutSeconds(task)).toBe(30);
    expect(taskStopTimeoutSeconds({ ...task, stopTimeoutSeconds: 120 })).toBe(120);
  });

  // Fargate's task sizes: 1 vCPU takes 2 to 8 GB, 16 vCPU 32 to 120 GB; ephemeral storage is 21 to
  // 200 GiB. https://docs.aws.amazon.com/AmazonECS/latest/userguide/task-cpu-memory-error.html,
  // https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_EphemeralStorage.html
  it.each([
    [{ ...task, cpu: 1024, memoryMb: 8192 }],
    [{ ...task, cpu: 16384, memoryMb: 122_880 }],
    [{ ...task, ephemeralStorageGiB: 21 }],
    [{ ...task, ephemeralStorageGiB: 200 }],
    // stopTimeout: at most 120 s on Fargate (API_ContainerDefinition).
    [{ ...task, stopTimeoutSeconds: 1 }],
    [{ ...task, stopTimeoutSeconds: 120 }],
  ])('accepts a task at the edge of a Fargate limit (%#)', (manifest) => {
    expect(defineTask(manifest as TaskManifest)).toBe(manifest);
  });

  it.each([
    [{ ...task, cpu: 300 }, 'cpu'],
    [{ ...task, memoryMb: 1024 }, 'memoryMb'],
    [{ ...task, cpu: 16384, memoryMb: 131_072 }, 'memoryMb'],
    [{ ...task, ephemeralStorageGiB: 20 }, 'ephemeralStorageGiB'],
    [{ ...task, ephemeralStorageGiB: 201 }, 'ephemeralStorageGiB'],
    [{ ...task, command: [] }, 'command'],
    [{ ...task, inputs: { jobId: 'x' } }, 'inputs.jobId'],
    [{ ...task, timeoutSeconds: 10 }, 'timeoutSeconds'],
    [{ ...task, stopTimeoutSeconds: 121 }, 'stopTimeoutSeconds'],
    [{ ...task, stopTimeoutSeconds: 0 }, 'stopTimeoutSeconds'],
    [{ ...task, stopTimeoutSeconds: 60.5 }, 'stopTimeoutSeconds'],
    [
      { ...task, permissions: [{ resource: 'database-secret', actions: ['secretsmanager:*'] }] },
      'permissions[0].actions',
    ],
  ])('rejects a bad task and names the field (%#)', (manifest, field) => {
    expect(fieldOf(() => defineTask(manifest as TaskManifest))).toBe(field);
  });
});
