import { randomUUID } from 'node:crypto';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  LEDGER_ACTIONS_ALIAS,
  LedgerAction,
  LedgerQuery,
  type LedgerRequest,
  validate,
} from '@sidestep/contracts';
import {
  type AuditEntry,
  type FailedJob,
  type JobCounts,
  type JobDetail,
  type JobPage,
  type Ledger,
  LedgerInvokeError,
  ledgerResult,
  type RejectedRowPage,
  type ReleasedMail,
} from '@sidestep/ledger';

/**
 * The {@link Ledger} of an AWS environment: each call is one synchronous `lambda:InvokeFunction` of
 * the environment's `ops-ledger` function (`sidestep-<env>-ops-ledger`), which answers it from the
 * private database. Queries invoke the function itself, actions its `actions` alias: IAM authorises
 * each separately (the operator policy grants both). Requests are checked against their contract
 * here first, so a bad field is named without a round trip.
 */
export class LambdaLedger implements Ledger {
  readonly #lambda: LambdaClient;
  readonly #functionName: string;

  constructor(lambda: LambdaClient, functionName: string) {
    this.#lambda = lambda;
    this.#functionName = functionName;
  }

  async #invoke<T>(request: LedgerRequest, qualifier?: string): Promise<T> {
    const answer = await this.#lambda.send(
      new InvokeCommand({
        FunctionName: this.#functionName,
        ...(qualifier ? { Qualifier: qualifier } : {}),
        Payload: new TextEncoder().encode(JSON.stringify(request)),
      }),
    );
    const payload = answer.Payload ? new TextDecoder().decode(answer.Payload) : '';
    if (answer.FunctionError) {
      // The function failed (not the ledger's answer): Lambda's error payload, { errorType, errorMessage }.
      const { errorType, errorMessage } = (JSON.parse(payload || '{}') ?? {}) as Record<string, string>;
      throw new LedgerInvokeError(
        `${this.#functionName} failed (${answer.FunctionError}): ${errorType ?? 'Error'}: ${errorMessage ?? payload}`,
      );
    }
    return ledgerResult(payload) as T;
  }

  #query<T>(request: LedgerQuery): Promise<T> {
    return this.#invoke(validate(LedgerQuery, request));
  }

  /**
   * Invokes action `request(requestId)` through the actions alias. `requestId` is this call's own id,
   * made once: the SDK sends the same payload again when an answer is lost (a reset connection, a
   * socket timeout), and the function, which may so run the action twice, tells that copy (the same
   * id) from the operator acting again (a new call, a new id). Lambda gives each attempt its own
   * request id and passes the function nothing the SDK's attempts share, so the id travels in the
   * request: `mail.release`'s `requestId`, `audit.append`'s `details.auditRequestId`. A redrive's
   * claim and release carry the redrive's own id (`requestId`, `claimRequestId`: made by ops'
   * `redriveExecution`, which must name the claim it releases). The other actions need none: the
   * ledger tells their copies by the job's state.
   */
  #act<T>(request: (requestId: string) => LedgerAction): Promise<T> {
    return this.#invoke(validate(LedgerAction, request(randomUUID())), LEDGER_ACTIONS_ALIAS);
  }

  listJobs(query: Parameters<Ledger['listJobs']>[0]): Promise<JobPage> {
    return this.#query({ op: 'jobs.list', limit: query.limit ?? 100, ...withoutUndefined(query) });
  }

  describeJob(jobId: string): Promise<JobDetail> {
    return this.#query({ op: 'job.describe', jobId });
  }

  listRejectedRows(query: Parameters<Ledger['listRejectedRows']>[0]): Promise<RejectedRowPage> {
    return this.#query({ op: 'job.rejected-rows', limit: query.limit ?? 100, ...withoutUndefined(query) });
  }

  countJobs(since: Date): Promise<JobCounts> {
    return this.#query({ op: 'jobs.status', since: since.toISOString() });
  }

  listAudit(query: Parameters<Ledger['listAudit']>[0]): Promise<AuditEntry[]> {
    return this.#query({ op: 'audit.list', limit: query.limit ?? 100, ...withoutUndefined(query) });
  }

  failJob(jobId: string, reason: string, operator: string): Promise<FailedJob> {
    return this.#act(() => ({ op: 'job.fail', jobId, reason, operator }));
  }

  async recordFailureMailQueued(jobId: string, mailId: string): Promise<void> {
    await this.#act(() => ({ op: 'job.fail-mail-queued', jobId, mailId }));
  }

  async handOverJob(handOver: Parameters<Ledger['handOverJob']>[0]): Promise<void> {
    await this.#act(() => ({ op: 'job.hand-over', ...handOver }));
  }

  async claimRedrive(claim: Parameters<Ledger['claimRedrive']>[0]): Promise<void> {
    await this.#act(() => ({ op: 'job.claim-redrive', ...claim }));
  }

  async releaseRedrive(release: Parameters<Ledger['releaseRedrive']>[0]): Promise<void> {
    await this.#act(() => ({ op: 'job.release-redrive', ...release }));
  }

  async takeBackJob(takeBack: Parameters<Ledger['takeBackJob']>[0]): Promise<void> {
    await this.#act(() => ({ op: 'job.take-back', ...takeBack }));
  }

  /** Releases the key's record as a new request, with the call's id (see `#act`). */
  releaseMail(idempotencyKey: string): Promise<ReleasedMail> {
    return this.#act((requestId) => ({ op: 'mail.release', idempotencyKey, requestId }));
  }

  /** Appends `entry` with `details.auditRequestId`, the call's id: one entry per call (see `#act`). */
  async appendAudit(entry: Parameters<Ledger['appendAudit']>[0]): Promise<void> {
    await this.#act((requestId) => ({
      op: 'audit.append',
      entry: { ...entry, details: { ...entry.details, auditRequestId: requestId } },
    }));
  }

  async close(): Promise<void> {
    // The client belongs to the context, which destroys it.
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
