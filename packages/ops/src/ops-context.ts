import { userInfo } from 'node:os';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { OPS_LEDGER_SERVICE } from '@sidestep/contracts';
import { EMBEDDED_CLIENT_TIMEOUTS, openDatabase } from '@sidestep/db';
import { type Ledger, SqlLedger } from '@sidestep/ledger';
import { ENVIRONMENTS, type EnvironmentName, resourceName } from '@sidestep/manifest';
import { LOCAL_NOTIFY_ADDRESS } from '@sidestep/workflows';
import { InvalidOptionError, UnknownNameError } from './errors.ts';
import { LambdaLedger } from './lambda-ledger.ts';

/**
 * The local cloud as `npm start` serves it by default: its AWS endpoint, the region and account its
 * ARNs use, and its embedded PostgreSQL (PGlite) unless DATABASE_URL names another server.
 */
export const LOCAL_CLOUD = {
  endpoint: 'http://127.0.0.1:4566',
  region: 'us-east-1',
  accountId: '000000000000',
  databaseUrl: 'postgres://postgres@127.0.0.1:5433/postgres',
} as const;

/** Each client's service id as the SDK spells it in `AWS_ENDPOINT_URL_<ID>`. */
const SERVICE_IDS: Readonly<Record<keyof OpsClients, string>> = {
  sqs: 'SQS',
  sfn: 'SFN',
  eventBridge: 'EVENTBRIDGE',
  scheduler: 'SCHEDULER',
  sts: 'STS',
  lambda: 'LAMBDA',
  cloudWatch: 'CLOUDWATCH',
  logs: 'CLOUDWATCH_LOGS',
};

/**
 * The endpoint `service`'s client talks to: `endpoint` when given (`--endpoint`), else the one the
 * environment names the way the AWS SDK reads it (`AWS_ENDPOINT_URL_<SERVICE>`, then
 * `AWS_ENDPOINT_URL`, both ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`;
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html), else the local cloud's
 * default for `local` and AWS's own (`undefined`) for the others. So the variables `npm start` prints
 * for a producer point every command at the same local cloud. Read here rather than left to the SDK
 * because the local default must give way to them, and the SDK only reads them when given no endpoint.
 */
