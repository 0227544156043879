// Bundles src/handler.ts into dist/index.mjs plus the chunks it imports lazily (dist/chunk-*.mjs):
// the exact files the Dockerfile copies into the image.
import { bundleService } from '@sidestep/bundle';

await bundleService({ packageDir: import.meta.dirname, splitting: true, compileCache: true });
