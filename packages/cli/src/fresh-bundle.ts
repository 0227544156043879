import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * What the bundle was built from and what it is, in `dist/inputs.json` (written by build.ts beside
 * the bundle), paths relative to the package.
 */
export interface BundleInputs {
  /**
   * What decides the bundle's bytes: the workspace's sources it inlines (the CLI's and its workspace
   * dependencies') with their packages' package.json, `pnpm-lock.yaml` (the third-party code it
   * inlines changes only with it), build.ts, the bundler's code and the TypeScript settings; each
   * with its size, modification time and SHA-256.
   */
  readonly sources: readonly (readonly [path: string, size: number, mtimeMs: number, sha256: string])[];
  /** The bundle's JavaScript files, each with its size. */
  readonly outputs: readonly (readonly [path: string, size: number])[];
  /** The Node that built it (`process.version`): the bundler reads some of Node's modules' exports. */
  readonly node: string;
}

/** The record of `dist/index.mjs`'s inputs, beside it. */
export const BUNDLE_INPUTS = join('dist', 'inputs.json');

/** The bundle of the CLI, run by the bin when it is fresh. */
const BUNDLE_ENTRY = join('dist', 'index.mjs');

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('base64');
}

/** Records `sources` and `outputs` (absolute paths) as they are now, for {@link freshBundle}. */
export function bundleInputs(
  packageDir: string,
  sources: readonly string[],
  outputs: readonly string[],
): BundleInputs {
  return {
    sources: sources.map((path) => {
      // Hashed before it is statted: a source saved in between is recorded with its new mtime, which
      // the build's check (a source changed since the build started) then sees.
      const hash = sha256(path);
      const { size, mtimeMs } = statSync(path);
      return [relative(packageDir, path), size, mtimeMs, hash] as const;
    }),
    outputs: outputs.map((path) => [relative(packageDir, path), statSync(path).size] as const),
    node: process.version,
  };
}

/**
 * The bundle's path when every source it was built from is as it was then and its files are all
 * there, else `undefined`: no bundle (a clone before its first build), or a source edited, added to
 * (its importer is edited too) or removed, the lockfile changed, a file of the bundle missing, or
 * another Node running it. The bin then runs the sources, which are always current; `turbo run
 * build` (and so `npm test`) rebuilds the bundle. A source of the same size and modification time is
 * taken as unchanged; one touched since (a `git checkout`, turbo restoring the bundle from its cache)
 * is compared by content. ~180 files: 2-5 ms, against the ~0.19 s of CPU the bundle saves a command
 * (bench/RESULTS.md).
 */
export function freshBundle(packageDir: string): string | undefined {
  let record: BundleInputs;
  try {
    record = JSON.parse(readFileSync(join(packageDir, BUNDLE_INPUTS), 'utf8')) as BundleInputs;
  } catch {
    return undefined;
  }
  if (record.node !== process.version) return undefined;
  for (const [path, size, mtimeMs, digest] of record.sources) {
    const file = resolve(packageDir, path);
    const now = statSync(file, { throwIfNoEntry: false });
    if (now?.size !== size) return undefined;
    if (now.mtimeMs !== mtimeMs && sha256(file) !== digest) return undefined;
  }
  for (const [path, size] of record.outputs) {
    if (statSync(resolve(packageDir, path), { throwIfNoEntry: false })?.size !== size) return undefined;
  }
  return join(packageDir, BUNDLE_ENTRY);
}
