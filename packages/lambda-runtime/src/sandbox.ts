import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { readOnlyFlags } from './read-only-flags.ts';
import { reservedLambdaEnvironment } from './reserved-environment.ts';
import { type InvokeResult, type RuntimeApi, startRuntimeApi } from './runtime-api.ts';
import { FREEZE_FD_ARGUMENT } from './runtime-interface-client.ts';

/** Absolute path of the runtime interface client, the entry point of every sandbox process. */
export const runtimeInterfaceClientPath = fileURLToPath(
  new URL('./runtime-interface-client.ts', import.meta.url),
);

/** What a sandbox needs to know about its function; see `startFunction` for the meaning of each. */
export interface SandboxConfig {
  readonly name: string;
  readonly functionArn: string;
  readonly bundleDir: string;
  readonly handler: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly region: string;
  readonly memoryMb: number;
  readonly timeoutMs: number;
  readonly initTimeoutMs: number;
  /**
   * A suppressed init: the init run again at an invocation after one that passed `initTimeoutMs`.
   * It is bounded by the function's timeout instead, which it shares with that first invocation:
   * "If all three tasks do not complete within 10 seconds, Lambda retries the Init phase at the
   * time of the first function invocation with the configured function timeout"
   * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). @default false
   */
  readonly suppressedInit?: boolean;
  readonly readOnly: boolean;
  /** Freeze the sandbox between invocations, as Lambda does (`FunctionOptions.freeze`). */
  readonly freeze: boolean;
  /**
   * Runs the process as this user (its temp directory is given to it); `readOnly` is then the file
   * system's own permissions, not Node's permission model.
   */
  readonly user?: { readonly uid: number; readonly gid: number };
  readonly onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/**
 * One Lambda execution environment: a runtime interface client process with its own Runtime API,
 * its own writable temp directory, reused warm until it times out, crashes or is closed.
 */
export class Sandbox {
  readonly api: RuntimeApi;
  readonly #child: ChildProcess;
  /**
   * Frozen between invocations (runtime-interface-client.ts, freezeUntilWoken): one byte on its
   * descriptor 3 for each event it is handed wakes it. Unset when it is not frozen.
   */
  readonly #wake: Writable | undefined;
  readonly #tmpDir: string;
  readonly #exited: Promise<void>;
  readonly #initTimer: NodeJS.Timeout;
  readonly #memoryWatch: NodeJS.Timeout | undefined;
  readonly #config: SandboxConfig;
  /** When the process was spawned (epoch ms): a suppressed init's budget starts there. */
  readonly #startedAt = Date.now();
  #reusable = true;
  #outOfMemory = false;
  #ready = false;
  #initTimedOut = false;
  #invoked = false;
  #exitSeen = false;
  #stopping: Promise<void> | undefined;

