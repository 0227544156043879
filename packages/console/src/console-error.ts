import { PermanentError } from '@sidestep/runtime/errors';

/** A request the console cannot answer: a page or mail that does not exist, a refused POST. */
export class ConsoleError extends PermanentError {
  override readonly name: string = 'ConsoleError';
  /** The HTTP status the console answers with. */
  readonly status: number;
  constructor(message: string, options: { readonly field: string; readonly status: number }) {
    super(message, { field: options.field });
    this.status = options.status;
  }
}
