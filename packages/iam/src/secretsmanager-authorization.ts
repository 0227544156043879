import {
  type ArnScope,
  type AuthorizationCheck,
  required,
  ServiceOperations,
} from './authorization-check.ts';

// Actions, resource types and condition keys for AWS Secrets Manager:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
// Every operation the local cloud serves acts on one secret (resource type `Secret`).
const OPERATIONS = new ServiceOperations<'secret'>('secretsmanager', {
  CreateSecret: 'secret',
  DescribeSecret: 'secret',
  GetSecretValue: 'secret',
  PutSecretValue: 'secret',
});

export interface SecretsManagerRequestTarget extends ArnScope {
  /**
   * The secret's full ARN when it exists (Secrets Manager authorizes a request by name or partial ARN
   * against the secret it names), else the request's `SecretId` (or CreateSecret's `Name`).
   */
  readonly secretId?: string;
  /** GetSecretValue's `VersionStage` (condition key `secretsmanager:VersionStage`), when the request names one. */
  readonly versionStage?: string;
  /** GetSecretValue's `VersionId` (condition key `secretsmanager:VersionId`), when the request names one. */
  readonly versionId?: string;
}

/**
 * `arn:aws:secretsmanager:<region>:<account>:secret:<id>`: an ARN passed as `secretId` is kept, a name
 * becomes the resource type's ARN format without the random suffix only Secrets Manager knows.
 */
export function secretArn(scope: ArnScope, secretId: string): string {
  return secretId.startsWith('arn:') ? secretId : OPERATIONS.arn(scope, `secret:${secretId}`);
}

/** What a Secrets Manager API call needs authorized. */
export function secretsManagerAuthorization(
  operation: string,
  target: SecretsManagerRequestTarget,
): AuthorizationCheck[] {
  OPERATIONS.lookup(operation);
  const secretId = required(target.secretId, operation === 'CreateSecret' ? 'Name' : 'SecretId', operation);
  const context = {
    ...(target.versionStage === undefined ? {} : { 'secretsmanager:VersionStage': target.versionStage }),
    ...(target.versionId === undefined ? {} : { 'secretsmanager:VersionId': target.versionId }),
  };
  return [
    {
      action: `secretsmanager:${operation}`,
      resource: secretArn(target, secretId),
      ...(Object.keys(context).length > 0 ? { context } : {}),
    },
  ];
}
