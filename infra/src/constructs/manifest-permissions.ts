import type { Permission, PermissionResource } from '@sidestep/manifest';
import { InfraConfigError } from '../errors.ts';
import { type PolicyGrantee, type PolicyStatement, statementId } from './grantable-role.ts';

/**
 * What a manifest's {@link PermissionResource} resolves to in one environment: the exact ARNs its
 * actions apply to and the environment variables that tell the service where the resource is.
 */
export interface PermissionTarget {
  /** Exact ARNs the manifest's actions are granted on. */
  readonly resourceArns: readonly string[];
  /** IAM service prefixes that make sense on these ARNs (`ses`); other actions are a manifest mistake. */
  readonly servicePrefixes: readonly string[];
  /** Environment variables the service receives when it declares this permission. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Actions on the resource's container rather than its objects (`s3:ListBucket` on the bucket), and
   * the resources and conditions that keep them to the resource (the bucket ARN, an `s3:prefix`).
   * @default none: every action applies to {@link resourceArns}
   */
  readonly bucketActions?: {
    readonly actions: readonly string[];
    readonly statement: Omit<PolicyStatement, 'sid' | 'actions'>;
  };
  /**
   * What using the resource needs besides its own actions, granted with them to every manifest that
   * names it: `kms:Decrypt` on the customer-managed key a secret is encrypted with (`secretKeyStatement`).
   * @default none
   */
  readonly keyStatement?: Omit<PolicyStatement, 'sid'>;
}

/** The permission targets of one environment; a manifest may only name resources present here. */
export type PermissionTargets = Readonly<Partial<Record<PermissionResource, PermissionTarget>>>;

/**
 * Grants a manifest's `permissions` (functions and tasks alike): each names a resource of this stack,
 * its actions must belong to one of the resource's service prefixes, and they become one exact
 * statement on the resource's ARNs. Each resource's environment variables go to `setEnvironment`,
 * with the manifest field they come from.
 * @throws InfraConfigError naming `<name>.permissions[i].resource` or `.actions`
 */
export function grantManifestPermissions(
  manifest: { readonly name: string; readonly permissions: readonly Permission[] },
  targets: PermissionTargets | undefined,
  grantee: PolicyGrantee,
  setEnvironment: (key: string, value: string, field: string) => void,
): void {
  manifest.permissions.forEach((permission, index) => {
    const field = `${manifest.name}.permissions[${index}]`;
    const target = targets?.[permission.resource];
    if (!target) {
      throw new InfraConfigError(
        `${field}.resource`,
        `"${permission.resource}" is not provided by this stack`,
      );
    }
    for (const action of permission.actions) {
      if (!target.servicePrefixes.includes(action.split(':')[0] ?? '')) {
        throw new InfraConfigError(
          `${field}.actions`,
          `"${action}" does not apply to ${permission.resource} (expected ${target.servicePrefixes.join(', ')})`,
        );
      }
    }
    const onBucket = target.bucketActions?.actions ?? [];
    const objectActions = permission.actions.filter((action) => !onBucket.includes(action));
    const bucketActions = permission.actions.filter((action) => onBucket.includes(action));
    if (objectActions.length > 0) {
      grantee.addToPolicy({
        sid: statementId('manifest', permission.resource),
        actions: objectActions,
        resources: [...target.resourceArns],
      });
    }
    if (target.keyStatement) {
      grantee.addToPolicy({
        ...target.keyStatement,
        sid: statementId('manifest', permission.resource, 'key'),
      });
    }
    if (target.bucketActions && bucketActions.length > 0) {
      grantee.addToPolicy({
        ...target.bucketActions.statement,
        sid: statementId('manifest', permission.resource, 'list'),
        actions: bucketActions,
      });
    }
    for (const [key, value] of Object.entries(target.environment))
      setEnvironment(key, value, `${field}.resource`);
  });
}
