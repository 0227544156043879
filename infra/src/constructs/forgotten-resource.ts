import { TerraformElement } from 'cdktn';
import type { Construct } from 'constructs';

/** Props of {@link ForgottenResource}. */
export interface ForgottenResourceProps {
  /** The Terraform type of the resource the stack no longer declares, e.g. `aws_iam_service_linked_role`. */
  readonly resourceType: string;
}

/**
 * A Terraform `removed` block with `lifecycle { destroy = false }` for a resource the stack declared at
 * this construct's place (same scope, same id) and no longer does: Terraform takes it out of the state
 * and leaves the object itself alone. Without it, a resource that leaves the configuration is
 * destroyed, whatever `prevent_destroy` it had (the setting lives in the resource block that is gone):
 * https://developer.hashicorp.com/terraform/language/state/remove. A `removed` block whose address is
 * not in the state does nothing, so a stack that never created the resource may carry it too.
 *
 * cdktn names a resource after its construct path (a hash of the path from the stack down), so the
 * element standing at the resource's path gets its address by construction, with no address written
 * out here to drift from it. Needs Terraform >= 1.7 (OpenTofu >= 1.10 for its `lifecycle`), which the
 * stacks' `required_version` (>= 1.10) covers. An apply forgets; `terraform destroy` does not read
 * `removed` blocks and destroys what is still in the state (seen with Terraform 1.11), so apply first.
 * JSON only: the app synthesizes no HCL.
 */
export class ForgottenResource extends TerraformElement {
  /** The Terraform type of the resource forgotten. */
  readonly resourceType: string;

  constructor(scope: Construct, id: string, props: ForgottenResourceProps) {
    super(scope, id, props.resourceType);
    this.resourceType = props.resourceType;
  }

  /** The address forgotten, `<type>.<logical id>`: the one the resource had at this path. */
  get address(): string {
    return `${this.resourceType}.${this.friendlyUniqueId}`;
  }

  override toTerraform(): Record<string, unknown> {
    return { removed: [{ from: this.address, lifecycle: { destroy: false } }] };
  }
}