export function serviceEndpoint(
  service: keyof OpsClients,
  choice: { readonly environment: string; readonly endpoint?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (choice.endpoint) return choice.endpoint;
  const configured =
    env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true'
      ? undefined
      : env[`AWS_ENDPOINT_URL_${SERVICE_IDS[service]}`] || env.AWS_ENDPOINT_URL || undefined;
  return configured ?? (choice.environment === 'local' ? LOCAL_CLOUD.endpoint : undefined);
}

/** Who runs this process, for the local operator's name; `unknown` where the OS has no user entry (containers). */
function osUser(env: Readonly<Record<string, string | undefined>>): string {
  try {
    return env.USER ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The AWS clients one environment is operated through. */
export interface OpsClients {
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly eventBridge: EventBridgeClient;
  readonly scheduler: SchedulerClient;
  readonly sts: STSClient;
  /** Invokes the `ops-ledger` function (AWS environments without a database URL). */
  readonly lambda: LambdaClient;
  /** SQS queues' oldest message age (AWS environments: a CloudWatch metric). */
  readonly cloudWatch: CloudWatchClient;
  /** SES's event records of the mails (AWS environments: `mail find` searches their log group). */
  readonly logs: CloudWatchLogsClient;
}

/**
 * Everything an operation needs about one environment: its clients, its names, how to reach its
 * jobs ledger and who the operator is. One per command (or per console request).
 */
export interface OpsContext {
  readonly environment: EnvironmentName;
  /**
   * The region the environment is operated in: the local cloud's; on AWS `AWS_REGION` (or the AWS
   * CLI's `AWS_DEFAULT_REGION`), else the one the SDK resolves for the clients (the profile's
   * `region` in the shared config file, as `AWS_PROFILE=sidestep-staging` users set it).
   */
  region(): Promise<string>;
  readonly clients: OpsClients;
  /** The endpoint each client talks to; `undefined` for AWS's own. */
  readonly endpoints: Readonly<Record<keyof OpsClients, string | undefined>>;
  /** The account the environment's ARNs are in (the local cloud's, or STS's answer). */
  accountId(): Promise<string>;
  /** Who acts, for the audit trail: the STS caller ARN on AWS; locally the access key id and OS user. */
  operator(): Promise<string>;
  /**
   * The jobs ledger: its database itself with a database URL (the local cloud's by default), else,
   * on AWS, the environment's `ops-ledger` function (`sidestep-<env>-ops-ledger`) over Lambda Invoke.
   */
  ledger(): Promise<Ledger>;
  /** Says something the caller should know but that does not stop the operation. */
  warn(message: string): void;
  /** Closes the clients and the database pool. */
  close(): Promise<void>;
}

/** Options of {@link createOpsContext}. */
export interface OpsContextOptions {
  /** `local` (default), `staging` or `production`. */
  readonly environment?: string;
  /** The AWS endpoint of every client. @default as {@link serviceEndpoint} chooses for each */
  readonly endpoint?: string;
  /**
   * The ledger's PostgreSQL URL, read directly. @default local: DATABASE_URL, else
   * {@link LOCAL_CLOUD}'s; staging and production: the `ops-ledger` function (a DATABASE_URL in the
   * environment, which developers set for `npm start`, is not taken for them: production's jobs would
   * be read from, and its audit trail written to, a local database)
   */
  readonly databaseUrl?: string;
  /**
   * `embedded` when the ledger's database is the local cloud's embedded server (PGlite): its reads
   * then wait for an answer however long another connection's transaction keeps them (that server runs
   * one at a time and ignores statement_timeout), instead of failing past the answer limit
   * (`EMBEDDED_CLIENT_TIMEOUTS`). @default `embedded` for {@link LOCAL_CLOUD}'s database URL,
   * `external` for any other
   */
  readonly databaseKind?: 'embedded' | 'external';
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
 * private database: it is read through the `ops-ledger` function unless `databaseUrl` is given.
 */
export function createOpsContext(options: OpsContextOptions = {}): OpsContext {
  const env = options.env ?? process.env;
  const environment = environmentName(options.environment ?? 'local');
  const local = environment === 'local';
  // On AWS the SDK resolves the region when none is set here (AWS_REGION, then the profile's), as for
  // any other AWS tool; the AWS CLI's AWS_DEFAULT_REGION is read here, since the SDK does not.
  const configuredRegion = local ? LOCAL_CLOUD.region : env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  const endpoints = Object.fromEntries(
    (Object.keys(SERVICE_IDS) as (keyof OpsClients)[]).map((service) => [
      service,
      serviceEndpoint(service, { environment, endpoint: options.endpoint }, env),
    ]),
  ) as Record<keyof OpsClients, string | undefined>;
  const config = (service: keyof OpsClients) => {
    const endpoint = endpoints[service];
    return {
      ...(configuredRegion ? { region: configuredRegion } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    };
  };
  const clients: OpsClients = {
    sqs: options.clients?.sqs ?? new SQSClient(config('sqs')),
    sfn: options.clients?.sfn ?? new SFNClient(config('sfn')),
    eventBridge: options.clients?.eventBridge ?? new EventBridgeClient(config('eventBridge')),
    scheduler: options.clients?.scheduler ?? new SchedulerClient(config('scheduler')),
    sts: options.clients?.sts ?? new STSClient(config('sts')),
    lambda: options.clients?.lambda ?? new LambdaClient(config('lambda')),
    cloudWatch: options.clients?.cloudWatch ?? new CloudWatchClient(config('cloudWatch')),
    logs: options.clients?.logs ?? new CloudWatchLogsClient(config('logs')),
  };
  const warn = options.warn ?? ((message: string) => process.stderr.write(`warning: ${message}\n`));
  const databaseUrl =
    options.databaseUrl ?? (local ? (env.DATABASE_URL ?? LOCAL_CLOUD.databaseUrl) : undefined);
  if (!local && options.databaseUrl === undefined && env.DATABASE_URL) {
    warn(
      `DATABASE_URL is not read for --env ${environment}: its jobs ledger is read through its ops-ledger function (--database-url reads a database directly)`,
    );
  }
  const embeddedDatabase =
    (options.databaseKind ?? (databaseUrl === LOCAL_CLOUD.databaseUrl ? 'embedded' : 'external')) ===
    'embedded';
  let identity: Promise<{ account: string; arn: string }> | undefined;
  let resolvedRegion: Promise<string> | undefined;
  let ledger: Promise<Ledger> | undefined;
  const callerIdentity = () => {
    identity ??= clients.sts.send(new GetCallerIdentityCommand({})).then((answer) => ({
      account: answer.Account ?? '',
      arn: answer.Arn ?? answer.UserId ?? 'unknown',
    }));
    return identity;
  };
  return {
    environment,
    region() {
      if (configuredRegion) return Promise.resolve(configuredRegion);
      resolvedRegion ??= clients.sts.config.region().catch((error: unknown) => {
        resolvedRegion = undefined;
        throw new InvalidOptionError(
          `no AWS region for --env ${environment}: set AWS_REGION, or a region in your AWS profile (${error instanceof Error ? error.message : String(error)})`,
          { field: 'region' },
        );
      });
      return resolvedRegion;
    },
    clients,
    endpoints,
    async accountId() {
      return local ? LOCAL_CLOUD.accountId : (await callerIdentity()).account;
    },
    async operator() {
      // The local cloud answers no STS: its operator is the access key `local`, run by this OS user.
      return local ? `local:${osUser(env)}` : (await callerIdentity()).arn;
    },
    ledger() {
      ledger ??= databaseUrl
        ? openDatabase({
            url: databaseUrl,
            max: 1,
            ...(embeddedDatabase ? { timeouts: EMBEDDED_CLIENT_TIMEOUTS } : {}),
          }).then(
            (db) => new SqlLedger(db, { notifyAddress: local ? LOCAL_NOTIFY_ADDRESS : env.NOTIFY_ADDRESS }),
          )
        : Promise.resolve(new LambdaLedger(clients.lambda, resourceName(environment, OPS_LEDGER_SERVICE)));
      return ledger;
    },
    warn,
    async close() {
      for (const client of Object.values(clients)) client.destroy();
      if (ledger) await (await ledger).close();
    },
  };
}
