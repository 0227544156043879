import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { COMPILE_CACHE_ENV } from './compile-cache.ts';

// What a developer meets when `npm start` cannot start: the real scripts/start.ts, each run on a
// state dir of its own and free ports, so the runs go in parallel with each other and with a cloud
// a developer has running.
const rootDir = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'start-failures-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), 'SIGKILL');
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** A new directory under this file's scratch directory. */
function directory(name: string): string {
  return mkdtempSync(join(scratch, `${name}-`));
}

/**
 * Starts scripts/start.ts (no build, every port free) on `stateDir` with `args`, in a process group
 * of its own as a terminal runs it, so a Ctrl-C (SIGINT to the group) reaches all of it.
 */
function start(stateDir: string, args: readonly string[] = [], env: Readonly<Record<string, string>> = {}) {
  const child = spawn(
    process.execPath,
    [
      'scripts/start.ts',
      '--no-build',
      ...['--port', '0', '--smtp-port', '0', '--database-port', '0', '--console-port', '0'],
      ...['--state-dir', stateDir],
      ...args,
    ],
    {
      cwd: rootDir,
      env: { ...process.env, FORCE_COLOR: '0', ...COMPILE_CACHE_ENV, DATABASE_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  children.push(child);
  let output = '';
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const listener of listeners) listener();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** Resolves once the output matches `pattern`; rejects if the process exits first. */
  const printed = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(output)) return;
        listeners.delete(check);
        resolve();
      };
      listeners.add(check);
      exited.then(() => reject(new Error(`exited before printing ${pattern}:\n${output}`)));
      check();
    });
  return { child, exited, printed, output: () => output };
}

/** A stack frame's line, as Node prints an uncaught error: what a refusal must not print. */
const STACK_FRAME = /^\s+at /m;

/** A state dir holding only `file` (relative to it), with `content`. */
function stateWith(file: string, content: string | Buffer): { stateDir: string; path: string } {
  const stateDir = directory('state');
  const path = join(stateDir, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode: 0o600 });
  return { stateDir, path };
}

describe('npm start on a damaged state dir', () => {
  // Cut off as a crash in the middle of a write by something else than the local cloud's own writer
  // (which renames a whole file into place) leaves it, or edited by hand.
  const SECRET = 'export-signing-key-0123456789abcdef';
  // One file of each kind through the real start (the other JSON files are read by the same
  // readStateFile: local-cloud's local-state.test.ts refuses each of them).
  it.each([
    [
      'aws/secrets-manager.json',
      'not valid JSON',
      `[{"arn":"arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-export-download-key","versions":[{"secretString":"${SECRET}`,
    ],
    [
      'aws/fauxqs.db',
      'not a SQLite database',
      'no database, only garbage longer than its header'.repeat(100),
    ],
    ['postgres/PG_VERSION', 'a PostgreSQL data directory of version 16, this one runs 18', '16\n'],
  ])(
    'names %s and says it is %s, in one line without its content or a stack, and exits 1',
    async (file, problem, content) => {
      const { stateDir, path } = stateWith(file, content);
      const what = file === 'postgres/PG_VERSION' ? dirname(path) : path;
      const cloud = start(stateDir);
      expect(await cloud.exited).toBe(1);
      expect(cloud.output()).toContain(
        `${what} is ${problem}: move it aside, or \`npm start -- --fresh\`, which clears all local state\n`,
      );
      expect(cloud.output()).not.toMatch(STACK_FRAME);
      expect(cloud.output()).not.toContain(SECRET);
      expect(cloud.output()).not.toContain('sidestep local cloud is up');
    },
    60_000,
  );
});

