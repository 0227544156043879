import { describe, expect, it } from '@jest/globals';
import { queuedTasks, TaskNotStartedError } from '../src/local-workflows.ts';
import type { RunTaskRequest } from '../src/task-integrations.ts';

/** A RunTask request whose call records when it deferred its start and when it started. */
function request(name: string, log: string[], signal = new AbortController().signal): RunTaskRequest {
  return {
    cluster: 'c',
    taskDefinition: 't',
    overrides: [],
    call: {
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:${name}`,
      stateName: 'ImportRows',
      signal,
      deferStart: () => {
        log.push(`${name} deferred`);
        return () => log.push(`${name} started`);
      },
    },
  };
}

describe('queuedTasks', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html, TimeoutSeconds: "The count
  // begins after the task has been started": a task waiting for a slot tells Step Functions it has not.
  it('tells each task it waits (before anything is awaited) and when it starts, one at a time in order', async () => {
    const log: string[] = [];
    const finish: Array<() => void> = [];
    const run = queuedTasks(1, (r) => {
      log.push(`${r.call.executionArn.split(':').at(-1)} runs`);
      return new Promise<string>((resolve) => finish.push(() => resolve('done')));
    });
    const first = run(request('a', log));
    const second = run(request('b', log));
    expect(log).toEqual(['a deferred', 'b deferred']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['a deferred', 'b deferred', 'a started', 'a runs']);
    finish.shift()?.();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.slice(4)).toEqual(['b started', 'b runs']);
    finish.shift()?.();
    await expect(second).resolves.toBe('done');
  });

  it('ends a task whose execution was stopped while it waited at once, and never starts it', async () => {
    const log: string[] = [];
    let release: () => void = () => undefined;
    const run = queuedTasks(1, () => new Promise<void>((resolve) => (release = resolve)));
    const first = run(request('a', log));
    const stopped = new AbortController();
    const second = run(request('b', log, stopped.signal));
    const outcome = second.then(
      () => 'started',
      (error: unknown) => error,
    );
    stopped.abort();
    // Before the first task ends: a task stopped while it provisions stops then.
    expect(await outcome).toBeInstanceOf(TaskNotStartedError);
    release();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).not.toContain('b started');
  });

  it('runs every task at once, without deferring, when there is no capacity limit', async () => {
    const log: string[] = [];
    const run = queuedTasks(undefined, async () => 'done');
    await expect(run(request('a', log))).resolves.toBe('done');
    expect(log).toEqual([]);
  });
});
