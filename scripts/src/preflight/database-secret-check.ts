import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { resolveDatabaseUrl } from '@sidestep/runtime';
import { describeError, errorName, isAccessDenied } from './aws-error.ts';
import { type PreflightCheck, resultsFor } from './preflight-check.ts';

/**
 * The database secret exists and holds what the services read at cold start: read through the
 * runtime's own `resolveDatabaseUrl`, so the check accepts exactly the shapes the services accept
 * (a postgres:// URL or the RDS JSON). Only the host, port and database are printed, never the value.
 */
export const databaseSecretCheck: PreflightCheck = {
  id: 'database-secret',
  actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
  run: async ({ config, clients }) => {
    const arn = config.databaseSecretArn;
    const result = resultsFor('database-secret', arn);
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
        return [
          result(
            'warn',
            'exists; its value is unreadable to this caller, so its shape is unchecked',
            'run preflight as someone who may call secretsmanager:GetSecretValue on it',
          ),
        ];
      }
      return [
        result(
          'fail',
          describeError(error),
          'store a postgres:// URL or the RDS JSON {engine, host, port, username, password, dbname}',
        ),
      ];
    }
    const { hostname, port, pathname } = new URL(url);
    return [result('pass', `PostgreSQL at ${hostname}:${port || 5432}${pathname}`)];
  },
};
