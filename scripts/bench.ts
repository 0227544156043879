/**
 * `pnpm bench`: per Lambda service, the JavaScript a cold start loads and all the image holds, a
 * fresh `node` importing the image's files (its compile cache included) against bare `node -e 0`,
 * the cold start through the image path (the Dockerfile's exact files, read-only, its ENV, through
 * the Lambda Runtime API) against a bare handler on the same path, a first invocation doing one valid
 * job with the bench's local configuration and with the function's environment as infra synthesizes
 * it (AWS endpoints on loopback stand-ins: "as deployed"), and the runtime's warm per-invocation
 * overhead against a bare handler, all measured in the same run on the same machine,
 * each interleaved with its baseline. Prints the report; `--write` also replaces the committed
 * bench/results.json and bench/RESULTS.md (a run on another machine should not silently overwrite them);
 * `--render` rewrites bench/RESULTS.md from bench/results.json without measuring.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { bundleService } from '@sidestep/bundle';
import { createPostgresSchema } from '@sidestep/db';
import { startFunction } from '@sidestep/lambda-runtime';
import {
  STEP_FUNCTIONS_TARGET_PREFIX,
  startAwsEndpoint,
  startLocalDatabase,
  startSmtpSink,
  toSqsEvent,
} from '@sidestep/local-cloud';
import { resourceName } from '@sidestep/manifest';
import { SERVICES } from '@sidestep/registry';
import { SecretsManagerDouble } from '@sidestep/runtime/testing';
import { type CliStartResult, cliStartSection, measureCliStart } from './src/bench/cli-start.ts';
import {
  awsRegion,
  DEPLOYED_ENVIRONMENT,
  deployedStack,
  type LoopbackEndpoints,
  lambdaEnvironment,
  loopbackEndpointEnvironment,
  type SynthesizedStack,
  synthesizedFunctionEnvironment,
} from './src/bench/deployed-environment.ts';
import { type FirstInvocationSample, firstInvocationOnce } from './src/bench/first-invocation.ts';
import { firstJob } from './src/bench/first-jobs.ts';
import { type ImageTaskRoot, imageTaskRoot } from './src/bench/image-files.ts';
import {
  bareNodeSpawnMs,
  builtinsFloorSource,
  bytesOf,
  importSpawnOnceMs,
  interleaved,
  LAMBDA_NODE_FLAGS,
  loadAverage,
  loadedFiles,
  machine,
  median,
  type NodeBuiltins,
  round,
  spawnCpuOnceMs,
} from './src/bench/measure.ts';
import { Sesv2Double } from './src/bench/sesv2-double.ts';

const rootDir = join(import.meta.dirname, '..');
const COLD_RUNS = 15;
/** Rounds of the first-invocation measure (bare node, local, as deployed): each spawn waits for a job. */
const FIRST_INVOCATION_RUNS = 11;
const WARM_INVOCATIONS = 400;
// Below ~1,000 invocations V8 is still compiling the runtime's code (zod, Powertools) to its upper tiers,
// so a short warm-up measures the JIT, not the steady state of a warm function.
const WARM_UP_INVOCATIONS = 1500;
const TARGETS = { bundleKiB: 400, importAboveNodeMs: 40, warmOverheadRatio: 1.1 };

const environment = {
  MAIL_FROM: 'no-reply@bench.mail.example.com',
  MAIL_TRANSPORT: 'smtp',
  SMTP_URL: 'smtp://127.0.0.1:9',
  DATABASE_URL: 'postgres://bench@127.0.0.1:9/bench',
  DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:9/000000000000/bench-dlq',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_LOG_LEVEL: 'WARN',
  // What the other services read at cold start (values never reached: no request leaves the process).
  EXPORTS_BUCKET: 'sidestep-bench-exports',
  IMPORTS_BUCKET: 'sidestep-bench-imports',
  DOWNLOAD_BASE_URL: 'http://127.0.0.1:9/download',
  DOWNLOAD_SIGNING_KEY: 'bench-signing-key-bench-signing-key-0123456789',
  MAIL_QUEUE_URL: 'http://127.0.0.1:9/000000000000/bench-mail',
  NOTIFY_ADDRESS: 'ops@bench.mail.example.com',
  WORKFLOW_STATE_MACHINE_ARNS: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
};

function sqsEvent(records: number) {
  const body = JSON.stringify({
    type: 'mail.send',
    version: 1,
    id: 'bench',
    payload: { template: 'export.failed', to: 'bench@example.com', params: { jobId: 'b', reason: 'bench' } },
  });
  const messages = Array.from({ length: records }, (_, index) => ({
    MessageId: `m-${index}`,
    ReceiptHandle: `r-${index}`,
    Body: body,
  }));
  return toSqsEvent(messages, { arn: 'arn:aws:sqs:us-east-1:000000000000:bench', region: 'us-east-1' });
}

/**
 * Spawn to first response of an empty batch through the Runtime API, read-only task root, once. The
 * empty batch is not every service's event: a handler's own error (a validation error, say) is still a
 * first response through the contract. Only a failed init (Runtime.*) is not.
 */
async function coldStartOnceMs(
  bundleDir: string,
  handler: string,
  extraEnvironment: Record<string, string>,
): Promise<number> {
  const started = performance.now();
  const fn = await startFunction({
    name: 'bench',
    bundleDir,
    handler,
    environment: { ...environment, ...extraEnvironment },
    readOnly: true,
    prewarm: false,
    onLog: () => {},
  });
  const result = await fn.invoke({ Records: [] });
  const elapsed = performance.now() - started;
  await fn.close();
  if (!result.ok && result.error.errorType.startsWith('Runtime.')) {
    throw new Error(
      `cold start of ${handler} failed: ${result.error.errorType}: ${result.error.errorMessage}`,
    );
  }
  return elapsed;
}

/**
 * Per-invocation wall times of warm functions handling a 10-record batch, interleaved: all are
 * started and warmed up, then invoked in turn, one invocation each per round ({@link interleaved}),
 * so a change in the machine's load falls on all alike. Blocks measured one after the other (400 of
 * the bare handler, then 400 of the runtime's) moved the ratio from 1.09x to 1.52x between two runs
 * of the same code on 2026-12-04.
 */
async function warmInvocationMs(bundleDirs: readonly string[]): Promise<number[][]> {
  const functions = await Promise.all(
    bundleDirs.map((bundleDir) =>
      startFunction({ name: 'bench', bundleDir, handler: 'index.handler', environment, onLog: () => {} }),
    ),
  );
  const event = sqsEvent(10);
  try {
    for (const fn of functions) {
      for (let i = 0; i < WARM_UP_INVOCATIONS; i += 1) await fn.invoke(event); // warm-up: steady state (JIT tiers)
    }
    return await interleaved(
      WARM_INVOCATIONS,
      functions.map((fn) => async () => {
        const result = await fn.invoke(event);
        if (!result.ok) throw new Error(`warm invoke failed: ${result.error.errorMessage}`);
        return result.durationMs;
      }),
    );
  } finally {
    await Promise.all(functions.map((fn) => fn.close()));
  }
}

/**
 * CPU time (µs) per warm invocation of the 10-record batch when a plain `node` imports the bundle and
 * calls its handler in a loop, no Runtime API around it: the handler's own work, which the busy
 * machine's load moves less than the wall times through the Runtime API. Log and EMF lines go to
 * /dev/null.
 */
