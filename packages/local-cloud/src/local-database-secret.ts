import { postgresClientConfig } from '@sidestep/db/postgres';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { localName, partialSecretArn } from './local-names.ts';

/** The variable infra gives a function or a task granted `database-secret`: the database secret's ARN. */
export const DATABASE_SECRET_VARIABLE = 'DATABASE_SECRET_ARN';

/** The database secret of the local cloud: its value and what its clients need besides its ARN. */
export interface LocalDatabaseSecret {
  /**
   * The RDS JSON of the database's user, `{username, password, host, port, dbname, engine}`, as RDS
   * and Secrets Manager's rotation functions keep it and @sidestep/runtime's `resolveDatabaseUrl`
   * reads it (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html).
   */
  readonly value: string;
  /**
   * What the URL said that the RDS JSON cannot: `DATABASE_TLS=off` for a server reached without TLS
   * (the runtime asks `sslmode=verify-full` of an RDS secret's host, which neither the embedded server
   * nor a loopback PostgreSQL offers), and `PGOPTIONS` for the URL's `options` (a test's schema on a
   * shared server, `createPostgresSchema`), which pg reads when the URL has none.
   */
  readonly clientEnvironment: Readonly<Record<string, string>>;
}

/** The database URL has a parameter the RDS JSON and its clients' environment cannot carry. */
export class UnsupportedDatabaseUrlError extends Error {
  override readonly name = 'UnsupportedDatabaseUrlError';
  constructor(parameter: string) {
    super(
      `the database URL's parameter ${parameter} cannot be given to the services through the RDS-shaped database secret: only sslmode and options can`,
    );
  }
}

/**
 * The local database secret for the server at `url` (the embedded one's or the one given): its user,
 * password (whatever the server takes: the embedded server takes any), host, port and database.
 *
 * @throws {UnsupportedDatabaseUrlError} for a URL parameter other than `sslmode` and `options`.
 */
export function localDatabaseSecret(url: string): LocalDatabaseSecret {
  const parsed = new URL(url);
  for (const parameter of parsed.searchParams.keys()) {
    if (parameter !== 'sslmode' && parameter !== 'options') throw new UnsupportedDatabaseUrlError(parameter);
  }
  const username = decodeURIComponent(parsed.username);
  const host = decodeURIComponent(parsed.hostname).replace(/^\[|\]$/g, '');
  const value = JSON.stringify({
    engine: 'postgres',
    host,
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    username,
    password: decodeURIComponent(parsed.password),
    // libpq's default database is the user's name.
    dbname: decodeURIComponent(parsed.pathname.slice(1)) || username,
  });
  const options = parsed.searchParams.get('options');
  // Off where @sidestep/db would connect to the URL itself without TLS (`sslmode=disable`, or a local
  // host without sslmode): its own decision, not a copy of it.
  const plain = postgresClientConfig({ url, env: {} }).ssl === false;
  return {
    value,
    clientEnvironment: {
      ...(plain ? { DATABASE_TLS: 'off' } : {}),
      ...(options === null ? {} : { PGOPTIONS: options }),
    },
  };
}

/**
 * The database secret's ARN as the stack gives it to its functions and tasks (infra's
 * `databaseSecretArn`, the `sidestep-local` config's `arn:aws:secretsmanager:...:secret:sidestep-local-database`),
 * which its policies grant `secretsmanager:GetSecretValue` on; that ARN without a stack.
 */
export function databaseSecretArn(stack: SynthesizedTerraformJson | undefined): string {
  const resources = stack?.resource ?? {};
  const functionArns = Object.values(resources.aws_lambda_function ?? {}).map(
    (lambda) => (lambda.environment as { variables?: Record<string, unknown> } | undefined)?.variables,
  );
  const taskArns = Object.values(resources.aws_ecs_task_definition ?? {}).flatMap((task) =>
    typeof task.container_definitions === 'string'
      ? (
          JSON.parse(task.container_definitions) as { environment?: { name: string; value: unknown }[] }[]
        ).map((container) =>
          Object.fromEntries((container.environment ?? []).map(({ name, value }) => [name, value])),
        )
      : [],
  );
  const given = [...functionArns, ...taskArns]
    .map((variables) => variables?.[DATABASE_SECRET_VARIABLE])
    .find((arn): arn is string => typeof arn === 'string' && arn.startsWith('arn:'));
  return given ?? partialSecretArn(localName('database'));
}
