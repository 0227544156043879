import * as z from 'zod/mini';
import { ConfigError, SecretUnavailableError } from './errors.ts';

/** The environment as Node gives it. */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Validates the environment against a zod object schema and returns the typed result. Call it once
 * at module scope, so a misconfigured function fails at cold start with the variable's name instead
 * of in the middle of a job.
 *
 * Accepts classic `zod` and `zod/mini` objects (both are `$ZodObject`s).
 *
 * @throws {ConfigError} naming the first bad variable in `field` and every bad variable in the message.
 *
 * @example
 * ```ts
 * export const config = readConfig(z.object({ MAIL_QUEUE_URL: z.url(), BATCH_SIZE: z.coerce.number() }));
 * ```
 */
export function readConfig<S extends z.core.$ZodObject>(
  schema: S,
  env: Environment = process.env,
): z.infer<S> {
  const result = z.safeParse(schema, env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = issue.path.length === 0 ? '(environment)' : issue.path.map(String).join('.');
    const missing = issue.path.length > 0 && env[variable] === undefined;
    return { variable, problem: missing ? 'is missing' : `is invalid: ${issue.message}` };
  });
  const first = problems[0] ?? { variable: '(environment)', problem: 'is invalid' };
  throw new ConfigError(
    first.variable,
    `invalid configuration: ${problems.map(({ variable, problem }) => `${variable} ${problem}`).join('; ')}`,
    { cause: result.error },
  );
}

/**
 * The variables {@link resolveDatabaseUrl} reads, as zod fields to spread into a service's
 * environment schema, so that a function deployed without a way to reach its database fails at cold
 * start naming the variable. `DATABASE_URL` (CI, tests) wins over `DATABASE_SECRET_ARN` (AWS, the local cloud).
 */
export const DATABASE_ENVIRONMENT = {
  /** A postgres:// URL (CI, tests). Wins over DATABASE_SECRET_ARN when both are set. */
  DATABASE_URL: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\//))),
  /** The Secrets Manager secret holding the URL or the RDS JSON (on AWS; set by infra). */
  DATABASE_SECRET_ARN: z.optional(z.string().check(z.minLength(1))),
};

/**
 * Where {@link resolveDatabaseUrl} will take the URL from, given an environment read with
 * {@link DATABASE_ENVIRONMENT}: `'url'` for `DATABASE_URL`, `'secret'` for `DATABASE_SECRET_ARN`.
 *
 * @throws {ConfigError} naming `DATABASE_URL` when neither is set.
 */
export function databaseSource(config: {
  readonly DATABASE_URL?: string | undefined;
  readonly DATABASE_SECRET_ARN?: string | undefined;
}): 'url' | 'secret' {
  if (config.DATABASE_URL) return 'url';
  if (config.DATABASE_SECRET_ARN) return 'secret';
  throw new ConfigError(
    'DATABASE_URL',
    'invalid configuration: DATABASE_URL is missing (or set DATABASE_SECRET_ARN to the secret holding it)',
  );
}

/** Options of {@link resolveDatabaseUrl}. */
export interface ResolveDatabaseUrlOptions {
  /**
   * How long Powertools keeps the fetched secret before fetching it again. Only a call made after
   * this time fetches: a pool built from the URL once keeps it, and sees a rotated password only by
   * asking with `fresh` when the server refuses the old one.
   * @default 900 (15 minutes)
   */
  readonly maxAgeSeconds?: number;
  /**
   * Fetch the secret now, past the cache (Powertools' `forceFetch`), and cache what was fetched: for
   * a connection the server has just refused authentication (a rotated password: after Secrets
   * Manager's rotation "new connections use the new credentials",
   * https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html).
   * `DATABASE_URL`, when set, is returned as always.
   * @default false
   */
  readonly fresh?: boolean;
}

/** The JSON shape RDS and `aws secretsmanager` rotation templates store for a database user. */
const RdsSecret = z.object({
  username: z.string().check(z.minLength(1)),
  password: z.string(),
  host: z.string().check(z.minLength(1)),
  port: z.optional(z.union([z.number(), z.string()])),
  dbname: z.optional(z.string()),
  engine: z.optional(z.string()),
});

const DEFAULT_SECRET_MAX_AGE_SECONDS = 900;

/**
 * The database URL as a service's connection asks for it (`connectPostgresOnFirstUse`'s `url`):
 * {@link resolveDatabaseUrl} of `env`, read past the secret's cache when `fresh` (the server refused
 * the password: a rotation).
 */
