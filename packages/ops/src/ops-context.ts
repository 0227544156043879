import { userInfo } from 'node:os';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { type Database, openDatabase } from '@sidestep/db';
import { ENVIRONMENTS, type EnvironmentName } from '@sidestep/manifest';
import { LedgerUnavailableError, UnknownNameError } from './errors.ts';

/** Where `npm start` serves the local cloud's AWS endpoint. */
export const LOCAL_ENDPOINT = 'http://127.0.0.1:4566';
/** The local cloud's region and account (its ARNs use them). */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
/** Where `npm start` serves its embedded PostgreSQL (PGlite) unless DATABASE_URL names another server. */
export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5433/postgres';

/** The AWS clients one environment is operated through. */
export interface OpsClients {
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly eventBridge: EventBridgeClient;
  readonly scheduler: SchedulerClient;
  readonly sts: STSClient;
}

/**
 * Everything an operation needs about one environment: its clients, its names, how to reach its
 * jobs ledger and who the operator is. One per command (or per console request).
 */
export interface OpsContext {
  readonly environment: EnvironmentName;
  readonly region: string;
  readonly clients: OpsClients;
  /** The account the environment's ARNs are in (the local cloud's, or STS's answer). */
  accountId(): Promise<string>;
  /** Who acts, for the audit trail: the STS caller ARN on AWS; locally the access key id and OS user. */
  operator(): Promise<string>;
  /** The jobs ledger. @throws {LedgerUnavailableError} no database URL for this environment. */
  database(): Promise<Database>;
  /** Says something the caller should know but that does not stop the operation. */
  warn(message: string): void;
  /** Closes the clients and the database pool. */
  close(): Promise<void>;
}

/** Options of {@link createOpsContext}. */
export interface OpsContextOptions {
  /** `local` (default), `staging` or `production`. */
  readonly environment?: string;
  /** The AWS endpoint. @default {@link LOCAL_ENDPOINT} for local, AWS's own otherwise */
  readonly endpoint?: string;
  /** The ledger's PostgreSQL URL. @default DATABASE_URL, else {@link LOCAL_DATABASE_URL} for local */
  readonly databaseUrl?: string;
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Clients to use instead of new ones (tests pass stubbed clients). */
  readonly clients?: Partial<OpsClients>;
  /** @default writes to stderr */
  readonly warn?: (message: string) => void;
}

/** Parses the `--env` value. @throws {UnknownNameError} (`field: 'env'`) for another name. */
export function environmentName(value: string): EnvironmentName {
  const found = ENVIRONMENTS.find((name) => name === value);
  if (!found) throw new UnknownNameError('env', value, ENVIRONMENTS);
  return found;
}

/**
 * The context for one environment. `local` talks to the `npm start` endpoint with the credentials
 * `local`/`local` (the local cloud's operator) and reads the ledger from the embedded database (or
 * DATABASE_URL); `staging` and `production` use the standard AWS credential chain and region and the
 * deployed names (`sidestep-<env>-<name>`, as `resourceName` builds them). Their ledger is in a
 * private database: it is read only with an explicit `databaseUrl` for now.
 */
export function createOpsContext(options: OpsContextOptions = {}): OpsContext {
  const env = options.env ?? process.env;
  const environment = environmentName(options.environment ?? 'local');
  const local = environment === 'local';
  const region = local ? LOCAL_REGION : (env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1');
  const endpoint = options.endpoint ?? (local ? LOCAL_ENDPOINT : undefined);
  const config = {
    region,
    ...(endpoint ? { endpoint } : {}),
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  };
  const clients: OpsClients = {
    sqs: options.clients?.sqs ?? new SQSClient(config),
    sfn: options.clients?.sfn ?? new SFNClient(config),
    eventBridge: options.clients?.eventBridge ?? new EventBridgeClient(config),
    scheduler: options.clients?.scheduler ?? new SchedulerClient(config),
    sts: options.clients?.sts ?? new STSClient(config),
  };
  const databaseUrl = options.databaseUrl ?? env.DATABASE_URL ?? (local ? LOCAL_DATABASE_URL : undefined);
  let identity: Promise<{ account: string; arn: string }> | undefined;
  let database: Promise<Database> | undefined;
  const callerIdentity = () => {
    identity ??= clients.sts.send(new GetCallerIdentityCommand({})).then((answer) => ({
      account: answer.Account ?? '',
      arn: answer.Arn ?? answer.UserId ?? 'unknown',
    }));
    return identity;
  };
  return {
    environment,
    region,
    clients,
    async accountId() {
      return local ? LOCAL_ACCOUNT_ID : (await callerIdentity()).account;
    },
    async operator() {
      // The local cloud answers no STS: its operator is the access key `local`, run by this OS user.
      return local ? `local:${userInfo().username}` : (await callerIdentity()).arn;
    },
    database() {
      if (!databaseUrl) return Promise.reject(new LedgerUnavailableError(environment));
      database ??= openDatabase({ url: databaseUrl, max: 1 });
      return database;
    },
    warn: options.warn ?? ((message) => process.stderr.write(`warning: ${message}\n`)),
    async close() {
      for (const client of Object.values(clients)) client.destroy();
      if (database) await (await database).close();
    },
  };
}
