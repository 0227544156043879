import { DATABASE_ENVIRONMENT, databaseSource, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const OpsLedgerEnvironment = z.object({ ...DATABASE_ENVIRONMENT });

/** The ops-ledger's configuration. */
export interface OpsLedgerConfig {
  /** Where the database URL comes from; `resolveDatabaseUrl` reads the variable it names. */
  readonly database: 'url' | 'secret';
}

/** Reads the ops-ledger's environment once, at cold start: without a database it fails at init naming the variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): OpsLedgerConfig {
  return { database: databaseSource(readConfig(OpsLedgerEnvironment, env)) };
}
