// Bundles the CLI (src/main.ts) into dist/index.mjs plus the chunks it imports lazily (the console,
// for `sidestep console`), and records what it was built from in dist/inputs.json: bin/sidestep.ts
// runs the bundle while that record says it is current, else the sources (src/fresh-bundle.ts).
// From the sources every command loads ~360 modules (TypeScript, seven AWS SDK clients, zod, pg,
// Powertools) at each start; from the bundle a command takes less than half the CPU (`pnpm bench`,
// bench/RESULTS.md, "The operator CLI's start").
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleService } from '@sidestep/bundle';
import { BUNDLE_INPUTS, bundleInputs } from './src/fresh-bundle.ts';

const packageDir = import.meta.dirname;
const result = await bundleService({ packageDir, entry: 'src/main.ts', splitting: true });
const meta = JSON.parse(readFileSync(result.metafile, 'utf8')) as {
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
};
// esbuild names inputs relative to the package (its working directory); some are virtual (the
// bundler's entry wrapper, `namespace:path`), which no file stands for. The dependencies' files
// (~1,700) change only with the lockfile: the workspace's own sources stand for themselves. Of the
// outputs, the code that runs (the legal comments' files are folded into THIRD-PARTY-NOTICES.txt).
const sources = [
  ...Object.keys(meta.inputs).filter((path) => !/^[a-z-]+:/.test(path) && !path.includes('node_modules/')),
  join('..', '..', 'pnpm-lock.yaml'),
].map((path) => resolve(packageDir, path));
const outputs = Object.keys(meta.outputs)
  .filter((path) => path.endsWith('.mjs'))
  .map((path) => resolve(packageDir, path));
writeFileSync(
  join(packageDir, BUNDLE_INPUTS),
  `${JSON.stringify(bundleInputs(packageDir, sources, outputs))}\n`,
);
console.log(
  `${BUNDLE_INPUTS}: ${sources.length} sources; dist/index.mjs ${(result.initBytes / 1024).toFixed(0)} KiB loaded at start, ${(result.totalBytes / 1024).toFixed(0)} KiB in all`,
);
