import type { Migration } from '../migration.ts';

/**
 * An index on the key part of an idempotency record's id (`<function>#<hash of the key>`, as
 * Powertools writes it): `sidestep job show` and the console find a job's mails by their keys'
 * hashes, whatever function's prefix they carry (`WHERE split_part(id, '#', 2) = ANY($1)` in
 * @sidestep/ledger), which without it read every record (0.3 s per job at 1M mail records, growing
 * with them). The ledger's condition names this expression exactly, as it must for the index to
 * serve it.
 *
 * Built `CONCURRENTLY`, outside a transaction: a plain `CREATE INDEX` blocks every idempotency claim
 * (every mail sent) while it builds.
 */
export const idempotencyRecordsKeyHashIndex: Migration = {
  version: 19,
  name: 'idempotency-records-key-hash-index',
  transaction: false,
  sql: "CREATE INDEX CONCURRENTLY IF NOT EXISTS idempotency_records_key_hash ON idempotency_records ((split_part(id, '#', 2)))",
};
