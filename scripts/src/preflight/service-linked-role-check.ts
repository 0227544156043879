import { GetRoleCommand } from '@aws-sdk/client-iam';
import { errorName } from './aws-error.ts';
import type { PreflightCheck } from './preflight-check.ts';

/** ECS's service-linked role: an account that never used ECS has none, and the first RunTask fails. */
export const ECS_SERVICE_LINKED_ROLE = 'AWSServiceRoleForECS';

/** The ECS service-linked role exists. */
export const serviceLinkedRoleCheck: PreflightCheck = {
  id: 'ecs-service-linked-role',
  actions: ['iam:GetRole'],
  run: async ({ clients }) => {
    try {
      await clients.iam.send(new GetRoleCommand({ RoleName: ECS_SERVICE_LINKED_ROLE }));
    } catch (error) {
      if (errorName(error) !== 'NoSuchEntityException') throw error;
      return [
        {
          check: 'ecs-service-linked-role',
          subject: ECS_SERVICE_LINKED_ROLE,
          verdict: 'fail',
          detail:
            'missing: ECS cannot place Fargate tasks (the migration and every import or export) without it',
          fix: 'aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com (once per account; the bootstrap stack may create it)',
        },
      ];
    }
    return [
      {
        check: 'ecs-service-linked-role',
        subject: ECS_SERVICE_LINKED_ROLE,
        verdict: 'pass',
        detail: 'exists',
      },
    ];
  },
};
