import { PermanentError } from '@sidestep/runtime/errors';

/** A policy document sidestep cannot evaluate: malformed JSON, a missing element, an unknown operator. */
export class IamPolicyError extends PermanentError {
  override readonly name: string = 'IamPolicyError';
}

/** A request the action mapping does not know (an operation of a service the local endpoint does not serve). */
export class UnknownOperationError extends PermanentError {
  override readonly name: string = 'UnknownOperationError';
  /** The service's name as in its ARNs (`sqs`, `s3`, `states`, ...). */
  readonly service: string;
  /** The API operation, as in the SDK (`SendMessage`). */
  readonly operation: string;
  constructor(service: string, operation: string) {
    super(`${service} has no authorization mapping for operation ${operation}`, { field: 'operation' });
    this.service = service;
    this.operation = operation;
  }
}

/** A request that lacks what its authorization needs (a bucket name, a queue name, an ARN). */
export class AuthorizationInputError extends PermanentError {
  override readonly name: string = 'AuthorizationInputError';
  constructor(message: string, field: string) {
    super(message, { field });
  }
}
