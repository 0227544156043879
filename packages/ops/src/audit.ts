import type { Database, Queryable } from '@sidestep/db';
import { describeCause } from '@sidestep/runtime';
import { InvalidOptionError, LedgerUnavailableError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';
import type { Page } from './page.ts';

/** One operator action as the audit trail keeps it. */
export interface AuditEntry {
  readonly id: number;
  readonly at: Date;
  readonly operator: string;
  readonly environment: string;
  readonly action: string;
  readonly target: string;
  readonly details: Record<string, unknown>;
  readonly result: 'ok' | 'error';
  readonly error: string | null;
}

/** The actions that change something, each recorded in `operator_audit`. */
export type AuditAction =
  | 'dlq-redrive'
  | 'execution-redrive'
  | 'execution-start'
  | 'schedule-fire'
  | 'schedule-pause'
  | 'schedule-resume'
  | 'job-retry'
  | 'job-fail'
  | 'mail-release';

/**
 * Runs `act` as the context's operator and records it in the audit trail with its result: `ok` with
 * `details(result)` (the result's own fields unless told), or `error` with the message (and
 * rethrows). A trail this process cannot write (no database URL for an AWS environment, or the
 * ledger not answering) does not stop the action, nor fail it once done (a retry would act twice):
 * the context's `warn` says it went unrecorded.
 */
export async function audited<T extends object>(
  context: OpsContext,
  action: AuditAction,
  target: string,
  act: (operator: string) => Promise<T>,
  details: (result: T) => Record<string, unknown> = (result) => Object.fromEntries(Object.entries(result)),
): Promise<T> {
  const operator = await context.operator();
  let result: T;
  try {
    result = await act(operator);
  } catch (error) {
    await record(context, {
      operator,
      action,
      target,
      details: {},
      result: 'error',
      error: describeCause(error),
    });
    throw error;
  }
  await record(context, { operator, action, target, details: details(result), result: 'ok', error: null });
  return result;
}

/** {@link audited}, with `act` run in one transaction of the jobs ledger. */
export async function auditedInLedger<T extends object>(
  context: OpsContext,
  action: AuditAction,
  target: string,
  act: (tx: Queryable, operator: string) => Promise<T>,
  details?: (result: T) => Record<string, unknown>,
): Promise<T> {
  return audited(
    context,
    action,
    target,
    async (operator) => (await context.database()).transaction((tx) => act(tx, operator)),
    details,
  );
}

async function record(
  context: OpsContext,
  entry: Pick<AuditEntry, 'operator' | 'action' | 'target' | 'details' | 'result' | 'error'>,
): Promise<void> {
  try {
    const db: Database = await context.database();
    await db.query(
      `INSERT INTO operator_audit (operator, environment, action, target, details, result, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        entry.operator,
        context.environment,
        entry.action,
        entry.target,
        JSON.stringify(entry.details),
        entry.result,
        entry.error,
      ],
    );
  } catch (error) {
    const why = error instanceof LedgerUnavailableError ? error.message : describeCause(error);
    context.warn(`not recorded in the audit trail (${why}): ${entry.action} ${entry.target}`);
  }
}

/** The audit trail, newest first. */
export async function listAudit(
  context: OpsContext,
  options: { readonly limit?: number } = {},
): Promise<AuditEntry[]> {
  const db = await context.database();
  const { rows } = await db.query<AuditEntry & { id: string }>(
    `SELECT id, at, operator, environment, action, target, details, result, error
     FROM operator_audit ORDER BY at DESC, id DESC LIMIT $1`,
    [options.limit ?? 100],
  );
  return rows.map((row) => ({ ...row, id: Number(row.id) }));
}

/** One page of the audit trail, newest first; the cursor is the last entry's id. */
export async function pageAudit(
  context: OpsContext,
  options: { readonly cursor?: string; readonly limit?: number } = {},
): Promise<Page<AuditEntry>> {
  if (options.cursor !== undefined && !/^\d+$/.test(options.cursor)) {
    throw new InvalidOptionError('cursor: not a cursor this list gave', { field: 'cursor' });
  }
  const limit = options.limit ?? 50;
  const db = await context.database();
  const { rows } = await db.query<AuditEntry & { id: string }>(
    `SELECT id, at, operator, environment, action, target, details, result, error
     FROM operator_audit WHERE ($1::bigint IS NULL OR id < $1::bigint) ORDER BY id DESC LIMIT $2`,
    [options.cursor ?? null, limit + 1],
  );
  const items = rows.slice(0, limit).map((row) => ({ ...row, id: Number(row.id) }));
  return { items, next: rows.length > limit ? String(items.at(-1)?.id) : null };
}
