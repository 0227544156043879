/**
 * The shared fixture of the services' image tests: the image contract is that the files the
 * Dockerfile copies into the task root (and nothing else) run through the Lambda Runtime API with a
 * read-only task root, as the Lambda Node.js base image runs them. Each service's test asserts its
 * own Dockerfile and behaviour; this module only reads the Dockerfile and stages the copied files.
 *
 * @example
 * ```ts
 * import { stageLambdaImage } from '@sidestep/lambda-runtime/testing';
 *
 * const image = stageLambdaImage(join(import.meta.dirname, '..'), service);
 * afterAll(() => image.close());
 * it('...', async () => {
 *   const fn = await image.start({ environment: { DATABASE_URL: url } });
 *   expect((await fn.invoke({})).ok).toBe(true);
 * });
 * ```
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, globSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from '@jest/globals';
import { type FunctionHost, type FunctionOptions, startFunction } from './function-host.ts';
import { type LambdaDockerfile, readLambdaDockerfile, stageTaskRoot } from './image.ts';
import { processStatFields } from './process-stat.ts';
import { runtimeInterfaceClientPath } from './sandbox.ts';

export { type LambdaDockerfile, readLambdaDockerfile } from './image.ts';

/**
 * The files every service image copies from its build context: the bundle (globs: the lazily loaded
 * chunks, dist/chunk-*.mjs, go along with dist/index.mjs), its source maps, and the notices of the
 * third-party code in it (packages/bundle writes THIRD-PARTY-NOTICES.txt).
 */
export const BUNDLE_IMAGE_FILES: readonly string[] = [
  'dist/*.mjs',
  'dist/*.mjs.map',
  'dist/THIRD-PARTY-NOTICES.txt',
];

/**
 * The one build step of every service image: V8's compiled code for the bundle, written by the base
 * image's node with the Lambda bootstrap's `--expose-gc` (packages/bundle/src/compile-cache.ts).
 */
export const COMPILE_CACHE_STEP = `node --expose-gc ${'$'}{LAMBDA_TASK_ROOT}/compile-cache.mjs`;

/**
 * Asserts the contract every Lambda service image shares: the AWS Lambda Node.js 24 base image, only
 * the bundle, its source maps and its third-party notices copied into the task root, the compile
 * cache its one build step, and the manifest's handler as CMD.
 */
export function expectBundleOnlyImage(dockerfile: LambdaDockerfile, handler: string): void {
  expect(dockerfile.copiedFiles).toEqual(BUNDLE_IMAGE_FILES);
  expect(dockerfile.run).toEqual([COMPILE_CACHE_STEP]);
  expect(dockerfile.from).toMatch(/^public\.ecr\.aws\/lambda\/nodejs:24\b/);
  expect(dockerfile.cmd).toBe(handler);
}

/**
 * Asserts that `imageDir` (a staged task root, or the batch-worker's /app) holds
 * THIRD-PARTY-NOTICES.txt and that it names, as a `name@version` line, every third-party package
 * whose code is in the image's .mjs files: by the bundle's metafile (`<packageDir>/dist/meta.json`),
 * the inputs with bytes in each copied output that lie under a node_modules directory. (Not by the
 * source maps: esbuild maps through a dependency's own maps, so a prebuilt package's map names
 * sources, such as the packages it bundled, that are not installed.)
 */
export function expectThirdPartyNotices(imageDir: string, packageDir: string): void {
  const noticesFile = join(imageDir, 'THIRD-PARTY-NOTICES.txt');
  if (!existsSync(noticesFile)) throw new Error(`the image has no THIRD-PARTY-NOTICES.txt: ${noticesFile}`);
  const named = new Set(readFileSync(noticesFile, 'utf8').split('\n'));
  const { outputs } = JSON.parse(readFileSync(join(packageDir, 'dist/meta.json'), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const shipped = new Set<string>();
  for (const file of globSync('*.mjs', { cwd: imageDir })) {
    const output = outputs[`dist/${file}`];
    if (!output) throw new Error(`dist/meta.json has no output dist/${file}: a stale file in the image?`);
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      // Greedy: the package under the last node_modules of the path (pnpm nests them).
      const root = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(resolve(packageDir, input))?.[1];
      if (root === undefined || bytesInOutput === 0) continue;
      const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
      };
      shipped.add(`${name}@${version}`);
    }
  }
  expect([...shipped].filter((entry) => !named.has(entry)).sort()).toEqual([]);
}

