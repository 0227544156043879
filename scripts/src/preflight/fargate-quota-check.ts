import { GetServiceQuotaCommand, type GetServiceQuotaCommandOutput } from '@aws-sdk/client-service-quotas';
import type { BatchCapacity } from '@sidestep/infra';
import { resourceName } from '@sidestep/manifest';
import { ECS_CAPACITY_WAIT_SECONDS } from '@sidestep/workflows';
import { errorName } from './aws-error.ts';
import type { PreflightCheck } from './preflight-check.ts';
import { resultsFor } from './preflight-check.ts';
import { taskDefinitions } from './synthesized-stack.ts';

/**
 * The Service Quotas codes of Fargate's vCPU quotas, per account and Region: the vCPUs of every
 * Fargate task running at once, On-Demand and Spot counted apart. New accounts may start lower than
 * the documented default and are raised with their use
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html: "New AWS accounts
 * might have initial lower quotas that can increase over time").
 */
export const FARGATE_VCPU_QUOTA_CODES: Readonly<Record<BatchCapacity, string>> = {
  FARGATE: 'L-3032A538',
  FARGATE_SPOT: 'L-36FBB829',
};

/**
 * How many batch tasks the check wants room for at once: the concurrent imports the bulk path is
 * proven at (`scripts/tests/import-burst.test.ts`, the concurrency tests of four overlapping imports).
 */
export const BATCH_TASKS_AT_ONCE = 4;

const check = 'fargate-vcpu';

/**
 * The account's Fargate vCPU quota for the batch task's capacity (`SIDESTEP_<ENV>_BATCH_CAPACITY`)
 * against the vCPUs its task definition asks: none fit, and no import or export can start; fewer
 * than {@link BATCH_TASKS_AT_ONCE}, and the ones past them wait for room (`ECS_CAPACITY_WAIT_SECONDS`
 * of @sidestep/workflows, an hour) before their jobs fail. The quota is the account's in the Region:
 * other Fargate tasks there take from it too.
 */
export const fargateQuotaCheck: PreflightCheck = {
  id: check,
  actions: ['servicequotas:GetServiceQuota'],
  run: async ({ config, stack, clients }) => {
    const capacity = config.batchCapacity ?? 'FARGATE';
    const family = resourceName(config.name, 'batch-worker');
    const task = taskDefinitions(stack()).find((definition) => definition.family === family);
    const result = resultsFor(check, family);
    if (task === undefined) return [result('pass', 'the stack defines no batch task')];
    const code = FARGATE_VCPU_QUOTA_CODES[capacity];
    const kind = capacity === 'FARGATE_SPOT' ? 'Spot' : 'On-Demand';
    const fix = `request a higher "Fargate ${kind} vCPU resource count" (Service Quotas > AWS Fargate, code ${code}) of at least ${task.vcpu * BATCH_TASKS_AT_ONCE}`;
    let answer: GetServiceQuotaCommandOutput;
    try {
      answer = await clients.serviceQuotas.send(
        new GetServiceQuotaCommand({ ServiceCode: 'fargate', QuotaCode: code }),
      );
    } catch (error) {
      // Service Quotas does not track this quota in the region: nothing to compare, nothing to stop a
      // deploy for; the operator looks in the console.
      if (errorName(error) !== 'NoSuchResourceException') throw error;
      return [
        result(
          'warn',
          `Service Quotas has no Fargate ${kind} vCPU quota (${code}) in ${config.region}: not checked`,
          fix,
        ),
      ];
    }
    const quota = answer.Quota?.Value;
    if (quota === undefined) {
      return [result('warn', `Service Quotas did not say the Fargate ${kind} vCPU quota (${code})`, fix)];
    }
    const fits = Math.floor(quota / task.vcpu);
    const asks = `the batch task asks ${task.vcpu} vCPU on ${capacity}; the account's Fargate ${kind} vCPU quota in ${config.region} is ${quota}`;
    if (fits < 1) {
      return [result('fail', `${asks}: no import or export can start`, fix)];
    }
    if (fits < BATCH_TASKS_AT_ONCE) {
      return [
        result(
          'warn',
          `${asks}: room for ${fits} batch task(s) at once, fewer if other Fargate tasks run there; an import or export past them waits for one to end, at most ${ECS_CAPACITY_WAIT_SECONDS / 60} minutes, then its job fails`,
          fix,
        ),
      ];
    }
    return [result('pass', `${asks}: room for ${fits} batch tasks at once`)];
  },
};
