import type { JobKind, MailSendJobInput } from '@sidestep/contracts';

/** What the sweeper knows about a job it failed, as far as its failure mail needs. */
export interface SweptJobMailFacts {
  readonly jobId: string;
  readonly kind: JobKind;
  /** An import's source file name; unused for exports. */
  readonly fileName: string | null;
  /** An export's requester; unused for imports. */
  readonly requestedBy: string | null;
  /** The reason recorded on the job. */
  readonly reason: string;
}

/** The envelope id (and idempotency key) of a job's failure mail: `<template>:<jobId>`. */
export function failureMailId(kind: JobKind, jobId: string): string {
  return `${failureTemplate(kind)}:${jobId}`;
}

function failureTemplate(kind: JobKind): 'import.failed' | 'export.failed' {
  return kind === 'import' ? 'import.failed' : 'export.failed';
}

/**
 * The failure mail of a job the sweeper failed: the very envelope the job's workflow composes in
 * its failure path (packages/workflows `mailEnvelope`: id and idempotency key `<template>:<jobId>`,
 * the same recipient and params, no locale). When the workflow comes back later and fails the job
 * itself, the status-updater answers with the sweeper's reason, the workflow queues this same
 * envelope, and the mail-dispatcher, which sends once per key and payload, sends nothing more.
 *
 * Imports go to `notifyAddress` (as in the import workflow), exports to their requester.
 */
export function failureMail(job: SweptJobMailFacts, notifyAddress: string): MailSendJobInput {
  const id = failureMailId(job.kind, job.jobId);
  const common = { jobId: job.jobId, idempotencyKey: id };
  return job.kind === 'import'
    ? {
        type: 'mail.send',
        version: 1,
        id,
        payload: {
          template: 'import.failed',
          to: notifyAddress,
          ...common,
          params: { jobId: job.jobId, fileName: job.fileName ?? job.jobId, reason: job.reason },
        },
      }
    : {
        type: 'mail.send',
        version: 1,
        id,
        payload: {
          template: 'export.failed',
          // A missing requester is refused by the mail contract, naming `payload.to`.
          to: job.requestedBy ?? '',
          ...common,
          params: { jobId: job.jobId, reason: job.reason },
        },
      };
}
