import type { Permission } from '@sidestep/manifest';
import { InfraConfigError } from '../errors.ts';
import { type PolicyGrantee, statementId } from './grantable-role.ts';
import type { PermissionTargets } from './service-function.ts';

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
    grantee.addToPolicy({
      sid: statementId('manifest', permission.resource),
      actions: [...permission.actions],
      resources: [...target.resourceArns],
    });
    for (const [key, value] of Object.entries(target.environment))
      setEnvironment(key, value, `${field}.resource`);
  });
}
