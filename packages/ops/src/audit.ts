import type { Database } from '@sidestep/db';
import { LedgerUnavailableError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';

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
 * Runs `act` and records it in the audit trail with its result: `ok` with `details(result)`, or
 * `error` with the message (and rethrows). An AWS environment whose ledger this process cannot reach
 * (no database URL) does not stop the action: the context's `warn` says it went unrecorded.
 */
export async function audited<T>(
  context: OpsContext,
  action: AuditAction,
  target: string,
  act: () => Promise<T>,
  details: (result: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  const operator = await context.operator();
  let result: T;
  try {
    result = await act();
  } catch (error) {
    await record(context, {
      operator,
      action,
      target,
      details: {},
      result: 'error',
      error: messageOf(error),
    });
    throw error;
  }
  await record(context, { operator, action, target, details: details(result), result: 'ok', error: null });
  return result;
}

async function record(
  context: OpsContext,
  entry: Pick<AuditEntry, 'operator' | 'action' | 'target' | 'details' | 'result' | 'error'>,
): Promise<void> {
  let db: Database;
  try {
    db = await context.database();
  } catch (error) {
    if (!(error instanceof LedgerUnavailableError)) throw error;
    context.warn(`not recorded in the audit trail (${error.message}): ${entry.action} ${entry.target}`);
    return;
  }
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

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
