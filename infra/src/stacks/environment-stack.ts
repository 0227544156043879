import { TerraformStack } from 'cdktn';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, validateEnvironmentConfig } from '../config.ts';

/**
 * The Terraform / OpenTofu releases the stacks target: S3 native state locking (`use_lockfile`) needs
 * 1.10. Stated as cdktn's `targetVersions` (its validations check features against it) and as
 * `required_version` (Terraform itself refuses an older binary).
 */
export const TERRAFORM_TARGET_VERSIONS = { terraform: '>=1.10.0', opentofu: '>=1.10.0' } as const;

/**
 * A stack of one environment: it targets {@link TERRAFORM_TARGET_VERSIONS} and refuses an invalid
 * environment config before any construct exists.
 */
export abstract class EnvironmentStack extends TerraformStack {
  /** The environment's config. */
  readonly config: EnvironmentConfig;

  constructor(scope: Construct, id: string, config: EnvironmentConfig) {
    super(scope, id);
    // Context must be set before the first child construct exists.
    this.node.setContext('targetVersions', TERRAFORM_TARGET_VERSIONS);
    this.addOverride('terraform.required_version', TERRAFORM_TARGET_VERSIONS.terraform.replace('>=', '>= '));
    validateEnvironmentConfig(config);
    this.config = config;
  }
}
