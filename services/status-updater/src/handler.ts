import { connectPostgres, type Database } from '@sidestep/db/postgres';
import { resolveDatabaseUrl } from '@sidestep/runtime';
import { loadConfig } from './config.ts';
import { createStatusHandler } from './create-status-handler.ts';

// Cold start: the environment is checked once, so a function that cannot reach its database fails
// at init naming the variable.
loadConfig();

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
let database: Promise<Database> | undefined;
const connect = () => {
  // One invocation at a time per Lambda environment, one transaction per invocation: one connection.
  database ??= resolveDatabaseUrl().then((url) => connectPostgres({ url, max: 1 }));
  database.catch(() => {
    database = undefined; // a failed connect is retried by the next invocation, not cached
  });
  return database;
};

/** The status-updater's Lambda handler (image CMD `index.handler`), invoked by Step Functions. */
export const handler = createStatusHandler({ database: connect });
