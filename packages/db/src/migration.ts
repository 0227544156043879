/** One versioned schema change. */
export interface Migration {
  /** Positive integer, unique, increasing along the list. */
  readonly version: number;
  /** kebab-case, what the migration does (`idempotency-records`). */
  readonly name: string;
  /**
   * SQL run with the simple protocol in one transaction, together with the row that records it; may
   * hold several statements. With `transaction: false`, exactly one statement, with `IF NOT EXISTS` or
   * `IF EXISTS`.
   */
  readonly sql: string;
  /**
   * `false` for a statement PostgreSQL refuses to run in a transaction (`CREATE INDEX CONCURRENTLY`):
   * it runs on its own and is recorded afterwards, so a run stopped between the two runs it again,
   * which `IF NOT EXISTS` makes harmless. An invalid index a failed concurrent build left behind is
   * dropped before the build is tried again (`IF NOT EXISTS` alone would keep it). @default true
   */
  readonly transaction?: boolean;
}
