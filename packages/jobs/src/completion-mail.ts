import type { MailSendJobInput } from '@sidestep/contracts';
import { jobMail } from './failure-mail.ts';
import { type JobRow, snapshot } from './jobs-ledger.ts';
import { statusOutput } from './status-output.ts';

/**
 * The success mail of succeeded job `job` (`import.completed`, `export.ready`), for the job-sweeper
 * to send in the place of a workflow whose execution ended before its Notify step (stopped, or
 * failed after the job succeeded: the batch-worker commits an import's job with its rows, before
 * FinishJob). It is the very envelope the workflow's Compose step builds ({@link jobMail}): an
 * import's params from FinishJob's answer, which is the status-updater's output of the job
 * (`statusOutput`), an export's from the finalizer's result FinishJob stored on the job (rows, link,
 * and the link's expiry, db migration 23). So whichever of the two queues it, or both, the
 * mail-dispatcher sends it once per key and payload. An export finished before the expiry was kept
 * gets a mail without it, which the dispatcher refuses as another payload under the key if the
 * workflow queued its own too. A job whose ledger row lacks what the mail says (no row counts, no
 * link: no succeeded job should) gets a mail the mail contract refuses, naming the field.
 *
 * Imports go to `notifyAddress` (as in the import workflow), exports to their requester.
 */
export function completionMail(job: JobRow, notifyAddress: string): MailSendJobInput {
  const output = statusOutput(snapshot(job), false);
  const facts = { jobId: job.id, attempt: job.attempt, locale: job.locale };
  if (job.kind === 'import') {
    return jobMail('import.completed', facts, notifyAddress, {
      jobId: job.id,
      fileName: output.fileName,
      rows: output.rows?.imported,
      usersWritten: output.rows?.written,
      rejectedRows: output.rows?.rejected,
      rejectedSamples: output.rejectedSamples,
    });
  }
  return jobMail('export.ready', facts, job.requested_by ?? '', {
    jobId: job.id,
    rows: output.rows?.total,
    downloadUrl: job.download_url,
    ...(job.download_expires_at ? { downloadExpiresAt: job.download_expires_at.toISOString() } : {}),
  });
}
