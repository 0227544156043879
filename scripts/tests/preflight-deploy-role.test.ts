import { describe, expect, it } from '@jest/globals';
import { pipelineCalls } from '@sidestep/infra';
import { PREFLIGHT_ACTIONS } from '../src/preflight/preflight-checks.ts';

// The deploy job runs the preflight as the deploy role. infra lists the preflight's calls with the
// resources they name (pipelineCalls), and packages/iam's test evaluates that list against the role;
// this keeps the list equal to what the checks actually call, so a new check cannot go ungranted.
describe('the deploy role’s preflight calls', () => {
  it('are exactly the actions the preflight checks call', () => {
    const listed = pipelineCalls({
      accountId: '123456789012',
      region: 'eu-west-1',
      prefix: 'sidestep-staging',
      bucketName: 'sidestep-staging-imports-123456789012',
      mailIdentity: 'mail.acme.dev',
      databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
      databaseSecretKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    })
      .filter((call) => call.step === 'preflight')
      .map((call) => call.action);
    expect([...new Set(listed)].sort()).toEqual([...PREFLIGHT_ACTIONS]);
  });
});
