import { describe, expect, it } from '@jest/globals';
import { TASKS } from '@sidestep/registry';
import { TerraformStack, Testing } from 'cdktn';
import { BatchTask, batchTaskArchitecture, environmentConfigs, InfraConfigError } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref } from './terraform-json.ts';

/** The RunTask parameters of a workflow's batch task, from the synthesized definition. */
function runTaskParameters(tf: Json, stateMachine: string, state: string): Json {
  const [, machine] = one(tf, 'aws_sfn_state_machine', { name: stateMachine });
  return JSON.parse(machine.definition).States[state].Parameters;
}

describe('the batch task capacity', () => {
  it('runs the batch task on FARGATE by default', () => {
    const tf = synthStack(STAGING);
    for (const [machine, state] of [
      ['sidestep-staging-import', 'ImportRows'],
      ['sidestep-staging-export', 'ExportRows'],
    ] as const) {
      const parameters = runTaskParameters(tf, machine, state);
      expect(parameters.LaunchType).toBe('FARGATE');
      expect(parameters.CapacityProviderStrategy).toBeUndefined();
    }
  });

  it('runs the batch task on FARGATE_SPOT when the environment says so, in a cluster that offers it', () => {
    const config = environmentConfigs({ SIDESTEP_STAGING_BATCH_CAPACITY: 'FARGATE_SPOT' }).staging;
    expect(config.batchCapacity).toBe('FARGATE_SPOT');
    const tf = synthStack({ ...STAGING, batchCapacity: 'FARGATE_SPOT' });
    for (const [machine, state] of [
      ['sidestep-staging-import', 'ImportRows'],
      ['sidestep-staging-export', 'ExportRows'],
    ] as const) {
      const parameters = runTaskParameters(tf, machine, state);
      // RunTask takes a launch type or a capacity provider strategy, not both.
      expect(parameters.LaunchType).toBeUndefined();
      expect(parameters.CapacityProviderStrategy).toEqual([{ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }]);
    }
    const [clusterAddress] = one(tf, 'aws_ecs_cluster', { name: 'sidestep-staging-batch-worker' });
    const providers = all(tf, 'aws_ecs_cluster_capacity_providers').filter(
      ([, body]) => body.cluster_name === ref(clusterAddress, 'name'),
    );
    expect(providers.map(([, body]) => body.capacity_providers)).toEqual([['FARGATE', 'FARGATE_SPOT']]);
  });

  // "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider"
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html): on
  // FARGATE_SPOT every RunTask of an ARM64 task definition would fail.
  it('registers the batch task as X86_64 on FARGATE_SPOT, which runs no ARM64 Linux task, else ARM64', () => {
    const architecture = (tf: Json) =>
      all(tf, 'aws_ecs_task_definition').map(([, body]) => body.runtime_platform.cpu_architecture);
    expect(architecture(synthStack(STAGING))).toEqual(['ARM64']);
    expect(architecture(synthStack({ ...STAGING, batchCapacity: 'FARGATE' }))).toEqual(['ARM64']);
    expect(architecture(synthStack({ ...STAGING, batchCapacity: 'FARGATE_SPOT' }))).toEqual(['X86_64']);
    expect(batchTaskArchitecture('FARGATE_SPOT')).toBe('X86_64');
    expect(batchTaskArchitecture(undefined)).toBe('ARM64');
  });

  it('refuses an ARM64 task on FARGATE_SPOT, naming the field', () => {
    const stack = new TerraformStack(Testing.app(), 'spot');
    const task = TASKS[0];
    if (!task) throw new Error('no task');
    const props = {
      environment: 'staging',
      manifest: task.manifest,
      accountId: STAGING.accountId,
      region: STAGING.region,
      network: { subnetIds: ['subnet-a'], securityGroupIds: ['sg-1'] },
    };
    expect(
      () =>
        new BatchTask(stack, 'arm', { ...props, capacityProvider: 'FARGATE_SPOT', architecture: 'ARM64' }),
    ).toThrow(
      expect.objectContaining({ name: 'InfraConfigError', field: `${task.manifest.name}.architecture` }),
    );
  });

  it('refuses an unknown capacity, naming the setting', () => {
    expect(() => environmentConfigs({ SIDESTEP_STAGING_BATCH_CAPACITY: 'EC2' })).toThrow(InfraConfigError);
    expect(() => environmentConfigs({ SIDESTEP_STAGING_BATCH_CAPACITY: 'EC2' })).toThrow(/batchCapacity/);
  });
});
