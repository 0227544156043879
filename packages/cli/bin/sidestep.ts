#!/usr/bin/env node
import module from 'node:module';

// Node's module compile cache (https://nodejs.org/api/module.html#moduleenablecompilecachedirectory),
// in $NODE_COMPILE_CACHE or else <os.tmpdir()>/node-compile-cache: an operator runs `sidestep` over
// and over, and most of each start is compiling the same modules (the AWS SDK clients, commander,
// the ops library). Measured on 2 cores: `sidestep --help` 0.40-0.48 s without, 0.25-0.28 s with;
// `NODE_DISABLE_COMPILE_CACHE=1` turns it off. Enabled before `main` is imported, so its whole graph
// is cached.
module.enableCompileCache?.();
const { main } = await import('../src/main.ts');

process.exitCode = await main(process.argv);
