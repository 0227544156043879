// The keyed stores' shape and its in-memory kind, apart from local-state.ts (which keeps them in
// files): the scheduler and the asynchronous invocations take a store, and local-state.ts names their
// entries' types, so the shape lives where neither side imports the other.

/** Entries kept by a key, as `keyedStateFile` (local-state.ts) and {@link keyedMemoryStore} keep them. */
export interface KeyedStore<T> {
  list(): readonly T[];
  set(entry: T): void;
  delete(key: string): void;
}

/** Entries kept by `keyOf` in memory only: a stop forgets them (tests, a cloud without state). */
export function keyedMemoryStore<T>(keyOf: (entry: T) => string): KeyedStore<T> {
  const entries = new Map<string, T>();
  return {
    list: () => [...entries.values()],
    set: (entry) => void entries.set(keyOf(entry), entry),
    delete: (key) => void entries.delete(key),
  };
}