function warmCpuPerInvocationUs(bundleDir: string): number {
  const script = `
    const { handler } = await import(${JSON.stringify(join(bundleDir, 'index.mjs'))});
    const event = ${JSON.stringify(sqsEvent(10))};
    const context = { functionName: 'bench', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench', memoryLimitInMB: '1024', awsRequestId: 'bench', logGroupName: 'bench', logStreamName: 'bench', getRemainingTimeInMillis: () => 3000, callbackWaitsForEmptyEventLoop: true };
    for (let i = 0; i < ${WARM_UP_INVOCATIONS}; i += 1) await handler(event, context);
    const before = process.cpuUsage();
    for (let i = 0; i < ${WARM_INVOCATIONS * 5}; i += 1) await handler(event, context);
    const used = process.cpuUsage(before);
    process.stderr.write(String((used.user + used.system) / ${WARM_INVOCATIONS * 5}));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...environment },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (result.status !== 0) throw new Error(`warm loop in ${bundleDir} failed: ${result.stderr.toString()}`);
  return Number(result.stderr.toString());
}

/** One service's results. */
interface ServiceResult {
  service: string;
  bundle: {
    /** JavaScript a cold start loads (index.mjs and the chunks its evaluation imports). */
    loadedKiB: number;
    loadedFiles: number;
    /** Every JavaScript file the image holds (lazily loaded chunks included). */
    imageKiB: number;
    imageFiles: number;
  };
  /** KiB per npm package (or sidestep source) of what a cold start loads, largest first. */
  composition: Array<{ from: string; kib: number }>;
  /**
   * Fresh plain `node` importing the bundle (the package's dist/index.mjs: the image's files but its
   * compile cache), against `node -e 0`, interleaved: the issue's measure.
   */
  import: {
    bareNodeMs: number;
    importMs: number;
    aboveNodeMs: number;
    /** CPU time of the importing `node` above that of `node -e 0` (robust to a busy machine). */
    cpuAboveNodeMs: number;
    /**
     * The same with `NODE_OPTIONS=--enable-source-maps`, as the images ran until 2026-12-04 (Node
     * reading and parsing every module's map as it loads); absent from runs before that.
     */
    cpuAboveNodeWithNodeSourceMapsMs?: number;
    /**
     * The compile-cache loader's own CPU: `dist/index.mjs` (the loader, finding no cache, then the
     * handler) against `dist/handler.mjs` imported directly, the median of the rounds' differences.
     * Absent from runs before 2026-12-06 02:50.
     */
    loaderCpuMs?: number;
    /**
     * Node's own modules the import loads ({@link NodeBuiltins}), loaded alone by a plain `node`
     * importing a module of only them ({@link builtinsFloorSource}), against `node -e 0`: the floor
     * under the import that no bundle of the same first invocation goes below. Absent from runs
     * before 2026-12-07.
     */
    builtinsFloor?: NodeBuiltins & { aboveNodeMs: number; cpuAboveNodeMs: number };
  };
  /**
   * The same import with `node` run as the Lambda bootstrap runs it (`--expose-gc`, which makes V8
   * refuse Node's own embedded code cache), against `node --expose-gc -e 0`: the image's files with the
   * compile cache the image ships, and the same files without it. Absent from runs before 2026-12-06.
   */
  asBootstrap?: {
    bareNodeMs: number;
    withCacheMs: number;
    withCacheAboveNodeMs: number;
    withoutCacheMs: number;
    withoutCacheAboveNodeMs: number;
    cpuWithCacheAboveNodeMs: number;
    cpuWithoutCacheAboveNodeMs: number;
  };
  /**
   * A fresh `node` importing the image's index.mjs and handing its handler one valid job, with the
   * bench's local configuration and with the function's environment as infra synthesizes it (AWS
   * endpoints on loopback stand-ins), interleaved with a bare `node`; absent from runs before
   * 2026-12-05.
   */
  firstInvocation?: FirstInvocationResult;
  /** Spawn to first response through the Runtime API from the image's files, read-only, image ENV. */
  image: {
    files: string[];
    environment: Record<string, string>;
    leftOut: Record<string, string>;
    coldStartMs: number;
    bareHandlerColdStartMs: number;
    aboveBareHandlerMs: number;
  };
}

/** One configuration's first invocation: what it loaded, and medians above the bare `node`'s marks. */
interface FirstInvocationMeasure {
  /** JavaScript loaded by the end of the import. */
  importLoadedKiB: number;
  importLoadedFiles: number;
  /** JavaScript loaded by the end of the first invocation (chunks the job imports included). */
  loadedKiB: number;
  loadedFiles: number;
  /** Process start to the end of the import, above the bare `node`'s start to its script. */
  importAboveNodeMs: number;
  importCpuAboveNodeMs: number;
  /** Process start to the end of the first invocation, above the bare `node`'s. */
  invokedAboveNodeMs: number;
  cpuAboveNodeMs: number;
  /** Spawn to the end of the first invocation as the bench sees it, above the bare `node`'s spawn to its report. */
  spawnAboveNodeMs: number;
}

interface FirstInvocationResult {
  /** The job the first invocation does. */
  job: string;
  /** Where its database was: a PostgreSQL server (TEST_DATABASE_URL) or the embedded one. */
  database: string;
  /** The bare `node` running the same script without a bundle: spawn to report, start to script, CPU. */
  bareNode: { spawnMs: number; startToScriptMs: number; cpuMs: number };
  local: FirstInvocationMeasure;
  deployed: FirstInvocationMeasure & {
    /** The variables the synthesized stack gives the function, resolved to loopback stand-ins. */
    fromStack: Record<string, string>;
  };
  /** KiB per package of the files the deployed first invocation loads and the local one does not. */
  extra: Array<{ from: string; kib: number }>;
  /** Node built-ins the deployed first invocation loads and the local one does not. */
  extraBuiltins: string[];
  /** What the stand-ins answered during one deployed first invocation. */
  requests: string[];
}

interface Results {
  measuredAt: string;
  machine: Record<string, string | number>;
  loadAverage: { start: number; end: number };
  targets: typeof TARGETS;
  runs: number;
  services: ServiceResult[];
  warm: {
    batchSize: number;
    invocations: number;
    bareHandlerMs: number;
    runtimeHandlerMs: number;
    runtimeBundleKiB: number;
    ratio: number;
    /**
     * The library floor: Powertools' documented SQS batch handler with the same Logger and Metrics
     * work and nothing of sidestep's (scripts/src/bench/fixtures/powertools-handler.ts), measured in
     * the same interleaved rounds. Absent from runs before 2026-12-07 08:30.
     */
    powertoolsHandlerMs?: number;
    powertoolsRatio?: number;
    /** CPU µs per invocation, handler called in a loop in one process (median of the runs). */
    inProcessCpuUs: { bareHandler: number; runtimeHandler: number; powertoolsHandler?: number };
  };
  /** The operator CLI's start (runs before 2026-12-06 did not measure it). */
  cli?: CliStartResult;
}

/** A copy of `dir`'s files (read-only) in a new directory: the bare handler's "image". */
function readOnlyCopy(dir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'sidestep-bench-bare-'));
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.mjs'))) {
    copyFileSync(join(dir, file), join(copy, file));
    chmodSync(join(copy, file), 0o444);
  }
  return copy;
}

async function measureService(
  entry: (typeof SERVICES)[number],
  root: ImageTaskRoot,
  bareDir: string,
): Promise<ServiceResult> {
  const packageDir = join(rootDir, entry.packageDir);
  // The image's index.mjs reads the compile cache its Dockerfile's build step wrote, in a `node` with
  // the Lambda bootstrap's flags (as on Lambda); the package's dist/ holds the same files without it.
  const index = join(root.dir, 'index.mjs');
  const uncached = join(packageDir, 'dist', 'index.mjs');
  const loaded = loadedFiles(index, environment);
  // Node's own modules the measured import (dist/, no compile cache: no node:v8 to read one) loads,
  // loaded alone by a module of their own: the floor under it.
  const { builtins } = loadedFiles(uncached, environment);
  const floorDir = mkdtempSync(join(tmpdir(), 'sidestep-bench-floor-'));
  temporary.push(floorDir);
  const floor = join(floorDir, 'builtins.mjs');
  writeFileSync(floor, builtinsFloorSource(builtins));
  const imageEnvironment = root.environment;
  const withSourceMaps = { ...environment, NODE_OPTIONS: '--enable-source-maps' };
  const lambda = LAMBDA_NODE_FLAGS;
  const [
    node,
    imported,
    bootstrapNode,
    bootstrapCached,
    bootstrapUncached,
    bareCold,
    cold,
    nodeCpu,
    importCpu,
    handlerCpu,
    importCpuWithNodeSourceMaps,
    bootstrapNodeCpu,
    bootstrapCachedCpu,
    bootstrapUncachedCpu,
    floorImported,
    floorCpu,
  ] = await interleaved(COLD_RUNS, [
    () => bareNodeSpawnMs(1)[0] as number,
    () => importSpawnOnceMs(uncached, environment),
    () => bareNodeSpawnMs(1, lambda)[0] as number,
    () => importSpawnOnceMs(index, environment, lambda),
    () => importSpawnOnceMs(uncached, environment, lambda),
    () => coldStartOnceMs(bareDir, 'index.handler', imageEnvironment),
    () => coldStartOnceMs(root.dir, entry.manifest.handler, imageEnvironment),
    () => spawnCpuOnceMs(undefined, environment),
    () => spawnCpuOnceMs(uncached, environment),
    () => spawnCpuOnceMs(join(packageDir, 'dist', 'handler.mjs'), environment),
    () => spawnCpuOnceMs(uncached, withSourceMaps),
    () => spawnCpuOnceMs(undefined, environment, lambda),
    () => spawnCpuOnceMs(index, environment, lambda),
    () => spawnCpuOnceMs(uncached, environment, lambda),
    () => importSpawnOnceMs(floor, environment),
    () => spawnCpuOnceMs(floor, environment),
  ]);
  const m = (samples: number[] | undefined) => median(samples ?? []);
  return {
    service: entry.manifest.name,
    bundle: {
      loadedKiB: kib(loaded.bytes),
      loadedFiles: loaded.files.length,
      imageKiB: kib(root.javascriptBytes),
      imageFiles: root.files.filter((file) => file.endsWith('.mjs')).length,
    },
    composition: composition(join(packageDir, 'dist', 'meta.json'), loaded.files),
    import: {
      bareNodeMs: round(m(node)),
      importMs: round(m(imported)),
      aboveNodeMs: round(m(imported) - m(node)),
      cpuAboveNodeMs: round(m(importCpu) - m(nodeCpu)),
      cpuAboveNodeWithNodeSourceMapsMs: round(m(importCpuWithNodeSourceMaps) - m(nodeCpu)),
      // Per round, the two imports one right after the other: the loader's ~1 ms is below what
      // either median moves between runs.
      loaderCpuMs: round(median((importCpu ?? []).map((cpu, index) => cpu - (handlerCpu?.[index] ?? cpu)))),
      builtinsFloor: {
        ...builtins,
        aboveNodeMs: round(m(floorImported) - m(node)),
        cpuAboveNodeMs: round(m(floorCpu) - m(nodeCpu)),
      },
    },
    asBootstrap: {
      bareNodeMs: round(m(bootstrapNode)),
      withCacheMs: round(m(bootstrapCached)),
      withCacheAboveNodeMs: round(m(bootstrapCached) - m(bootstrapNode)),
      withoutCacheMs: round(m(bootstrapUncached)),
      withoutCacheAboveNodeMs: round(m(bootstrapUncached) - m(bootstrapNode)),
      cpuWithCacheAboveNodeMs: round(m(bootstrapCachedCpu) - m(bootstrapNodeCpu)),
      cpuWithoutCacheAboveNodeMs: round(m(bootstrapUncachedCpu) - m(bootstrapNodeCpu)),
    },
    image: {
      files: [...root.files],
      environment: imageEnvironment,
      leftOut: root.leftOut,
      coldStartMs: round(m(cold)),
      bareHandlerColdStartMs: round(m(bareCold)),
      aboveBareHandlerMs: round(m(cold) - m(bareCold)),
    },
  };
}

/** The loopback stand-ins a first invocation talks to, in either configuration. */
interface StandIns {
  readonly endpoints: LoopbackEndpoints;
  readonly secrets: SecretsManagerDouble;
  readonly ses: Sesv2Double;
  readonly smtpUrl: string;
  readonly awsUrl: string;
  readonly s3: S3Client;
  readonly database: { url: string; clientEnvironment: Record<string, string>; description: string };
  close(): Promise<void>;
}

/**
 * Secrets Manager and SES v2 doubles, the local cloud's S3 and SQS endpoint and SMTP sink, and a
 * migrated database: a schema of its own on the PostgreSQL of TEST_DATABASE_URL when given (dropped
 * at the end), else the embedded PostgreSQL (PGlite over the wire) the image tests use.
 */
async function startStandIns(): Promise<StandIns> {
  const stack = new AsyncDisposableStack();
  try {
    const aws = await startAwsEndpoint({ port: 0 });
    stack.defer(() => aws.stop());
    // Step Functions for the job-sweeper's scheduled sweep, which lists the workflows' ended
    // executions: none has ended (ListExecutions answered with none).
    aws.serveJsonApi(STEP_FUNCTIONS_TARGET_PREFIX, async (operation) => {
      if (operation !== 'ListExecutions')
        throw new Error(`the bench answers ListExecutions only, not ${operation}`);
      return { executions: [] };
    });
    const secrets = await new SecretsManagerDouble().start();
    stack.defer(() => secrets.stop());
    const ses = await new Sesv2Double().start();
    stack.defer(() => ses.stop());
    const outboxDir = mkdtempSync(join(tmpdir(), 'sidestep-bench-outbox-'));
    temporary.push(outboxDir);
    const smtp = await startSmtpSink({ outboxDir, port: 0 });
    stack.defer(() => smtp.stop());
    const s3 = new S3Client({
      endpoint: aws.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    stack.defer(() => s3.destroy());
    // The local cloud's own database: a server's schema, migrated, or the embedded one.
    const serverUrl = process.env.TEST_DATABASE_URL;
    const schema = serverUrl ? await createPostgresSchema(serverUrl, 'bench') : undefined;
    if (schema) stack.defer(() => schema.drop());
    const local = await startLocalDatabase(schema ? { url: schema.url } : {});
    stack.defer(() => local.close());
    const database: StandIns['database'] = {
      url: local.url,
      clientEnvironment: { ...local.clientEnvironment },
      description: schema
        ? 'PostgreSQL (TEST_DATABASE_URL, a schema of its own)'
        : 'the embedded PostgreSQL (PGlite over the wire; TEST_DATABASE_URL not set)',
    };
    const moved = stack.move();
    return {
      endpoints: {
        secretsManager: secrets.endpoint,
        sesv2: ses.endpoint,
        s3: aws.url,
        sqs: aws.url,
        stepFunctions: aws.url,
      },
      secrets,
      ses,
      smtpUrl: smtp.url,
      awsUrl: aws.url,
      s3,
      database,
      close: () => moved.disposeAsync(),
    };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

/** A value with the stand-ins' ports left out, as results.json keeps it (they change every run). */
function withoutPorts(value: string): string {
  return value.replaceAll(/http:\/\/127\.0\.0\.1:\d+/g, 'http://127.0.0.1:<port>');
}

/**
 * One service's first invocation, the local configuration against the deployed one, interleaved with
 * a bare `node` running the same script. The deployed environment is the synthesized stack's for the
 * function (`synthesizedFunctionEnvironment`), the local one the bench's `environment`, both with
 * what Lambda itself sets; each round does a fresh job (a new id), checked to be done.
 */
async function measureFirstInvocation(
  entry: (typeof SERVICES)[number],
  root: ImageTaskRoot,
  stack: SynthesizedStack,
  standIns: StandIns,
): Promise<FirstInvocationResult> {
  const name = entry.manifest.name;
  const functionName = resourceName(DEPLOYED_ENVIRONMENT, name);
  const [module = 'index', exportName = 'handler'] = entry.manifest.handler.split('.');
  const file = join(root.dir, `${module}.mjs`);
  const job = firstJob(name);
  const lambda = lambdaEnvironment({
    functionName,
    memoryMb: entry.manifest.memoryMb,
    handler: entry.manifest.handler,
    taskRoot: root.dir,
    region: awsRegion(stack),
  });
  const fromStack = synthesizedFunctionEnvironment(stack, functionName, standIns.endpoints);
  const exportsBucket = fromStack.EXPORTS_BUCKET ?? 'sidestep-local-exports';
  await standIns.s3.send(new CreateBucketCommand({ Bucket: exportsBucket })).catch((error: Error) => {
    if (error.name !== 'BucketAlreadyOwnedByYou') throw error;
  });
  // Every secret the function is given: the database's holds its URL, any other a signing key.
  for (const [variable, value] of Object.entries(fromStack)) {
    if (!value.startsWith('arn:aws:secretsmanager:')) continue;
    standIns.secrets.put(value, variable === 'DATABASE_SECRET_ARN' ? standIns.database.url : 'k'.repeat(48));
  }
  const deployedEnvironment = {
    ...lambda,
    ...fromStack,
    ...loopbackEndpointEnvironment(standIns.endpoints),
    ...standIns.database.clientEnvironment,
  };
  const localEnvironment = {
    ...environment,
    ...lambda,
    DATABASE_URL: standIns.database.url,
    SMTP_URL: standIns.smtpUrl,
    AWS_ENDPOINT_URL: standIns.awsUrl,
    AWS_S3_FORCE_PATH_STYLE: 'true',
    EXPORTS_BUCKET: exportsBucket,
    ...standIns.database.clientEnvironment,
  };
  const usesSecret = Object.values(fromStack).some((value) => value.startsWith('arn:aws:secretsmanager:'));
  const sendsWithSes = fromStack.MAIL_TRANSPORT === 'ses';
  let sequence = 0;
  let requests: string[] = [];
  const run = async (
    configuration: 'local' | 'deployed',
    listModules = false,
  ): Promise<FirstInvocationSample> => {
    sequence += 1;
    const event = await job.event({
      id: `bench-${configuration}-${sequence}-${process.pid}`,
      s3: standIns.s3,
      exportsBucket,
    });
    const secretsBefore = standIns.secrets.requests.length;
    const sesBefore = standIns.ses.sent.length;
    const sample = await firstInvocationOnce(
      { file, exportName, event },
      configuration === 'local' ? localEnvironment : deployedEnvironment,
      { listModules },
    );
    const failed = sample.outcome.ok ? job.failure(sample.outcome.result) : sample.outcome.error;
    if (failed !== undefined)
      throw new Error(`${name} (${configuration}): the first job was not done: ${failed}`);
    if (configuration === 'deployed') {
      const fetched = standIns.secrets.requests.slice(secretsBefore);
      const sent = standIns.ses.sent.slice(sesBefore);
      if (usesSecret && fetched.length === 0) throw new Error(`${name} (deployed): no secret was fetched`);
      if (sendsWithSes && sent.length === 0) throw new Error(`${name} (deployed): no mail reached SES`);
      requests = [
        ...fetched.map((request) => `Secrets Manager GetSecretValue ${request}`),
        ...sent.map(() => 'SES v2 SendEmail (raw)'),
      ];
    }
    return sample;
  };
  const localListed = await run('local', true);
  const deployedListed = await run('deployed', true);
  const [bare, local, deployed] = await interleaved(FIRST_INVOCATION_RUNS, [
    () => firstInvocationOnce(undefined, localEnvironment),
    () => run('local'),
    () => run('deployed'),
  ]);
  const m = (samples: FirstInvocationSample[] | undefined, mark: (s: FirstInvocationSample) => number) =>
    median((samples ?? []).map(mark));
  const bareSpawn = m(bare, (x) => x.wallMs);
  const bareStart = m(bare, (x) => x.invokedMs);
  const bareCpu = m(bare, (x) => x.invokedCpuMs);
  const measure = (listed: FirstInvocationSample, samples: FirstInvocationSample[] | undefined) => ({
    importLoadedKiB: kib(bytesOf(listed.importedFiles)),
    importLoadedFiles: listed.importedFiles.length,
    loadedKiB: kib(bytesOf(listed.files)),
    loadedFiles: listed.files.length,
    importAboveNodeMs: round(m(samples, (x) => x.importedMs) - bareStart),
    importCpuAboveNodeMs: round(m(samples, (x) => x.importedCpuMs) - bareCpu),
    invokedAboveNodeMs: round(m(samples, (x) => x.invokedMs) - bareStart),
    cpuAboveNodeMs: round(m(samples, (x) => x.invokedCpuMs) - bareCpu),
    spawnAboveNodeMs: round(m(samples, (x) => x.wallMs) - bareSpawn),
  });
  const localFiles = new Set(localListed.files);
  const localBuiltins = new Set(localListed.builtins);
  return {
    job: job.description,
    database: standIns.database.description,
    bareNode: { spawnMs: round(bareSpawn), startToScriptMs: round(bareStart), cpuMs: round(bareCpu) },
    local: measure(localListed, local),
    deployed: {
      ...measure(deployedListed, deployed),
      fromStack: Object.fromEntries(Object.entries(fromStack).map(([k, v]) => [k, withoutPorts(v)])),
    },
    extra: composition(
      join(rootDir, entry.packageDir, 'dist', 'meta.json'),
      deployedListed.files.filter((path) => !localFiles.has(path)),
    ),
    extraBuiltins: deployedListed.builtins.filter((builtin) => !localBuiltins.has(builtin)),
    requests,
  };
}

/** Directories to remove at the end. */
const temporary: string[] = [];

async function main(): Promise<void> {
  if (process.argv.includes('--render')) {
    // Re-renders bench/RESULTS.md from the committed results.json, measuring nothing.
    const benchDir = join(rootDir, 'bench');
    const results = JSON.parse(readFileSync(join(benchDir, 'results.json'), 'utf8')) as Results;
    writeFileSync(join(benchDir, 'RESULTS.md'), report(results));
    return;
  }
  try {
    const loadAtStart = loadAverage();
    // The warm path's handlers: bare, the runtime's, and the library floor (Powertools alone).
    const fixture = (name: string) =>
      bundleService({
        packageDir: import.meta.dirname,
        entry: `src/bench/fixtures/${name}-handler.ts`,
        outdir: `dist/bench/${name}`,
      });
    const [, runtime] = await Promise.all([fixture('bare'), fixture('runtime'), fixture('powertools')]);
    const bareDir = readOnlyCopy(join(import.meta.dirname, 'dist', 'bench', 'bare'));
    temporary.push(bareDir);
    const runtimeDir = join(import.meta.dirname, 'dist', 'bench', 'runtime');
    const powertoolsDir = join(import.meta.dirname, 'dist', 'bench', 'powertools');

    // Each image's files, copied once: every measurement of a service runs from them.
    const roots = SERVICES.map((entry) => imageTaskRoot(join(rootDir, entry.packageDir)));
    temporary.push(...roots.map((root) => root.dir));
    const services: ServiceResult[] = [];
    for (const [index, entry] of SERVICES.entries()) {
      services.push(await measureService(entry, roots[index] as ImageTaskRoot, bareDir));
    }
    const stack = deployedStack();
    const standIns = await startStandIns();
    try {
      for (const [index, entry] of SERVICES.entries()) {
        const result = services[index];
        const root = roots[index] as ImageTaskRoot;
        if (result) result.firstInvocation = await measureFirstInvocation(entry, root, stack, standIns);
      }
    } finally {
      await standIns.close();
    }
    const [bareWarm = Number.NaN, runtimeWarm = Number.NaN, powertoolsWarm = Number.NaN] = (
      await warmInvocationMs([bareDir, runtimeDir, powertoolsDir])
    ).map(median);
    const [bareCpu, runtimeCpu, powertoolsCpu] = await interleaved(5, [
      () => warmCpuPerInvocationUs(bareDir),
      () => warmCpuPerInvocationUs(runtimeDir),
      () => warmCpuPerInvocationUs(powertoolsDir),
    ]);
    const cli = await measureCliStart(join(rootDir, 'packages', 'cli', 'bin', 'sidestep.ts'), COLD_RUNS);

    const results: Results = {
      measuredAt: new Date().toISOString(),
      machine: machine(),
      loadAverage: { start: loadAtStart, end: loadAverage() },
      targets: TARGETS,
      runs: COLD_RUNS,
      services,
      warm: {
        batchSize: 10,
        invocations: WARM_INVOCATIONS,
        bareHandlerMs: toMicros(bareWarm),
        runtimeHandlerMs: toMicros(runtimeWarm),
        runtimeBundleKiB: kib(runtime.bytes),
        ratio: Math.round((runtimeWarm / bareWarm) * 100) / 100,
        powertoolsHandlerMs: toMicros(powertoolsWarm),
        powertoolsRatio: Math.round((powertoolsWarm / bareWarm) * 100) / 100,
        inProcessCpuUs: {
          bareHandler: round(median(bareCpu ?? [])),
          runtimeHandler: round(median(runtimeCpu ?? [])),
          powertoolsHandler: round(median(powertoolsCpu ?? [])),
        },
      },
      cli,
    };
    process.stdout.write(report(results));
    const benchDir = join(rootDir, 'bench');
    if (process.argv.includes('--write')) {
      writeFileSync(join(benchDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      writeFileSync(join(benchDir, 'RESULTS.md'), report(results));
      process.stdout.write(
        `\nwritten to ${join('bench', 'results.json')} and ${join('bench', 'RESULTS.md')}\n`,
      );
    } else {
      process.stdout.write(
        '\nnot written (npm run bench -- --write replaces bench/RESULTS.md and results.json)\n',
      );
    }
  } finally {
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
    rmSync(join(import.meta.dirname, 'dist', 'bench'), { recursive: true, force: true });
  }
}

/**
 * KiB per npm package (or workspace source) of the files a cold start loads, largest first, from
 * esbuild's metafile (its outputs are `dist/<file>`).
 */
function composition(metafile: string, loaded: readonly string[]): Array<{ from: string; kib: number }> {
  const meta = JSON.parse(readFileSync(metafile, 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const names = new Set(loaded.map((file) => basename(file)));
  const bytes = new Map<string, number>();
  for (const [output, { inputs }] of Object.entries(meta.outputs)) {
    if (!names.has(basename(output))) continue;
    for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
      const inModules = input.lastIndexOf('node_modules/');
      const path = inModules >= 0 ? input.slice(inModules + 'node_modules/'.length) : 'sidestep source';
      const parts = path.split('/');
      const from =
        inModules < 0 ? path : path.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
      bytes.set(from, (bytes.get(from) ?? 0) + bytesInOutput);
    }
  }
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([from, size]) => ({ from, kib: kib(size) }));
}

function kib(bytes: number): number {
  return Math.round(bytes / 102.4) / 10;
}

/**
 * The warm path's library floor, when the run measured it: Powertools' own batch handler doing the
 * Logger and Metrics work sidestep's records get, and what @sidestep/runtime adds above it.
 */
function powertoolsFloorSentence(r: Results): string {
  const floor = powertoolsFloor(r);
  const cpu = r.warm.inProcessCpuUs.powertoolsHandler;
  if (!floor || cpu === undefined) return '';
  const { ms: powertoolsHandlerMs, ratio: powertoolsRatio } = floor;
  const t = r.targets;
  return ` The library floor, in the same rounds: the SQS batch handler Powertools documents (BatchProcessor, processPartialResponse) with the same Logger and Metrics work per record and nothing of sidestep's (no validation, claim check, dead-lettering or isolation; scripts/src/bench/fixtures/powertools-handler.ts) ${powertoolsHandlerMs} ms, ratio ${powertoolsRatio}x (${powertoolsRatio <= t.warmOverheadRatio ? 'within' : 'already above'} the ${t.warmOverheadRatio}x target), its CPU ${cpu} µs per invocation in the loop; @sidestep/runtime adds ${floor.runtimeAboveMs} ms through the Runtime API and ${round(r.warm.inProcessCpuUs.runtimeHandler - cpu)} µs of CPU above it.`;
}

