import { existsSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import { goneWithin, startInProcessGroup } from '@sidestep/lambda-runtime/testing';
import { sampleTask } from '@sidestep/manifest/testing';
import { OverridesTooLongError, startFargateTask } from '../src/fargate-task.ts';

/** A container that runs until it is stopped. */
function idleTask() {
  return startFargateTask({
    task: { ...sampleTask, command: ['node', '-e', 'setInterval(() => {}, 1000)'] },
    bundleDir: process.cwd(),
    environment: {},
    region: 'us-east-1',
    readOnly: false,
  });
}

describe('startFargateTask', () => {
  it('reports a stop as UserInitiated, like ECS StopTask', async () => {
    const task = await idleTask();
    const result = await task.stop(5_000);
    expect(result).toMatchObject({ stopCode: 'UserInitiated', signal: 'SIGTERM', exitCode: null });
  });

  it('reports a simulated Spot interruption with the stop code and reason ECS gives it', async () => {
    const task = await idleTask();
    const result = await task.stop(5_000, 'SpotInterruption');
    expect(result).toMatchObject({
      stopCode: 'SpotInterruption',
      stoppedReason: 'Your Spot Task was interrupted.',
      signal: 'SIGTERM',
    });
  });

  // ECS kills a container that has not exited at its stop timeout after the SIGTERM (the container
  // definition's stopTimeout; Fargate's default 30 s), for a StopTask and a Spot interruption alike:
  // Spot's two-minute warning is the SIGTERM, not the grace
  // (https://repost.aws/knowledge-center/fargate-spot-termination-notice).
  it.each(['UserInitiated', 'SpotInterruption'] as const)(
    "kills a container that ignores SIGTERM at the task's own stop timeout (%s)",
    async (stopCode) => {
      const ignoring = Promise.withResolvers<true>();
      const task = await startFargateTask({
        task: {
          ...sampleTask,
          stopTimeoutSeconds: 1,
          command: [
            'node',
            '-e',
            "process.on('SIGTERM', () => {}); console.log('ignoring SIGTERM'); setInterval(() => {}, 1000)",
          ],
        },
        bundleDir: process.cwd(),
        environment: {},
        region: 'us-east-1',
        readOnly: false,
        onLog: (line) => line.includes('ignoring SIGTERM') && ignoring.resolve(true),
      });
      // Its SIGTERM handler must be in place before the stop, or SIGTERM alone would end it: it says
      // so once it is (stopped in any case, so that a container that never says so is not left running).
      const late = new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000).unref());
      const ready = await Promise.race([ignoring.promise, late]);
      const started = performance.now();
      const result = await task.stop(undefined, stopCode);
      const waited = performance.now() - started;
      expect(ready).toBe(true);
      expect(result).toMatchObject({ stopCode, signal: 'SIGKILL' });
      expect(waited).toBeGreaterThanOrEqual(950);
      expect(waited).toBeLessThan(20_000);
    },
  );

  // When its essential container stops, ECS stops the task
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_essential):
  // a process the container spawned lives in the container and ends with it.
  it('ends what the container spawned, unwaited for, once the container exits', async () => {
    const lines: string[] = [];
    const spawner = [
      "const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
      "c.unref(); console.log('grandchild', c.pid);",
    ].join(' ');
    const task = await startFargateTask({
      task: { ...sampleTask, command: ['node', '-e', spawner] },
      bundleDir: process.cwd(),
      environment: {},
      region: 'us-east-1',
      readOnly: false,
      onLog: (line) => lines.push(line),
    });
    const result = await task.result;
    const pid = Number(/grandchild (\d+)/.exec(lines.join('\n'))?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(result).toMatchObject({ exitCode: 0, stopCode: 'EssentialContainerExited' });
    // goneWithin kills it if it is still there, so a failure leaves nothing behind either.
    expect(await goneWithin(pid, 1_000)).toBe(true);
  });

  describe('in a host started from a terminal', () => {
    /**
     * Runs a host (as `npm start` is one) in a process group of its own, as a shell runs a foreground
     * job, starting a container that prints its pid, works `containerMs` and exits 0; the host
     * ignores SIGINT and prints the task's result.
     */
    async function startHost(containerMs: number) {
      const source = `
        import { sampleTask } from '@sidestep/manifest/testing';
        import { startFargateTask } from ${JSON.stringify(new URL('../src/fargate-task.ts', import.meta.url).href)};
        process.on('SIGINT', () => console.log('host got SIGINT'));
        const task = await startFargateTask({
          task: { ...sampleTask, command: ['node', '-e', 'console.log("container", process.pid, process.env.TMPDIR); setTimeout(() => {}, ${containerMs})'] },
          bundleDir: process.cwd(), environment: {}, region: 'us-east-1', readOnly: false,
          onLog: (line) => console.log(line),
        });
        const { exitCode, signal } = await task.result;
        console.log('result', JSON.stringify({ exitCode, signal }));`;
      const host = startInProcessGroup(
        ['--input-type=module', '-e', source],
        new URL('..', import.meta.url).pathname,
      );
      const [, pid, containerTmp] = await host.lineOf(/container (\d+) ([^\s"]+)/);
      return { ...host, containerPid: Number(pid), containerTmp: containerTmp as string };
    }

    it("keeps the terminal's Ctrl-C (SIGINT to the host's process group) from the container: only the host stops it", async () => {
      const host = await startHost(800);
      process.kill(-host.group, 'SIGINT');
      await host.lineOf(/host got SIGINT/);
      expect(JSON.parse((await host.lineOf(/result (.*)/))[1] as string)).toEqual({
        exitCode: 0,
        signal: null,
      });
      await host.exited;
    });

    it('leaves no container behind when the host is killed with SIGKILL, nor its temp directory', async () => {
      const host = await startHost(30_000);
      expect(existsSync(host.containerTmp)).toBe(true);
      process.kill(-host.group, 'SIGKILL');
      await host.exited;
      expect(await goneWithin(host.containerPid, 3_000)).toBe(true);
      expect(existsSync(host.containerTmp)).toBe(false);
    });
  });
});

// RunTask `overrides`: "A total of 8192 characters are allowed for overrides. This limit includes
// the JSON formatting characters of the override structure."
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html); over it, ECS
// answers InvalidParameterException and starts nothing.
describe('RunTask overrides limit', () => {
  /**
   * Container overrides whose JSON structure, as ECS receives it, is `length` characters long (its
   * keys camelCase there, PascalCase here: the same length).
   */
  const overridesOf = (length: number) => {
    const entry = (value: string) => [
      { Name: sampleTask.containerName, Environment: [{ Name: 'PAD', Value: value }] },
    ];
    return entry('x'.repeat(length - JSON.stringify({ containerOverrides: entry('') }).length));
  };
  const start = (overrides: ReturnType<typeof overridesOf>) =>
    startFargateTask({
      task: { ...sampleTask, command: ['node', '-e', ''] },
      bundleDir: process.cwd(),
      environment: {},
      overrides,
      region: 'us-east-1',
      readOnly: false,
    });

  it('refuses overrides of 8193 characters with InvalidParameterException naming overrides', async () => {
    const refused = await rejectionOf(start(overridesOf(8193)), OverridesTooLongError);
    expect(refused).toMatchObject({ field: 'overrides', length: 8193 });
    expect(refused.message).toBe('Container Overrides length must be at most 8192');
  });

  it('runs a task whose overrides are exactly 8192 characters', async () => {
    const task = await start(overridesOf(8192));
    await expect(task.result).resolves.toMatchObject({ exitCode: 0 });
  });
});
