import * as z from 'zod/mini';
import { lazySchema } from './lazy-schema.ts';
import { MAX_FAILURE_REASON_LENGTH } from './mail.ts';
import { JobKind, JobState } from './status.ts';

/** The service (and function, `sidestep-<env>-ops-ledger`) that answers ledger requests on AWS. */
export const OPS_LEDGER_SERVICE = 'ops-ledger';

/**
 * The alias of the `ops-ledger` function through which its actions are answered: IAM grants
 * `function:sidestep-<env>-ops-ledger:actions` separately from the function's own ARN.
 */
export const LEDGER_ACTIONS_ALIAS = 'actions';

const Text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
const JobId = /* @__PURE__ */ lazySchema(() => Text(128));
const ExecutionArn = /* @__PURE__ */ lazySchema(() => Text(2048));
const Operator = /* @__PURE__ */ lazySchema(() => Text(2048));
const Limit = /* @__PURE__ */ lazySchema(() => z._default(z.int().check(z.minimum(1), z.maximum(500)), 100));

/**
 * The read-only queries the `ops-ledger` function answers, and the queries the operator tools send it
 * (`@sidestep/ops` validates before invoking, the function again on receipt). Every object is strict:
 * an unknown key (a misspelled `statuss`) is refused naming it, not dropped, which would answer a
 * query other than the one asked (every job, unfiltered).
 *
 * @example
 * ```json
 * { "op": "jobs.list", "status": "failed", "kind": "import", "limit": 50,
 *   "after": "2026-11-24 10:07:00.123456+00|imp_0b9f..." }
 * ```
 * `after` is the `next` cursor of the previous page (keyset paging, newest first).
 */
export const LedgerQuery = /* @__PURE__ */ lazySchema(() =>
  z.discriminatedUnion('op', [
    z.strictObject({
      op: z.literal('jobs.list'),
      status: z.optional(JobState),
      kind: z.optional(JobKind),
      limit: Limit,
      after: z.optional(Text(200)),
    }),
    z.strictObject({ op: z.literal('job.describe'), jobId: JobId }),
    z.strictObject({
      op: z.literal('job.rejected-rows'),
      jobId: JobId,
      limit: Limit,
      after: z.optional(z.int().check(z.minimum(0))),
    }),
    z.strictObject({ op: z.literal('jobs.status'), since: z.iso.datetime({ offset: true }) }),
    z.strictObject({
      op: z.literal('audit.list'),
      limit: Limit,
      before: z.optional(z.int().check(z.minimum(1))),
    }),
  ]),
);
export type LedgerQuery = z.infer<typeof LedgerQuery>;

/** One entry of the operators' audit trail (`operator_audit`), as `audit.append` writes it. */
export const AuditRecord = /* @__PURE__ */ lazySchema(() =>
  z.strictObject({
    operator: Operator,
    environment: Text(64),
    action: Text(64),
    target: Text(2048),
    details: z.record(z.string(), z.unknown()),
    result: z.enum(['ok', 'error']),
    error: z.nullable(z.string()),
  }),
);
export type AuditRecord = z.infer<typeof AuditRecord>;

/**
 * The narrow set of writes operators' actions make to the ledger, answered by the `ops-ledger`
 * function only when invoked through its `actions` alias (a separate IAM resource, so a read-only
 * role can be given the queries alone).
 *
 * @example
 * ```json
 * { "op": "job.fail", "jobId": "exp_1", "reason": "worker task gone", "operator": "arn:aws:sts::1:assumed-role/operator/alice" }
 * ```
 */
export const LedgerAction = /* @__PURE__ */ lazySchema(() =>
  z.discriminatedUnion('op', [
    z.strictObject({
      op: z.literal('job.fail'),
      jobId: JobId,
      reason: Text(MAX_FAILURE_REASON_LENGTH),
      operator: Operator,
    }),
    z.strictObject({
      /** The operator's own process queued the failure mail `job.fail` left owed (see `failJob`). */
      op: z.literal('job.fail-mail-queued'),
      jobId: JobId,
      mailId: Text(256),
    }),
    z.strictObject({
      op: z.literal('job.hand-over'),
      jobId: JobId,
      fromExecutionArn: ExecutionArn,
      executionArn: ExecutionArn,
      attempt: z.int().check(z.minimum(2)),
      operator: Operator,
      fromRedriveCount: z.optional(z.int().check(z.minimum(0))),
    }),
    z.strictObject({
      op: z.literal('job.claim-redrive'),
      jobId: JobId,
      executionArn: ExecutionArn,
      redriveCount: z.int().check(z.minimum(0)),
      operator: Operator,
      /**
       * The id of this claim, the same in every copy of it (ops makes one per redrive): recorded with
       * the claim, so that its release withdraws this claim and no other. Absent from an ops before it.
       */
      requestId: z.optional(Text(128)),
    }),
    z.strictObject({
      op: z.literal('job.release-redrive'),
      jobId: JobId,
      executionArn: ExecutionArn,
      redriveCount: z.int().check(z.minimum(0)),
      /**
       * The `requestId` of the claim released: a copy of this release landing after another claim of
       * the same count (the operator's next redrive) leaves that claim. Absent (an ops before it): only
       * claims recorded without an id are withdrawn.
       */
      claimRequestId: z.optional(Text(128)),
    }),
    z.strictObject({
      op: z.literal('job.take-back'),
      jobId: JobId,
      executionArn: ExecutionArn,
      previous: z.strictObject({
        executionArn: ExecutionArn,
        attempt: z.int().check(z.minimum(1)),
        error: z.nullable(z.string()),
      }),
    }),
    z.strictObject({
      op: z.literal('mail.release'),
      idempotencyKey: Text(256),
      /**
       * The id of this release request, the same in every copy of it (ops' Lambda ledger makes one
       * per call; the SDK sends the same payload again when an answer is lost): a copy of a release
       * already made answers as the first did, while another release of the key is refused.
       */
      requestId: z.optional(Text(128)),
    }),
    z.strictObject({ op: z.literal('audit.append'), entry: AuditRecord }),
  ]),
);
export type LedgerAction = z.infer<typeof LedgerAction>;

/** What the `ops-ledger` function is invoked with: a query or an action. */
export const LedgerRequest = /* @__PURE__ */ lazySchema(() => z.union([LedgerQuery, LedgerAction]));
export type LedgerRequest = z.infer<typeof LedgerRequest>;

/**
 * What the `ops-ledger` function answers: the result (dates as ISO strings), or an expected error
 * (a job that does not exist, a job in the wrong state) with its `name` and the `field` at fault.
 * Unexpected errors are thrown, and reach the caller as the invocation's `FunctionError`.
 */
export type LedgerResponse =
  | { readonly ok: true; readonly result: unknown }
  | {
      readonly ok: false;
      readonly error: { readonly name: string; readonly message: string; readonly field?: string };
    };
