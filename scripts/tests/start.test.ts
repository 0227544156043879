import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { signIn } from '@sidestep/console/testing';
import { COMPILE_CACHE_ENV } from './compile-cache.ts';

// Runs the real `pnpm start` entry (the mail-dispatcher bundle turbo built before this test, the
// embedded PostgreSQL) as a person would, on free ports so it never collides with a running cloud.
const rootDir = join(import.meta.dirname, '..', '..');
const node = process.execPath;
const children: ChildProcess[] = [];
const groupLeaders = new Set<ChildProcess>();
// Never the repository's own .sidestep: a developer's cloud may be using its database right now.
const stateDir = mkdtempSync(join(tmpdir(), 'start-test-'));

afterAll(() => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // A child started in a group of its own (detached) takes the cloud it started down with it.
    if (groupLeaders.has(child)) process.kill(-(child.pid as number), 'SIGKILL');
    else child.kill('SIGKILL');
  }
  rmSync(stateDir, { recursive: true, force: true });
});

/** Starts the cloud (scripts/start.ts) with `args`. */
function start(...args: string[]) {
  return startWith(['scripts/start.ts'], args);
}

/**
 * Starts the cloud through `entry` with `args`; `detached`: in a process group of its own, as a
 * terminal runs a command, so that a Ctrl-C (SIGINT to the group) reaches every process of it.
 */
function startWith(
  entry: string[],
  args: string[],
  options: { detached?: boolean; env?: Readonly<Record<string, string>> } = {},
) {
  const child = spawn(
    node,
    [
      ...entry,
      '--no-build',
      '--smtp-port',
      '0',
      '--database-port',
      '0',
      '--console-port',
      '0',
      '--state-dir',
      stateDir,
      ...args,
    ],
    {
      cwd: rootDir,
      env: { ...process.env, FORCE_COLOR: '0', ...COMPILE_CACHE_ENV, DATABASE_URL: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    },
  );
  children.push(child);
  if (options.detached) groupLeaders.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const printed = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (output.includes(text)) {
          child.stdout?.off('data', check);
          resolve();
        }
      };
      child.stdout?.on('data', check);
      exited.then(() => reject(new Error(`exited before printing "${text}":\n${output}`)));
      check();
    });
  return { child, exited, printed, output: () => output };
}

