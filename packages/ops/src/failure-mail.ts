import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { failureMail } from '@sidestep/jobs';
import type { FailedJob } from '@sidestep/ledger';
import { resourceName } from '@sidestep/manifest';
import { Producer } from '@sidestep/producer';
import { registeredService } from '@sidestep/registry';
import type { OpsContext } from './ops-context.ts';

/** What became of the failure mail of a job an operator failed. */
export type QueuedFailureMail =
  | { readonly status: 'queued'; readonly id: string; readonly to: string }
  | { readonly status: 'not-queued'; readonly id: string | null; readonly reason: string };

/** The queue of `mail.send` jobs, without prefix: the mail-dispatcher's. */
const MAIL_QUEUE = registeredService('mail-dispatcher').manifest.queue?.name ?? 'mail';

/**
 * Queues the failure mail of a job an operator failed: the envelope its workflow (and the
 * job-sweeper) would send, `failureMail` of @sidestep/jobs, keyed by job and attempt, so the
 * mail-dispatcher sends it once even if the job's workflow comes back and fails the job itself.
 * Sent with `@sidestep/producer` (validated against `MailSendJob` first) on the operator's own
 * credentials (`sqs:SendMessage` on the mail queue is in the operator policy). The job is failed
 * whatever happens here: a mail that could not be queued is reported, not thrown.
 */
export async function queueFailureMail(context: OpsContext, job: FailedJob): Promise<QueuedFailureMail> {
  if (!job.recipient) {
    return {
      status: 'not-queued',
      id: null,
      reason: 'no recipient: the ledger knows no notify address for imports',
    };
  }
  const mail = failureMail(job, job.recipient);
  try {
    const { QueueUrl } = await context.clients.sqs.send(
      new GetQueueUrlCommand({ QueueName: resourceName(context.environment, MAIL_QUEUE) }),
    );
    const [result] = await new Producer({
      queueUrl: QueueUrl ?? '',
      sqs: context.clients.sqs,
      jobTypes: ['mail.send'],
    }).enqueue([mail]);
    if (result?.status === 'sent') return { status: 'queued', id: mail.id, to: job.recipient };
    const reason =
      result?.status === 'invalid'
        ? `${result.error.field}: ${result.error.message}`
        : `${result?.code}: ${result?.message}`;
    return { status: 'not-queued', id: mail.id, reason };
  } catch (error) {
    return { status: 'not-queued', id: mail.id, reason: (error as Error).message };
  }
}
