import { connectPostgresOnFirstUse } from '@sidestep/db/postgres';
import { createTaskHandler, databaseUrlSource } from '@sidestep/runtime';
import { loadConfig } from './config.ts';
import { statusUpdateTask } from './status-update-task.ts';

// Cold start: the environment is checked once, so a function that cannot reach its database fails
// at init naming the variable.
loadConfig();

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
// One invocation at a time per Lambda environment, one transaction per invocation: one connection.
const connect = connectPostgresOnFirstUse({
  // Asked again past the secret's cache when the server refuses the password (a rotation).
  url: databaseUrlSource(),
  max: 1,
});

/** The status-updater's Lambda handler (image CMD `index.handler`), invoked by Step Functions. */
export const handler = createTaskHandler(statusUpdateTask({ database: connect }));
