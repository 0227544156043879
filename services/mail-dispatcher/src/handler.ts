import { MailSendJob } from '@sidestep/contracts';
import { connectPostgresOnFirstUse } from '@sidestep/db/postgres';
import { PostgresPersistenceLayer } from '@sidestep/idempotency';
import { createSqsHandler, resolveDatabaseUrl } from '@sidestep/runtime';
import { createMailSender } from './adapters/mail-transport.ts';
import { loadConfig } from './config.ts';
import { createSendOnce } from './send-once.ts';

// Cold start: configuration is read and validated once; clients are created once and reused warm.
const config = loadConfig();
const sender = await createMailSender(config.transport);

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
// Records of a batch are processed one at a time: two connections cover the store's queries.
const connect = connectPostgresOnFirstUse({ url: () => resolveDatabaseUrl(), max: 2 });

const sendOnce = createSendOnce({
  from: config.from,
  sender,
  // At most once: an attempt that crashed mid-send is not reclaimed (see README "Mail: exactly once?").
  persistenceStore: new PostgresPersistenceLayer({ database: connect, reclaimExpiredInProgress: false }),
});

/** SQS batch handler of the mail queue: one mail job per record, partial batch responses. */
export const handler = createSqsHandler({
  schema: MailSendJob,
  correlation: (job) => ({ jobId: job.payload.jobId ?? job.id, template: job.payload.template }),
  process: async (job, _record, { lambdaContext, logger }) => {
    const result = await sendOnce(job, lambdaContext);
    // A duplicate delivery sends nothing: it is logged as what it is, not as a second mail.
    logger.info(result.replayed ? 'mail replayed' : 'mail sent', { ...result });
  },
});
