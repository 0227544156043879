// Bundles src/handler.ts into dist/index.mjs plus the chunks it imports lazily (dist/chunk-*.mjs):
// the exact files the Dockerfile copies into the image. What the first invocation does not need
// (the dead-letter client, the Secrets Manager client, the unselected mail transport) is in a chunk
// that loads only when used.
import { bundleService } from '@sidestep/bundle';

await bundleService({ packageDir: import.meta.dirname, splitting: true, compileCache: true });