describe('scripts/start.ts', () => {
  it('prints the banner once everything is up and exits 0 on Ctrl-C, started as `npm start` starts it (with SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE and _SANDBOX_RECIPIENTS)', async () => {
    // What `npm start` runs (its script, after `node`); Ctrl-C in a terminal signals the whole group.
    const npmStart = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')).scripts.start as string;
    const [program, ...entry] = npmStart.split(' ');
    expect(program).toBe('node');
    // With a mail send rate, as SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE gives a deployed environment (one
    // start serves both checks: a start of the cloud takes seconds).
    const cloud = startWith(entry, ['--port', '0'], {
      detached: true,
      env: {
        SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE: '14',
        SIDESTEP_LOCAL_MAIL_SANDBOX_RECIPIENTS: 'ops@sidestep.localhost, qa@sidestep.localhost',
        SIDESTEP_LOCAL_FARGATE_VCPUS: '4',
        SIDESTEP_LOCAL_LAMBDA_CONCURRENCY: '10',
      },
    });
    await cloud.printed('Ctrl-C stops everything.');
    // https://repost.aws/knowledge-center/ses-554-400-message-rejected-error
    expect(cloud.output()).toContain(
      'the SES sandbox: mail only to ops@sidestep.localhost, qa@sidestep.localhost, to others 554 Email address is not verified',
    );
    // https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
    expect(cloud.output()).toContain(
      'at most 14 mails/s, above it 454 Throttling failure as SES (MAIL_MAX_SEND_RATE=14)',
    );
    // The account's Fargate vCPU quota, as SIDESTEP_LOCAL_FARGATE_VCPUS gives it.
    expect(cloud.output()).toContain(
      "fargate    at most 4 vCPUs of tasks at once (the account's vCPU quota); a RunTask past them starts nothing",
    );
    // The account's Lambda concurrency quota, as SIDESTEP_LOCAL_LAMBDA_CONCURRENCY gives it.
    expect(cloud.output()).toContain(
      "lambda     at most 10 invocations of all functions at once (the account's concurrency quota)",
    );
    expect(cloud.output()).toMatch(/queue +http:\/\/127\.0\.0\.1:\d+\/000000000000\/sidestep-local-mail\n/);
    expect(cloud.output()).toMatch(
      /MAIL_QUEUE_URL=http:\/\/127\.0\.0\.1:\d+\/000000000000\/sidestep-local-mail/,
    );
    expect(cloud.output()).toContain('service  mail-dispatcher started');
    expect(cloud.output()).toContain(`data in ${stateDir}`);
    // A first start on an empty state dir resumes nothing, and says so.
    expect(cloud.output()).toContain(`state      ${stateDir}/  new: nothing to resume, started empty;`);
    expect(cloud.output()).toMatch(/psql postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\n/);
    // The banner's console URL, with its secret, signs in and answers with the overview of this
    // cloud; without the secret the console answers 401.
    const consoleUrl = /console +(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}) /.exec(cloud.output())?.[1];
    expect(consoleUrl).toBeDefined();
    expect((await fetch(new URL('/', consoleUrl))).status).toBe(401);
    const overview = await (await signIn(consoleUrl ?? ''))('/');
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain('environment local');

    process.kill(-(cloud.child.pid as number), 'SIGINT');
    expect(await cloud.exited).toBe(0);
    expect(cloud.output()).toContain('stopped');
    // Nothing after it reports a failure (pnpm's "ELIFECYCLE Command failed." did).
    expect(cloud.output().slice(cloud.output().indexOf('stopped'))).not.toMatch(/fail|error/i);
  }, 60_000);

  // Infra reads an empty SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS as unset: so does `npm start`, which
  // would otherwise refuse every recipient.
  it('starts without a sandbox when SIDESTEP_LOCAL_MAIL_SANDBOX_RECIPIENTS is empty', async () => {
    const cloud = startWith(['scripts/start.ts'], ['--port', '0'], {
      detached: true,
      env: { SIDESTEP_LOCAL_MAIL_SANDBOX_RECIPIENTS: '' },
    });
    await cloud.printed('Ctrl-C stops everything.');
    expect(cloud.output()).not.toContain('SES sandbox');
    expect(cloud.output()).not.toContain('  fargate ');
    expect(cloud.output()).not.toContain('  lambda ');
    expect(cloud.output()).toMatch(/smtp sink {2}smtp:\/\/127\.0\.0\.1:\d+ {2}mail lands in [^;\n]*\n/);
    process.kill(-(cloud.child.pid as number), 'SIGINT');
    expect(await cloud.exited).toBe(0);
  }, 60_000);

  it.each([
    [
      'SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE',
      '14/s',
      'must be a number of mails per second above 0 and at most 100000',
    ],
    ['SIDESTEP_LOCAL_MAIL_SANDBOX_RECIPIENTS', 'ops@sidestep.localhost,ops', '"ops" is not an email address'],
    ['SIDESTEP_LOCAL_FARGATE_VCPUS', '0', 'must be a number of vCPUs above 0'],
    ['SIDESTEP_LOCAL_LAMBDA_CONCURRENCY', '2.5', 'must be a whole number of invocations of at least 1'],
  ])(
    'refuses a %s of %j, naming it and why, and exits 1',
    async (variable, value, why) => {
      const cloud = startWith(['scripts/start.ts'], ['--port', '0'], { env: { [variable]: value } });
      expect(await cloud.exited).toBe(1);
      expect(cloud.output()).toContain(`from env '${variable}' is invalid`);
      expect(cloud.output()).toContain(why);
      expect(cloud.output()).not.toContain('sidestep local cloud is up');
    },
    60_000,
  );

  // A second cloud on the state dir of a running one rewrote its files (its executions lost, its
  // embedded database's catalog corrupted) and, with --fresh, emptied it under it.
  it('refuses a second local cloud on a running one’s state dir, with --fresh too, and leaves its state', async () => {
    const first = start('--port', '0');
    await first.printed('Ctrl-C stops everything.');
    // On other ports, and on the first's own (whose busy ports say less than the lock does).
    const endpointPort = /http:\/\/127\.0\.0\.1:(\d+)\/000000000000\//.exec(first.output())?.[1] ?? '';
    for (const ports of [
      ['--port', '0'],
      ['--port', endpointPort],
    ]) {
      const second = start(...ports, '--fresh');
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain(
        `the state dir ${stateDir} is in use by another local cloud (pid ${first.child.pid})`,
      );
    }
    expect(existsSync(join(stateDir, 'aws'))).toBe(true);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(existsSync(join(stateDir, 'local-cloud.lock'))).toBe(false);
  }, 60_000);

  // Each port is checked before anything starts (the console's too, which starts last), and the
  // message names the flag of that port only.
  it.each([
    ['--port', 'Port %d (SQS + S3 endpoint) is already in use'],
    ['--smtp-port', 'Port %d (SMTP sink) is already in use'],
    ['--database-port', 'Port %d (embedded PostgreSQL) is already in use'],
    ['--console-port', 'Port %d (console) is already in use'],
  ])(
    'says which port is busy when %s is taken, naming the flag, before starting anything, and exits 1',
    async (flag, message) => {
      const blocker: Server = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      const busy = typeof address === 'object' && address ? address.port : 0;
      try {
        const cloud = start('--port', '0', flag, String(busy));
        expect(await cloud.exited).toBe(1);
        expect(cloud.output()).toContain(message.replace('%d', String(busy)));
        expect(cloud.output()).toContain(`pick ${flag} (0 picks a free one)`);
        expect(cloud.output()).not.toMatch(/ --port \/ --smtp-port|service +\S+ started/);
      } finally {
        blocker.close();
      }
    },
    60_000,
  );
});
