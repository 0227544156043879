import { DATABASE_ENVIRONMENT, databaseSource, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const StatusUpdaterEnvironment = z.object(DATABASE_ENVIRONMENT);

/** The status-updater's configuration. */
export interface StatusUpdaterConfig {
  /** Where the database URL comes from; `resolveDatabaseUrl` reads the variable it names. */
  readonly database: 'url' | 'secret';
}

/**
 * Reads the status-updater's environment once, at cold start: a function deployed without a way
 * to reach its database fails at init with the variable's name, not in the middle of a workflow.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): StatusUpdaterConfig {
  return { database: databaseSource(readConfig(StatusUpdaterEnvironment, env)) };
}
