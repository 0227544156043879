/** One versioned schema change. */
export interface Migration {
  /** Positive integer, unique, increasing along the list. */
  readonly version: number;
  /** kebab-case, what the migration does (`idempotency-records`). */
  readonly name: string;
  /** SQL run with the simple protocol in one transaction; may hold several statements. */
  readonly sql: string;
}