/** The warm target's miss, when the library floor measured in the same run is above the target itself. */
function warmFloorMiss(r: Results): string[] {
  const floor = powertoolsFloor(r);
  if (!floor || floor.ratio <= r.targets.warmOverheadRatio) return [];
  const { ms: powertoolsHandlerMs, ratio: powertoolsRatio } = floor;
  return [
    `- **Warm overhead, the floor under it**: in this run the library floor alone (Powertools' documented SQS batch handler with the Logger and Metrics work per record, no code of sidestep's) is ${powertoolsRatio}x the bare handler (${powertoolsHandlerMs} ms against ${r.warm.bareHandlerMs} ms), above the ${r.targets.warmOverheadRatio}x target before sidestep adds anything; sidestep's own part (validation, claim check, dead-letter path, isolation) is ${floor.runtimeAboveMs} ms of the ${toMicros(r.warm.runtimeHandlerMs - r.warm.bareHandlerMs)} ms the runtime handler takes above the bare one. 1.1x here leaves ${Math.round(r.warm.bareHandlerMs * (r.targets.warmOverheadRatio - 1) * 1000)} µs for ${r.warm.batchSize} records; the libraries alone take ${Math.round((powertoolsHandlerMs - r.warm.bareHandlerMs) * 1000)} µs. Meeting it would mean giving up Powertools' batch processing, structured logging and EMF metrics, the field's libraries this project builds on, or the per-record log keys and duration metric operators read.`,
  ];
}

