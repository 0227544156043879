// Builds the producer client for other teams' apps: dist/index.js (ESM for Node >= 20, with
// @sidestep/contracts bundled in; @aws-sdk/client-s3, @aws-sdk/client-sqs, @smithy/core, p-limit and
// zod stay dependencies, so the package inlines no third-party code: each dependency reaches the app
// with its own licence file, and nothing here needs a notices file) and its type declarations
// under dist/types (the contracts' declarations included, so the types need nothing private).
// Plain JavaScript, not build.ts: `prepare` runs it during `pnpm install` and `npm pack` under
// whichever Node runs the install, which may be the system Node 20 (no TypeScript stripping).
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';

const packageDir = import.meta.dirname ?? dirname(new URL(import.meta.url).pathname);
const dist = join(packageDir, 'dist');
const types = join(dist, 'types');
const contractsTypes = join(types, 'contracts', 'src', 'index.d.ts');

await rm(dist, { recursive: true, force: true });

await build({
  entryPoints: [join(packageDir, 'src', 'index.ts')],
  outfile: join(dist, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  // The oldest Node the package supports (engines): what a producer's own app may still run.
  target: 'node20',
  // Runtime dependencies of the package, installed next to it; everything else (the contracts, the
  // project's own code) is inlined.
  external: [
    '@aws-sdk/client-s3',
    '@aws-sdk/client-sqs',
    '@smithy/core',
    '@smithy/core/*',
    'p-limit',
    'zod',
    'zod/*',
  ],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// TypeScript 7's own declaration emit (tsc --declaration --emitDeclarationOnly) for the producer and,
// through `paths`, the contracts' sources it imports; run on the package's TypeScript.
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(packageDir, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (result.status !== 0) throw new Error(`tsc --emitDeclarationOnly failed (exit code ${result.status})`);

// Declaration emit keeps import specifiers as written: the sources' `./x.ts` becomes `./x.js` (what
// a consumer's TypeScript maps to `./x.d.ts`), and `@sidestep/contracts`, which a consumer does not
// have, becomes the path of the contracts' declarations shipped alongside.
for (const entry of await readdir(types, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = join(entry.parentPath, entry.name);
  const toContracts = relative(entry.parentPath, contractsTypes).replace(/\.d\.ts$/, '.js');
  const source = await readFile(file, 'utf8');
  const rewritten = source
    .replace(/(from\s+|import\s*\(\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2')
    .replace(
      /(from\s+|import\s*\(\s*)(['"])@sidestep\/contracts\2/g,
      `$1$2${toContracts.startsWith('.') ? toContracts : `./${toContracts}`}$2`,
    );
  if (rewritten !== source) await writeFile(file, rewritten);
}