/** What an image test takes from the service's manifest. */
export interface ImageService {
  readonly name: string;
  readonly handler: string;
  readonly memoryMb?: number;
  readonly timeoutSeconds?: number;
}

/** Options of {@link LambdaImage.start}: the function's own, the rest comes from the manifest. */
export interface ImageFunctionOptions
  extends Omit<FunctionOptions, 'bundleDir' | 'name' | 'handler' | 'readOnly' | 'isolate'> {
  /** @default `sidestep-test-<service name>` */
  readonly name?: string;
  /** Another handler the same bundle exports. @default the manifest's handler */
  readonly handler?: string;
}

/** A service's image staged for a test: its Dockerfile and a task root holding what it copies. */
export interface LambdaImage {
  /** The service's package directory, where its Dockerfile is. */
  readonly packageDir: string;
  readonly service: ImageService;
  readonly dockerfile: LambdaDockerfile;
  /** A fresh directory outside the workspace with the copied files, as /var/task in the image. */
  readonly taskRoot: string;
  /**
   * Runs the task root read-only, in place, as a user who owns none of it (when the tests run as
   * root), with the manifest's memory and timeout and
   * `POWERTOOLS_SERVICE_NAME` set to the service's name (the variables given win).
   */
  start(options: ImageFunctionOptions): Promise<FunctionHost>;
  /** Closes every function started and removes the task root. */
  close(): Promise<void>;
}

let sandboxUser: { uid: number; gid: number } | null | undefined;

/**
 * The user a test runs a Lambda function as: `nobody`, who owns none of an image's files, as Lambda's
 * sandbox user owns none of /var/task; or undefined (the host's own user) where the tests do not run
 * as root, or where `nobody` cannot start this Node or read the runtime interface client (a checkout
 * under a directory only its owner may enter, such as /root), which would fail every start with a
 * misleading "cannot find module".
 */
export function lambdaSandboxUser(): { uid: number; gid: number } | undefined {
  if (sandboxUser === undefined) {
    const nobody = { uid: 65534, gid: 65534 };
    const reachable =
      process.getuid?.() === 0 &&
      spawnSync(
        process.execPath,
        ['-e', `require('node:fs').accessSync(${JSON.stringify(runtimeInterfaceClientPath)}, 4)`],
        { ...nobody, stdio: 'ignore', timeout: 10_000 },
      ).status === 0;
    sandboxUser = reachable ? nobody : null;
  }
  return sandboxUser ?? undefined;
}

/**
 * Stages the service's task root as its Dockerfile builds it ({@link stageTaskRoot}: the files it
 * copies, what its `RUN` steps make) in a fresh directory.
 */
export function stageLambdaImage(packageDir: string, service: ImageService): LambdaImage {
  const dockerfile = readLambdaDockerfile(packageDir);
  const taskRoot = stageTaskRoot(packageDir, dockerfile).dir;
  const user = lambdaSandboxUser();
  const started: FunctionHost[] = [];
  return {
    packageDir,
    service,
    dockerfile,
    taskRoot,
    async start({ environment, ...options }) {
      const fn = await startFunction({
        name: `sidestep-test-${service.name}`,
        handler: service.handler,
        memoryMb: service.memoryMb,
        timeoutSeconds: service.timeoutSeconds,
        onLog: () => {},
        ...options,
        bundleDir: taskRoot,
        readOnly: true,
        // Not copied again: the staged task root already lies outside the workspace, and its compile
        // cache names each module by its path, as /var/task's does in the image.
        isolate: false,
        // As Lambda runs an image's function: as a user who owns none of its files.
        ...(user ? { user } : {}),
        environment: { POWERTOOLS_SERVICE_NAME: service.name, ...environment },
      });
      started.push(fn);
      return fn;
    },
    async close() {
      await Promise.all(started.map((fn) => fn.close()));
      rmSync(taskRoot, { recursive: true, force: true });
    },
  };
}

/**
 * The tests of the contract every Lambda service image keeps, one `it` each: its Dockerfile copies
 * only the bundle ({@link expectBundleOnlyImage}) and sets `environment` (the variables a service
 * needs in its image, such as `NODE_EXTRA_CA_CERTS` for the base image's Amazon CAs), its notices
 * name every third-party package in it ({@link expectThirdPartyNotices}), and a cold start reads
 * the compiled code its build step wrote ({@link expectCompiledCodeFromImage}).
 */
