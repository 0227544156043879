import { statSync } from 'node:fs';
import { chmod, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { lambdaEnvironmentSize } from '@sidestep/manifest';
import {
  EnvironmentVariablesTooLargeError,
  InvalidFunctionOptionError,
  ReservedEnvironmentVariableError,
  RuntimeApiClosedError,
} from './errors.ts';
import type { InvokeResult } from './runtime-api.ts';
import { Sandbox, type SandboxConfig } from './sandbox.ts';

/** Options of {@link startFunction}: the local equivalent of a Lambda function's configuration. */
export interface FunctionOptions {
  /** Function name, as `AWS_LAMBDA_FUNCTION_NAME` (1-64 of `[a-zA-Z0-9-_]`). */
  name: string;
  /** The bundle directory, i.e. what the image copies to /var/task. Becomes cwd and `LAMBDA_TASK_ROOT`. */
  bundleDir: string;
  /** `_HANDLER` / the image CMD, e.g. `index.handler`. */
  handler: string;
  /**
   * The function's variables. Variables the Lambda service sets itself (`_HANDLER`,
   * `AWS_LAMBDA_*`, `LAMBDA_TASK_ROOT`, ...) are rejected like Lambda rejects them; `AWS_REGION` and
   * the AWS credentials are accepted because locally the host stands in for the execution role. The
   * rest must fit in Lambda's 4 KB, as Lambda measures them.
   */
  environment: Record<string, string>;
  /** Memory in MB (128-10240); sizes the heap like the Lambda Node.js bootstrap. @default 128 */
  memoryMb?: number;
  /** Timeout in seconds (1-900). @default 3 */
  timeoutSeconds?: number;
  /** Maximum sandboxes running invocations at once. @default 1 */
  concurrency?: number;
  /** Receives each stdout/stderr line of every sandbox. @default inherit the host's stdout/stderr */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** @default environment.AWS_REGION, else 'us-east-1' */
  region?: string;
  /** Account id in the function ARN. @default '000000000000' */
  accountId?: string;
  /** Only TMPDIR and /tmp are writable, as on Lambda (Node's permission model). @default true */
  readOnly?: boolean;
  /**
   * The user the sandbox's process runs as. Lambda runs a function as a non-root sandbox user
   * (uid 993, `sbx_user1051`, as functions report it), also from an image whose user is root, so a
   * file of the image only its owner can read is unreadable to the function. With a user, `readOnly`
   * is held by the files' own permissions (the bundle directory must not be that user's to write), as
   * on Lambda, instead of Node's permission model, which Lambda does not have and which refuses every
   * symlink. Only a host running as root can run a sandbox as another user. @default the host's user
   */
  user?: { readonly uid: number; readonly gid: number };
  /** Init phase limit in seconds, Lambda's for on-demand functions. @default 10 */
  initTimeoutSeconds?: number;
  /** Start one sandbox (and run its init) before resolving, so the first invoke is warm. @default true */
  prewarm?: boolean;
  /**
   * Run a private copy of the bundle directory, outside the workspace, instead of the directory
   * itself. In place, Node's module resolution walks up from the bundle into the workspace's
   * node_modules, so a module missing from the bundle may still load; in the image /var/task holds
   * only the bundle. Image tests should isolate, unless their task root already lies outside the
   * workspace (`stageLambdaImage`'s, which runs in place: its compile cache names each module by its
   * path). @default false
   */
  isolate?: boolean;
  /**
   * Freeze each sandbox between invocations, as Lambda does (the runtime interface client's
   * `freezeUntilWoken`): work a handler left running waits for the next invocation. `false` lets it run on
   * while the sandbox is idle, e.g. to step through it in a debugger. @default true
   */
  freeze?: boolean;
  /**
   * How long a sandbox serves invocations before it is retired and the next invocation starts a new
   * one: "Even for functions that are invoked continuously, Lambda terminates execution environments
   * every few hours" (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html),
   * so what a handler leaks into its warm state (memory, a module-level cache) lives hours, not for as
   * long as the local cloud runs. @default 2 hours
   */
  maxSandboxAgeMs?: number;
}

/** The default {@link FunctionOptions.maxSandboxAgeMs}: "every few hours". */
export const MAX_SANDBOX_AGE_MS = 2 * 3600_000;

/** A running local Lambda function. */
export interface FunctionHost {
  /** Invokes synchronously (RequestResponse); never rejects for a function error, only after close. */
  invoke(event: unknown): Promise<InvokeResult>;
  /** Kills every sandbox; invocations still running resolve with `Sandbox.Closed`. */
  close(): Promise<void>;
  readonly name: string;
  readonly functionArn: string;
}

/**
 * Variables the Lambda service sets and refuses in a function's configuration
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 */
const RESERVED = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

/**
 * The reserved variables the host takes as its stand-ins for what Lambda sets (the region, the execution
 * role's credentials): not in a function's configured variables on AWS, so not in what Lambda measures.
 */
const STAND_INS = new Set([
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
]);

interface Waiter {
  resolve(sandbox: Sandbox): void;
  reject(error: unknown): void;
  /** How a sandbox started for it is configured (a suppressed init's, for an init retried). */
  readonly config: SandboxConfig;
}

/**
 * Starts the local "Lambda service" for one function: warm sandbox processes, each running the
 * runtime interface client against its own Runtime API, cwd and `LAMBDA_TASK_ROOT` = the bundle.
 * `invoke` takes an idle sandbox (or starts one, up to `concurrency`; beyond that it queues), reuses
 * it warm, and replaces one that timed out, crashed or failed its init, as Lambda does.
 *
 * @example
 * ```ts
 * const fn = await startFunction({ name: 'status-updater', bundleDir: 'services/status-updater/dist',
 *   handler: 'index.handler', environment: { DATABASE_URL }, timeoutSeconds: 30 });
 * const result = await fn.invoke({ jobId: 'j-1', event: 'start' });
 * await fn.close();
 * ```
 */
export async function startFunction(options: FunctionOptions): Promise<FunctionHost> {
  let config = toSandboxConfig(options);
  let isolatedRoot: string | undefined;
  if (options.isolate) {
    isolatedRoot = await mkdtemp(join(tmpdir(), `sidestep-task-${config.name}-`));
    await cp(config.bundleDir, isolatedRoot, { recursive: true });
    // Another user must be able to enter it, as anyone may enter /var/task (mkdtemp made it 0700).
    if (config.user) await chmod(isolatedRoot, 0o755);
    config = { ...config, bundleDir: isolatedRoot };
  }
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidFunctionOptionError('concurrency', `must be a positive integer, got ${concurrency}`);
  }

  const all = new Set<Sandbox>();
  const idle: Sandbox[] = [];
  const waiters: Waiter[] = [];
  let closed = false;

  function retire(sandbox: Sandbox) {
    if (!all.delete(sandbox)) return;
    const index = idle.indexOf(sandbox);
    if (index >= 0) idle.splice(index, 1);
    void sandbox.stop();
    // Capacity freed: a queued invocation gets a fresh sandbox.
    const waiter = waiters.shift();
    if (waiter) spawn(waiter.config).then(waiter.resolve, waiter.reject);
  }

  let starting = 0;
  async function spawn(sandboxConfig: SandboxConfig = config): Promise<Sandbox> {
    let sandbox: Sandbox;
    starting++;
    try {
      sandbox = await Sandbox.start(sandboxConfig);
      all.add(sandbox);
    } finally {
      starting--;
    }
    sandbox.onExit(() => {
      // Idle sandboxes that die are replaced on demand; busy ones are retired by their invoke.
      if (idle.includes(sandbox)) retire(sandbox);
    });
    if (closed) {
      all.delete(sandbox);
      await sandbox.stop();
      throw new RuntimeApiClosedError(config.name);
    }
    return sandbox;
  }

  const maxSandboxAgeMs = options.maxSandboxAgeMs ?? MAX_SANDBOX_AGE_MS;

  /**
   * A warm sandbox younger than {@link FunctionOptions.maxSandboxAgeMs}, else a new one configured
   * as `sandboxConfig` (now, or once there is room).
   */
  async function acquire(sandboxConfig: SandboxConfig = config): Promise<Sandbox> {
    for (let warm = idle.pop(); warm !== undefined; warm = idle.pop()) {
      if (warm.reusable && warm.ageMs < maxSandboxAgeMs) return warm;
      retire(warm);
    }
    if (all.size + starting < concurrency) return spawn(sandboxConfig);
    return new Promise<Sandbox>((resolvePromise, reject) =>
      waiters.push({ resolve: resolvePromise, reject, config: sandboxConfig }),
    );
  }

  function release(sandbox: Sandbox) {
    if (closed || !sandbox.reusable) {
      retire(sandbox);
      return;
    }
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(sandbox);
    else idle.push(sandbox);
  }

  if (options.prewarm ?? true) {
    const sandbox = await spawn();
    await sandbox.initialized();
    // After a failed init the first invoke starts a fresh sandbox and reports its init error, as
    // Lambda retries init on the next invocation.
    release(sandbox);
  }

  return {
    name: config.name,
    functionArn: config.functionArn,
    async invoke(event) {
      if (closed) throw new RuntimeApiClosedError(config.name);
      let suppressedInit = false;
      for (let attempt = 1; ; attempt++) {
        // After an init past its limit, Lambda runs the init again for this invocation, bounded by
        // the function's timeout (SandboxConfig.suppressedInit), in a new environment; a warm one
        // that is free serves it as well.
        const sandbox: Sandbox = await acquire(suppressedInit ? { ...config, suppressedInit: true } : config);
        let outcome: Awaited<ReturnType<Sandbox['invoke']>>;
        try {
          outcome = await sandbox.invoke(event);
        } finally {
          release(sandbox);
        }
        const { result, delivered, wasReady } = outcome;
        // A warm sandbox that died between invocations never saw this event: run it on a fresh one
        // (once; a sandbox that dies during init reports Runtime.ExitError like Lambda).
        const diedIdle =
          !result.ok && result.error.errorType === 'Runtime.ExitError' && !delivered && wasReady;
        const initTimedOut: boolean =
          !result.ok && sandbox.initTimedOut && !sandbox.suppressedInit && !delivered;
        if ((!diedIdle && !initTimedOut) || attempt > 1 || closed) return result;
        suppressedInit = initTimedOut;
      }
    },
    async close() {
      closed = true;
      const error = new RuntimeApiClosedError(config.name);
      for (const waiter of waiters.splice(0)) waiter.reject(error);
      idle.length = 0;
      const sandboxes = [...all];
      all.clear();
      await Promise.all(sandboxes.map((sandbox) => sandbox.stop()));
      if (isolatedRoot !== undefined) await rm(isolatedRoot, { recursive: true, force: true });
    },
  };
}

