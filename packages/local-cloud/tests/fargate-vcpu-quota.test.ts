import { describe, expect, it } from '@jest/globals';
import type { TaskManifest } from '@sidestep/manifest';
import { FARGATE_VCPU_LIMIT_REASON } from '@sidestep/workflows';
import type { LocalTask } from '../src/local-definitions.ts';
import { queuedTasks, TaskNotStartedError, withVcpuQuota } from '../src/local-workflows.ts';
import { type RunTaskRequest, StatesTaskError } from '../src/task-integrations.ts';

/** A task of `cpu` units (1024 a vCPU), `sidestep-local-<name>` as ECS knows it. */
function task(name: string, cpu: number): LocalTask {
  return { manifest: { name, cpu } as TaskManifest, bundleDir: `services/${name}/dist` };
}

function request(family: string): RunTaskRequest {
  return {
    cluster: 'sidestep-local',
    taskDefinition: `arn:aws:ecs:us-east-1:000000000000:task-definition/${family}`,
    overrides: [],
    call: {
      executionArn: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:exec-1',
      stateName: 'ImportRows',
      signal: new AbortController().signal,
    },
  };
}

/** Runs each task until its `finish` is called. */
function heldTasks() {
  const finish: Array<() => void> = [];
  const run = (r: RunTaskRequest) =>
    new Promise<string>((resolve) => finish.push(() => resolve(r.taskDefinition.split('/').pop() ?? '')));
  return { run, finish };
}

const tasks = [task('batch-worker', 2048), task('small', 512)];

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html:
// "You’ve reached the limit on the number of vCPUs you can run concurrently"; RunTask answers it in
// its Failures, which `ecs:runTask.sync` raises as AmazonECS.Unknown
// (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html).
describe('withVcpuQuota (the account’s Fargate vCPU quota)', () => {
  it('refuses a task whose vCPUs do not fit beside the running ones, as RunTask’s Failures, and starts nothing', async () => {
    const held = heldTasks();
    let started = 0;
    const run = withVcpuQuota(3, tasks, (r) => {
      started += 1;
      return held.run(r);
    });
    const first = run(request('sidestep-local-batch-worker'));
    // 2 vCPUs held, 1 left: a second 2-vCPU task does not fit, a 0.5-vCPU one does.
    const refused = await run(request('sidestep-local-batch-worker')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StatesTaskError);
    expect(refused).toMatchObject({ name: 'AmazonECS.Unknown' });
    expect(JSON.parse((refused as StatesTaskError).message)).toEqual({
      Failures: [
        {
          Arn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-local-batch-worker:1',
          Reason: FARGATE_VCPU_LIMIT_REASON,
        },
      ],
      Tasks: [],
    });
    expect(started).toBe(1);
    const small = run(request('sidestep-local-small'));
    expect(started).toBe(2);
    for (const finish of held.finish.splice(0)) finish();
    await expect(first).resolves.toBe('sidestep-local-batch-worker');
    await expect(small).resolves.toBe('sidestep-local-small');
  });

  it('gives a stopped task’s vCPUs back, whether it succeeded or failed', async () => {
    let fail = true;
    const held = heldTasks();
    const run = withVcpuQuota(2, tasks, (r) => {
      if (fail) return Promise.reject(new Error('the container exited 1'));
      return held.run(r);
    });
    await expect(run(request('sidestep-local-batch-worker'))).rejects.toThrow('the container exited 1');
    fail = false;
    const second = run(request('sidestep-local-batch-worker'));
    await expect(run(request('sidestep-local-batch-worker'))).rejects.toMatchObject({
      name: 'AmazonECS.Unknown',
    });
    held.finish.shift()?.();
    await second;
    const third = run(request('sidestep-local-batch-worker'));
    held.finish.shift()?.();
    await expect(third).resolves.toBe('sidestep-local-batch-worker');
  });

  it('passes a task definition the cloud does not have on, for RunTask to refuse it', async () => {
    const run = withVcpuQuota(0, tasks, async (r) => `ran ${r.taskDefinition}`);
    await expect(run(request('sidestep-local-other'))).resolves.toContain('sidestep-local-other');
  });

  it('limits nothing without a quota', async () => {
    const run = withVcpuQuota(undefined, tasks, async () => 'ran');
    await expect(
      Promise.all(Array.from({ length: 10 }, () => run(request('sidestep-local-batch-worker')))),
    ).resolves.toHaveLength(10);
  });
});

describe('withVcpuQuota over queuedTasks (the embedded database’s one task at a time)', () => {
  it('gives back the vCPUs of a task stopped while it waited for its turn, at once', async () => {
    const held = heldTasks();
    const run = withVcpuQuota(4, tasks, queuedTasks(1, held.run));
    const first = run(request('sidestep-local-batch-worker'));
    const stop = new AbortController();
    const waiting = run({
      ...request('sidestep-local-batch-worker'),
      call: { ...request('x').call, signal: stop.signal },
    });
    // 2 + 2 of 4 vCPUs held, the second task waiting for the first's slot: a third does not fit.
    await expect(run(request('sidestep-local-batch-worker'))).rejects.toMatchObject({
      name: 'AmazonECS.Unknown',
    });
    stop.abort();
    await expect(waiting).rejects.toBeInstanceOf(TaskNotStartedError);
    // The first still runs; the stopped one's vCPUs are free again.
    const third = run(request('sidestep-local-batch-worker'));
    for (const finish of held.finish.splice(0)) finish();
    await expect(first).resolves.toBe('sidestep-local-batch-worker');
    await new Promise((resolve) => setImmediate(resolve));
    for (const finish of held.finish.splice(0)) finish();
    await expect(third).resolves.toBe('sidestep-local-batch-worker');
    // The stopped task never ran: two tasks ran.
    expect(held.finish).toHaveLength(0);
  });
});
