import { describe, expect, it } from '@jest/globals';
import { FARGATE_RUN_TASK_RATE } from '@sidestep/workflows';
import { createRateBucket } from '../src/rate-bucket.ts';
import { ecsRunTaskSync, type RunTaskOutcome, StatesTaskError } from '../src/task-integrations.ts';

function outcome(ended: Pick<RunTaskOutcome, 'exitCode' | 'signal'>): RunTaskOutcome {
  return {
    ...ended,
    taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/local/abc',
    startedAt: new Date(0),
    stoppedAt: new Date(1000),
    stopCode: 'EssentialContainerExited',
    stoppedReason: 'Essential container in task exited',
    environment: {},
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/local',
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/worker:1',
    family: 'worker',
    containerName: 'batch-worker',
    cpu: 256,
    memoryMb: 512,
  };
}

async function failureOf(ended: Pick<RunTaskOutcome, 'exitCode' | 'signal'>): Promise<StatesTaskError> {
  const run = ecsRunTaskSync(async () => outcome(ended));
  const call = { executionArn: 'arn:x', stateName: 'RunImport', signal: new AbortController().signal };
  const error = await run({ TaskDefinition: 'worker' }, call).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StatesTaskError);
  return error as StatesTaskError;
}

describe('ecsRunTaskSync failure cause', () => {
  it('reports a container killed by a signal as ECS does: exit code 128 + the signal, the signal named', async () => {
    const killed = await failureOf({ exitCode: null, signal: 'SIGKILL' });
    expect(killed.name).toBe('States.TaskFailed');
    expect(JSON.parse(killed.message)).toMatchObject({
      StopCode: 'EssentialContainerExited',
      StoppedReason: 'Essential container in task exited',
      Containers: [{ Name: 'batch-worker', ExitCode: 137, Reason: expect.stringContaining('SIGKILL') }],
    });
    const terminated = JSON.parse((await failureOf({ exitCode: null, signal: 'SIGTERM' })).message);
    expect(terminated.Containers[0]).toMatchObject({
      ExitCode: 143,
      Reason: expect.stringContaining('SIGTERM'),
    });
  });

  it('reports a non-zero exit code without a reason', async () => {
    const failed = JSON.parse((await failureOf({ exitCode: 3, signal: null })).message);
    expect(failed.Containers[0].ExitCode).toBe(3);
    expect(failed.Containers[0].Reason).toBeUndefined();
  });
});

// "The rate quota for calls to the Amazon ECS RunTask API is 20 calls per second (burst and
// sustained)" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html): past it
// Step Functions' RunTask fails as a throttled call, which the workflows' start retry takes.
describe('ecsRunTaskSync throttled at Fargate’s RunTask rate', () => {
  it('starts a second’s worth at once, then fails ECS.AmazonECSException "Rate exceeded" and starts nothing', async () => {
    let started = 0;
    const bucket = createRateBucket(FARGATE_RUN_TASK_RATE, () => 0);
    const run = ecsRunTaskSync(
      async () => {
        started += 1;
        return outcome({ exitCode: 0, signal: null });
      },
      () => bucket.admit(),
    );
    const call = { executionArn: 'arn:x', stateName: 'RunImport', signal: new AbortController().signal };
    for (let task = 0; task < FARGATE_RUN_TASK_RATE; task++) await run({ TaskDefinition: 'worker' }, call);
    const error = await run({ TaskDefinition: 'worker' }, call).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StatesTaskError);
    expect(error).toMatchObject({
      name: 'ECS.AmazonECSException',
      message: expect.stringMatching(/^Rate exceeded/),
    });
    expect(started).toBe(FARGATE_RUN_TASK_RATE);
  });
});

// A `.sync` RunTask's answer, recorded as TaskSubmitted: no Failures, the task PROVISIONING
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html,
// https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSubmittedEventDetails.html).
describe('ecsRunTaskSync submission', () => {
  it('submits RunTask’s answer once the task started, and nothing for a RunTask that started none', async () => {
    const submitted: unknown[] = [];
    const call = {
      executionArn: 'arn:x',
      stateName: 'RunImport',
      signal: new AbortController().signal,
      submitted: (output: unknown) => submitted.push(output),
    };
    const { taskArn, clusterArn, taskDefinitionArn, family, containerName, cpu, memoryMb } = outcome({
      exitCode: 0,
      signal: null,
    });
    const run = ecsRunTaskSync(async (request) => {
      expect(submitted).toEqual([]);
      request.started?.({ taskArn, clusterArn, taskDefinitionArn, family, containerName, cpu, memoryMb });
      return outcome({ exitCode: 0, signal: null });
    });
    const described = await run({ TaskDefinition: 'worker', Cluster: 'local' }, call);
    expect(submitted).toEqual([
      {
        Failures: [],
        Tasks: [
          expect.objectContaining({
            TaskArn: taskArn,
            ClusterArn: clusterArn,
            TaskDefinitionArn: taskDefinitionArn,
            Group: 'family:worker',
            Cpu: '256',
            Memory: '512',
            LaunchType: 'FARGATE',
            LastStatus: 'PROVISIONING',
            DesiredStatus: 'RUNNING',
            StartedBy: 'AWS Step Functions',
            Containers: [
              {
                ContainerArn: 'arn:aws:ecs:us-east-1:000000000000:container/local/abc',
                LastStatus: 'PENDING',
                Name: 'batch-worker',
                TaskArn: taskArn,
              },
            ],
          }),
        ],
      },
    ]);
    // The stopped task's description says the same task.
    expect(described).toMatchObject({ TaskArn: taskArn, LastStatus: 'STOPPED', Group: 'family:worker' });
    submitted.length = 0;
    const refused = ecsRunTaskSync(async () => {
      throw new StatesTaskError('AmazonECS.Unknown', '{"Failures":[{"Reason":"no room"}],"Tasks":[]}');
    });
    await expect(refused({ TaskDefinition: 'worker' }, call)).rejects.toMatchObject({
      name: 'AmazonECS.Unknown',
    });
    expect(submitted).toEqual([]);
  });
});
