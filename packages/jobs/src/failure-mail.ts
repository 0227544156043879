import type { JobKind, MailLocale, MailSendJobInput, MailTemplateName } from '@sidestep/contracts';

/**
 * The idempotency key (and envelope id) of a job's mail: `<template>:<jobId>` for its first attempt,
 * `<template>:<jobId>:<attempt>` for a retry's (`sidestep job retry`), so each attempt's failure or
 * completion is mailed once, and a redelivered or replayed one is not mailed twice. The first
 * attempt keeps the key mails had before retries were keyed apart: a job in flight across that
 * change is mailed once. The workflows build the same key from the status step's `attemptKey`.
 */
export function jobMailKey(template: MailTemplateName, jobId: string, attempt: number): string {
  return `${template}:${attemptKey(jobId, attempt)}`;
}

/** The job id qualified by attempt, as mail keys use it: `<jobId>` for attempt 1, `<jobId>:<attempt>` after. */
export function attemptKey(jobId: string, attempt: number): string {
  return attempt <= 1 ? jobId : `${jobId}:${attempt}`;
}

/** What is known about a failed job, as far as its failure mail needs. */
export interface FailedJobMailFacts {
  readonly jobId: string;
  readonly kind: JobKind;
  /** The attempt that failed (1 unless retried). */
  readonly attempt: number;
  /** An import's source file name; unused for exports. */
  readonly fileName: string | null;
  /** An export's requester; unused for imports. */
  readonly requestedBy: string | null;
  /** The reason recorded on the job. */
  readonly reason: string;
  /**
   * The language of the job's mails as its register named it (`jobs.locale`, db migration 16); null
   * for a job registered without one, whose workflow's mails say `en`.
   */
  readonly locale: string | null;
}

/** The envelope id (and idempotency key) of a job's failure mail: {@link jobMailKey} of its template. */
export function failureMailId(kind: JobKind, jobId: string, attempt: number): string {
  return jobMailKey(failureTemplate(kind), jobId, attempt);
}

function failureTemplate(kind: JobKind): 'import.failed' | 'export.failed' {
  return kind === 'import' ? 'import.failed' : 'export.failed';
}

/**
 * The failure mail of a job failed outside its workflow (by the job-sweeper, or an operator's
 * `sidestep job fail`): the very envelope the job's workflow composes in its failure path
 * (packages/workflows `mailEnvelope`: id and idempotency key {@link jobMailKey}, the same recipient,
 * locale and params). When the workflow comes back later and fails the job itself, the
 * status-updater answers with the recorded reason, the workflow queues this same envelope, and the
 * mail-dispatcher, which sends once per key and payload, sends nothing more. The locale is the job's
 * (`jobs.locale`, kept from its register: the export request's, the import's notify locale), `en`
 * when it has none, as the workflow's: a mail in another language would be another payload under
 * the same key, which the mail-dispatcher refuses (`IdempotencyKeyReusedError`, to the DLQ).
 *
 * Imports go to `notifyAddress` (as in the import workflow), exports to their requester.
 */
export function failureMail(job: FailedJobMailFacts, notifyAddress: string): MailSendJobInput {
  return job.kind === 'import'
    ? jobMail('import.failed', job, notifyAddress, {
        jobId: job.jobId,
        fileName: job.fileName ?? job.jobId,
        reason: job.reason,
      })
    : // A missing requester is refused by the mail contract, naming `payload.to`.
      jobMail('export.failed', job, job.requestedBy ?? '', { jobId: job.jobId, reason: job.reason });
}

/**
 * A job's mail as its workflow's `mailEnvelope` (packages/workflows) composes it: id and idempotency
 * key {@link jobMailKey} of the template, the job's locale (`jobs.locale`; `en` when it has none,
 * written always, as the workflow's: a mail in another language would be another payload under the
 * same key, which the mail-dispatcher refuses), and `params` in the order the workflow lists them.
 */
export function jobMail(
  template: MailTemplateName,
  job: { readonly jobId: string; readonly attempt: number; readonly locale: string | null },
  to: string,
  params: Record<string, unknown>,
): MailSendJobInput {
  const id = jobMailKey(template, job.jobId, job.attempt);
  return {
    type: 'mail.send',
    version: 1,
    id,
    payload: {
      template,
      to,
      locale: (job.locale ?? 'en') as MailLocale,
      jobId: job.jobId,
      idempotencyKey: id,
      params,
    },
  } as MailSendJobInput;
}

/**
 * SQL condition on `jobs`: the job was failed outside its workflow, by the job-sweeper or an
 * operator's `job fail` (`swept_at`, set by the fail's own commit), and its failure mail is still
 * to be queued: neither queued (`sweep_mail_queued_at`) nor refused for good (`sweep_mail_refused_at`,
 * db migration 15). The sweeper claims these, and the retention keeps them until they are not.
 */
export const SWEEP_MAIL_PENDING =
  'swept_at IS NOT NULL AND sweep_mail_queued_at IS NULL AND sweep_mail_refused_at IS NULL';
