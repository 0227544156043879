import type { Migration } from '../migration.ts';

/**
 * What operators do, kept with the ledger they act on (`@sidestep/ops`, the `sidestep` CLI).
 *
 * - `jobs.attempt`: which run of the job this is. 1 when registered; an operator's retry of a failed
 *   job (`sidestep job retry`) hands the job to a new execution and counts up, so the ledger tells
 *   the attempts apart (their transitions carry each attempt's execution).
 * - `operator_audit`: one row per action that changed something (redrive, start, fire, pause,
 *   resume, retry, fail, release): who (the caller identity), when, in which environment, what
 *   (`action`, `target`, `details`), and how it ended (`result` `ok`/`error`, with the message). The
 *   row is written after the action, so a failed action is recorded with its error too.
 */
export const operatorActions: Migration = {
  version: 4,
  name: 'operator-actions',
  sql: `
    ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 1;

    CREATE TABLE operator_audit (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      operator text NOT NULL,
      environment text NOT NULL,
      action text NOT NULL,
      target text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      result text NOT NULL CONSTRAINT operator_audit_result_check CHECK (result IN ('ok', 'error')),
      error text
    );
    CREATE INDEX operator_audit_at_idx ON operator_audit (at DESC);
  `,
};
