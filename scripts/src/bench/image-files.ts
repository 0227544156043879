import { chmodSync, copyFileSync, globSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A Lambda image's task root rebuilt from its Dockerfile: the exact files, and its `ENV` lines. */
export interface ImageTaskRoot {
  /** A fresh directory holding the files the Dockerfile copies into ${LAMBDA_TASK_ROOT} (read-only files). */
  readonly dir: string;
  /** The copied files, as the build context names them (`dist/index.mjs`, `dist/chunk-*.mjs`, ...). */
  readonly files: readonly string[];
  /** Bytes of the copied JavaScript (`.mjs`), source maps left out. */
  readonly javascriptBytes: number;
  /** The Dockerfile's `ENV` variables that mean something outside the base image. */
  readonly environment: Record<string, string>;
  /** `ENV` variables left out, with the reason. */
  readonly leftOut: Record<string, string>;
}

/**
 * The base image's own files: variables pointing at them name files this machine does not have, so
 * they are left out of a local run (Node would only warn that it cannot read them).
 */
const BASE_IMAGE_PATHS = /^\/var\/runtime\//;

/**
 * Copies what `packageDir`'s Dockerfile copies into ${LAMBDA_TASK_ROOT} (COPY sources are globs, as
 * Docker expands them) into a new directory, makes the files read-only, and returns it with the
 * image's `ENV` variables: the image path of a cold start, without Docker.
 */
export function imageTaskRoot(packageDir: string): ImageTaskRoot {
  const dockerfile = readFileSync(join(packageDir, 'Dockerfile'), 'utf8').split('\n');
  const copy = dockerfile.find((line) => /^COPY\s.*\$\{LAMBDA_TASK_ROOT\}/.test(line));
  if (!copy) throw new Error(`${packageDir}/Dockerfile has no COPY into the task root (LAMBDA_TASK_ROOT)`);
  const patterns = copy.trim().split(/\s+/).slice(1, -1);
  const files = patterns.flatMap((pattern) => globSync(pattern, { cwd: packageDir })).sort();
  const dir = mkdtempSync(join(tmpdir(), 'sidestep-bench-task-'));
  let javascriptBytes = 0;
  for (const file of files) {
    const target = join(dir, file.split('/').at(-1) as string);
    copyFileSync(join(packageDir, file), target);
    chmodSync(target, 0o444);
    if (file.endsWith('.mjs')) javascriptBytes += statSync(target).size;
  }
  const environment: Record<string, string> = {};
  const leftOut: Record<string, string> = {};
  for (const line of dockerfile) {
    const match = /^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/.exec(line);
    if (!match) continue;
    const [, name, value] = match as unknown as [string, string, string];
    if (BASE_IMAGE_PATHS.test(value)) leftOut[name] = `${value} is a file of the base image`;
    else environment[name] = value;
  }
  return { dir, files, javascriptBytes, environment, leftOut };
}
