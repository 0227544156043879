// Bundles src/handler.ts into dist/index.mjs plus the chunks it imports lazily (dist/chunk-*.mjs):
// the exact files the Dockerfile copies into the image.
// The code its init needs is one file, handler.mjs (`mergeInitChunks`): the chunks it shares with
// the lazy ones are folded into it, and their files re-export from it.
import { bundleService } from '@sidestep/bundle';

await bundleService({
  packageDir: import.meta.dirname,
  splitting: true,
  compileCache: true,
  mergeInitChunks: true,
});
