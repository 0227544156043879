import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createPostgresSchema, type Database, openDatabase } from '@sidestep/db';
import { migratedDataDirectory } from '@sidestep/db/migrated-data-directory';
import { synthStack } from '@sidestep/infra';
import {
  type CollectingReporter,
  createCollectingReporter,
  createVirtualClock,
  LOCAL_STATE,
  type LocalCloud,
  type LocalCloudOptions,
  type LocalCloudReporter,
  type LocalTask,
  startLocalCloud,
} from '@sidestep/local-cloud';
import { fargateVcpus } from '@sidestep/manifest';
import { executionStatusRule } from '@sidestep/workflows';
import { LOCAL_CLOUD, LOCAL_SERVICES, LOCAL_TASKS, WORKFLOWS } from '../src/services.ts';
import { COMPILE_CACHE_ENV } from './compile-cache.ts';

/** The repository root, where the bundles built by turbo before these tests live. */
export const rootDir = join(import.meta.dirname, '..', '..');

/** A local cloud for one test file, with what its tests drive it with. */
export interface PathCloud {
  readonly cloud: LocalCloud;
  /** Every event of the cloud, to wait for. */
  readonly collecting: CollectingReporter;
  /** The cloud's own temporary state directory (outbox, embedded database), removed by `stop`. */
  readonly stateDir: string;
  /** AWS SDK client settings for the cloud's endpoint. */
  readonly client: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
  /** Clients of the cloud's endpoint with the operator's credentials, destroyed by `stop`. */
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  /** Opens a pool on the cloud's database (`max` connections at most), closed by `stop`. */
  openDatabase(max?: number): Promise<Database>;
  /** Destroys the clients, closes the pools, stops the cloud and removes its state directory. */
  stop(): Promise<void>;
}

/** With TEST_DATABASE_URL, the option that has the services use that server instead of embedded PGlite. */
export const TEST_DATABASE: { readonly databaseUrl?: string } = process.env.TEST_DATABASE_URL
  ? { databaseUrl: process.env.TEST_DATABASE_URL }
  : {};

/**
 * Starts a local cloud on free ports (the embedded database's too) in a fresh temporary state directory named after `name`,
 * reporting to a collecting reporter (and to `trace`, when given), its functions' sandboxes started
 * on their first invocation unless `options` says `prewarm`. IAM is enforced from the
 * `sidestep-local` stack synthesized now, as `npm start` does, unless `options` gives a `stack`
 * (one synthesized from changed manifests) or `iam: false`.
 */
