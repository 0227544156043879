import { EcrRepository } from '@cdktn/provider-aws/lib/ecr-repository/index.js';
import { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import { Aspects, type IAspect, TerraformResource } from 'cdktn';
import type { IConstruct } from 'constructs';

/**
 * The resource types that hold an environment's data or guard it, which Terraform must never delete
 * (or replace) unless the environment is being torn down on purpose:
 *
 * - the buckets (uploads, exports, claim-check bodies of queued messages) and what guards their
 *   objects: deleting the public access block, the TLS-only policy or the encryption configuration
 *   of a bucket that survives leaves personal data unprotected; deleting versioning or the lifecycle
 *   configuration keeps it longer than promised, or not at all;
 * - every queue: jobs waiting to run, and the dead letters waiting for an operator's redrive;
 * - the event archive (the operator events of the last 90 days, for audit and replay);
 * - the state machines: their failed executions wait for a redrive (14 days) and their histories are
 *   what `sidestep execution` and `job` read.
 *
 * Log groups, functions, roles and the rest hold nothing that a new apply does not recreate.
 */
export const DATA_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'aws_s3_bucket',
  'aws_s3_bucket_public_access_block',
  'aws_s3_bucket_policy',
  'aws_s3_bucket_server_side_encryption_configuration',
  'aws_s3_bucket_versioning',
  'aws_s3_bucket_lifecycle_configuration',
  'aws_sqs_queue',
  'aws_cloudwatch_event_archive',
  'aws_sfn_state_machine',
]);

/** Options of {@link applyDeletionProtection}. */
export interface DeletionProtectionOptions {
  /**
   * The environment is being torn down (`SIDESTEP_<ENV>_TEARDOWN=true`): no `prevent_destroy`, and
   * buckets and repositories are deleted with their objects and images.
   * @default false
   */
  readonly teardown?: boolean;
}

/** Sets what {@link applyDeletionProtection} describes on every resource of the scope. */
class DeletionProtectionAspect implements IAspect {
  readonly #teardown: boolean;
  constructor(teardown: boolean) {
    this.#teardown = teardown;
  }

  visit(node: IConstruct): void {
    if (!(node instanceof TerraformResource)) return;
    if (!this.#teardown && DATA_RESOURCE_TYPES.has(node.terraformResourceType)) {
      node.lifecycle = { ...node.lifecycle, preventDestroy: true };
    }
    // Both are read from the state at destroy time, so they take effect only after an apply with them.
    if (node instanceof S3Bucket) node.forceDestroy = this.#teardown;
    if (node instanceof EcrRepository) node.forceDelete = this.#teardown;
  }
}

/**
 * Deletion protection of an environment stack. By default every resource of {@link DATA_RESOURCE_TYPES}
 * gets `lifecycle { prevent_destroy = true }`: Terraform refuses, at plan time and before deleting
 * anything, a `terraform destroy` or an apply that would destroy or replace one
 * (https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle), and buckets and image
 * repositories keep `force_destroy` / `force_delete` off. Without it a destroy deleted the dead-letter
 * queues, the archive and the buckets' guards, then stopped at the first bucket that was not empty,
 * whose objects were left without their public access block, TLS-only policy and default encryption.
 *
 * With `teardown` the protection is lifted and `force_destroy` / `force_delete` are on: one apply, then
 * `terraform destroy`, removes everything, knowingly (README, "Tearing an environment down").
 *
 * An aspect, as `applyPermissionsBoundary` and aws-cdk-lib's `RemovalPolicies.of(scope)`: a data
 * resource a construct adds later is protected without a prop threaded through it. `prevent_destroy`
 * does not protect a resource whose code is removed (Terraform then destroys it): removing a bucket
 * or a queue from the code is a teardown of that resource.
 */
export function applyDeletionProtection(scope: IConstruct, options: DeletionProtectionOptions = {}): void {
  Aspects.of(scope).add(new DeletionProtectionAspect(options.teardown ?? false));
}
