import { MailSendJob } from '@sidestep/contracts';
import { connectPostgresOnFirstUse } from '@sidestep/db/postgres';
import { PostgresPersistenceLayer } from '@sidestep/idempotency';
import { sendRateShare } from '@sidestep/manifest';
import { createSqsHandler, databaseUrlSource } from '@sidestep/runtime';
import { service } from '../service.ts';
import { createMailSender, MAIL_SEND_CONCURRENCY } from './adapters/mail-transport.ts';
import { pacedSender, SendPacer } from './adapters/send-pacer.ts';
import { loadConfig } from './config.ts';
import { createSendOnce } from './send-once.ts';

// Cold start: configuration is read and validated once; clients are created once and reused warm.
const config = loadConfig();
const transport = await createMailSender(config.transport);
// The function's send rate shared by the sandboxes its queue runs at once (as many as infra and the
// local cloud size the mapping for the rate): together they keep to it.
const sender =
  config.maxSendRate === undefined
    ? transport
    : pacedSender(transport, new SendPacer(sendRateShare(service, config.maxSendRate)));

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
// The records of a batch claim their keys in one statement and record their outcomes in few more
// (the store batches what starts together): two connections cover them.
const connect = connectPostgresOnFirstUse({
  // Asked again past the secret's cache when the server refuses the password (a rotation).
  url: databaseUrlSource(),
  max: 2,
});

const sendOnce = createSendOnce({
  from: config.from,
  sender,
  // At most once: an attempt that crashed mid-send is not reclaimed (see README "Mail: exactly once?").
  persistenceStore: new PostgresPersistenceLayer({ database: connect, reclaimExpiredInProgress: false }),
});

/** SQS batch handler of the mail queue: one mail job per record, partial batch responses. */
export const handler = createSqsHandler({
  schema: MailSendJob,
  // The job the mail is about (every template's params name it), and the mail's own envelope id: a
  // mail's id is not a job's, and a query by the job id finds its mail.
  correlation: (job) => ({
    jobId: job.payload.jobId ?? job.payload.params.jobId,
    mailId: job.id,
    template: job.payload.template,
  }),
  // A mail waits on the transport, not the CPU: a batch's mails go out together.
  recordConcurrency: MAIL_SEND_CONCURRENCY,
  process: async (job, _record, { lambdaContext, logger }) => {
    const result = await sendOnce(job, lambdaContext);
    // A duplicate delivery sends nothing: it is logged as what it is, not as a second mail. The
    // mail's Message-ID under its own key: `messageId` is the SQS message's, which `dlq show` prints.
    const { messageId: mailMessageId, ...sent } = result;
    logger.info(result.replayed ? 'mail replayed' : 'mail sent', { ...sent, mailMessageId });
  },
});
