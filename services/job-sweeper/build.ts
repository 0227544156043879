// Bundles src/handler.ts into dist/index.mjs: the exact file the Dockerfile copies into the image.
import { bundleService } from '@sidestep/bundle';

await bundleService({ packageDir: import.meta.dirname });
