import { describe, expect, it } from '@jest/globals';
import { thrownBy } from '@sidestep/contracts/testing';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { RoleNotAssumableError } from '../src/local-iam.ts';
import { loadLocalIam, roleAssumptions } from '../src/local-iam-setup.ts';
import { role } from './fixtures/iam-stack.ts';

/** A stack with the `import` workflow's role, trusted by `trust`'s principal under its conditions. */
function workflowStack(trust: { service: string; condition?: object }): SynthesizedTerraformJson {
  return {
    provider: { aws: [{ region: 'us-east-1' }] },
    resource: {
      aws_iam_role: {
        workflow: {
          name: 'sidestep-local-import',
          assume_role_policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: trust.service },
                Action: 'sts:AssumeRole',
                ...(trust.condition ? { Condition: trust.condition } : {}),
              },
            ],
          }),
        },
        function: role('sidestep-local-step'),
      },
    },
  };
}

const setup = { services: [{ manifest: { name: 'step' } }], workflows: [{ name: 'import' }] };
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';

// https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html#prevent-cross-service-confused-deputy
describe("the roles' trust policies, evaluated as the cloud starts", () => {
  it('lets each service assume its role with the source keys it sends', () => {
    const iam = loadLocalIam(
      {
        ...setup,
        stack: workflowStack({
          service: 'states.amazonaws.com',
          condition: {
            ArnLike: { 'aws:SourceArn': 'arn:aws:states:us-east-1:000000000000:stateMachine:*' },
            StringEquals: { 'aws:SourceAccount': '000000000000' },
          },
        }),
      },
      () => undefined,
    );
    expect(iam.enforced).toBe(true);
    expect(roleAssumptions(setup)).toContainEqual({
      role: 'sidestep-local-import',
      principal: 'states.amazonaws.com',
      component: 'state machine sidestep-local-import',
      context: { 'aws:SourceAccount': '000000000000', 'aws:SourceArn': STATE_MACHINE },
    });
  });

  it('refuses the start, naming the role and the principal, for another principal or another source', () => {
    for (const trust of [
      { service: 'lambda.amazonaws.com' },
      {
        service: 'states.amazonaws.com',
        condition: { ArnEquals: { 'aws:SourceArn': `${STATE_MACHINE}-other` } },
      },
    ]) {
      const refusal = thrownBy(
        () => loadLocalIam({ ...setup, stack: workflowStack(trust) }, () => undefined),
        RoleNotAssumableError,
      );
      expect(refusal).toMatchObject({ role: 'sidestep-local-import', principal: 'states.amazonaws.com' });
      expect(refusal.message).toContain(
        `no statement of its trust policy allows sts:AssumeRole by states.amazonaws.com with aws:SourceAccount 000000000000, aws:SourceArn ${STATE_MACHINE}`,
      );
    }
  });
});
