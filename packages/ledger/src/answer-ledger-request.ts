import {
  ContractValidationError,
  LedgerAction,
  LedgerQuery,
  type LedgerResponse,
  validate,
} from '@sidestep/contracts';
import { LedgerError, LedgerRequestError } from './errors.ts';
import type { Ledger } from './ledger.ts';

/** Options of {@link answerLedgerRequest}. */
export interface AnswerOptions {
  /**
   * Whether the actions (`LedgerAction`) are answered: only when the function was invoked through
   * its `actions` alias, which IAM grants separately from the function itself.
   */
  readonly actions: boolean;
}

/** Validates `request` as a query, or an action when allowed. @throws {LedgerRequestError} naming the field. */
export function parseLedgerRequest(request: unknown, options: AnswerOptions): LedgerQuery | LedgerAction {
  const op = (request as { op?: unknown } | null)?.op;
  // The ops a discriminated union accepts, as zod collects them (`propValues`).
  const isAction = LedgerAction._zod.propValues.op?.has(op as string) ?? false;
  try {
    if (!isAction) return validate(LedgerQuery, request);
    if (!options.actions) {
      throw new LedgerRequestError(
        `op: "${String(op)}" is an action; actions are answered only through the function's "actions" alias`,
        { field: 'op' },
      );
    }
    return validate(LedgerAction, request);
  } catch (error) {
    if (error instanceof ContractValidationError) {
      throw new LedgerRequestError(error.message, { field: error.field, cause: error });
    }
    throw error;
  }
}

async function dispatch(ledger: Ledger, request: LedgerQuery | LedgerAction): Promise<unknown> {
  switch (request.op) {
    case 'jobs.list':
      return ledger.listJobs({
        limit: request.limit,
        ...(request.status ? { status: request.status } : {}),
        ...(request.kind ? { kind: request.kind } : {}),
        ...(request.after ? { after: request.after } : {}),
      });
    case 'job.describe':
      return ledger.describeJob(request.jobId);
    case 'job.rejected-rows':
      return ledger.listRejectedRows({
        jobId: request.jobId,
        limit: request.limit,
        ...(request.after === undefined ? {} : { after: request.after }),
      });
    case 'jobs.status':
      return ledger.countJobs(new Date(request.since));
    case 'audit.list':
      return ledger.listAudit({
        limit: request.limit,
        ...(request.before === undefined ? {} : { before: request.before }),
      });
    case 'job.fail':
      return ledger.failJob(request.jobId, request.reason, request.operator);
    case 'job.fail-mail-queued':
      await ledger.recordFailureMailQueued(request.jobId, request.mailId);
      return null;
    case 'job.hand-over':
      await ledger.handOverJob(request);
      return null;
    case 'job.claim-redrive':
      await ledger.claimRedrive(request);
      return null;
    case 'job.release-redrive':
      await ledger.releaseRedrive(request);
      return null;
    case 'job.take-back':
      await ledger.takeBackJob(request);
      return null;
    case 'mail.release':
      return ledger.releaseMail(request.idempotencyKey, request.requestId);
    case 'audit.append':
      await ledger.appendAudit(request.entry);
      return null;
  }
}

/**
 * The `ops-ledger` function's answer to `request`: the ledger's result, or an expected error (a
 * {@link LedgerError}: bad request, no such job, wrong state) as `{ ok: false, error }` with its name
 * and field. Expected errors are answered, not thrown, so an operator's typo does not count as a
 * function error (and page whoever watches the function's error alarm). Anything else is thrown.
 */
export async function answerLedgerRequest(
  ledger: Ledger,
  request: unknown,
  options: AnswerOptions,
): Promise<LedgerResponse> {
  try {
    return { ok: true, result: await dispatch(ledger, parseLedgerRequest(request, options)) };
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    return {
      ok: false,
      error: { name: error.name, message: error.message, ...(error.field ? { field: error.field } : {}) },
    };
  }
}
