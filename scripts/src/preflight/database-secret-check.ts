import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { resolveDatabaseUrl } from '@sidestep/runtime';
import { describeError, errorName, isAccessDenied } from './aws-error.ts';
import { type CheckResult, type PreflightCheck, resultsFor } from './preflight-check.ts';

/** The AWS-managed key of Secrets Manager, which every caller allowed GetSecretValue may use. */
const AWS_MANAGED_KEY_ALIAS = 'alias/aws/secretsmanager';

/**
 * What the secret's key (DescribeSecret's `KmsKeyId`: absent for `aws/secretsmanager`, else a key id, key
 * ARN or alias ARN) means for the roles that read it. GetSecretValue decrypts with the caller's
 * permissions, and the stack grants `kms:Decrypt` only on `SIDESTEP_<ENV>_DATABASE_SECRET_KMS_KEY_ARN`:
 * a customer-managed key that is not that one leaves every read refused.
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
 * An alias cannot be compared without kms:DescribeKey: with a key configured the read below tells (the
 * deploy role may decrypt with the configured key alone).
 * @returns the verdicts to report (a fail ends the check), empty when the key needs nothing more
 */
function keyVerdicts(
  kmsKeyId: string | undefined,
  secretArn: string,
  configured: string | undefined,
  variable: string,
  result: ReturnType<typeof resultsFor>,
): CheckResult[] {
  if (!kmsKeyId || kmsKeyId === AWS_MANAGED_KEY_ALIAS || kmsKeyId.endsWith(`:${AWS_MANAGED_KEY_ALIAS}`)) {
    return configured
      ? [
          result(
            'warn',
            `encrypted with the AWS-managed key aws/secretsmanager, not the configured ${configured}, which the roles are granted for nothing`,
            `unset ${variable}`,
          ),
        ]
      : [];
  }
  const fix = (key: string) => `set ${variable} to ${key}, so the roles that read the secret may decrypt it`;
  if (kmsKeyId.startsWith('alias/') || /^arn:[^:]+:kms:[^:]*:\d*:alias\//.test(kmsKeyId)) {
    if (configured) return [];
    return [
      result(
        'fail',
        `encrypted with the customer-managed KMS key ${kmsKeyId}, and ${variable} is not set: no role of the stack may decrypt it`,
        `set ${variable} to the ARN of the key ${kmsKeyId} (aws kms describe-key --key-id ${kmsKeyId} --query KeyMetadata.Arn)`,
      ),
    ];
  }
  // A bare key id is a key of the secret's own account and region.
  const [, partition, , region, account] = secretArn.split(':');
  const keyArn = kmsKeyId.startsWith('arn:')
    ? kmsKeyId
    : `arn:${partition}:kms:${region}:${account}:key/${kmsKeyId}`;
  if (keyArn === configured) return [];
  return [
    result(
      'fail',
      configured
        ? `encrypted with the customer-managed KMS key ${kmsKeyId}, not the configured ${configured}: no role of the stack may decrypt it`
        : `encrypted with the customer-managed KMS key ${kmsKeyId}, and ${variable} is not set: no role of the stack may decrypt it`,
      fix(keyArn),
    ),
  ];
}

/**
 * The database secret exists and holds what the services read at cold start: read through the
 * runtime's own `resolveDatabaseUrl`, so the check accepts exactly the shapes the services accept
 * (a postgres:// URL or the RDS JSON). Only the host, port and database are printed, never the value.
 */
export const databaseSecretCheck: PreflightCheck = {
  id: 'database-secret',
  // kms:Decrypt: GetSecretValue of a secret encrypted with a customer-managed key.
  actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'kms:Decrypt'],
  run: async ({ config, clients }) => {
    const arn = config.databaseSecretArn;
    const result = resultsFor('database-secret', arn);
    const keyVariable = `SIDESTEP_${config.name.toUpperCase()}_DATABASE_SECRET_KMS_KEY_ARN`;
    let keyResults: CheckResult[];
    try {
      const described = await clients.secretsManager.send(new DescribeSecretCommand({ SecretId: arn }));
      // Secrets Manager takes a partial ARN (without the 6 characters it appends to the name) as
      // SecretId, but IAM matches a policy's resource against the secret's full ARN: every grant the
      // stack makes on a partial ARN would deny the services.
      // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html (SecretId)
      if (described.ARN && described.ARN !== arn) {
        return [
          result(
            'fail',
            `${arn} is not the secret's full ARN (${described.ARN}): the stack's grants would not match it`,
            `set SIDESTEP_${config.name.toUpperCase()}_DATABASE_SECRET_ARN to ${described.ARN}`,
          ),
        ];
      }
      if (described.DeletedDate) {
        return [
          result(
            'fail',
            `scheduled for deletion on ${described.DeletedDate.toISOString()}`,
            `aws secretsmanager restore-secret --secret-id ${arn}`,
          ),
        ];
      }
      keyResults = keyVerdicts(described.KmsKeyId, arn, config.databaseSecretKmsKeyArn, keyVariable, result);
      if (keyResults.some((found) => found.verdict === 'fail')) return keyResults;
    } catch (error) {
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
      return [
        result(
          'fail',
          'no such secret',
          `create it (a postgres:// URL, or the RDS JSON {engine, host, port, username, password, dbname}) and set SIDESTEP_${config.name.toUpperCase()}_DATABASE_SECRET_ARN to its full ARN`,
        ),
      ];
    }
    let url: string;
    try {
      // maxAge 0: a fresh read, not Powertools' cache.
      url = await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn }, { maxAgeSeconds: 0 });
    } catch (error) {
      if (isAccessDenied(error)) {
        const key = config.databaseSecretKmsKeyArn;
        return [
          ...keyResults,
          result(
            'warn',
            `exists; its value is unreadable to this caller, so its shape is unchecked: ${describeError(error)}`,
            // The deploy role (preflight's caller in the pipeline) and the boundary get kms:Decrypt on
            // the key from the deploy stack (infra's DeployStack, sidestep-<env>-deploy), not from the
            // environment's apply: a key set after that stack's last apply stays denied until then.
            key
              ? `re-apply the sidestep-${config.name}-deploy stack (bootstrap step 4) after setting ${keyVariable}: it grants the deploy role kms:Decrypt on ${key} (if the key's policy lets the account's IAM policies grant it); or run preflight as someone who may call secretsmanager:GetSecretValue on it and kms:Decrypt on ${key}`
              : 'run preflight as someone who may call secretsmanager:GetSecretValue on it',
          ),
        ];
      }
      return [
        ...keyResults,
        result(
          'fail',
          describeError(error),
          'store a postgres:// URL or the RDS JSON {engine, host, port, username, password, dbname}',
        ),
      ];
    }
    const { hostname, port, pathname } = new URL(url);
    return [...keyResults, result('pass', `PostgreSQL at ${hostname}:${port || 5432}${pathname}`)];
  },
};
