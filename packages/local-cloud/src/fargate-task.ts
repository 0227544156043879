import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { exitWithParentFlags, killGroup, readOnlyFlags } from '@sidestep/lambda-runtime';
import { type TaskManifest, taskStopTimeoutSeconds } from '@sidestep/manifest';

/** One `ContainerOverrides` entry of an ECS RunTask request, as Step Functions passes it. */
export interface ContainerOverride {
  readonly Name?: string;
  readonly Environment?: readonly { readonly Name?: string; readonly Value?: string }[];
  readonly Command?: readonly string[];
}

/** Options of {@link startFargateTask}. */
export interface FargateTaskOptions {
  readonly task: TaskManifest;
  /** The image's WORKDIR: the directory holding the built bundle (`dist/`). */
  readonly bundleDir: string;
  /** The task definition's environment: static variables plus the local resources. */
  readonly environment: Readonly<Record<string, string>>;
  /** The RunTask container overrides; only the entry named like the manifest's container applies. */
  readonly overrides?: readonly ContainerOverride[];
  /** `arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`; generated when absent. */
  readonly taskArn?: string;
  readonly region: string;
  /** Each line the container writes (what awslogs would ship). */
  readonly onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Only the temp directory is writable, as with `readonlyRootFilesystem` and a /tmp volume
   * (Node's permission model). @default true
   */
  readonly readOnly?: boolean;
}

/** How a task's essential container ended. */
export interface FargateTaskResult {
  readonly taskArn: string;
  /** The container's exit code; `null` when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly startedAt: Date;
  readonly stoppedAt: Date;
  /** `EssentialContainerExited`, or the stop code {@link FargateTask.stop} was given. */
  readonly stopCode: 'EssentialContainerExited' | 'TaskFailedToStart' | TaskStopCode;
  readonly stoppedReason: string;
  /** The environment the container ran with (overrides applied). */
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * Why something other than the container stopped the task, as ECS names it: StopTask
 * (`UserInitiated`), or a Fargate Spot interruption (`SpotInterruption`: the two-minute warning,
 * then SIGTERM), with the reason ECS gives each
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html).
 */
export type TaskStopCode = 'UserInitiated' | 'SpotInterruption';

const STOPPED_REASONS: Readonly<Record<TaskStopCode, string>> = {
  UserInitiated: 'Task stopped by user',
  SpotInterruption: 'Your Spot Task was interrupted.',
};

/** A running task. */
export interface FargateTask {
  readonly taskArn: string;
  /** The container's local process id (a local detail: ECS shows none); `undefined` if it did not start. */
  readonly pid: number | undefined;
  /** Settles when the container exited (never rejects: a failed start is a result too). */
  readonly result: Promise<FargateTaskResult>;
  /**
   * Stops the task as ECS StopTask does: SIGTERM, then SIGKILL after `graceMs`, by default the
   * task's stop timeout (its manifest's `stopTimeoutSeconds`, the container definition's
   * `stopTimeout`; 30 s on Fargate when unset). A Fargate Spot interruption gives the same: its
   * two-minute warning is the SIGTERM, and the container is killed at its stop timeout. `stopCode`
   * says who stopped it: an operator or Step Functions (`UserInitiated`), or a simulated Spot
   * interruption (`SpotInterruption`).
   */
  stop(graceMs?: number, stopCode?: TaskStopCode): Promise<FargateTaskResult>;
}

/** The container overrides named a container the task does not have. */
export class UnknownContainerError extends Error {
  override readonly name = 'UnknownContainerError';
  readonly container: string;
  constructor(container: string, expected: string) {
    super(`container override names "${container}", but the task's container is "${expected}"`);
    this.container = container;
  }
}

/**
 * RunTask's `overrides` over ECS's limit: "A total of 8192 characters are allowed for overrides.
 * This limit includes the JSON formatting characters of the override structure"
 * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html). ECS answers
 * InvalidParameterException with this message and starts nothing.
 */
export class OverridesTooLongError extends Error {
  override readonly name = 'OverridesTooLongError';
  readonly field = 'overrides';
  /** The characters of the override structure's JSON. */
  readonly length: number;
  constructor(length: number) {
    super(`Container Overrides length must be at most ${MAX_OVERRIDES_CHARACTERS}`);
    this.length = length;
  }
}

/** RunTask's limit on the JSON of its `overrides`, in characters. */
export const MAX_OVERRIDES_CHARACTERS = 8192;

/**
 * Throws {@link OverridesTooLongError} when the override structure, as the ECS API receives it
 * (`{"containerOverrides":[{"name":...}]}`), is over {@link MAX_OVERRIDES_CHARACTERS} characters of
 * JSON. Its keys are Step Functions' PascalCase here and the API's camelCase there, which differ in
 * the case of their first letter only: one character for one, so the length is the same.
 */
function assertOverridesWithinLimit(overrides: readonly ContainerOverride[]): void {
  const { length } = [...JSON.stringify({ containerOverrides: overrides })];
  if (length > MAX_OVERRIDES_CHARACTERS) throw new OverridesTooLongError(length);
}

/**
 * RunTask's checks of its container overrides, before it starts anything: at most
 * {@link MAX_OVERRIDES_CHARACTERS} of JSON ({@link OverridesTooLongError}), each naming the task's
 * container ({@link UnknownContainerError}).
 */
export function assertContainerOverrides(task: TaskManifest, overrides: readonly ContainerOverride[]): void {
  assertOverridesWithinLimit(overrides);
  for (const entry of overrides) {
    if (entry.Name !== task.containerName)
      throw new UnknownContainerError(String(entry.Name), task.containerName);
  }
}

/**
 * Runs a task's container locally the way Fargate would: the manifest's command from the bundle
 * directory, with the task definition's environment plus the RunTask container overrides, only a
 * temp directory writable, nothing inherited from this process's environment. `node` in the command
 * is this Node 24 (the image's runtime).
 */
export async function startFargateTask(options: FargateTaskOptions): Promise<FargateTask> {
  const { task } = options;
  const taskArn = options.taskArn ?? `arn:aws:ecs:${options.region}:000000000000:task/local/${randomUUID()}`;
  assertContainerOverrides(task, options.overrides ?? []);
  const override = (options.overrides ?? []).find((entry) => entry.Name === task.containerName);
  const tmpDir = await mkdtemp(join(tmpdir(), `sidestep-task-${task.name}-`));
  const environment: Record<string, string> = {
    PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: tmpDir,
    TMPDIR: tmpDir,
    LANG: 'C.UTF-8',
    ...options.environment,
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_EXECUTION_ENV: 'AWS_ECS_FARGATE',
  };
  for (const variable of override?.Environment ?? []) {
    if (variable.Name) environment[variable.Name] = variable.Value ?? '';
  }
  const [command, ...args] = override?.Command ?? task.command;
  const startedAt = new Date();
  const executable = command === 'node' ? process.execPath : String(command);
  // A container ends with the host that runs it (see the spawn below); a command other than `node`
  // has no such watch and outlives a host killed with SIGKILL.
  const nodeFlags =
    command === 'node'
      ? [
          ...exitWithParentFlags(tmpDir),
          ...(options.readOnly !== false ? readOnlyFlags(options.bundleDir, tmpDir) : []),
        ]
      : [];

  let child: ChildProcess;
  try {
    child = spawn(executable, [...nodeFlags, ...args], {
      cwd: options.bundleDir,
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so a terminal's Ctrl-C (SIGINT to the foreground group) does not
      // end the task: the local cloud's orderly stop does (StopTask's SIGTERM, then SIGKILL).
      detached: true,
    });
  } catch (error) {
    await rm(tmpDir, { recursive: true, force: true });
    throw error;
  }
  const { onLog } = options;
  const streamsClosed = Promise.all(
    (['stdout', 'stderr'] as const).map((stream) => {
      const lines = createInterface({ input: child[stream]! });
      if (onLog) lines.on('line', (line) => onLog(line, stream));
      return new Promise<void>((resolve) => lines.once('close', resolve));
    }),
  );

  let stopRequested: TaskStopCode | undefined;
  const result = new Promise<FargateTaskResult>((resolve) => {
    let settled = false;
    const finish = async (
      exitCode: number | null,
      signal: NodeJS.Signals | null,
      failedToStart?: string,
    ): Promise<void> => {
      if (settled) return;
      settled = true;
      // Every line the container wrote is reported before the result.
      if (!failedToStart) await streamsClosed;
      await rm(tmpDir, { recursive: true, force: true });
      resolve({
        taskArn,
        exitCode,
        signal,
        startedAt,
        stoppedAt: new Date(),
        stopCode: failedToStart ? 'TaskFailedToStart' : (stopRequested ?? 'EssentialContainerExited'),
        stoppedReason: failedToStart
          ? `CannotStartContainerError: ${failedToStart}`
          : stopRequested
            ? STOPPED_REASONS[stopRequested]
            : 'Essential container in task exited',
        environment,
      });
    };
    child.once('exit', (code, signal) => {
      // The essential container exited: ECS stops the task, so whatever it spawned ends with it.
      killGroup(child, 'SIGKILL');
      void finish(code, signal);
    });
    child.once('error', (error) => void finish(null, null, error.message));
  });

  return {
    taskArn,
    pid: child.pid,
    result,
    async stop(graceMs = taskStopTimeoutSeconds(task) * 1000, stopCode: TaskStopCode = 'UserInitiated') {
      if (child.exitCode === null && child.signalCode === null) {
        stopRequested = stopCode;
        child.kill('SIGTERM');
        // ECS kills the whole container: whatever the task spawned too.
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        await result;
        clearTimeout(timer);
      }
      return result;
    },
  };
}
