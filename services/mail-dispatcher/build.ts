// Bundles src/handler.ts into dist/index.mjs plus the chunks it imports lazily (dist/chunk-*.mjs):
// the exact files the Dockerfile copies into the image (bundle-options.ts says how).
import { bundleService } from '@sidestep/bundle';
import { bundleOptions } from './bundle-options.ts';

await bundleService({ packageDir: import.meta.dirname, ...bundleOptions });
