import type { AuditEntry, Ledger } from '@sidestep/ledger';
import { describeCause } from '@sidestep/runtime';
import { InvalidOptionError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';
import type { Page } from './page.ts';

/** The actions that change something, each recorded in `operator_audit`. */
export type AuditAction =
  | 'dlq-redrive'
  | 'async-reinvoke'
  | 'execution-redrive'
  | 'execution-start'
  | 'execution-stop'
  | 'schedule-fire'
  | 'schedule-pause'
  | 'schedule-resume'
  | 'job-retry'
  | 'job-fail'
  | 'mail-release';

/**
 * Runs `act` as the context's operator and records it in the audit trail with its result: `ok` with
 * `details(result)` (the result's own fields unless told), or `error` with the message (and
 * rethrows). A trail this process cannot write (the ledger not answering, or an operator not allowed
 * the ledger's actions) does not stop the action, nor fail it once done (a retry would act twice):
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

/** {@link audited}, with `act` given the context's ledger. */
export async function auditedInLedger<T extends object>(
  context: OpsContext,
  action: AuditAction,
  target: string,
  act: (ledger: Ledger, operator: string) => Promise<T>,
  details?: (result: T) => Record<string, unknown>,
): Promise<T> {
  return audited(context, action, target, async (operator) => act(await context.ledger(), operator), details);
}

async function record(
  context: OpsContext,
  entry: Pick<AuditEntry, 'operator' | 'action' | 'target' | 'details' | 'result' | 'error'>,
): Promise<void> {
  try {
    await (await context.ledger()).appendAudit({ ...entry, environment: context.environment });
  } catch (error) {
    context.warn(
      `not recorded in the audit trail (${describeCause(error)}): ${entry.action} ${entry.target}`,
    );
  }
}

/** The audit trail, newest first; `before` an entry id, to page. */
export async function listAudit(
  context: OpsContext,
  options: { readonly limit?: number; readonly before?: number } = {},
): Promise<AuditEntry[]> {
  return (await context.ledger()).listAudit(options);
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
  const entries = await listAudit(context, {
    limit: limit + 1,
    ...(options.cursor !== undefined ? { before: Number(options.cursor) } : {}),
  });
  const items = entries.slice(0, limit);
  return { items, next: entries.length > limit ? String(items.at(-1)?.id) : null };
}
