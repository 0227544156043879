// `pnpm start`: builds the service bundles, starts the local cloud and runs until Ctrl-C.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONSOLE_PORT, type RunningConsole, startConsole } from '@sidestep/console';
import { synthStack } from '@sidestep/infra';
import {
  clearLocalCloudState,
  createConsoleReporter,
  DatabasePortInUseError,
  DEFAULT_DATABASE_PORT,
  hasLocalCloudState,
  type LocalCloud,
  LocalCloudStartError,
  lockStateDir,
  type StateDirLock,
  startLocalCloud,
} from '@sidestep/local-cloud';
import {
  InvalidSandboxRecipientError,
  InvalidSendRateError,
  parseSandboxRecipients,
  parseSendRate,
} from '@sidestep/manifest';
import { createOpsContext } from '@sidestep/ops';
import { SERVICES, TASKS } from '@sidestep/registry';
import { SCHEDULES } from '@sidestep/workflows';
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatBanner, type StateAtStart } from './src/banner.ts';
import { buildServices } from './src/build-services.ts';
import { checkPortsFree, PortInUseError, type StartPort } from './src/busy-ports.ts';
import { COMMAND_EXAMPLES, LOCAL_CLOUD, UPLOAD_EXAMPLES } from './src/services.ts';

const rootDir = join(dirname(fileURLToPath(import.meta.url)), '..');

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) {
    throw new InvalidArgumentError('must be a port number (0-65535, 0 picks a free one)');
  }
  return parsed;
}

/** A number of vCPUs above 0, as the Fargate vCPU quota counts them ("4", "0.5"). */
function vcpus(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) {
    throw new InvalidArgumentError(
      "must be a number of vCPUs above 0 (the account's Fargate vCPU quota, e.g. 4)",
    );
  }
  return parsed;
}

function invocations(value: string): number {
  const parsed = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(
      "must be a whole number of invocations of at least 1 (the account's Lambda concurrency quota, e.g. 10)",
    );
  }
  return parsed;
}

/**
 * A commander argument parser from a setting's parser: its refusal (`Refused`) becomes commander's
 * InvalidArgumentError, which names where the value came from (the flag or the environment variable).
 */
