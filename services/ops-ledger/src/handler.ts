import { connectPostgresOnFirstUse } from '@sidestep/db/postgres';
import { createTaskHandler, databaseUrlSource } from '@sidestep/runtime';
import { loadConfig } from './config.ts';
import { ledgerTask } from './ledger-task.ts';

// Cold start: a function deployed without its database fails at init naming the variable.
const config = loadConfig();

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
const connect = connectPostgresOnFirstUse({
  // Asked again past the secret's cache when the server refuses the password (a rotation).
  url: databaseUrlSource(),
  max: 1,
});

/** The ops-ledger's Lambda handler (image CMD `index.handler`), invoked by operators' tools. */
export const handler = createTaskHandler(
  ledgerTask({ database: connect, notifyAddress: config.notifyAddress }),
);
