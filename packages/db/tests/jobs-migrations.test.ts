import { expect, it } from '@jest/globals';
import type { Database } from '../src/index.ts';
import { describeEachDatabase } from '../src/testing.ts';

// The indexes of the operators' reads (migrations 17-19), and the execution index (6).

const indexes = (db: Database) =>
  db
    .query<{ name: string; definition: string; valid: boolean }>(
      `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = to_regnamespace(current_schema())
          AND c.relname IN ('jobs_execution_id', 'jobs_created', 'jobs_state_created', 'idempotency_records_key_hash')
        ORDER BY 1`,
    )
    .then((result) => result.rows);

describeEachDatabase('jobs migrations', (open) => {
  it("creates the operators' reads' indexes and the execution index, each valid", async () => {
    const db = await open();
    try {
      expect(await indexes(db)).toEqual([
        {
          name: 'idempotency_records_key_hash',
          definition: expect.stringMatching(
            /ON \S*idempotency_records USING btree \(split_part\(id, '#'::text, 2\)\)$/,
          ),
          valid: true,
        },
        {
          name: 'jobs_created',
          definition: expect.stringMatching(/ON \S*jobs USING btree \(created_at, id\)$/),
          valid: true,
        },
        {
          name: 'jobs_execution_id',
          definition: expect.stringMatching(
            /ON \S*jobs USING btree \(execution_id\) WHERE \(execution_id IS NOT NULL\)$/,
          ),
          valid: true,
        },
        {
          name: 'jobs_state_created',
          definition: expect.stringMatching(/ON \S*jobs USING btree \(state, created_at, id\)$/),
          valid: true,
        },
      ]);
    } finally {
      await db.close();
    }
  });
});
