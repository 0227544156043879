import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** turbo's dry run did not report a build task for a package asked for. */
export class MissingBuildHashError extends Error {
  override readonly name = 'MissingBuildHashError';
  readonly packageName: string;
  constructor(packageName: string) {
    super(`turbo reported no build task hash for ${packageName} (does it have a "build" script?)`);
    this.packageName = packageName;
  }
}

/**
 * The hash turbo gives each package's `build` task (`turbo run build --dry=json`): it covers the
 * task's declared inputs, the resolved external dependencies and the hashes of every workspace
 * package it depends on, which is exactly "the bundle the image copies may have changed". Turbo
 * computes it without running anything (one call for all packages, ~0.2 s).
 */
export async function turboBuildHashes(
  rootDir: string,
  packageNames: readonly string[],
): Promise<ReadonlyMap<string, string>> {
  if (packageNames.length === 0) return new Map();
  const turbo = join(rootDir, 'node_modules', '.bin', 'turbo');
  const filters = packageNames.map((name) => `--filter=${name}`);
  const { stdout } = await run(turbo, ['run', 'build', '--dry=json', ...filters], {
    cwd: rootDir,
    maxBuffer: 64 * 1024 * 1024,
  });
  const dry = JSON.parse(stdout) as { tasks: { taskId: string; hash: string }[] };
  const hashes = new Map<string, string>();
  for (const name of packageNames) {
    const task = dry.tasks.find((candidate) => candidate.taskId === `${name}#build`);
    if (!task) throw new MissingBuildHashError(name);
    hashes.set(name, task.hash);
  }
  return hashes;
}
