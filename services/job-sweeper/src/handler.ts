import { connectPostgresOnFirstUse } from '@sidestep/db/postgres';
import { createTaskHandler, resolveDatabaseUrl } from '@sidestep/runtime';
import { ProducerMailQueue } from './adapters/mail-queue.ts';
import { loadConfig } from './config.ts';
import { sweepTask } from './sweep-task.ts';

// Cold start: the environment is checked once, so a function that cannot reach its database or its
// mail queue fails at init naming the variable.
const config = loadConfig();

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
const connect = connectPostgresOnFirstUse({ url: () => resolveDatabaseUrl(), max: 1 });

/** The job-sweeper's Lambda handler (image CMD `index.handler`), invoked by its schedule. */
export const handler = createTaskHandler(
  sweepTask({
    database: connect,
    mailQueue: ProducerMailQueue.forQueue(config.mailQueueUrl),
    notifyAddress: config.notifyAddress,
  }),
);
