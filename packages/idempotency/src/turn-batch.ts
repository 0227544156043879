/**
 * Gathers the items added during one event-loop turn and hands them to `run` together, once the
 * turn's I/O callbacks ran (`setImmediate`): calls that start together (the records of an SQS
 * batch processed in parallel) then share one database round trip, and a lone call waits no
 * longer than the current turn. While a run is in flight, what arrives meanwhile waits for it and
 * goes in the next run (group commit): under load the statements grow instead of multiplying.
 * Not a library's: DataLoader does this for reads keyed by id, but its cache and its
 * one-result-per-key contract do not fit statements that claim or update rows.
 */
export class TurnBatch<T> {
  readonly #run: (items: readonly T[]) => Promise<readonly PromiseSettledResult<void>[]>;
  #pending: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];

  /** `run` settles one result per item, in order; if it throws, every item of the batch fails with it. */
  constructor(run: (items: readonly T[]) => Promise<readonly PromiseSettledResult<void>[]>) {
    this.#run = run;
  }

  #running = false;

  add(item: T): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    if (this.#pending.length === 0 && !this.#running) setImmediate(() => void this.#flush());
    this.#pending.push({ item, resolve, reject });
    return promise;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    this.#running = true;
    try {
      const results = await this.#run(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const result = results[index];
        if (result?.status === 'fulfilled') entry.resolve();
        else entry.reject(result ? result.reason : new Error('no result for a batched item'));
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      this.#running = false;
      if (this.#pending.length > 0) setImmediate(() => void this.#flush());
    }
  }
}
