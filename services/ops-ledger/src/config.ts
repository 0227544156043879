import { EmailAddress } from '@sidestep/contracts';
import { DATABASE_ENVIRONMENT, databaseSource, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const OpsLedgerEnvironment = z.object({
  ...DATABASE_ENVIRONMENT,
  /**
   * Who an import's failure mail goes to (the import workflow's `notifyAddress`), answered with an
   * operator's `job.fail` so the CLI mails it; infra sets it. Without it, that mail is not sent.
   */
  NOTIFY_ADDRESS: z.optional(EmailAddress),
});

/** The ops-ledger's configuration. */
export interface OpsLedgerConfig {
  /** Where the database URL comes from; `resolveDatabaseUrl` reads the variable it names. */
  readonly database: 'url' | 'secret';
  readonly notifyAddress: string | undefined;
}

/** Reads the ops-ledger's environment once, at cold start: without a database it fails at init naming the variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): OpsLedgerConfig {
  const config = readConfig(OpsLedgerEnvironment, env);
  return { database: databaseSource(config), notifyAddress: config.NOTIFY_ADDRESS };
}
