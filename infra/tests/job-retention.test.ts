import { describe, expect, it } from '@jest/globals';
import { environmentConfigs, InfraConfigError } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { one } from './terraform-json.ts';

/** The environment variables of the job-sweeper function the stack synthesizes for `config`. */
function sweeperEnvironment(config: typeof STAGING): Record<string, string> {
  const [, fn] = one(synthStack(config), 'aws_lambda_function', {
    function_name: `sidestep-${config.name}-job-sweeper`,
  });
  return fn.environment.variables;
}

describe('the job retention', () => {
  it('leaves the job-sweeper at its own default (90 days) unless the environment sets SIDESTEP_<ENV>_JOB_RETENTION_DAYS', () => {
    expect(environmentConfigs({}).staging.jobRetentionDays).toBeUndefined();
    expect(sweeperEnvironment(STAGING)).not.toHaveProperty('JOB_RETENTION_DAYS');
    const config = environmentConfigs({ SIDESTEP_PRODUCTION_JOB_RETENTION_DAYS: '30' }).production;
    expect(config.jobRetentionDays).toBe(30);
    expect(sweeperEnvironment({ ...STAGING, jobRetentionDays: 30 })).toMatchObject({
      JOB_RETENTION_DAYS: '30',
    });
  });

  it('refuses at synth a retention that is not whole days of at least 14 (Step Functions redrives executions for 14 days), naming the setting', () => {
    for (const days of ['13', '0', '-1', '30.5', 'ninety', ' ']) {
      expect(() => environmentConfigs({ SIDESTEP_STAGING_JOB_RETENTION_DAYS: days })).toThrow(
        expect.objectContaining({
          name: 'InfraConfigError',
          field: 'staging.jobRetentionDays',
          message: expect.stringContaining('SIDESTEP_STAGING_JOB_RETENTION_DAYS'),
        }),
      );
    }
    expect(() => synthStack({ ...STAGING, jobRetentionDays: 7 })).toThrow(InfraConfigError);
  });
});
