import type { Migration } from '../migration.ts';

/**
 * `mail_releases`: which request released which mail's send-once record (`SqlLedger.releaseMail` of
 * @sidestep/ledger), so the ops-ledger function answers a copy of a release request (the CLI's SDK
 * sending the same Invoke again when its answer was lost) as it answered the first, and refuses
 * any other release of the key once its record is gone. Kept out of `idempotency_records`, the
 * mail-dispatcher's store, whose rows everything else reads as the dispatcher's records (`job show`
 * lists them). A release deletes the rows more than a day old: a copy comes within the SDK's retries.
 *
 * It also deletes the marks releases left in `idempotency_records` before this (status `RELEASED`,
 * the record's id with `#released`), which the ledger no longer reads.
 */
export const mailReleases: Migration = {
  version: 14,
  name: 'mail-releases',
  sql: `
    CREATE TABLE mail_releases (
      request_id text PRIMARY KEY,
      idempotency_key text NOT NULL,
      record_id text NOT NULL,
      released_at timestamptz NOT NULL DEFAULT now()
    );
    DELETE FROM idempotency_records WHERE status = 'RELEASED' AND id LIKE '%#released';
  `,
};
