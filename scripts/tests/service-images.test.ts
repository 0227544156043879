import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { type BuiltPackage, SERVICES, TASKS } from '@sidestep/registry';

// Every image at once, generated from the same list `pnpm images` builds: a service added to
// the registry is checked here without anyone writing a test for it. The per-service
// tests/image.test.ts run each bundle through its runtime contract; this checks the image
// definitions around the bundle agree with the manifests.
const rootDir = join(import.meta.dirname, '..', '..');

/** A Dockerfile's instructions, comments dropped and `\` continuations joined. */
function instructions(packageDir: string): { keyword: string; args: string }[] {
  const text = readFileSync(join(rootDir, packageDir, 'Dockerfile'), 'utf8').replaceAll(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/** The final stage's base image. */
function baseImage(packageDir: string): string {
  const from = instructions(packageDir)
    .filter((instruction) => instruction.keyword === 'FROM')
    .at(-1);
  return (from?.args ?? '').replace(/^--platform=\S+\s+/, '').split(/\s+/)[0] ?? '';
}

/** The exec-form (JSON) value of the last CMD or ENTRYPOINT, undefined when absent. */
function execForm(packageDir: string, keyword: 'CMD' | 'ENTRYPOINT'): string[] | undefined {
  const found = instructions(packageDir)
    .filter((instruction) => instruction.keyword === keyword)
    .at(-1);
  // Shell form would run under /bin/sh -c, which is neither the Lambda RIC's handler argument nor a
  // PID 1 node that receives ECS's SIGTERM: only the JSON form is accepted.
  return found ? (JSON.parse(found.args) as string[]) : undefined;
}

/** The sources of every COPY, relative to the build context (the package directory). */
function copiedSources(packageDir: string): string[] {
  return (
    instructions(packageDir)
      // `COPY --from=<stage or image>` copies from another image, not from the build context.
      .filter((instruction) => instruction.keyword === 'COPY' && !/(^|\s)--from=/.test(instruction.args))
      .flatMap((instruction) =>
        instruction.args
          .split(/\s+/)
          .filter((word) => !word.startsWith('--'))
          .slice(0, -1),
      )
  );
}

/** The .dockerignore's patterns, comments and blank lines dropped. */
function ignorePatterns(packageDir: string): string[] {
  return readFileSync(join(rootDir, packageDir, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * The build context sends nothing but the bundle: everything excluded, then only files under
 * dist/ re-included, among them every file the Dockerfile copies.
 */
function expectContextIsTheBundle(entry: BuiltPackage): void {
  const [first, ...included] = ignorePatterns(entry.packageDir);
  expect(first).toBe('*');
  expect(included.length).toBeGreaterThan(0);
  for (const pattern of included) expect(pattern).toMatch(/^!dist\//);
  for (const source of copiedSources(entry.packageDir)) expect(included).toContain(`!${source}`);
}

// The Lambda base image (same image on Docker Hub as amazon/aws-lambda-nodejs), Node.js 24, optionally
// a more precise tag or a pinned digest.
const LAMBDA_NODE_24 =
  /^(public\.ecr\.aws\/lambda\/nodejs|amazon\/aws-lambda-nodejs):24(\.[\w.-]+)?(@sha256:[0-9a-f]{64})?$/;
// Node.js 24 slim (node:24-slim, node:24.11-bookworm-slim), from Docker Hub or its ECR Public mirror.
const NODE_24_SLIM =
  /^(public\.ecr\.aws\/docker\/library\/|docker\.io\/library\/)?node:24[\w.-]*-slim(@sha256:[0-9a-f]{64})?$/;

/**
 * The bundle maps its own stack traces when one is first formatted (packages/bundle,
 * source-mapped-stack-traces.ts); `--enable-source-maps` in an image's NODE_OPTIONS would have Node
 * parse every module's source map at every start again (10-24 ms of CPU per cold start,
 * bench/RESULTS.md) and switch the bundle's own mapping off.
 */
function sourceMapsTest(entry: BuiltPackage): void {
  it('leaves source maps to the bundle: no --enable-source-maps in its ENV', () => {
    const environment = instructions(entry.packageDir)
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => instruction.args);
    expect(environment.filter((args) => args.includes('--enable-source-maps'))).toEqual([]);
  });
}

function dockerignoreTest(entry: BuiltPackage): void {
  const name = `has a .dockerignore that sends only the bundle (dist) to the build`;
  const body = () => {
    expect(existsSync(join(rootDir, entry.packageDir, '.dockerignore'))).toBe(true);
    expectContextIsTheBundle(entry);
  };
  it(name, body);
}

describe.each(SERVICES.map((entry) => [entry.manifest.name, entry] as const))(
  'the %s image (Lambda)',
  (_, entry) => {
    it('is built on the AWS Lambda Node.js 24 base image', () => {
      expect(baseImage(entry.packageDir)).toMatch(LAMBDA_NODE_24);
    });

    it("names the manifest's handler as its CMD and keeps the base image's entrypoint (the runtime interface client)", () => {
      expect(execForm(entry.packageDir, 'CMD')).toEqual([entry.manifest.handler]);
      expect(execForm(entry.packageDir, 'ENTRYPOINT')).toBeUndefined();
    });

    dockerignoreTest(entry);
    sourceMapsTest(entry);
  },
);

describe.each(TASKS.map((entry) => [entry.manifest.name, entry] as const))(
  'the %s image (Fargate)',
  (_, entry) => {
    it('is built on a Node.js 24 slim image', () => {
      expect(baseImage(entry.packageDir)).toMatch(NODE_24_SLIM);
    });

    it("runs the manifest's command (ENTRYPOINT followed by CMD)", () => {
      const command = [
        ...(execForm(entry.packageDir, 'ENTRYPOINT') ?? []),
        ...(execForm(entry.packageDir, 'CMD') ?? []),
      ];
      expect(command).toEqual(entry.manifest.command);
    });

    dockerignoreTest(entry);
    sourceMapsTest(entry);
  },
);