/** Milliseconds to the microsecond, as the warm results keep them. */
function toMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The floor's numbers the report says, when the run measured it: its ms, ratio, and the runtime's part above it. */
function powertoolsFloor(r: Results) {
  const { powertoolsHandlerMs, powertoolsRatio, runtimeHandlerMs } = r.warm;
  if (powertoolsHandlerMs === undefined || powertoolsRatio === undefined) return undefined;
  return {
    ms: powertoolsHandlerMs,
    ratio: powertoolsRatio,
    runtimeAboveMs: toMicros(runtimeHandlerMs - powertoolsHandlerMs),
  };
}

function verdict(ok: boolean): string {
  return ok ? 'meets target' : 'MISSES target';
}

function signed(ms: number): string {
  return ms >= 0 ? `+${ms}` : `${ms}`;
}

/**
 * What the compile-cache loader costs a cold start without a cache (its own CPU, `dist/index.mjs`
 * against `dist/handler.mjs`), per service; empty for runs before it was measured.
 */
function loaderSentence(r: Results): string {
  const measured = r.services.filter((s) => s.import.loaderCpuMs !== undefined);
  if (measured.length === 0) return '';
  return `The loader's own cost, CPU of a plain \`node\` importing dist/index.mjs (no cache there) against dist/handler.mjs, the median of ${COLD_RUNS} rounds' differences (each round imports one right after the other): ${measured.map((s) => `${s.service} ${signed(s.import.loaderCpuMs as number)} ms`).join(', ')}. It takes Node's builtins from \`process.getBuiltinModule\`, not from ES imports, and node:v8 and node:os only where a cache is read (packages/bundle/tests/compile-cache.test.ts checks that it loads none of Node's modules that the handler does not; bench/HISTORY.md has what its ES imports cost).`;
}