export function databaseUrlSource(
  env: Environment = process.env,
): (options: { readonly fresh: boolean }) => Promise<string> {
  return ({ fresh }) => resolveDatabaseUrl(env, { fresh });
}

/**
 * The PostgreSQL connection URL: `DATABASE_URL` when set (CI, tests), otherwise the secret
 * named by `DATABASE_SECRET_ARN`, fetched through Powertools parameters (cached; `fresh` fetches past
 * the cache). The secret is a
 * plain `postgres://` URL (used as is) or the RDS JSON `{username, password, host, port, dbname}`,
 * which becomes a URL with `sslmode=verify-full`.
 *
 * @throws {ConfigError} when neither variable is set or the secret has an unusable shape.
 * @throws {SecretUnavailableError} when the secret cannot be fetched (transient).
 */
export async function resolveDatabaseUrl(
  env: Environment = process.env,
  options: ResolveDatabaseUrlOptions = {},
): Promise<string> {
  const direct = env.DATABASE_URL;
  if (direct !== undefined && direct !== '') return direct;
  const secretArn = env.DATABASE_SECRET_ARN;
  if (secretArn === undefined || secretArn === '') {
    throw new ConfigError(
      'DATABASE_URL',
      'invalid configuration: neither DATABASE_URL nor DATABASE_SECRET_ARN is set; set DATABASE_URL to a postgres:// URL or DATABASE_SECRET_ARN to the secret holding it',
    );
  }
  let secret: string | Uint8Array | undefined;
  try {
    // Loaded here, not at module scope: only a function deployed with DATABASE_SECRET_ARN needs the
    // Secrets Manager client, and it is a large part of the SDK to compile at every cold start.
    const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
    secret = await getSecret(secretArn, {
      maxAge: options.maxAgeSeconds ?? DEFAULT_SECRET_MAX_AGE_SECONDS,
      forceFetch: options.fresh ?? false,
    });
  } catch (error) {
    throw new SecretUnavailableError(
      'DATABASE_SECRET_ARN',
      `could not fetch the database secret ${secretArn} named by DATABASE_SECRET_ARN`,
      { cause: error },
    );
  }
  if (secret === undefined) {
    throw new ConfigError('DATABASE_SECRET_ARN', `the database secret ${secretArn} has no value`);
  }
  const text = typeof secret === 'string' ? secret : new TextDecoder().decode(secret);
  return databaseUrlFromSecret(text.trim(), secretArn);
}

function databaseUrlFromSecret(text: string, secretArn: string): string {
  if (/^postgres(ql)?:\/\//.test(text)) return text;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The secret's text is never echoed: it is a credential.
    throw new ConfigError(
      'DATABASE_SECRET_ARN',
      `the database secret ${secretArn} is neither a postgres:// URL nor JSON`,
    );
  }
  const parsed = z.safeParse(RdsSecret, json);
  if (!parsed.success) {
    const keys = json !== null && typeof json === 'object' ? Object.keys(json).sort().join(',') : '';
    if (keys === 'password,username') {
      // RDS's managed master user password is stored as {username, password} alone: it names no
      // database, and it is the master user, which AWS advises against running applications as.
      throw new ConfigError(
        'DATABASE_SECRET_ARN',
        `the database secret ${secretArn} holds a username and password and no host, as RDS's managed master user password does: give sidestep a secret of its own database user, a postgres:// URL or the RDS JSON {username, password, host, port, dbname} (README, "First deploy", step 3)`,
      );
    }
    const fields = parsed.error.issues.map((issue) => issue.path.map(String).join('.') || '(root)');
    throw new ConfigError(
      'DATABASE_SECRET_ARN',
      `the database secret ${secretArn} is not the RDS JSON shape {username, password, host, port, dbname}: bad or missing ${fields.join(', ')}`,
    );
  }
  const { username, password, host, port, dbname } = parsed.data;
  const user = `${encodeURIComponent(username)}:${encodeURIComponent(password)}`;
  const database = encodeURIComponent(dbname ?? 'postgres');
  // IPv6 literals need brackets inside a URL authority.
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  // RDS expects TLS: the URL asks for it with the certificate and host name verified, so every client
  // (pg through @sidestep/db, psql) encrypts and checks the server. The RDS CAs reach Node through
  // NODE_EXTRA_CA_CERTS (set in the services' Dockerfiles).
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html
  return `postgres://${user}@${hostPart}:${port ?? 5432}/${database}?sslmode=verify-full`;
}
