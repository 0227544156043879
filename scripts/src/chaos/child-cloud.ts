import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** `node scripts/start.ts` running as its own process group, as a person starts it. */
export interface ChildCloud {
  readonly endpoint: string;
  readonly databaseUrl: string;
  readonly outboxDir: string;
  readonly pid: number;
  /** SIGKILL to the whole process group: the cloud, its sandboxes and task containers, as a crashed machine. */
  crash(): Promise<void>;
  /** SIGTERM (Ctrl-C): the cloud stops as it does for a person. */
  stop(): Promise<void>;
}

/** The start script exited before it printed its banner. */
export class ChildCloudStartError extends Error {
  override readonly name = 'ChildCloudStartError';
  readonly output: string;
  constructor(output: string) {
    super(`the local cloud exited before it was up:\n${output.slice(-2_000)}`);
    this.output = output;
  }
}

/**
 * Starts the local cloud from `stateDir` (resuming what is there) on free ports with the bundles
 * already built, and resolves once its banner is printed. With `databaseUrl` the services use that
 * PostgreSQL server, else the embedded database in the state dir.
 */
export async function startChildCloud(options: {
  readonly rootDir: string;
  readonly stateDir: string;
  readonly databaseUrl?: string | undefined;
}): Promise<ChildCloud> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      'scripts/start.ts',
      '--no-build',
      '--quiet-logs',
      ...['--port', '0', '--smtp-port', '0', '--database-port', '0'],
      ...['--state-dir', options.stateDir],
      ...(options.databaseUrl ? ['--database-url', options.databaseUrl] : []),
    ],
    {
      cwd: options.rootDir,
      // Its own process group, so a crash takes its sandboxes and tasks with it.
      detached: true,
      env: { ...process.env, FORCE_COLOR: '0', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const append = (chunk: Buffer) => {
    // Only the start matters (the banner) and the end (why it failed).
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stderr?.on('data', append);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      append(chunk);
      if (output.includes('Ctrl-C stops everything.')) resolve();
    });
    void exited.then(() => reject(new ChildCloudStartError(output)));
  });
  const endpoint = /^ {2}endpoint +(\S+)/m.exec(output)?.[1] ?? '';
  const databaseUrl = options.databaseUrl ?? /^ {2}database +(\S+)/m.exec(output)?.[1] ?? '';
  const pid = child.pid ?? 0;
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(name === 'SIGKILL' ? -pid : pid, name);
      } catch {
        // Already gone.
      }
    }
    await exited;
  };
  return {
    endpoint,
    databaseUrl,
    outboxDir: join(options.stateDir, 'outbox'),
    pid,
    crash: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
}
