import { GetAccountSettingsCommand, GetFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { errorName } from './aws-error.ts';
import type { PreflightCheck } from './preflight-check.ts';
import { functionReservations } from './synthesized-stack.ts';

/**
 * Lambda keeps at least this many of the account's concurrent executions unreserved: a reservation
 * that would leave fewer fails (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
 */
export const MINIMUM_UNRESERVED_CONCURRENCY = 100;

const QUOTA_FIX =
  'request a higher "Concurrent executions" quota (Service Quotas > AWS Lambda, code L-B99A9384; a new account starts at 10)';

/**
 * The account's concurrency quota against the reserved concurrency the stack's functions ask for.
 * What the functions reserve today counts as available, as the apply only moves it.
 */
export const concurrencyCheck: PreflightCheck = {
  id: 'lambda-concurrency',
  actions: ['lambda:GetAccountSettings', 'lambda:GetFunctionConcurrency'],
  run: async ({ stack, clients }) => {
    const reservations = functionReservations(stack()).filter(
      (fn): fn is { functionName: string; reserved: number } => fn.reserved !== undefined,
    );
    const settings = await clients.lambda.send(new GetAccountSettingsCommand({}));
    const quota = settings.AccountLimit?.ConcurrentExecutions ?? 0;
    const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions ?? 0;
    const wanted = reservations.reduce((sum, fn) => sum + fn.reserved, 0);
    let held = 0;
    for (const fn of reservations) {
      try {
        const current = await clients.lambda.send(
          new GetFunctionConcurrencyCommand({ FunctionName: fn.functionName }),
        );
        held += current.ReservedConcurrentExecutions ?? 0;
      } catch (error) {
        // Not deployed yet: it holds nothing.
        if (errorName(error) !== 'ResourceNotFoundException') throw error;
      }
    }
    const after = unreserved + held - wanted;
    const asked = reservations.map((fn) => `${fn.functionName}: ${fn.reserved}`).join(', ');
    if (wanted > 0 && after < MINIMUM_UNRESERVED_CONCURRENCY) {
      return [
        {
          check: 'lambda-concurrency',
          subject: 'account',
          verdict: 'fail',
          detail: `the functions reserve ${wanted} (${asked}); that leaves ${after} of the quota ${quota} unreserved, and Lambda keeps at least ${MINIMUM_UNRESERVED_CONCURRENCY} unreserved, so the apply fails`,
          fix: `${QUOTA_FIX} to at least ${quota - after + MINIMUM_UNRESERVED_CONCURRENCY}, or reserve less in the environment's config`,
        },
      ];
    }
    if (quota < MINIMUM_UNRESERVED_CONCURRENCY) {
      return [
        {
          check: 'lambda-concurrency',
          subject: 'account',
          verdict: 'warn',
          detail: `the account's quota is ${quota} concurrent executions for all functions together: under load, invocations are throttled (the workflows retry them; \`npm start -- --lambda-concurrency ${quota}\` runs the local cloud under the same quota, and \`sidestep status\` counts each function's throttles)`,
          fix: QUOTA_FIX,
        },
      ];
    }
    return [
      {
        check: 'lambda-concurrency',
        subject: 'account',
        verdict: 'pass',
        detail:
          wanted > 0
            ? `reserving ${wanted} (${asked}) leaves ${after} of ${quota} unreserved`
            : `no reservations; quota ${quota}`,
      },
    ];
  },
};