function toSandboxConfig(options: FunctionOptions): SandboxConfig {
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(options.name)) {
    throw new InvalidFunctionOptionError(
      'name',
      `must be 1-64 of [a-zA-Z0-9-_], got ${JSON.stringify(options.name)}`,
    );
  }
  const bundleDir = resolve(options.bundleDir);
  if (!statSync(bundleDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new InvalidFunctionOptionError('bundleDir', `${bundleDir} is not a directory`);
  }
  if (options.handler.trim() === '') throw new InvalidFunctionOptionError('handler', 'must not be empty');
  const memoryMb = options.memoryMb ?? 128;
  if (!Number.isInteger(memoryMb) || memoryMb < 128 || memoryMb > 10_240) {
    throw new InvalidFunctionOptionError('memoryMb', `must be an integer from 128 to 10240, got ${memoryMb}`);
  }
  const timeoutSeconds = options.timeoutSeconds ?? 3;
  if (!(timeoutSeconds > 0 && timeoutSeconds <= 900)) {
    throw new InvalidFunctionOptionError('timeoutSeconds', `must be in (0, 900], got ${timeoutSeconds}`);
  }
  for (const variable of Object.keys(options.environment)) {
    if (RESERVED.has(variable)) throw new ReservedEnvironmentVariableError(variable);
  }
  const size = lambdaEnvironmentSize(
    Object.fromEntries(Object.entries(options.environment).filter(([variable]) => !STAND_INS.has(variable))),
  );
  if (size.exceeded) throw new EnvironmentVariablesTooLargeError(options.name, size);
  if (options.user !== undefined && process.getuid?.() !== 0) {
    throw new InvalidFunctionOptionError(
      'user',
      'only a host running as root can run a sandbox as another user',
    );
  }
  const region = options.region ?? options.environment.AWS_REGION ?? 'us-east-1';
  const config: SandboxConfig = {
    name: options.name,
    functionArn: `arn:aws:lambda:${region}:${options.accountId ?? '000000000000'}:function:${options.name}`,
    bundleDir,
    handler: options.handler,
    environment: options.environment,
    region,
    memoryMb,
    timeoutMs: timeoutSeconds * 1000,
    initTimeoutMs: (options.initTimeoutSeconds ?? 10) * 1000,
    readOnly: options.readOnly ?? true,
    freeze: options.freeze ?? true,
    ...(options.user ? { user: options.user } : {}),
  };
  return options.onLog ? { ...config, onLog: options.onLog } : config;
}
