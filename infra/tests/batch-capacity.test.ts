import { describe, expect, it } from '@jest/globals';
import { environmentConfigs, InfraConfigError } from '../src/index.ts';
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

  it('refuses an unknown capacity, naming the setting', () => {
    expect(() => environmentConfigs({ SIDESTEP_STAGING_BATCH_CAPACITY: 'EC2' })).toThrow(InfraConfigError);
    expect(() => environmentConfigs({ SIDESTEP_STAGING_BATCH_CAPACITY: 'EC2' })).toThrow(/batchCapacity/);
  });
});