/** The table's two cells of Node's own modules under an import: alone, and the bundle above them. */
function floorCells(s: ServiceResult): string {
  const f = s.import.builtinsFloor;
  if (!f) return 'not measured | not measured';
  return `${signed(f.aboveNodeMs)} / ${signed(f.cpuAboveNodeMs)} ms | ${signed(round(s.import.aboveNodeMs - f.aboveNodeMs))} ms`;
}

/**
 * Per service whose import misses its target: how much of it Node's own modules take by themselves
 * (measured in the same run), and so what the target leaves the bundle. Empty before it was measured.
 */
function floorMisses(r: Results): string[] {
  return r.services.flatMap((s) => {
    const f = s.import.builtinsFloor;
    if (!f || s.import.aboveNodeMs <= TARGETS.importAboveNodeMs) return [];
    const imported = f.imported.map((url) => url.replace(/^node:/, ''));
    const others = f.loaded.filter((id) => !imported.includes(id));
    return [
      `- **${s.service}** (import, the floor under it): of its ${signed(s.import.aboveNodeMs)} ms, Node's own modules take ${signed(f.aboveNodeMs)} ms by themselves (${signed(f.cpuAboveNodeMs)} ms of CPU), loaded alone by a plain \`node\` as the bundle loads them, interleaved with the rest of this run: ${imported.length > 0 ? `\`${imported.join('`, `')}\`` : 'none'} by ES import${others.length > 0 ? `, with them \`${others.join('`, `')}\`` : ''}. The bundle's own code adds ${signed(round(s.import.aboveNodeMs - f.aboveNodeMs))} ms above them; a target of +${TARGETS.importAboveNodeMs} ms leaves it ${signed(round(TARGETS.importAboveNodeMs - f.aboveNodeMs))} ms. Its first invocation's clients use those modules (sockets, TLS, hashing, checksums); loading them later would move their cost into the first invocation, not take it off the cold start.`,
    ];
  });
}

/**
 * The services that load about as little as the runtime needs (pg, zod/mini and the contracts, the
 * Logger) and still miss the import target: one group, or none when each meets it.
 */
function nearTarget(r: Results): ServiceResult[][] {
  const near = r.services.filter(
    (x) =>
      ['status-updater', 'job-sweeper', 'ops-ledger'].includes(x.service) &&
      x.import.aboveNodeMs > TARGETS.importAboveNodeMs,
  );
  return near.length > 0 ? [near] : [];
}

/** `a / b` of a measure in both configurations. */
function both(x: FirstInvocationResult, pick: (m: FirstInvocationMeasure) => number, unit = ''): string {
  return `${pick(x.local)}${unit} / ${pick(x.deployed)}${unit}`;
}

function signedBoth(x: FirstInvocationResult, pick: (m: FirstInvocationMeasure) => number): string {
  return `${signed(pick(x.local))} / ${signed(pick(x.deployed))} ms`;
}

/** The services whose deployed configuration misses a cold-start target, each with why. */
function deployedMisses(r: Results): string[] {
  const t = TARGETS;
  return r.services.flatMap((s) => {
    const x = s.firstInvocation;
    if (!x) return [];
    const misses = [
      x.deployed.importLoadedKiB > t.bundleKiB ? `${x.deployed.importLoadedKiB} KiB loaded at import` : '',
      x.deployed.loadedKiB > t.bundleKiB ? `${x.deployed.loadedKiB} KiB by the end of its first job` : '',
      x.deployed.importAboveNodeMs > t.importAboveNodeMs
        ? `an import of ${signed(x.deployed.importAboveNodeMs)} ms`
        : '',
    ].filter(Boolean);
    if (misses.length === 0) return [];
    const extra = x.extra.slice(0, 3).map((c) => `${c.from} ${c.kib} KiB`);
    return [
      `- **${s.service}** as deployed: ${misses.join(', ')} (local configuration: ${x.local.importLoadedKiB} KiB at import, ${x.local.loadedKiB} KiB by the end of the job, import ${signed(x.local.importAboveNodeMs)} ms). What the deployed configuration adds: ${x.deployed.loadedKiB - x.local.loadedKiB >= 0 ? '+' : ''}${round(x.deployed.loadedKiB - x.local.loadedKiB)} KiB${extra.length > 0 ? ` (largest: ${extra.join(', ')})` : ''}, ${signed(round(x.deployed.invokedAboveNodeMs - x.local.invokedAboveNodeMs))} ms and ${signed(round(x.deployed.cpuAboveNodeMs - x.local.cpuAboveNodeMs))} ms of CPU to the end of the first job.`,
    ];
  });
}

/** The "as deployed" section: empty for results measured before it existed. */
function deployedSection(r: Results): string[] {
  const t = TARGETS;
  const measured = r.services.filter((s) => s.firstInvocation !== undefined);
  const first = measured[0]?.firstInvocation;
  if (!first) return [];
  return [
    '## Cold start as deployed',
    '',
    `Each Lambda service's bundle (the image's files), imported by a fresh \`node\` that then hands its handler one valid job, in two configurations: the bench's local one (the \`environment\` of the table above: \`DATABASE_URL\`, \`MAIL_TRANSPORT=smtp\`, \`DOWNLOAD_SIGNING_KEY\`) and the function's environment as infra synthesizes it (the \`aws_lambda_function\`'s variables in a staging stack \`synthStack()\` writes with placeholder settings, read by scripts/src/bench/deployed-environment.ts: \`DATABASE_SECRET_ARN\`, \`MAIL_TRANSPORT=ses\` with \`SES_CONFIGURATION_SET\`, \`MAIL_MAX_SEND_RATE\` (1, the default), \`DOWNLOAD_SIGNING_KEY_SECRET_ARN\`, ...), both with the variables Lambda sets (region, the role's temporary credentials, function name, memory, \`_HANDLER\`). Every AWS endpoint of the deployed run is a loopback stand-in named by the SDK's per-service variables (\`AWS_ENDPOINT_URL_SECRETS_MANAGER\`, \`_SESV2\`, \`_S3\`, \`_SQS\`): the Secrets Manager double of @sidestep/runtime/testing (holding the database's URL and the signing key), a SES v2 SendEmail double (scripts/src/bench/sesv2-double.ts), the local cloud's S3 and SQS; the database is ${first.database}, the same for both configurations. The secret holds a plain \`postgres://\` URL: an RDS secret's JSON would make the URL ask for \`sslmode=verify-full\`, and the TLS handshake to RDS (Node's \`tls\`) is not measured here. Per round, interleaved: a bare \`node\` running the same script without a bundle, the local configuration, the deployed one (${FIRST_INVOCATION_RUNS} rounds, medians), each with a new job (a new id: no idempotent replay), checked to be done; a deployed round must also have fetched its secret and, for the mail-dispatcher, sent through SES. "Loaded" is what Node's module hooks saw by the end of the import and of the first job, in one more run of each with the hooks on. Times are from the process's start to the end of the import and to the end of the first job, above the bare \`node\`'s start to its script (${first.bareNode.startToScriptMs} ms for the first service, ${first.bareNode.cpuMs} ms of CPU); the column of spawn to the end of the first job is as the bench sees it, above the bare \`node\`'s spawn to its report (${first.bareNode.spawnMs} ms). The targets were set for the import; the first job's columns show what the deployed function loads and spends before it answers.`,
    '',
    `| service | first job | JavaScript loaded at import, local / as deployed (target <= ${t.bundleKiB} KiB) | JavaScript loaded by the end of the first job, local / as deployed | import above bare node, local / as deployed (target <= +${t.importAboveNodeMs} ms) | its CPU above bare node's | start to the end of the first job, above bare node | its CPU above bare node's | spawn to the end of the first job, above bare node | the deployed configuration's own cost to the end of the first job: KiB, ms, CPU ms |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...measured.map((s) => {
      const x = s.firstInvocation as FirstInvocationResult;
      const importVerdict = verdict(x.deployed.importLoadedKiB <= t.bundleKiB);
      const loadedVerdict = verdict(x.deployed.loadedKiB <= t.bundleKiB);
      const timeVerdict = verdict(x.deployed.importAboveNodeMs <= t.importAboveNodeMs);
      return `| ${s.service} | ${x.job} | ${both(x, (m) => m.importLoadedKiB, ' KiB')} (deployed ${importVerdict}) | ${both(x, (m) => m.loadedKiB, ' KiB')} in ${both(x, (m) => m.loadedFiles)} files (deployed ${loadedVerdict}) | ${signedBoth(x, (m) => m.importAboveNodeMs)} (deployed ${timeVerdict}) | ${signedBoth(x, (m) => m.importCpuAboveNodeMs)} | ${signedBoth(x, (m) => m.invokedAboveNodeMs)} | ${signedBoth(x, (m) => m.cpuAboveNodeMs)} | ${signedBoth(x, (m) => m.spawnAboveNodeMs)} | ${signed(round(x.deployed.loadedKiB - x.local.loadedKiB))} KiB, ${signed(round(x.deployed.invokedAboveNodeMs - x.local.invokedAboveNodeMs))} ms, ${signed(round(x.deployed.cpuAboveNodeMs - x.local.cpuAboveNodeMs))} ms |`;
    }),
    '',
    ...measured.map((s) => {
      const x = s.firstInvocation as FirstInvocationResult;
      return `- ${s.service} as deployed, loaded beyond the local configuration (largest first): ${x.extra.length > 0 ? x.extra.map((c) => `${c.from} ${c.kib} KiB`).join(', ') : 'nothing'}; Node built-ins: ${x.extraBuiltins.length > 0 ? x.extraBuiltins.map((b) => `\`${b.replace(/^node:/, '')}\``).join(', ') : 'none'}; the stand-ins answered: ${x.requests.length > 0 ? x.requests.join(', ') : 'nothing'}.`;
    }),
    '',
    "**Where the deployed bytes and time go (2026-12-05).** The database secret: `resolveDatabaseUrl` imports `@aws-lambda-powertools/parameters/secrets` on the first job that needs the database, and with it the Secrets Manager client and the part of the AWS SDK every client needs, which no service with only a database loads otherwise: about 218 KiB in 10 files, the same for the status-updater, the job-sweeper and the ops-ledger. By the status-updater's metafile: @smithy/core's serde, retry, client, endpoint-rules, config and schema code (~78 KiB), the protocols (~57 KiB with @aws-sdk/core's, of which ~25 KiB is the XML, Query and REST-JSON protocols' code that a JSON-RPC service never runs: esbuild splits by whole files, and @smithy/core's protocol barrel brings them along, as noted for the export-finalizer above), the client itself (14 KiB), SigV4 (10 KiB), the HTTP handler (7 KiB), the default credential chain (3 KiB; on Lambda the environment's credentials answer first, nothing else of the chain loads), and Node's `https`, `stream`, `zlib`, `path` and `fs/promises`. Then the credential resolution, the signing and the GetSecretValue round trip. The mail-dispatcher's SES transport (`MAIL_TRANSPORT=ses`) loads the SES client and the same SDK core at import, so its secret adds only the Secrets Manager client and Powertools' provider; the export-finalizer's S3 client has brought the SDK core at import already, so its signing-key secret adds 24-36 KiB. The mail-dispatcher's local wall time to the end of its first job is longer than the deployed one: nodemailer's SMTP conversation (greeting, EHLO, MAIL, RCPT, DATA, each a round trip to the bench's sink, in the bench's process with the embedded database) against one SES request; its CPU time is the configuration's cost there.",
    '',
    "**What could cut them (not done: this table measures).** A secret fetch needs one signed HTTPS POST of a JSON body; the SDK brings its whole client stack for it. (1) The AWS Parameters and Secrets Lambda Extension answers `GET http://localhost:2773/secretsmanager/get?secretId=...` with the `X-Aws-Parameters-Secrets-Token` header set to the session token: no SDK in the function at all (the extension is a process of its own in the image, `/opt/extensions`, with its own init, which would need measuring). (2) Put only the database URL in the function's environment (encrypted at rest by Lambda's KMS key) and rotate by redeploy: the simplest, but it gives up the rotation the runtime handles today (`fresh` after a refused password). (3) Fetch the secret during init, not on the first job: the same bytes and CPU, but on Lambda the init phase runs with the full CPU of the sandbox's memory size and is not part of the first request's wait for a provisioned or pre-warmed function. (4) Smaller but general: the ~25 KiB of unused protocol code could go if esbuild could split inside @smithy/core's protocol barrel (a substitute module re-exporting the JSON-RPC protocol only, as the SES and S3 re-exports do); the SDK core itself is what any AWS client loads. Tried on 2026-12-05 and not kept: GetSecretValue made from the SDK's own parts without the client (its SigV4 signer, HTTP handler, standard retry strategy, the client's endpoint rules, the environment's credentials), checked against the client's own request: the secret's first fetch loaded 169 KiB instead of 217 KiB and its import took 17-19 ms instead of 19-20 ms, because @smithy/core's barrels and esbuild's shared chunks bring most of the core along whatever is imported from them; a gain that small did not pay for code of our own in the place of the SDK's client.",
    '',
  ];
}

