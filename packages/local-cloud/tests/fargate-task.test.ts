import { describe, expect, it } from '@jest/globals';
import { sampleTask } from '@sidestep/manifest/testing';
import { startFargateTask } from '../src/fargate-task.ts';

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
});
