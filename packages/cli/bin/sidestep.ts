#!/usr/bin/env node
import module from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Node's module compile cache (https://nodejs.org/api/module.html#moduleenablecompilecachedirectory),
// in $NODE_COMPILE_CACHE or else <os.tmpdir()>/node-compile-cache: an operator runs `sidestep` over
// and over, and V8 then compiles the same modules only once. `NODE_DISABLE_COMPILE_CACHE=1` turns it
// off. Enabled before `main` is imported, so its whole graph is cached.
module.enableCompileCache?.();
// The bundle (dist/, built by `turbo run build`) while it is current, else the sources: a command
// from the bundle takes about half the CPU (bench/RESULTS.md, "The operator CLI's start").
// SIDESTEP_CLI_FROM_SOURCE=1 runs the sources whatever the bundle (a debugger on them, the bench's
// baseline).
const { freshBundle } = await import('../src/fresh-bundle.ts');
const bundle =
  process.env.SIDESTEP_CLI_FROM_SOURCE === '1' ? undefined : freshBundle(join(import.meta.dirname, '..'));
// A URL, not a path: a checkout's path may hold `#` or `%`, which import() reads as a URL's.
const { main } = (await import(
  bundle === undefined ? '../src/main.ts' : pathToFileURL(bundle).href
)) as typeof import('../src/main.ts');

process.exitCode = await main(process.argv);