function report(r: Results): string {
  const t = TARGETS;
  const lines = [
    '# sidestep benchmarks',
    '',
    `Measured ${r.measuredAt} by \`pnpm bench\` on ${Object.entries(r.machine)
      .map(([k, v]) => `${k}: ${v}`)
      .join(
        ', ',
      )}; load average ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end (a shared machine: other work ran meanwhile).`,
    `Every number is a median of ${r.runs} runs; every comparison is against a baseline measured in the same run, interleaved with it (baseline, then the measurement, round after round). Wall times on a shared 2-core machine move with its load (the load average above); the CPU time of the importing process, given beside the import's wall time, moves less (it still grows on a busy machine: caches and cores are shared).`,
    'Mail throughput end to end (a 2,000-mail burst through the local cloud) is in [MAIL-THROUGHPUT.md](MAIL-THROUGHPUT.md), measured by `node scripts/bench-mail.ts`.',
    '',
    '## Cold start',
    '',
    `| service | JavaScript loaded at cold start (target <= ${t.bundleKiB} KiB) | all JavaScript in the image | bare \`node -e 0\` | node importing the bundle (target <= +${t.importAboveNodeMs} ms) | its CPU time above \`node -e 0\`'s | Node's own modules it loads, alone, above \`node -e 0\` (wall / CPU) | the bundle's own part of the import (wall, above those modules) | the same CPU time with \`NODE_OPTIONS=--enable-source-maps\` (the images until 2026-12-04) | as the Lambda bootstrap runs node (\`--expose-gc\`): bare \`node -e 0\` | the image's files with their compile cache | the same files without it | CPU above bare, with / without the cache | image path: spawn to first response | bare handler, same path | image path above the bare handler |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.services.map((s) => {
      const b = s.asBootstrap;
      const bootstrap = b
        ? `${b.bareNodeMs} ms | ${b.withCacheMs} ms: ${signed(b.withCacheAboveNodeMs)} ms | ${b.withoutCacheMs} ms: ${signed(b.withoutCacheAboveNodeMs)} ms | ${signed(b.cpuWithCacheAboveNodeMs)} / ${signed(b.cpuWithoutCacheAboveNodeMs)} ms`
        : 'not measured | not measured | not measured | not measured';
      return `| ${s.service} | ${s.bundle.loadedKiB} KiB in ${s.bundle.loadedFiles} files (${verdict(s.bundle.loadedKiB <= t.bundleKiB)}) | ${s.bundle.imageKiB} KiB in ${s.bundle.imageFiles} files | ${s.import.bareNodeMs} ms | ${s.import.importMs} ms: ${signed(s.import.aboveNodeMs)} ms (${verdict(s.import.aboveNodeMs <= t.importAboveNodeMs)}) | ${signed(s.import.cpuAboveNodeMs)} ms | ${floorCells(s)} | ${s.import.cpuAboveNodeWithNodeSourceMapsMs === undefined ? 'not measured' : `${signed(s.import.cpuAboveNodeWithNodeSourceMapsMs)} ms`} | ${bootstrap} | ${s.image.coldStartMs} ms | ${s.image.bareHandlerColdStartMs} ms | ${signed(s.image.aboveBareHandlerMs)} ms |`;
    }),
    '',
    ...r.services.map(
      (s) =>
        `- ${s.service}, what a cold start loads (largest first): ${s.composition.map((c) => `${c.from} ${c.kib} KiB`).join(', ')}.`,
    ),
    '',
    '**What loads at cold start.** The bundles are split (`bundleService({ splitting: true })`): code the first invocation does not need is in chunks loaded by `import()` when used — the dead-letter SQS client (on the first permanent failure), the Secrets Manager client (only with `DATABASE_SECRET_ARN` or a signing-key secret), the claim-check S3 client (on the first claim check), the job-sweeper\'s mail producer (on the first stale job), and of nodemailer only the mailer and the transport `MAIL_TRANSPORT` selects (the SES client only for `ses`). "Loaded at cold start" is measured, not inferred: the files a fresh `node` loads while importing `index.mjs` (module hooks), a top-level `await import()` included.',
    '',
    "**What was cut (2026-12-03).** nodemailer's MIME type table (~75 KiB minified, 600 types) is replaced in the mail-dispatcher's bundle by the few types a sidestep mail could name (`bundleService({ substitutes })`, services/mail-dispatcher/src/adapters/mail-mime-types.ts): nodemailer reads it only to guess types of attachments, alternatives and data URLs, which sidestep mails do not have; a test compares the raw message the bundle composes with nodemailer's own, byte for byte, and the table's entries with nodemailer's. And esbuild keeps every export of a module named by `import()` (it cannot tell which the caller uses): the claim-check store's `import('@aws-sdk/client-s3')` kept all ~100 S3 commands and the aggregated client in the export-finalizer's cold start (36 KiB); it now imports a module that re-exports the three names it uses. And @sidestep/contracts no longer builds its ~400 zod schemas when it loads (the run before that, 2026-12-03T16:55, measured the imports at +50 to +91 ms over `node -e 0`, +54 to +101 ms of CPU): each is built on its first use (`lazySchema`, packages/contracts/src/lazy-schema.ts), and a bundle keeps only the schemas it imports; a test counts the schemas importing the package builds (none).",
    '',
    "**What was cut (2026-12-04).** The AWS SDK (since 3.930) describes each client's operations as arrays whose trait objects have computed keys (`{ [_hH]: _CT }`, `_hH` a string constant of the generated file); esbuild treats a computed key as a possible side effect and kept every schema of a client's model: all of S3's (~64 KiB minified) in a service that sends six commands (aws/aws-sdk-js-v3#7607; the codegen fix, smithy-lang/smithy-typescript#1889, is not in the SDK installed here). `bundleService` now applies that fix as it bundles (packages/bundle/src/smithy-schema-keys.ts: such a key becomes the string's literal); a test evaluates every installed client's schemas file both ways and finds the same schemas, errors and registries. The export-finalizer's cold start loads 375.6 KiB instead of 425.3 KiB. And the SES transport imports the SES client through a module that re-exports the two names it uses, as the claim-check store does for S3 (the aggregated client and every SES command were in the chunk `MAIL_TRANSPORT=ses` loads). And nodemailer's HTTP client (for content given by URL and OAuth2 tokens, which sidestep mails never use) is required by its shared module at load, which brought Node's `http` and `https` into the mail-dispatcher's cold start: the bundle substitutes a wrapper that requires it on its first call (services/mail-dispatcher/src/adapters/nodemailer-lazy-fetch.cjs; its code is still in the loaded files, unevaluated). Measured in isolation (40 fresh processes, interleaved): the import 79.1 ms against 87.0 ms, its CPU 81.4 against 88.7 ms. The same kind of wrapper around nodemailer's DKIM signer, OAuth2 client, proxy client and well-known services table gained nothing measurable (89-94 ms both ways) and was not kept. And the images no longer set `NODE_OPTIONS=--enable-source-maps`, with which Node reads and parses the map of every module it loads, at every cold start, for the stack traces of errors that mostly never come: every bundle's first module now installs an `Error.prepareStackTrace` that reads a file's map (with Node's own `SourceMap` parser) when a stack trace first passes through that file, and hands the frames with their source positions to Node's formatter (packages/bundle/src/source-mapped-stack-traces.ts; a test finds the same positions as `--enable-source-maps` in the entry and in a lazy chunk, and no map read at import). Measured by CPU time, importing the same bundle without and with the flag, with the Lambda bootstrap's node flags, 25 fresh processes each, interleaved (2026-12-04 19:28, load 0.6): the export-finalizer 85.6 against 100.3 ms, the mail-dispatcher 66.4 against 78.5 ms, the status-updater 41.9 against 49.4 ms (wall 95.7 / 104.1, 77.0 / 85.6 and 59.1 / 63.2 ms); on a busier machine (19:10) more: 99.6 against 127.2 ms and 90.1 against 107.5 ms. In the image path's spawn-to-first-response (~230 ms here) that is within the noise of 15 runs, and the bench's first invocation of a task service is an invalid input whose logged error then reads one map (the entry's). The columns of the import never had the flag; the column of CPU time with it measures what it cost, interleaved with the rest.",
    '',
    "**What was cut (2026-12-07).** With splitting, esbuild puts every module a service's entry shares with a lazily loaded chunk in a chunk of its own, one per set of importers, and the entry imports each at init: the job-sweeper's cold start read 8 files (its entry and 6 such chunks: esbuild's helpers, p-limit, pg with @sidestep/db, zod with the contracts, Powertools' commons, the invoke store), and each file costs Node's ES loader ~0.5 ms of CPU by itself (8 one-line modules against 1: +3.3 ms of CPU, 41 interleaved rounds). `bundleService({ mergeInitChunks: true })` folds them into the entry's file in a second esbuild pass (packages/bundle/src/merge-init-chunks.ts: the folded chunks' files re-export from the entry, and the lazy chunks import the entry directly, so there is one pg and one zod); the merged file keeps its identifiers, so that `keepNames` finds ~600 of the ~900 functions and classes already named as it would name them and skips redefining them at init (the cost: more bytes, the job-sweeper's init file 283 KiB where its split init loaded 196). On for the job-sweeper, the ops-ledger and the status-updater. Measured as CPU time of a fresh `node` importing dist/index.mjs, before and after, interleaved, medians of paired differences (2026-12-07, Intel Xeon, load 1.6-2.2): the job-sweeper -7.7 ms (51 rounds), the ops-ledger -8.4 ms, the status-updater -3.9 ms (31 rounds). Not for the mail-dispatcher, whose init awaits its transport's lazy chunk (that chunk would wait for the merged entry: a file with a top-level `await` is refused), nor the export-finalizer: merged, its init file with the identifiers kept loads 570.7 KiB, past the 400 KiB target, and the bench saw no gain (+88.2 ms against +86.6 ms, 03:30 at load 5.2).",
    '',
    `**The image path.** The files each Dockerfile copies into \${LAMBDA_TASK_ROOT} (its COPY globs expanded as Docker does: ${[...new Set(r.services.map((s) => s.image.files.filter((f) => f.endsWith('.mjs')).length))].join(' / ')} .mjs files with their maps), read-only, with the Dockerfile's ENV (${
      Object.entries(r.services[0]?.image.environment ?? {})
        .map(([k, v]) => `\`${k}=${v}\``)
        .join(', ') || 'none set'
    }; left out: ${
      Object.entries(r.services[0]?.image.leftOut ?? {})
        .map(([k, why]) => `\`${k}\`, ${why}`)
        .join('; ') || 'nothing'
    }), run through the Lambda Runtime API by @sidestep/lambda-runtime (its runtime interface client, Node's permission model as the read-only file system), from process spawn to the first response. The bare handler runs through the same path with the same ENV, so the difference is the bundle's own cost; on AWS the base image's runtime interface client stands in for the local one.`,
    '',
    "**Compile cache (shipped since 2026-12-06).** Each Lambda image ships V8's compiled code for its bundle. The Dockerfile's build step (`RUN node --expose-gc` of the task root's `compile-cache.mjs`) compiles every module of the bundle with Node's module compile cache on, without running any of it, in the base image's own `node` with the Lambda bootstrap's `--expose-gc` (it changes V8's cache tag; the bootstrap's heap sizes do not), and the bundle's `index.mjs`, a loader of ~1.5 KiB, has Node read that cache before it imports the handler (`handler.mjs`). Node files a cache under `<directory>/<node version>-<arch>-<V8 tag>-<uid>` (src/compile_cache.cc, `GetCacheVersionTag`); the image is built as root and Lambda runs the function as a sandbox user, so the loader links `/tmp/sidestep-compile-cache-<task root path>/<its own tag>-<its own uid>` to the shipped directory, also when V8's tag differs by the CPU features it hashes (an arm64 image is built under QEMU): V8 checks each entry's version, flags and source itself and compiles what it rejects. A cache made by another Node or for another architecture is not used, and the function's log says so once. Measured two ways. \"node importing the bundle\" is the issue's measure, a plain `node` against `node -e 0`, and a plain `node` reads no cache made for the bootstrap's flags, so it imports the package's dist/ (the same files, no cache). The columns \"as the Lambda bootstrap runs node\" give every `node`, the bare one included, the bootstrap's `--expose-gc`: the image's files with their cache, and without it. That flag has a cost of its own, which no cache of ours can take off: V8 refuses Node's embedded code cache of its own modules when the flags differ from Node's build (`NODE_DEBUG_NATIVE=CODE_CACHE`: \"Code cache of https ... is rejected\"), so every Node module a cold start loads (`https`, `crypto`, `stream`, ...) is compiled from source, ~15 ms for those a service needs (2026-12-06: `node -e \"require('node:https'); ...\"` 59 ms plain, 74 ms with `--expose-gc`, bare `node -e 0` 36 and 37 ms). " +
      loaderSentence(r) +
      " The image tests run the Dockerfile's build step on the staged task root and check, by Node's own report (`NODE_DEBUG_NATIVE=COMPILE_CACHE`), that a cold start through the Runtime API takes the modules it loads from the cache; packages/bundle/tests/compile-cache.test.ts covers another uid, other flags and another Node. Not checked here: the step under QEMU in `docker build` (no Docker engine here) and the Lambda sandbox's uid and flags (the loader links the cache whatever the uid, and V8 refuses entries made with other flags, which Node's `NODE_DEBUG_NATIVE=COMPILE_CACHE` report on a deployed function would show). A V8 startup snapshot (tried 2026-12-04 on the export-finalizer): Node's user-land snapshots take one CommonJS script, so the handler was bundled as one CommonJS file with an entry that requires it and sets the deserialize main function; `node --build-snapshot` refuses it (\"global handle not serialized\"), because importing a service builds what holds native handles (Powertools' Logger makes a `Console` on `process.stdout`, and clients are made at init) and reads its configuration from the environment of the build rather than of the function, and Node warns that `node:https` is not verified in snapshots. A snapshot would need every service's init moved after deserialization and an entrypoint of our own in place of the base image's runtime interface client, which the image tests require to stay: not pursued.",
    '',
    "**The AWS SDK stays in the bundle.** The AWS SDK for JavaScript guide advises against relying on the SDK version a Lambda runtime happens to include, a self-contained bundle is what makes the local run and the image the same bytes, and with the splitting above only the export-finalizer loads any of the SDK at cold start (S3, which its first invocation uses). Leaving `@aws-sdk/*` to the base image would take the SDK's bytes off the image, but load it from the base image's many unbundled files instead, which is slower to import (TOOLCHAIN.md: ~108 ms bundled vs ~150 ms unbundled for a comparable handler).",
    '',
    ...deployedSection(r),
    '## Where a goal is missed, and why',
    '',
    ...deployedMisses(r),
    ...floorMisses(r),
    "- **mail-dispatcher** (import): its first invocation sends a mail, so what that needs loads at cold start: nodemailer's SMTP connection, pool and MIME builder, pg, the Powertools idempotency layer with its JMESPath engine (24 KiB; the dispatcher's idempotency key and payload check are JMESPath expressions, `key` and `job.payload`), Metrics, Logger, and zod/mini with the contracts. The loaded size meets its target since nodemailer's MIME type table left the bundle (above). On AWS (`MAIL_TRANSPORT=ses`) the SES client and its share of the AWS SDK load too (539 KiB loaded at cold start on 2026-12-04; 629 KiB before the two changes of that day, above): the table above runs the SMTP transport, as the local cloud does; the deployed configuration is measured under \"Cold start as deployed\".",
    "- **export-finalizer** (import): its first invocation reads and writes S3, so the S3 client loads at cold start; deferring it would move the same cost into the first invocation. Its loaded size meets the target since esbuild can drop the S3 operations it never sends (above). What is left, by a CPU profile of the import (2026-12-04, 6 fresh processes, ~100 ms each with the profiler on): V8 compiling the 376 KiB (~20 ms), Node's own modules the S3 client needs (`https` with `tls` and `http`, `crypto`, streams; ~9 ms), and the rest spread thinly over the SDK's and Powertools' top-level code, no single module above 2-3 ms. Part of the loaded code is an esbuild limit: code splitting assigns whole files to chunks, and through @smithy/core's protocol barrel the JSON, CBOR and Query protocol code of the lazily loaded clients (the credential chain's STS and SSO, Secrets Manager) lands in a chunk the S3 client's import loads as well (~25 KiB).",
    ...nearTarget(r).map(
      (near) =>
        `- **${near.map((x) => x.service).join(', ')}** (import): ${near.map((x) => `${x.bundle.loadedKiB} KiB`).join(', ')} loaded (pg, zod/mini with the contracts, the Powertools logger), all used by the first invocation; their imports are close to the target but above it: ${near
          .map(
            (x) =>
              `${x.service} ${signed(x.import.aboveNodeMs)} ms (${signed(x.import.cpuAboveNodeMs)} ms of CPU)`,
          )
          .join(
            ', ',
          )} in this run, the wall times moving with the machine's load. Most of an import here is evaluation, not compilation (the compile cache takes off a few ms). The contracts' schemas are no longer part of it: @sidestep/contracts builds each zod schema on its first use (\`lazySchema\`) instead of all ~400 when it loads. Measured by CPU time on 2026-12-03 (bundled as the services are, median of 41 fresh processes, load average under 1): a bundle of everything \`@sidestep/contracts\` exports imported in +18.7 ms before that change and +7.4 ms after it (4.3 ms of that is \`node:crypto\`, for \`createJob\`, which every service loads anyway), against +1.1 ms for the zod/mini functions it uses alone; the status-updater's part of it (its input schema and \`validate\`) in +11.8 ms before and +1.3 ms after, its first parse in a fresh process then building the schema for ~5 ms, which the first invocation now pays (import and first parse: +12.9 ms before, +6.2 ms after). A schema a service never uses is not built at all. What is left is other code: the Powertools Logger alone imports in +18 ms, and @sidestep/runtime's configuration schemas (24 of the 25-80 zod schemas a service still builds at cold start; the rest are the service's own configuration and, in the export-finalizer, its final manifest).`,
    ),
    "- **The image path** has no target of its own; above the bare handler it adds the import and the handler's init (configuration, clients). Until 2026-12-04 it also had Node parse the source map of every module it loaded (`NODE_OPTIONS=--enable-source-maps`); the bundles now map their stack traces themselves when one is first formatted (below).",
    ...warmFloorMiss(r),
    "- **Warm overhead**: per record the runtime parses and validates the job (zod), runs it through Powertools' BatchProcessor with the Logger's correlation keys and an EMF duration, and publishes the metrics with the invocation's outcome counts once per invocation; the bare handler does none of it. Measured by CPU time in isolation (2026-12-03, when each record added two metrics): zod validation of the bench's mail job 3.1 µs, the two `addMetric` calls with their share of the publish 2.6 µs, appending and removing the log keys 1.8 µs, `JSON.parse` 0.7 µs, the filtered `info` line 0.35 µs; about 10 µs a record in all, against a bare invocation of ~0.4 ms (mostly the Runtime API's round trip). The 1.1x target leaves ~4 µs a record, less than the validation alone: it cannot be met while every record is validated, correlated in the logs and counted in EMF. Powertools read `process.env` on each Logger, Metrics and BatchProcessor call (`shouldUseInvokeStore`): 147 of the 157 reads of a 10-record invocation, ~140 ns each, the top self time in a CPU profile of the warm loop. A `get` trap on `isolate`'s proxy costs as much as the read it saves, and a copy of the environment costs more per invocation than it saves, so since 2026-12-04 `bundleService` makes that one function remember its first answer (packages/bundle/src/powertools-invoke-store.ts: Lambda sets `AWS_LAMBDA_MAX_CONCURRENCY` before the runtime starts, and the InvokeStore picks its kind once from it too), and each outcome metric is one count per invocation instead of a 1 per record. Measured that day against the code before, in the same minutes: the handler's CPU per invocation in the loop 107-139 µs against 169-199 µs (6 alternating runs each); through the Runtime API 1.52-1.53x against 1.65-1.81x (three runs, the three handlers interleaved in 20 rounds). **Why 1.1x is out of reach**: measured inside the function, the handler takes ~190-210 µs of wall time per invocation when it runs behind the Runtime API, about twice the loop's figure (each invocation follows the runtime client's HTTP work, so it starts on cold caches), while 1.1x of a bare invocation (~0.35-0.43 ms here) leaves 35-43 µs for ten records: less than validating them (zod alone ~22 µs) and writing the invocation's EMF line. The wall times are measured in interleaved rounds since 2026-12-04: the 1.31x reported before was measured with the two handlers' blocks one after the other, which moved the ratio between 1.09x and 1.52x over two runs of the same code. What was avoidable went before (1.5x): `isolate` journals environment changes instead of copying and comparing every variable twice per invocation, and the record's log keys are appended once.",
    '',
    '## Warm invocation',
    '',
    `${r.warm.batchSize}-record batch, ${r.warm.invocations} invocations of each through the Runtime API, interleaved one by one, after ${WARM_UP_INVOCATIONS.toLocaleString('en')} warm-up invocations (steady state): bare handler ${r.warm.bareHandlerMs} ms, @sidestep/runtime handler (${r.warm.runtimeBundleKiB} KiB) ${r.warm.runtimeHandlerMs} ms, ratio ${r.warm.ratio}x (${verdict(r.warm.ratio <= t.warmOverheadRatio)} <= ${t.warmOverheadRatio}x). The handler's own CPU time per invocation, called in a loop by a plain \`node\` without the Runtime API (median of 5 runs of ${(WARM_INVOCATIONS * 5).toLocaleString('en')} invocations, which a busy machine moves less): bare handler ${r.warm.inProcessCpuUs.bareHandler} µs, @sidestep/runtime handler ${r.warm.inProcessCpuUs.runtimeHandler} µs, ${round((r.warm.inProcessCpuUs.runtimeHandler - r.warm.inProcessCpuUs.bareHandler) / r.warm.batchSize)} µs a record.${powertoolsFloorSentence(r)} Since 2026-12-06 every local sandbox is frozen between invocations, as Lambda freezes an environment, the bare handler's too: each invocation through the Runtime API includes the freeze's wake-byte read (0.015-0.027 ms, packages/lambda-runtime/bench/RESULTS.md), so runs before and after that day compare their differences (the runtime handler's time minus the bare one's) better than their ratios.`,
    '',
    ...(r.cli === undefined ? [] : cliStartSection(r.cli)),
  ];
  return `${lines.join('\n')}\n`;
}

await main();
