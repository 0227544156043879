/**
 * Infra input (stack config, construct props, a manifest read by infra) that cannot be synthesized into
 * safe Terraform. Thrown at synth time, so a bad config never reaches `terraform apply`.
 */
export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';
  /** The offending field, as a path: `staging.accountId`, `mail-dispatcher.queue.visibilityTimeoutSeconds`. */
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}