export async function startPathCloud(
  name: string,
  options: Omit<
    LocalCloudOptions,
    'rootDir' | 'stateDir' | 'port' | 'smtpPort' | 'databasePort' | 'reporter'
  >,
  trace?: LocalCloudReporter,
): Promise<PathCloud> {
  const stateDir = mkdtempSync(join(tmpdir(), `${name}-`));
  const collecting = createCollectingReporter();
  // On a shared server, a schema of this cloud's own, dropped when it stops (see createPostgresSchema).
  const schema =
    options.databaseUrl === undefined ? undefined : await createPostgresSchema(options.databaseUrl, 'path');
  let cloud: LocalCloud;
  try {
    if (options.databaseUrl === undefined) {
      cpSync(await migratedDataDirectory(), join(stateDir, LOCAL_STATE.database), { recursive: true });
    }
    cloud = await startLocalCloud({
      rootDir,
      stateDir,
      port: 0,
      smtpPort: 0,
      databasePort: 0,
      reporter: trace
        ? (event) => {
            collecting.reporter(event);
            trace(event);
          }
        : collecting.reporter,
      ...(options.stack || options.iam === false ? {} : { stack: JSON.parse(synthStack()) }),
      // A test drives a few of the functions: each starts its sandbox when first invoked, as Lambda
      // does, instead of every function starting one with the cloud (~1 s of CPU a whole cloud).
      prewarm: false,
      ...options,
      ...(schema ? { databaseUrl: schema.url } : {}),
    });
  } catch (error) {
    rmSync(stateDir, { recursive: true, force: true });
    await schema?.drop();
    throw error;
  }
  const client = {
    endpoint: cloud.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const s3 = new S3Client({ ...client, forcePathStyle: true });
  const sfn = new SFNClient(client);
  const sqs = new SQSClient(client);
  const databases: Database[] = [];
  return {
    cloud,
    collecting,
    stateDir,
    client,
    s3,
    sfn,
    sqs,
    async openDatabase(max) {
      const db = await openDatabase({ url: cloud.databaseUrl, ...(max === undefined ? {} : { max }) });
      databases.push(db);
      return db;
    },
    async stop() {
      for (const sdk of [s3, sfn, sqs]) sdk.destroy();
      await Promise.all(databases.map((db) => db.close()));
      await cloud.stop();
      rmSync(stateDir, { recursive: true, force: true });
      await schema?.drop();
    },
  };
}

/** The imports bucket and the import workflow's state machine of a path cloud (`sidestep-local-...`). */
export const IMPORTS_BUCKET = 'sidestep-local-imports';
export const IMPORT_STATE_MACHINE_ARN =
  'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';

/** The batch task's vCPUs, as the account's Fargate vCPU quota counts them. */
export const BATCH_TASK_VCPUS = fargateVcpus(
  LOCAL_TASKS.find((task) => task.manifest.name === 'batch-worker')?.manifest.cpu ?? Number.NaN,
);

/**
 * A path cloud running the services, the tasks and the workflows (with their ended executions' rule)
 * under an account's quotas: a Fargate vCPU quota that fits `batchTasks` batch tasks, a Lambda
 * concurrency of `lambdaConcurrency` invocations (each none when not given); the workflows' retries,
 * their waits for room among them, `retryIntervalMs` apart instead of the definitions' intervals when
 * given.
 */
export function startQuotaPathCloud(
  name: string,
  {
    batchTasks,
    lambdaConcurrency,
    retryIntervalMs,
  }: {
    readonly batchTasks?: number;
    readonly lambdaConcurrency?: number;
    readonly retryIntervalMs?: number;
  },
): Promise<PathCloud> {
  return startPathCloud(name, {
    services: LOCAL_SERVICES,
    tasks: LOCAL_TASKS,
    workflows: WORKFLOWS,
    executionStatusRule,
    ...(batchTasks === undefined ? {} : { fargateVcpuQuota: batchTasks * BATCH_TASK_VCPUS }),
    ...(lambdaConcurrency === undefined ? {} : { lambdaConcurrency }),
    ...(retryIntervalMs === undefined ? {} : { retryIntervalMs }),
  });
}

/**
 * A path cloud running everything `pnpm start` runs (with TEST_DATABASE_URL, on that server), its
 * schedules on a virtual clock that is never moved, so nothing fires by itself during the test.
 */
export function startWholePathCloud(
  name: string,
  trace?: LocalCloudReporter,
  batchWorkerEnvironment: Readonly<Record<string, string>> = {},
): Promise<PathCloud> {
  const schedules = { ...LOCAL_CLOUD.schedules, clock: createVirtualClock(new Date()) };
  const tasks = withTaskEnvironment(LOCAL_CLOUD.tasks, 'batch-worker', batchWorkerEnvironment);
  return startPathCloud(name, { ...TEST_DATABASE, ...LOCAL_CLOUD, tasks, schedules }, trace);
}

/** `tasks` with `environment` added to the task definition of `name` (what its containers get). */
export function withTaskEnvironment(
  tasks: readonly LocalTask[],
  name: string,
  environment: Readonly<Record<string, string>>,
): LocalTask[] {
  return tasks.map((task) =>
    task.manifest.name === name
      ? {
          ...task,
          manifest: { ...task.manifest, environment: { ...task.manifest.environment, ...environment } },
        }
      : task,
  );
}

/**
 * A users CSV of `rows` rows whose ids and emails start with `tag` (unique to a test's run and upload),
 * under `header`: a header without the required columns makes an import that fails.
 */
export function usersCsv(tag: string, rows: number, header = 'external_id,email,name'): string {
  const lines = [header];
  for (let i = 1; i <= rows; i++) lines.push(`${tag}-${i},${tag}-${i}@example.com,User ${i}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The .eml files in `outboxDir` to `to` whose subject is `subject`, quoted-printable soft line
 * breaks and ASCII escapes decoded (the bodies here are ASCII).
 */
export function decodedMails(outboxDir: string, to: string, subject: string): string[] {
  return readdirSync(outboxDir)
    .filter((file) => file.endsWith('.eml'))
    .map((file) =>
      readFileSync(join(outboxDir, file), 'utf8')
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    )
    .filter((mail) => mail.includes(`To: ${to}`) && mail.includes(`Subject: ${subject}`));
}

/** What a script run printed: each stream, and both in the order they arrived. */
export interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly output: string;
}

/** Runs a script of the repository as a person would, without blocking this process's event loop. */
export function runScript(...args: string[]): Promise<ScriptRun> {
  return runScriptWith({}, ...args);
}

/**
 * The `sidestep` CLI's `--database-url` for the database at `url`, and the `PGPASSWORD` that carries
 * its password: the CLI refuses a password on its command line, where any local user reads it.
 */
export function cliDatabase(url: string | undefined): {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
} {
  const parsed = new URL(url ?? '');
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return { args: ['--database-url', parsed.toString()], env: password ? { PGPASSWORD: password } : {} };
}

/** The operator's CLI, as a person runs it: its real bin, run by the workspace's Node. */
export const SIDESTEP_BIN = join(rootDir, 'packages', 'cli', 'bin', 'sidestep.ts');

/** Runs `sidestep <args>` against `cloud`: its endpoint and its database (the password in PGPASSWORD). */
export function runSidestep(
  cloud: Pick<LocalCloud, 'endpoint' | 'databaseUrl'>,
  ...args: string[]
): Promise<ScriptRun> {
  const database = cliDatabase(cloud.databaseUrl);
  return runScriptWith(database.env, SIDESTEP_BIN, ...args, '--endpoint', cloud.endpoint, ...database.args);
}

/** {@link runScript} with these variables set in (or, when `undefined`, removed from) its environment. */
export function runScriptWith(
  variables: Readonly<Record<string, string | undefined>>,
  ...args: string[]
): Promise<ScriptRun> {
  const child = spawn(process.execPath, args, {
    cwd: rootDir,
    env: { ...process.env, FORCE_COLOR: '0', ...COMPILE_CACHE_ENV, ...variables },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    output += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr, output })));
}

/**
 * Waits, through the Step Functions API only, until there are `count` (or more) executions of
 * `stateMachineArn` whose input (JSON text) `matches`, all ended, and returns them. Each round lists
 * the executions (ListExecutions gives their status, not their input) and describes only an execution
 * it has not described in the state the list now gives (its status and redrive count): describing
 * every execution every round passed DescribeExecution's quota (a bucket of 300 refilled at 15 a
 * second, which the local cloud enforces as AWS does) with 20 imports at once, and the SDK's retries
 * then gave up with ThrottlingException.
 */
export async function endedExecutions(
  sfn: SFNClient,
  stateMachineArn: string,
  matches: (input: string) => boolean,
  { count = 1, timeoutMs = 60_000 }: { readonly count?: number; readonly timeoutMs?: number } = {},
): Promise<DescribeExecutionCommandOutput[]> {
  const deadline = Date.now() + timeoutMs;
  const described = new Map<string, DescribeExecutionCommandOutput>();
  for (;;) {
    const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
    await Promise.all(
      executions.map(async ({ executionArn, status, redriveCount }) => {
        const known = executionArn === undefined ? undefined : described.get(executionArn);
        if (known && known.status === status && (known.redriveCount ?? 0) === (redriveCount ?? 0)) return;
        described.set(executionArn as string, await sfn.send(new DescribeExecutionCommand({ executionArn })));
      }),
    );
    const matching = executions.flatMap(({ executionArn }) => {
      const execution = described.get(executionArn as string);
      return execution && matches(execution.input ?? '{}') ? [execution] : [];
    });
    const ended = matching.filter((execution) => execution.status !== 'RUNNING');
    if (matching.length >= count && ended.length === matching.length) return ended;
    if (Date.now() > deadline) {
      throw new Error(
        `executions of ${stateMachineArn} did not end in time: ${JSON.stringify(matching.map((e) => e.status))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * How many mails to `to` each of `subjects` arrived as, counted once each has arrived and the mail
 * queue is empty: every execution queues its mail before it ends, so a wrong second copy of any has
 * arrived by then too.
 */
export async function mailsBySubject(
  path: Pick<PathCloud, 'cloud' | 'collecting' | 'sqs'>,
  to: string,
  subjects: readonly string[],
): Promise<{ subject: string; mails: number }[]> {
  for (const subject of subjects) {
    await path.collecting.waitFor('mail-delivered', (event) => event.subject === subject, 60_000);
  }
  await queueDrained(path.sqs, path.cloud.queueUrl('mail'));
  return subjects.map((subject) => ({
    subject,
    mails: decodedMails(path.cloud.outboxDir, to, subject).length,
  }));
}

/**
 * Waits until `queueUrl` holds no message, none visible, in flight or delayed: nothing is left that
 * could be delivered (again). A test that counts deliveries after this counts all there will be of
 * what was sent before it; a copy still queued or not yet deleted keeps the wait going.
 */
export async function queueDrained(sqs: SQSClient, queueUrl: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const held = Object.values(Attributes).reduce((sum, count) => sum + Number(count), 0);
    if (held === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${queueUrl} still holds ${held} messages after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The names of the states the execution entered, in order, from its history. */
export async function statesVisited(sfn: SFNClient, executionArn: string | undefined): Promise<string[]> {
  const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return events.flatMap((event) => event.stateEnteredEventDetails?.name ?? []);
}

/**
 * Uploads an import of `count` users (`<prefix><n>`, `external_id,email,name`) to the local imports
 * bucket at `key`: 300k rows keep the import running for seconds. A test that must act on it mid-way
 * holds it too ({@link holdImportUntilAborted}): on a loaded machine seconds can pass before the act lands.
 */
export async function putLargeImport(
  s3: S3Client,
  key: string,
  prefix: string,
  count = 300_000,
): Promise<void> {
  const rows = Array.from({ length: count }, (_, n) => `${prefix}${n},${prefix}${n}@example.com,User ${n}`);
  await s3.send(
    new PutObjectCommand({
      Bucket: 'sidestep-local-imports',
      Key: key,
      Body: `external_id,email,name\n${rows.join('\n')}\n`,
      ContentType: 'text/csv',
    }),
  );
}

/**
 * Freezes the import task of `execution` (SIGSTOP) once it logged `import started` for `jobId` (its
 * SIGTERM handler is in place by then), and continues it (SIGCONT) once the execution ended ABORTED:
 * frozen, the import cannot finish before an operator's stop reaches it, however loaded the machine,
 * and the SIGTERM Step Functions' stop sent meanwhile is delivered when it continues. Resolves with
 * the task once it is frozen; `continued` settles once it runs again.
 */
export async function holdImportUntilAborted(
  collecting: CollectingReporter,
  execution: string,
  jobId: string,
): Promise<{ readonly taskArn: string; readonly continued: Promise<void> }> {
  const task = await collecting.waitFor('task-started', (event) => event.execution === execution, 60_000);
  const { pid } = task;
  if (pid === undefined) throw new Error(`task ${task.taskArn} reported no process id`);
  await collecting.waitFor(
    'log',
    (event) =>
      event.service === 'batch-worker' &&
      event.line.includes('"message":"import started"') &&
      event.line.includes(jobId),
    60_000,
  );
  process.kill(pid, 'SIGSTOP');
  const continued = collecting
    .waitFor(
      'execution-finished',
      (event) => event.execution === execution && event.status === 'ABORTED',
      60_000,
    )
    .finally(() => process.kill(pid, 'SIGCONT'))
    .then(() => {});
  return { taskArn: task.taskArn, continued };
}

/** The import job the ledger registered for the object at `key`, if any yet. */
export async function jobBySourceKey(
  db: Database,
  key: string,
): Promise<{ id: string; state: string } | undefined> {
  return (
    await db.query<{ id: string; state: string }>('SELECT id, state FROM jobs WHERE source_key = $1', [key])
  ).rows[0];
}

/** Waits until `predicate` holds, checking every `intervalMs`; throws after `timeoutMs`. */
export async function settle(
  predicate: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the local cloud');
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Interrupts a running task as Fargate Spot reclaims one (`LocalCloud.interruptTask`) while it is
 * frozen (SIGSTOP): the SIGTERM is delivered when it continues, where it was frozen, however fast or
 * loaded the machine. Resolves with the task's `task-stopped` event.
 */
export async function reclaimAsSpot(
  cloud: LocalCloud,
  collecting: CollectingReporter,
  task: { readonly taskArn: string; readonly pid?: number },
) {
  const { pid } = task;
  if (pid === undefined) throw new Error(`task ${task.taskArn} reported no process id`);
  process.kill(pid, 'SIGSTOP');
  const interrupted = cloud.interruptTask(task.taskArn);
  process.kill(pid, 'SIGCONT');
  if (!(await interrupted)) throw new Error(`task ${task.taskArn} was not running`);
  return collecting.waitFor('task-stopped', (event) => event.taskArn === task.taskArn);
}
