import type { IAMClient } from '@aws-sdk/client-iam';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { EnvironmentConfig } from '@sidestep/infra';
import type { SynthesizedStack } from './synthesized-stack.ts';

/** `fail` stops a deploy (exit code 1); `warn` is printed and lets it go on. */
export type Verdict = 'pass' | 'warn' | 'fail';

/** One verdict of one check, about one subject (a bucket, a setting, the account). */
export interface CheckResult {
  /** The check's id, e.g. `bucket-names`. */
  readonly check: string;
  /** What the verdict is about, e.g. a bucket name or `account`. */
  readonly subject: string;
  readonly verdict: Verdict;
  /** What was found. */
  readonly detail: string;
  /** How to fix it (warn and fail only). */
  readonly fix?: string;
}

/** The AWS SDK clients the checks call, all in the environment's region. */
export interface PreflightClients {
  readonly lambda: LambdaClient;
  readonly sesv2: SESv2Client;
  readonly iam: IAMClient;
  readonly s3: S3Client;
  readonly secretsManager: SecretsManagerClient;
  readonly serviceQuotas: ServiceQuotasClient;
}

/** What a check reads: the environment's config, its synthesized stack, the AWS clients. */
export interface PreflightContext {
  readonly config: EnvironmentConfig;
  /** The synthesized stack; throws {@link StackNotSynthesizedError} when `pnpm synth` has not run. */
  readonly stack: () => SynthesizedStack;
  readonly clients: PreflightClients;
}

/** One read-only check. */
export interface PreflightCheck {
  /** Id used in the output and by `--only`. */
  readonly id: string;
  /** The IAM actions it calls (the caller, e.g. the deploy role, needs them). */
  readonly actions: readonly string[];
  readonly run: (context: PreflightContext) => Promise<CheckResult[]>;
}

/** Builds the results of one check about one subject. */
export function resultsFor(
  check: string,
  subject: string,
): (verdict: Verdict, detail: string, fix?: string) => CheckResult {
  return (verdict, detail, fix) => ({ check, subject, verdict, detail, ...(fix ? { fix } : {}) });
}