export function itKeepsTheImageContract(
  image: LambdaImage,
  options: { readonly environment?: Readonly<Record<string, string>> } = {},
): void {
  it('copies only the bundle, its maps and its third-party notices, and names the manifest handler as CMD', () => {
    expectBundleOnlyImage(image.dockerfile, image.service.handler);
    for (const [name, value] of Object.entries(options.environment ?? {})) {
      expect(image.dockerfile.environment[name]).toBe(value);
    }
  });

  it('carries the notices of every third-party package whose code is in its .mjs files', () => {
    expectThirdPartyNotices(image.taskRoot, image.packageDir);
  });

  it("reads V8's compiled code from the cache its build step wrote, not compiling at cold start", async () => {
    await expectCompiledCodeFromImage(image);
  });
}

/** The base image's Amazon CAs (RDS's among them), which Node loads only through this variable. */
export const BASE_IMAGE_CA_CERTS = { NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' } as const;

/**
 * Asserts that a cold start of the staged image reads V8's compiled code from the cache its
 * Dockerfile's build step wrote: by Node's own report (`NODE_DEBUG_NATIVE=COMPILE_CACHE` in the
 * function's environment, on its stderr), the handler and the modules loaded with it were accepted
 * from the cache, none was missing from it, refused or unreadable, and the loader did not report the
 * cache unusable. The function
 * gets no configuration and an empty event: Node compiles (or reads) every module before the
 * service's init runs, so what init or the invocation then does, fails included, does not matter.
 */
export async function expectCompiledCodeFromImage(image: LambdaImage): Promise<void> {
  const report: string[] = [];
  const fn = await image.start({
    name: 'sidestep-test-compile-cache',
    environment: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
    onLog: (line) => report.push(line),
  });
  await fn.invoke({});
  const accepted = report.flatMap(
    (line) =>
      /^\[compile cache\] V8 code cache for ESM file:\/\/\S*\/([^/\s]+\.mjs) was accepted/.exec(line)?.[1] ??
      [],
  );
  // The handler at least: a service whose init code esbuild merged into it (`mergeInitChunks`) loads
  // no other module at a cold start; every module that was loaded and not accepted is in `missed`.
  expect(accepted).toContain('handler.mjs');
  // A module of the image that the cache did not have ("was not initialized"), or had and V8 refused.
  const missed = report.filter(
    (line) =>
      (line.startsWith('[compile cache]') &&
        /ESM file:\/\/\S+ was not initialized|rejected|permission denied/.test(line)) ||
      line.startsWith('sidestep: '),
  );
  expect(missed).toEqual([]);
}

/** A Node process run by {@link startInProcessGroup}. */
export interface ProcessGroupLeader {
  /** Its pid, which is its process group's id: `process.kill(-group, signal)` signals the group. */
  readonly group: number;
  /** The first match of `pattern` in what it wrote to stdout, waited for (10 s at most). */
  lineOf(pattern: RegExp): Promise<RegExpExecArray>;
  /** Settles when it exited. */
  readonly exited: Promise<void>;
}

/**
 * Runs `node <args>` in `cwd` as the leader of a process group of its own, as a shell runs a
 * foreground job (a terminal's Ctrl-C is SIGINT to that group): for tests of what a host's
 * children do when the host is signalled.
 */
export function startInProcessGroup(args: readonly string[], cwd: string): ProcessGroupLeader {
  const child = spawn(process.execPath, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return {
    group: child.pid as number,
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
    async lineOf(pattern) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const match = pattern.exec(output);
        if (match) return match;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`the process wrote no ${pattern}: ${output}`);
    },
  };
}

/**
 * Whether a process `pid` runs. A zombie (ended, not yet reaped by whoever it was reparented to,
 * state `Z` in /proc/<pid>/stat) does not: signal 0 still reaches it, and a slow reaper would fail a
 * test of a process that did end.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // No /proc (macOS): signal 0 is the answer.
  return processStatFields(pid)?.[0] !== 'Z';
}

/**
 * Whether process `pid` is gone within `timeoutMs`; one still there is SIGKILLed, so a failing
 * test leaves nothing behind.
 */
export async function goneWithin(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!isAlive(pid)) return true;
  process.kill(pid, 'SIGKILL');
  return false;
}