  private constructor(api: RuntimeApi, child: ChildProcess, tmpDir: string, config: SandboxConfig) {
    this.api = api;
    this.#child = child;
    this.#wake = (child.stdio[WAKE_FD] as Writable | null) ?? undefined;
    // A sandbox that exited cannot be woken: its end's EPIPE is not the host's error.
    this.#wake?.on('error', () => {});
    this.#tmpDir = tmpDir;
    this.#config = config;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#exited = promise;
    const exited = (description: string) => {
      if (this.#exitSeen) return;
      this.#exitSeen = true;
      this.#reusable = false;
      clearTimeout(this.#initTimer);
      clearInterval(this.#memoryWatch);
      // What the runtime spawned goes with it, as an environment ends whole: its process group.
      killGroup(child, 'SIGKILL');
      // A runtime that dies mid-invocation never answers; Lambda reports it as Runtime.ExitError under
      // the invocation's request id, worded as Go's os/exec words an exit (`signal: killed` for one
      // killed past its memory size): https://repost.aws/knowledge-center/lambda-runtime-error.
      const why = `Runtime exited with error: ${this.#outOfMemory ? 'signal: killed' : description}`;
      api.abort((requestId) => ({
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${requestId} Error: ${why}`,
      }));
      resolve();
    };
    child.once('exit', (code, signal) =>
      exited(signal ? `signal: ${goSignalName(signal)}` : `exit status ${code}`),
    );
    child.once('error', (error) => exited(error.message));
    // Lambda bounds the init phase (10 s for on-demand functions, the function's timeout for a
    // suppressed init); a runtime that never asks for an invocation would otherwise hold every
    // queued invocation forever.
    const initLimitMs = config.suppressedInit ? config.timeoutMs : config.initTimeoutMs;
    this.#initTimer = setTimeout(() => {
      this.#reusable = false;
      this.#initTimedOut = true;
      api.abort({
        errorType: 'Sandbox.Timedout',
        errorMessage: `Init timed out after ${(initLimitMs / 1000).toFixed(2)} seconds`,
      });
      child.kill('SIGKILL');
    }, initLimitMs);
    void api.ready.then(() => {
      this.#ready = true;
      clearTimeout(this.#initTimer);
    });
    this.#memoryWatch = watchMemory(child, config, () => {
      this.#outOfMemory = true;
    });
    void api.initError.then(() => {
      this.#reusable = false;
      clearTimeout(this.#initTimer);
    });
  }

  /** Spawns the runtime process; it starts its init phase at once. */
  static async start(config: SandboxConfig): Promise<Sandbox> {
    const tmpDir = await mkdtemp(join(tmpdir(), `sidestep-lambda-${config.name}-`));
    if (config.user) await chown(tmpDir, config.user.uid, config.user.gid);
    const api = await startRuntimeApi({ functionName: config.name, functionArn: config.functionArn });
    const env = sandboxEnvironment(config, api.address, tmpDir);
    const ric = [runtimeInterfaceClientPath, ...(config.freeze ? [`${FREEZE_FD_ARGUMENT}${WAKE_FD}`] : [])];
    const output = config.onLog ? 'pipe' : 'inherit';
    const child = spawn(process.execPath, [...nodeArguments(config, tmpDir), ...ric], {
      cwd: config.bundleDir,
      env,
      ...config.user,
      stdio: ['ignore', output, output, config.freeze ? 'pipe' : 'ignore'],
      // A process group of its own, so a terminal's Ctrl-C (SIGINT to the foreground group) does not
      // end an invocation the host means to let finish; the host stops it, and it exits with the host
      // (exitWithParentFlags).
      detached: true,
    });
    const { onLog } = config;
    if (onLog) {
      createInterface({ input: child.stdout! }).on('line', (line) => onLog(line, 'stdout'));
      createInterface({ input: child.stderr! }).on('line', (line) => onLog(line, 'stderr'));
    }
    return new Sandbox(api, child, tmpDir, config);
  }

  /** False once the sandbox timed out, crashed, failed its init or was stopped: it must not be reused. */
  get reusable(): boolean {
    return this.#reusable;
  }

  /** How long ago its process was spawned, in ms. */
  get ageMs(): number {
    return Date.now() - this.#startedAt;
  }

  /** True once its init ran past its limit (and the sandbox was killed). */
  get initTimedOut(): boolean {
    return this.#initTimedOut;
  }

  /** Whether its init is a suppressed one ({@link SandboxConfig.suppressedInit}). */
  get suppressedInit(): boolean {
    return this.#config.suppressedInit === true;
  }

  /** Resolves when the init phase ended: the runtime is ready, failed its init, or is gone. */
  async initialized(): Promise<void> {
    await Promise.race([this.api.ready, this.api.initError, this.#exited]);
  }

  /**
   * Runs one invocation. `delivered` tells whether the runtime received the event: a sandbox that
   * finished its init but died before taking the event (e.g. it exited right after its previous
   * response) never ran it, so the host may run it on a fresh sandbox, as Lambda would.
   */
  async invoke(event: unknown): Promise<{ result: InvokeResult; delivered: boolean; wasReady: boolean }> {
    let delivered = false;
    const wasReady = this.#ready;
    // A suppressed init shares the function's timeout with the invocation it ran for.
    const sharesTimeout = this.suppressedInit && !this.#invoked;
    this.#invoked = true;
    const result = await this.api.invoke(event, {
      timeoutMs: this.#config.timeoutMs,
      ...(sharesTimeout ? { deadline: this.#startedAt + this.#config.timeoutMs } : {}),
      onDelivered: () => {
        delivered = true;
        this.#wake?.write(WAKE);
      },
    });
    // Lambda discards an execution environment after a timeout.
    if (!result.ok && result.error.errorType === 'Sandbox.Timedout') this.#reusable = false;
    return { result, delivered, wasReady: wasReady || this.#ready };
  }

  /** Kills the process (SIGKILL, as Lambda freezes and discards environments) and removes its temp dir. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#reusable = false;
      clearTimeout(this.#initTimer);
      // The whole group, even when the runtime itself is gone: what it spawned may not be.
      killGroup(this.#child, 'SIGKILL');
      await this.#exited;
      await this.api.close();
      await rm(this.#tmpDir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  /** Called by the host when the sandbox's process dies on its own. */
  onExit(listener: () => void): void {
    void this.#exited.then(listener);
  }
}

/** How often a sandbox's resident memory is read. */
const MEMORY_WATCH_INTERVAL_MS = 100;

/**
 * Kills the runtime process once its resident memory (VmRSS of /proc/<pid>/status) passes the
 * function's memory size, as Lambda ends an execution environment that runs out of memory: the
 * invocation fails with `Runtime exited with error: signal: killed` (Runtime.ExitError), the
 * environment is discarded and an SQS batch it held is retried whole
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). Without this a 128 MB
 * function could buffer 600 MB locally and only fail on AWS. Read every 100 ms, so a spike shorter
 * than that can pass; where there is no /proc (macOS) memory is not enforced. Lambda counts the
 * whole environment (child processes too); this counts the runtime process.
 */
function watchMemory(
  child: ChildProcess,
  config: SandboxConfig,
  onKill: () => void,
): NodeJS.Timeout | undefined {
  const { pid } = child;
  if (pid === undefined || process.platform !== 'linux') return undefined;
  const limitKib = config.memoryMb * 1024;
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    readFile(`/proc/${pid}/status`, 'utf8')
      .then((status) => {
        const rssKib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
        if (rssKib <= limitKib || child.exitCode !== null || child.signalCode !== null) return;
        onKill();
        config.onLog?.(
          `${config.name}: the runtime used ${Math.round(rssKib / 1024)} MiB, past its ${config.memoryMb} MB: killed, as Lambda ends an environment out of memory`,
          'stderr',
        );
        killGroup(child, 'SIGKILL');
      })
      // The process is gone: its exit is handled where it is seen.
      .catch(() => undefined)
      .finally(() => {
        reading = false;
      });
  }, MEMORY_WATCH_INTERVAL_MS);
  timer.unref();
  return timer;
}

/**
 * Node flags that make a process spawned in a process group of its own (`detached`) exit, SIGKILLed,
 * once its parent is gone (its parent pid changes when it is reparented), checked every 100 ms: a
 * SIGKILL of the host cannot reach it through the process group any more, and an environment does
 * not outlive its host (Lambda's, or the local cloud's Fargate task's). Linux's PR_SET_PDEATHSIG is
 * not reachable from Node.
 *
 * `tmpDir`: the process's own temporary directory, which its host would have removed; it removes it
 * before it ends (a host killed with SIGKILL left one behind for each of its sandboxes and tasks).
 * The same ending is `globalThis[Symbol.for('sidestep.parentGone')]`, for a process that learns of
 * its host's end another way (a frozen sandbox: runtime-interface-client.ts, freezeUntilWoken).
 */
export function exitWithParentFlags(tmpDir?: string): string[] {
  // The process leads its group (it was spawned detached): SIGKILL to the group ends what it spawned too.
  const watch = `
    const tmpDir = ${JSON.stringify(tmpDir ?? null)};
    const parentGone = () => {
      if (tmpDir !== null) try { process.getBuiltinModule('node:fs').rmSync(tmpDir, { recursive: true, force: true }); } catch {}
      try { process.kill(-process.pid, 'SIGKILL'); } catch { process.kill(process.pid, 'SIGKILL'); }
    };
    globalThis[Symbol.for('sidestep.parentGone')] = parentGone;
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) parentGone(); }, ${PARENT_WATCH_INTERVAL_MS}).unref();`;
  return ['--import', `data:text/javascript,${encodeURIComponent(watch)}`];
}

/** The sandbox's descriptor the host wakes it on, and the byte it writes there for each event. */
const WAKE_FD = 3;
const WAKE = Buffer.from([1]);

/** How often a detached child checks that its parent is alive. */
const PARENT_WATCH_INTERVAL_MS = 100;

/**
 * Sends `signal` to the process group a detached `child` leads (itself and whatever it spawned);
 * to the child alone when there is no group (it exited already, or was not detached).
 */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) {
      process.kill(-child.pid, signal);
      return;
    }
  } catch {
    // No such group: the child itself, below.
  }
  child.kill(signal);
}

/**
 * Node arguments of the Lambda Node.js bootstrap (heap sized from the memory setting, 80 KiB
 * headers, exposed gc), plus Node's permission model so that, as in Lambda, only the temp
 * directory is writable.
 */
function nodeArguments(config: SandboxConfig, tmpDir: string): string[] {
  const newSpace = Math.floor(config.memoryMb / 10);
  const args = [
    ...exitWithParentFlags(tmpDir),
    '--expose-gc',
    '--max-http-header-size=81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${config.memoryMb - newSpace}`,
  ];
  // Lambda's file system is read-only except /tmp. A sandbox run as another user is held to it by the
  // files' own permissions, as Lambda's sandbox user is (it owns nothing of the task root): without
  // Node's permission model, which Lambda does not have and which refuses every symlink.
  if (config.readOnly && !config.user) args.push(...readOnlyFlags(config.bundleDir, tmpDir));
  return args;
}

/**
 * The sandbox's whole environment: the function's variables plus what Lambda itself sets
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 * Nothing is inherited from the host process, as nothing is on Lambda.
 */
function sandboxEnvironment(
  config: SandboxConfig,
  runtimeApi: string,
  tmpDir: string,
): Record<string, string> {
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    // Lambda's PATH, with this Node first so a handler spawning `node` gets Node 24 as on Lambda.
    PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin/:/bin:/opt/bin`,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    ...config.environment,
    ...reservedLambdaEnvironment({
      functionName: config.name,
      memoryMb: config.memoryMb,
      region: config.region,
      handler: config.handler,
      taskRoot: config.bundleDir,
    }),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${config.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${today}/[$LATEST]${randomBytes(16).toString('hex')}`,
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    LAMBDA_RUNTIME_DIR: dirname(runtimeInterfaceClientPath),
    TMPDIR: tmpDir,
  };
}

/**
 * A signal as Go's `syscall.Signal.String()` names it, which Lambda's "Runtime exited with error:
 * signal: ..." uses (its runtime supervisor is Go): `killed`, `segmentation fault`. One not listed
 * keeps Node's name.
 */
const GO_SIGNAL_NAMES: Readonly<Partial<Record<NodeJS.Signals, string>>> = {
  SIGABRT: 'aborted',
  SIGBUS: 'bus error',
  SIGFPE: 'floating point exception',
  SIGHUP: 'hangup',
  SIGILL: 'illegal instruction',
  SIGINT: 'interrupt',
  SIGKILL: 'killed',
  SIGPIPE: 'broken pipe',
  SIGQUIT: 'quit',
  SIGSEGV: 'segmentation fault',
  SIGTERM: 'terminated',
  SIGTRAP: 'trace/breakpoint trap',
};

function goSignalName(signal: NodeJS.Signals): string {
  return GO_SIGNAL_NAMES[signal] ?? signal;
}
