import { LEDGER_ACTIONS_ALIAS, type LedgerResponse } from '@sidestep/contracts';
import { type Database, isTransientDatabaseError } from '@sidestep/db/postgres';
import { answerLedgerRequest, SqlLedger } from '@sidestep/ledger';
import type { TaskHandlerOptions } from '@sidestep/runtime';
import * as z from 'zod/mini';

/**
 * True when the invocation came through the `LEDGER_ACTIONS_ALIAS` alias: Lambda puts the qualifier
 * the caller invoked in `invokedFunctionArn`, and IAM allowed that caller to invoke that qualified
 * ARN (an unqualified grant does not cover an alias).
 */
export function invokedThroughActionsAlias(invokedFunctionArn: string): boolean {
  return invokedFunctionArn.split(':')[7] === LEDGER_ACTIONS_ALIAS;
}

/** Any object with an `op`: the request's own contract is checked by `answerLedgerRequest`. */
const LedgerEnvelope = z.looseObject({ op: z.string() });

/** What {@link ledgerTask} needs. */
export interface LedgerTaskOptions {
  /** The jobs ledger; called once per invocation, so it may connect lazily and cache the connection. */
  readonly database: () => Promise<Database>;
  /** Who an import's failure mail goes to. @default none: an operator's `job.fail` of an import names no recipient */
  readonly notifyAddress?: string | undefined;
}

/**
 * The ops-ledger as a task for `createTaskHandler`: one `LedgerQuery` or `LedgerAction` in, one
 * `LedgerResponse` out. The input is checked here only as an object with an `op`; the request's own
 * contract is checked by `answerLedgerRequest`, which answers a bad field as a named error instead
 * of failing the invocation.
 */
export function ledgerTask(
  options: LedgerTaskOptions,
): TaskHandlerOptions<typeof LedgerEnvelope, LedgerResponse> {
  return {
    schema: LedgerEnvelope,
    subject: 'ledger request',
    correlation: (input) => ({ op: input.op }),
    run: async (input, { lambdaContext }) => {
      const actions = invokedThroughActionsAlias(lambdaContext.invokedFunctionArn);
      const answer = async () =>
        answerLedgerRequest(
          new SqlLedger(await options.database(), { notifyAddress: options.notifyAddress }),
          input,
          { actions },
        );
      // Run again once on a transient database error: a pooled connection the server ended while
      // the environment was frozen (a failover, a password rotation's session kill, an idle limit)
      // fails a thawed invocation's first statement (57P01, or the socket's loss), and the pool then
      // drops it; the operator's command would fail for a connection nobody used. Safe: queries
      // read, and each action tells a copy of itself (see the ledger's actions delivered twice).
      // A second failure is the caller's to hear.
      const output = await answer().catch((error: unknown) => {
        if (!isTransientDatabaseError(error)) throw error;
        return answer();
      });
      return { output, log: { op: input.op, actions, ok: output.ok } };
    },
    messages: { succeeded: 'ledger request answered', failed: 'ledger request failed' },
  };
}
