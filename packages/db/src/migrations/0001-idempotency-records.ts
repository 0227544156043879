import type { Migration } from '../migration.ts';

/**
 * The store of `@sidestep/idempotency`'s PostgresPersistenceLayer: one row per idempotency key, the
 * columns of Powertools' DynamoDB layer. Timestamps are what Powertools computes: `expiry_timestamp`
 * in epoch seconds, `in_progress_expiry_timestamp` in epoch milliseconds. The expiry index serves the
 * purge of expired records (PostgreSQL has no TTL like DynamoDB).
 */
export const idempotencyRecords: Migration = {
  version: 1,
  name: 'idempotency-records',
  sql: `
    CREATE TABLE idempotency_records (
      id text PRIMARY KEY,
      status text NOT NULL,
      expiry_timestamp bigint NOT NULL,
      in_progress_expiry_timestamp bigint,
      data jsonb,
      validation_key text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idempotency_records_expiry_timestamp_idx ON idempotency_records (expiry_timestamp);
  `,
};
