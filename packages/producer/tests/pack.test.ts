import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FauxqsServer, startFauxqs } from 'fauxqs';

// The producer as another team's app gets it: `npm pack` of this package, installed into a project
// outside the workspace (no pnpm, no workspace links, no TypeScript sources), run on the system Node
// (20 on the build machines, the oldest the package supports), sending to a local SQS.

const run = promisify(execFile);
const packageDir = join(import.meta.dirname, '..');
const workspaceDir = join(packageDir, '..', '..');
const require = createRequire(import.meta.url);

/**
 * Where a runtime dependency of the package is installed here: the scratch project links to it (no
 * network). From its package.json, or, where `exports` hide that (p-limit), from its entry point.
 */
async function installedDir(name: string): Promise<string> {
  try {
    return await realpath(dirname(require.resolve(`${name}/package.json`)));
  } catch {
    let dir = dirname(require.resolve(name));
    while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
    return realpath(dir);
  }
}

/** PATH without the workspace's bins, so `node` is the system's, not the workspace's Node 24. */
const systemPath = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((entry) => !entry.split(sep).includes('node_modules'))
  .join(delimiter);

let server: FauxqsServer;
let sqs: SQSClient;
let queueUrl: string;
let scratch: string;

beforeAll(async () => {
  server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  ({ QueueUrl: queueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: 'packed-producer' })));
  scratch = await realpath(await mkdtemp(join(tmpdir(), 'sidestep-producer-consumer-')));
});

afterAll(async () => {
  sqs?.destroy();
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the packed producer', () => {
  it('installs outside the workspace, typechecks, and sends a job the queue delivers', async () => {
    expect(relative(workspaceDir, scratch).startsWith('..')).toBe(true);

    // The package's `build` ran before its tests (turbo's `test` depends on `build`), so `prepare` is
    // skipped: rebuilding dist here would empty it under packages that typecheck or bundle against it
    // at the same time.
    const { stdout: packed } = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch],
      {
        cwd: packageDir,
      },
    );
    const [{ filename, files }] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
    const paths = files.map((file) => file.path).sort();
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/types/producer/src/index.d.ts');
    expect(paths.filter((path) => path.startsWith('src/') || path.startsWith('tests/'))).toEqual([]);
    // No third-party code inlined (its licence would have to travel with it): every package the
    // bundle's sources come from is the project's own, the rest are dependencies the app installs.
    const map = JSON.parse(await readFile(join(packageDir, 'dist', 'index.js.map'), 'utf8')) as {
      sources: string[];
    };
    expect(map.sources.filter((source) => source.includes('node_modules/'))).toEqual([]);
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@aws-sdk/client-s3',
      '@aws-sdk/client-sqs',
      '@smithy/core',
      'p-limit',
      'zod',
    ]);

    await writeFile(
      join(scratch, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: {
          '@sidestep/producer': `file:./${filename}`,
          // The package's runtime dependencies, linked to the copies installed here: offline.
          '@aws-sdk/client-s3': `file:${await installedDir('@aws-sdk/client-s3')}`,
          '@aws-sdk/client-sqs': `file:${await installedDir('@aws-sdk/client-sqs')}`,
          '@smithy/core': `file:${await installedDir('@smithy/core')}`,
          'p-limit': `file:${await installedDir('p-limit')}`,
          zod: `file:${await installedDir('zod')}`,
          // A TypeScript consumer has Node's types (the AWS SDK's declarations need them).
          '@types/node': `file:${await installedDir('@types/node')}`,
        },
      }),
    );
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: scratch,
    });

    // The types: a consumer's TypeScript finds them through `exports` and rejects a wrong param.
    await writeFile(
      join(scratch, 'consumer.ts'),
      `import { Producer, type EnqueueResult } from '@sidestep/producer';
declare const producer: Producer;
export const results: Promise<EnqueueResult[]> = producer.enqueue([
  { type: 'mail.send', version: 1, payload: { template: 'export.failed', to: 'a@example.com', params: { jobId: 'j', reason: 'r' } } },
]);
// @ts-expect-error export.failed has no rows param
producer.enqueue([{ type: 'mail.send', version: 1, payload: { template: 'export.failed', to: 'a@example.com', params: { jobId: 'j', rows: 1 } } }]);
`,
    );
    await writeFile(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        // No skipLibCheck: the package's own declarations are checked as a consumer's compiler reads them.
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
    const typecheck = await run(process.execPath, [tsc, '-p', scratch], { cwd: scratch }).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }),
    );
    expect(typecheck.stdout).toBe('');

    // The example the README points at, run as its README says (`npm start` there is `node send.mjs`).
    await copyFile(join(workspaceDir, 'examples', 'producer', 'send.mjs'), join(scratch, 'send.mjs'));
    const env = {
      PATH: systemPath,
      HOME: process.env.HOME ?? scratch,
      MAIL_QUEUE_URL: queueUrl,
      AWS_ENDPOINT_URL: `http://127.0.0.1:${server.port}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    const { stdout: version } = await run('/usr/bin/env', ['node', '--version'], { env });
    // Not the workspace's Node 24 unless the machine's own node is 24 too (CI's setup-node).
    expect(version).toMatch(/^v2\d\./);
    const { stdout } = await run('/usr/bin/env', ['node', 'send.mjs'], { cwd: scratch, env });
    const results = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(results).toEqual([
      { status: 'sent', id: expect.stringMatching(/^[0-9a-f-]{36}$/) },
      { status: 'invalid', field: 'payload.to' },
    ]);

    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((message) => JSON.parse(message.Body ?? '{}'))).toEqual([
      expect.objectContaining({
        type: 'mail.send',
        version: 1,
        id: (results[0] as { id: string }).id,
        payload: expect.objectContaining({ template: 'export.failed', to: 'ops@example.com' }),
      }),
    ]);
  }, 120_000);
});
