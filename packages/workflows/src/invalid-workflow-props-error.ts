/** A workflow or trigger was asked for with a value it cannot use; `field` names which. Permanent. */
export class InvalidWorkflowPropsError extends Error {
  override readonly name = 'InvalidWorkflowPropsError';
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}
