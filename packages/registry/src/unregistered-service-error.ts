import { SidestepError } from '@sidestep/runtime';

/** A name no registered service or task has, or a service folder the registry does not describe. */
export class UnregisteredServiceError extends SidestepError {
  override readonly name = 'UnregisteredServiceError';
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { permanent: true, field });
  }
}
