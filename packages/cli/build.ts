// Bundles the CLI (src/main.ts) into dist/index.mjs plus the chunks it imports lazily (the console,
// for `sidestep console`), and records what it was built from in dist/inputs.json: bin/sidestep.ts
// runs the bundle while that record says it is current, else the sources (src/fresh-bundle.ts).
// From the sources every command loads ~360 modules (TypeScript, seven AWS SDK clients, zod, pg,
// Powertools) at each start; from the bundle a command takes less than half the CPU (`pnpm bench`,
// bench/RESULTS.md, "The operator CLI's start").
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { bundleService } from '@sidestep/bundle';
import { BUNDLE_INPUTS, bundleInputs } from './src/fresh-bundle.ts';

const packageDir = import.meta.dirname;
const workspaceRoot = join(packageDir, '..', '..');
const startedAt = Date.now();
const result = await bundleService({
  packageDir,
  entry: 'src/main.ts',
  splitting: true,
  // The embedded PostgreSQL (a lazy import of @sidestep/db the CLI never takes: its database is
  // always a URL) finds its WebAssembly and data files next to its own modules, which are not in
  // dist/: left to Node's resolution, where they are.
  external: ['@electric-sql/pglite', '@electric-sql/pglite-socket'],
});
const meta = JSON.parse(readFileSync(result.metafile, 'utf8')) as { inputs: Record<string, unknown> };

/** The package.json of the package `directory` is in (its `exports` decide what an import resolves to). */
function packageJsonOf(directory: string): string | undefined {
  for (let dir = directory; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'package.json');
  }
  return undefined;
}

// esbuild names inputs relative to the package (its working directory); some are virtual (the
// bundler's entry wrapper, `namespace:path`), which no file stands for. The dependencies' files
// (~1,700) change only with the lockfile: the workspace's own sources stand for themselves, with
// what else decides the bundle's bytes: the package.json of each package they are in, this script,
// the bundler's own code and the TypeScript settings esbuild reads. Of the outputs, the code that
// runs, the entry and its chunks (the legal comments' files are folded into THIRD-PARTY-NOTICES.txt).
const inputs = Object.keys(meta.inputs)
  .filter((path) => !/^[a-z-]+:/.test(path) && !path.includes('node_modules/'))
  .map((path) => resolve(packageDir, path));
const bundlerDir = join(workspaceRoot, 'packages', 'bundle', 'src');
const sources = [
  ...new Set([
    ...inputs,
    ...[...new Set(inputs.map((path) => dirname(path)))]
      .map(packageJsonOf)
      .filter((path) => path !== undefined),
    join(workspaceRoot, 'pnpm-lock.yaml'),
    import.meta.filename,
    join(packageDir, 'tsconfig.json'),
    join(workspaceRoot, 'tsconfig.base.json'),
    ...readdirSync(bundlerDir)
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join(bundlerDir, name)),
  ]),
];
const record = bundleInputs(packageDir, sources, [result.outfile, ...result.chunks]);
// A source saved while esbuild ran may be in the record with content the bundle does not have: then
// no record, and the bin runs the sources until the next build.
const changed = record.sources
  .filter(([, , mtimeMs]) => mtimeMs >= startedAt)
  .map(([path]) => resolve(packageDir, path));
if (changed.length > 0) {
  console.warn(
    `${BUNDLE_INPUTS} not written: ${changed.map((path) => path.slice(workspaceRoot.length + 1)).join(', ')} changed while the CLI was bundled; the bin runs the sources until the next build`,
  );
} else {
  writeFileSync(join(packageDir, BUNDLE_INPUTS), `${JSON.stringify(record)}\n`);
  console.log(
    `${BUNDLE_INPUTS}: ${sources.length} sources; dist/index.mjs ${(result.initBytes / 1024).toFixed(0)} KiB loaded at start, ${(result.totalBytes / 1024).toFixed(0)} KiB in all`,
  );
}
