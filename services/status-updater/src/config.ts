import { ConfigError, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';

const StatusUpdaterEnvironment = z.object({
  /** A postgres:// URL (local cloud, CI). Wins over DATABASE_SECRET_ARN when both are set. */
  DATABASE_URL: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\//))),
  /** The Secrets Manager secret holding the URL or the RDS JSON (on AWS; set by infra). */
  DATABASE_SECRET_ARN: z.optional(z.string().check(z.minLength(1))),
});

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
  const config = readConfig(StatusUpdaterEnvironment, env);
  if (config.DATABASE_URL) return { database: 'url' };
  if (config.DATABASE_SECRET_ARN) return { database: 'secret' };
  throw new ConfigError(
    'DATABASE_URL',
    'invalid configuration: DATABASE_URL is missing (or set DATABASE_SECRET_ARN to the secret holding it)',
  );
}
