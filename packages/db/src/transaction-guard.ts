import { AsyncLocalStorage } from 'node:async_hooks';
import { TransactionMisuseError } from './errors.ts';

/**
 * Knows whether the current async context is inside one of a database's transaction callbacks, so
 * that calling the database itself from there fails loudly instead of deadlocking (PGlite runs one
 * transaction at a time) or silently escaping the transaction (a second `pg` connection). Both
 * backends apply it so a mistake caught on PGlite in a test is the same mistake on PostgreSQL.
 */
export class TransactionGuard {
  readonly #inside = new AsyncLocalStorage<true>();

  /** Throws {@link TransactionMisuseError} when called from inside {@link run}'s callback. */
  assertOutside(method: 'query' | 'transaction'): void {
    if (this.#inside.getStore()) throw new TransactionMisuseError(method);
  }

  /** Runs `fn` marked as inside a transaction. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.#inside.run(true, fn);
  }
}
