/** One versioned schema change. */
export interface Migration {
  /** Positive integer, unique, increasing along the list. */
  readonly version: number;
  /** kebab-case, what the migration does (`idempotency-records`). */
  readonly name: string;
  /**
   * SQL run with the simple protocol in one transaction, together with the row that records it; may
   * hold several statements. With `transaction: false`, exactly one statement, with `IF NOT EXISTS` or
   * `IF EXISTS`. With `batched`, one statement run once per batch (see {@link batched}).
   */
  readonly sql: string;
  /**
   * `false` for a statement PostgreSQL refuses to run in a transaction (`CREATE INDEX CONCURRENTLY`):
   * it runs on its own and is recorded afterwards, so a run stopped between the two runs it again,
   * which `IF NOT EXISTS` makes harmless. An invalid index a failed concurrent build left behind is
   * dropped before the build is tried again (`IF NOT EXISTS` alone would keep it). @default true
   */
  readonly transaction?: boolean;
  /**
   * `true` for a backfill of a large table, which one transaction would hold locked (row locks on
   * every row it updates, and the table's lock of any DDL before it in the transaction) for as long
   * as it runs, and which one statement could not finish within the migrate task's
   * `statement_timeout`. `sql` is then one statement doing one batch: it takes the cursor `$1` (text;
   * null for the first batch) and answers one row whose column `next` is the cursor of the next batch,
   * null when this batch found no rows. `migrate` runs it in a transaction of its own per batch (each
   * waiting for its locks as any migration's transaction does: the per-attempt `lock_timeout`, retried
   * up to the lock budget, counted per batch), and records the migration in the transaction of the
   * last, empty batch. A run stopped part-way starts again from the first batch, so the statement
   * must be harmless on rows it already did (update only rows still to do). Not with
   * `transaction: false`. @default false
   */
  readonly batched?: boolean;
  /**
   * The sha256 (hex) of each SQL this migration had before, which a database that applied it then
   * recorded: `migrate` accepts those as applied instead of throwing `MigrationMismatchError`. Only
   * for rewriting a shipped migration to make the very same schema and data with fewer locks
   * (`CREATE INDEX` rewritten `CONCURRENTLY`, a backfill moved to a batched migration after it); a
   * migration that should change what it made is a new migration, since databases that applied the
   * old SQL would never run the new one.
   */
  readonly formerChecksums?: readonly string[];
}
