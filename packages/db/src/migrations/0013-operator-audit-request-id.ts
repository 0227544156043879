import type { Migration } from '../migration.ts';

/**
 * One audit entry per request: a unique index on the id the operator tools' Lambda ledger gives each
 * append (`details.auditRequestId`), which `SqlLedger.appendAudit` of @sidestep/ledger inserts
 * against (`ON CONFLICT ... DO NOTHING`), so a duplicate Invoke of the same append (the SDK sending it
 * again when its answer was lost) appends nothing, however old the first entry, and two copies at
 * once append one. Partial: an entry without an id (the direct ledger's, or written before) is not
 * indexed, and is always appended.
 *
 * Built `CONCURRENTLY`, outside a transaction: a plain `CREATE INDEX` blocks every write to
 * `operator_audit` (every operator action's record) while it builds.
 */
export const operatorAuditRequestId: Migration = {
  version: 13,
  name: 'operator-audit-request-id',
  transaction: false,
  sql: `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS operator_audit_request_id ON operator_audit ((details->>'auditRequestId')) WHERE details ? 'auditRequestId'`,
};