function settingParser<T>(
  parse: (value: string, field: string) => T,
  field: string,
  Refused: abstract new (...args: never[]) => Error,
): (value: string) => T {
  return (value) => {
    try {
      return parse(value, field);
    } catch (error) {
      if (error instanceof Refused) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

/** The SES sandbox's verified addresses, comma-separated, as SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS takes them. */
const identities = settingParser(
  parseSandboxRecipients,
  'the mail sandbox recipients',
  InvalidSandboxRecipientError,
);

/** A maximum send rate as MAIL_MAX_SEND_RATE takes it ("14", "0.5"). */
const sendRate = settingParser(parseSendRate, 'the mail send rate', InvalidSendRateError);

/**
 * What a start that failed for a reason a person can mend prints: one line, then exit 1. Anything
 * else is a bug, thrown with its stack.
 */
function exitOnStartFailure(error: unknown): void {
  if (error instanceof DatabasePortInUseError)
    error = new PortInUseError(startPort('--database-port'), error);
  // Taken after checkPortsFree found it free (or one of two flags given the same port).
  else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    const { port: busy } = error as { port?: number };
    const taken = startPorts.find((entry) => entry.port === busy) ?? startPort('--port');
    error = new PortInUseError({ ...taken, port: busy ?? taken.port }, error);
  }
  // A busy port, another cloud on the state dir, a damaged state file, a DATABASE_URL it cannot use,
  // a state dir it cannot write, a bundle not built.
  if (error instanceof LocalCloudStartError) {
    console.error(error.message);
    process.exit(1);
  }
}

const program = new Command('start')
  .description(
    'Run sidestep locally: SQS + S3 + Step Functions, every service behind the Lambda Runtime API, Fargate tasks as child processes, SMTP sink, PostgreSQL',
  )
  .option('--port <port>', 'SQS + S3 endpoint port', port, 4566)
  .option('--smtp-port <port>', 'SMTP sink port', port, 1025)
  .option('--console-port <port>', 'operator web console port', port, DEFAULT_CONSOLE_PORT)
  // As SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE sets a deployed environment's (the account's SES rate).
  .addOption(
    new Option(
      '--mail-max-send-rate <rate>',
      'mails per second the SMTP sink accepts, above it 454 as SES throttles (e.g. 1, the SES sandbox, or 14); the mail-dispatcher gets it as MAIL_MAX_SEND_RATE (default: no rate)',
    )
      .env('SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE')
      .argParser(sendRate),
  )
  // As SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS lists a deployed environment's while its SES is in the sandbox.
  .addOption(
    new Option(
      '--mail-sandbox-recipients <identities>',
      'the SES sandbox: the verified addresses (comma-separated) mail may go to; the SMTP sink refuses any other recipient with 554 "Email address is not verified", as a new account\'s SES does (default: no sandbox)',
    )
      .env('SIDESTEP_LOCAL_MAIL_SANDBOX_RECIPIENTS')
      .argParser(identities),
  )
  // As a deployed environment's account has one (Service Quotas L-3032A538, a new account's low).
  .addOption(
    new Option(
      '--fargate-vcpus <vcpus>',
      "the account's Fargate vCPU quota: how many vCPUs the batch tasks may hold at once; a RunTask past it starts nothing and fails as ECS fails it (AmazonECS.Unknown), and the workflow waits for room (default: no quota)",
    )
      .env('SIDESTEP_LOCAL_FARGATE_VCPUS')
      .argParser(vcpus),
  )
  // As a deployed environment's account has one (Service Quotas L-B99A9384, a new account's 10).
  .addOption(
    new Option(
      '--lambda-concurrency <invocations>',
      "the account's Lambda concurrency quota: how many invocations of all the functions may run at once; past it an invocation is throttled as Lambda throttles it (TooManyRequestsException: a workflow step retries it, a queue's batch and an asynchronous invocation are tried again later) (default: no quota)",
    )
      .env('SIDESTEP_LOCAL_LAMBDA_CONCURRENCY')
      .argParser(invocations),
  )
  // No commander default from DATABASE_URL: --help would print its password.
  .option(
    '--database-url <url>',
    'use this PostgreSQL server instead of embedded PGlite (default: $DATABASE_URL)',
  )
  .option(
    '--database-port <port>',
    'embedded PostgreSQL port (psql connects here)',
    port,
    DEFAULT_DATABASE_PORT,
  )
  .option(
    '--state-dir <dir>',
    'where queues, objects, executions, schedules, the outbox and the embedded database are kept across restarts (default: <repo>/.sidestep)',
  )
  .option('--fresh', 'clear the state dir first: start with empty queues, buckets, executions and database')
  .option('--no-build', 'run the existing bundles instead of building the services first')
  .option('--quiet-logs', 'hide the services’ own log lines')
  .option('--no-iam', 'do not check calls against the deployed IAM policies (debugging only)')
  .parse();

const options = program.opts<{
  port: number;
  smtpPort: number;
  consolePort: number;
  mailMaxSendRate?: number;
  mailSandboxRecipients?: readonly string[];
  fargateVcpus?: number;
  lambdaConcurrency?: number;
  databaseUrl?: string;
  databasePort: number;
  stateDir?: string;
  fresh?: boolean;
  build: boolean;
  quietLogs?: boolean;
  iam: boolean;
}>();

const databaseUrl = options.databaseUrl || process.env.DATABASE_URL || undefined;

/** The ports `npm start` listens on, each with the flag that moves it and what listens there. */
const startPorts: readonly StartPort[] = [
  { flag: '--port', service: 'SQS + S3 endpoint', port: options.port },
  { flag: '--smtp-port', service: 'SMTP sink', port: options.smtpPort },
  { flag: '--console-port', service: 'console', port: options.consolePort },
  { flag: '--database-port', service: 'embedded PostgreSQL', port: options.databasePort },
];

/** The entry of {@link startPorts} that `flag` sets. */
function startPort(flag: string): StartPort {
  return startPorts.find((entry) => entry.flag === flag) as StartPort;
}

// Installed before the build and the start, not once the cloud is up: a Ctrl-C during the start
// aborts it, and startLocalCloud stops what it had started (sandboxes and their /tmp directories)
// instead of the process dying with them still there.
const startup = new AbortController();
/** Set as startLocalCloud is called: from then on there is something to stop. */
let cloudStarting = false;
/** Set once the cloud and the console are up: stops both. */
let stopRunning: (() => Promise<unknown>) | undefined;
let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) {
    // A second Ctrl-C means "now": skip the grace period for invocations in flight.
    console.error(`\n${signal} again: exiting without waiting`);
    process.exit(1);
  }
  stopping = true;
  if (stopRunning === undefined) {
    if (cloudStarting) {
      // The start's catch below prints "stopped" once what had started is stopped.
      console.log(`\n${signal}: stopping what has started...`);
      startup.abort();
      return;
    }
    // During the build (whose processes got the Ctrl-C too) nothing of the cloud runs yet.
    console.log(`\n${signal}: stopped before the local cloud started`);
    process.exit(0);
  }
  console.log(`\n${signal}: stopping (in-flight invocations get a few seconds to finish)...`);
  stopRunning().then(
    () => {
      console.log('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      console.error('stop failed:', error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const stateDir = resolve(options.stateDir ?? join(rootDir, '.sidestep'));
// Held before the ports are checked, the build and --fresh: a second local cloud on the directory is
// refused naming the first (its ports would be busy too, which says less), before it could rebuild
// the bundles the first one runs or take away what it keeps.
let stateDirLock: StateDirLock;
try {
  stateDirLock = await lockStateDir(stateDir);
} catch (error) {
  // Another cloud holds it (StateDirInUseError), or it cannot be written.
  exitOnStartFailure(error);
  throw error;
}
// Before the build: a busy port found by the start itself would cost the build's minute first.
try {
  await checkPortsFree(
    databaseUrl ? startPorts.filter((entry) => entry.flag !== '--database-port') : startPorts,
  );
} catch (error) {
  exitOnStartFailure(error);
  throw error;
}

if (options.build) await buildServices([...SERVICES, ...TASKS], rootDir);
if (options.fresh) await clearLocalCloudState(stateDir);
// Before the start, which creates the state: whether there was anything to resume.
const stateAtStart: StateAtStart = options.fresh
  ? 'cleared'
  : (await hasLocalCloudState(stateDir))
    ? 'resumed'
    : 'new';

let cloud: LocalCloud;
cloudStarting = true;
try {
  cloud = await startLocalCloud({
    rootDir,
    ...LOCAL_CLOUD,
    // The stack that deploys, synthesized now from the same manifests: its IAM policies (unless
    // --no-iam) and its buckets' lifecycle rules.
    stack: JSON.parse(synthStack()),
    iam: options.iam,
    port: options.port,
    smtpPort: options.smtpPort,
    mail: {
      ...(options.mailMaxSendRate !== undefined ? { maxSendRate: options.mailMaxSendRate } : {}),
      // None (an empty value) is no sandbox, as infra reads an empty setting: not one that takes no one.
      ...(options.mailSandboxRecipients?.length ? { sandboxRecipients: options.mailSandboxRecipients } : {}),
    },
    ...(options.fargateVcpus !== undefined ? { fargateVcpuQuota: options.fargateVcpus } : {}),
    ...(options.lambdaConcurrency !== undefined ? { lambdaConcurrency: options.lambdaConcurrency } : {}),
    databasePort: options.databasePort,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    stateDirLock,
    reporter: createConsoleReporter({ baseDir: rootDir, logs: !options.quietLogs }),
    signal: startup.signal,
  });
} catch (error) {
  // Interrupted: startLocalCloud stopped what it had started before rejecting.
  if (startup.signal.aborted) {
    console.log('stopped');
    process.exit(0);
  }
  exitOnStartFailure(error);
  throw error;
}

// The operator console on the same ops library as `pnpm sidestep`, pointed at this cloud.
const opsContext = createOpsContext({
  environment: 'local',
  endpoint: cloud.endpoint,
  ...(cloud.databaseUrl ? { databaseUrl: cloud.databaseUrl } : {}),
  ...(cloud.databaseKind ? { databaseKind: cloud.databaseKind } : {}),
});
let operatorConsole: RunningConsole;
try {
  operatorConsole = await startConsole({
    context: opsContext,
    port: options.consolePort,
    outboxDir: cloud.outboxDir,
  });
} catch (error) {
  await cloud.stop();
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    exitOnStartFailure(new PortInUseError(startPort('--console-port'), error));
  }
  throw error;
}

// Listening before the banner: whoever reads it (a person, a test) may press Ctrl-C at once.
stopRunning = () => Promise.all([operatorConsole.close(), opsContext.close()]).then(() => cloud.stop());
if (startup.signal.aborted) {
  // Ctrl-C came while the console was starting: stop what is up now, without a banner.
  await stopRunning();
  console.log('stopped');
  process.exit(0);
}

process.stdout.write(
  formatBanner(cloud, {
    rootDir,
    queueNames: [
      ...SERVICES.flatMap((entry) => (entry.manifest.queue ? [entry.manifest.queue.name] : [])),
      ...LOCAL_CLOUD.pipes.map((pipe) => pipe.source.name),
    ],
    uploadExamples: UPLOAD_EXAMPLES,
    commandExamples: COMMAND_EXAMPLES,
    schedules: SCHEDULES,
    state: stateAtStart,
    consoleUrl: operatorConsole.url,
  }),
);
