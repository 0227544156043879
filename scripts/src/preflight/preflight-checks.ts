import { describeError, isAccessDenied } from './aws-error.ts';
import { bucketNameCheck } from './bucket-name-check.ts';
import { concurrencyCheck } from './concurrency-check.ts';
import { databaseSecretCheck } from './database-secret-check.ts';
import { fargateQuotaCheck } from './fargate-quota-check.ts';
import { mailCheck } from './mail-check.ts';
import { placeholderCheck } from './placeholder-check.ts';
import type { CheckResult, PreflightCheck, PreflightContext } from './preflight-check.ts';
import { serviceLinkedRoleCheck } from './service-linked-role-check.ts';

/** Every check, in the order they run and print. */
export const PREFLIGHT_CHECKS: readonly PreflightCheck[] = [
  placeholderCheck,
  concurrencyCheck,
  fargateQuotaCheck,
  mailCheck,
  serviceLinkedRoleCheck,
  bucketNameCheck,
  databaseSecretCheck,
];

/** Every IAM action the checks call: what a caller (the deploy role) needs to run them all. */
export const PREFLIGHT_ACTIONS: readonly string[] = [
  ...new Set(PREFLIGHT_CHECKS.flatMap((check) => check.actions)),
].sort();

/**
 * Runs the checks one after the other. A check that throws is a verdict too: access denied is a
 * warning naming the actions the caller lacks (the check could not look), anything else a failure.
 */
export async function runPreflightChecks(
  checks: readonly PreflightCheck[],
  context: PreflightContext,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    try {
      results.push(...(await check.run(context)));
    } catch (error) {
      results.push(
        isAccessDenied(error)
          ? {
              check: check.id,
              subject: context.config.name,
              verdict: 'warn',
              detail: `not checked: ${describeError(error)}`,
              fix: `allow the caller ${check.actions.join(', ')}`,
            }
          : {
              check: check.id,
              subject: context.config.name,
              verdict: 'fail',
              detail: describeError(error),
              fix: 'fix the cause above and run preflight again',
            },
      );
    }
  }
  return results;
}
