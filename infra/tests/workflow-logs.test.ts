import { describe, expect, it } from '@jest/globals';
import { checkSecurityPolicy, environmentConfigs } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all } from './terraform-json.ts';

describe('workflow execution logs', () => {
  it('log errors only, without execution data (payloads hold email addresses), by default', () => {
    const machines = all(synthStack(STAGING), 'aws_sfn_state_machine');
    expect(machines).toHaveLength(2);
    for (const [, machine] of machines) {
      expect(machine.logging_configuration).toMatchObject({ level: 'ERROR', include_execution_data: false });
    }
  });

  it('log what an environment opts in to', () => {
    const tf = synthStack({ ...STAGING, workflowLogs: { level: 'ALL', includeExecutionData: true } });
    for (const [, machine] of all(tf, 'aws_sfn_state_machine')) {
      expect(machine.logging_configuration).toMatchObject({ level: 'ALL', include_execution_data: true });
    }
    expect(checkSecurityPolicy(tf)).toEqual([]);
  });

  it('reads SIDESTEP_<ENV>_WORKFLOW_LOG_LEVEL and _WORKFLOW_LOG_EXECUTION_DATA', () => {
    const { staging, production } = environmentConfigs({
      SIDESTEP_STAGING_WORKFLOW_LOG_LEVEL: 'FATAL',
      SIDESTEP_STAGING_WORKFLOW_LOG_EXECUTION_DATA: 'true',
    });
    expect(staging.workflowLogs).toEqual({ level: 'FATAL', includeExecutionData: true });
    expect(production.workflowLogs).toEqual({});
  });

  it('refuses a level Step Functions does not know, and OFF (the security policy requires logs)', () => {
    expect(() => environmentConfigs({ SIDESTEP_STAGING_WORKFLOW_LOG_LEVEL: 'DEBUG' })).toThrow(
      /^staging\.workflowLogs\.level: /,
    );
    expect(() => environmentConfigs({ SIDESTEP_STAGING_WORKFLOW_LOG_LEVEL: 'OFF' })).toThrow(
      /^staging\.workflowLogs\.level: /,
    );
    expect(() => environmentConfigs({ SIDESTEP_STAGING_WORKFLOW_LOG_EXECUTION_DATA: 'yes' })).toThrow(
      /^staging\.workflowLogs\.includeExecutionData: /,
    );
  });
});