describe('npm start with a DATABASE_URL it cannot use', () => {
  const PASSWORD = 'hunter2-not-to-be-printed';

  it('names DATABASE_URL and the server without its password, says why, and exits 1: nothing listens', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe: Server = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise((resolve) => probe.close(resolve));
    const cloud = start(directory('state'), [], {
      DATABASE_URL: `postgres://app:${PASSWORD}@127.0.0.1:${port}/sidestep`,
    });
    expect(await cloud.exited).toBe(1);
    expect(cloud.output()).toContain(
      `DATABASE_URL (app@127.0.0.1:${port}/sidestep) cannot be used: connect ECONNREFUSED 127.0.0.1:${port}. Fix it, or unset DATABASE_URL to use the embedded PostgreSQL\n`,
    );
    expect(cloud.output()).not.toContain(PASSWORD);
    expect(cloud.output()).not.toMatch(STACK_FRAME);
  }, 60_000);

  it("gives PostgreSQL's own reason: a server that refuses the password", async () => {
    // A server that answers every startup message as PostgreSQL answers a wrong password: an
    // ErrorResponse (severity, SQLSTATE 28P01, message), https://www.postgresql.org/docs/current/protocol-message-formats.html
    const reason = 'password authentication failed for user "app"';
    const fields = Buffer.from(`SFATAL\0C28P01\0M${reason}\0\0`);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(fields.length + 4);
    const server: Server = createServer((socket) => {
      socket.once('data', () => socket.end(Buffer.concat([Buffer.from('E'), length, fields])));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const cloud = start(directory('state'), [], {
        DATABASE_URL: `postgres://app:${PASSWORD}@127.0.0.1:${port}/sidestep`,
      });
      expect(await cloud.exited).toBe(1);
      expect(cloud.output()).toContain(
        `DATABASE_URL (app@127.0.0.1:${port}/sidestep) cannot be used: ${reason}. Fix it, or unset DATABASE_URL to use the embedded PostgreSQL\n`,
      );
      expect(cloud.output()).not.toContain(PASSWORD);
      expect(cloud.output()).not.toMatch(STACK_FRAME);
    } finally {
      server.close();
    }
  }, 60_000);
});

describe('npm start on a state dir it cannot write', () => {
  it('names the state dir and the reason, and exits 1', async () => {
    // A path under a regular file cannot become a directory (ENOTDIR), whoever runs the test: root
    // writes through any permission bits, so a chmod would not do.
    const file = join(directory('file'), 'a-file');
    writeFileSync(file, '');
    const stateDir = join(file, 'state');
    const cloud = start(stateDir);
    expect(await cloud.exited).toBe(1);
    expect(cloud.output()).toContain(
      `state dir ${stateDir} is not writable (ENOTDIR): free space, fix its permissions, or pick --state-dir\n`,
    );
    expect(cloud.output()).not.toMatch(STACK_FRAME);
  }, 60_000);
});

describe('Ctrl-C while npm start is starting', () => {
  it('stops what had started, leaves no temporary directory, prints "stopped" and exits 0', async () => {
    // A temporary directory of this run's own: the synthesized stack's and the sandboxes' go there.
    const tmp = directory('tmp');
    const cloud = start(directory('state'), [], { TMPDIR: tmp });
    // A service's sandbox is up (its /tmp made) and the banner is not printed yet.
    await cloud.printed(/service +\S+ started/);
    expect(cloud.output()).not.toContain('Ctrl-C stops everything.');
    process.kill(-(cloud.child.pid as number), 'SIGINT');
    expect(await cloud.exited).toBe(0);
    expect(cloud.output()).toMatch(/\nstopped\n/);
    expect(cloud.output()).not.toContain('Ctrl-C stops everything.');
    expect(readdirSync(tmp).filter((name) => /^sidestep-(synth|lambda)-/.test(name))).toEqual([]);
  }, 60_000);
});

describe('the root scripts that run a .ts file', () => {
  const scripts = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')).scripts as Record<
    string,
    string
  >;

  const ROOT_TS_SCRIPTS = ['fire-schedule', 'sidestep', 'images', 'preflight', 'new-service'];

  it('each goes through scripts/pnpm.mjs, as npm start does', () => {
    for (const name of ROOT_TS_SCRIPTS)
      expect(scripts[name]).toMatch(/^node scripts\/pnpm\.mjs node \S+\.ts$/);
  });

  // One run through the shell stands for the five: the same entry, scripts/pnpm.mjs, runs them.
  it.each(['sidestep'])(
    '%s runs on the workspace Node 24 when the shell finds an older node first',
    (name) => {
      // As npm runs a script (sh -c), with only the system's directories on PATH: the `node` found is
      // the system's (Node 20 here), as on a fresh clone before the first install. --help runs nothing.
      const systemPath = ['/usr/local/bin', '/usr/bin', '/bin'].join(':');
      const run = spawnSync('sh', ['-c', `${scripts[name]} --help`], {
        cwd: rootDir,
        env: { ...process.env, PATH: systemPath, ...COMPILE_CACHE_ENV },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
      expect(run.stdout).toMatch(/Usage:/);
      expect(run.status).toBe(0);
    },
    60_000,
  );
});
