// Bundles src/main.ts into dist/index.mjs plus its chunks (each mode's code, imported by main.ts
// when the task runs that mode): the exact files the Dockerfile copies into the image and the local
// cloud runs as the Fargate task's child process.
import { bundleService } from '@sidestep/bundle';

const result = await bundleService({
  packageDir: import.meta.dirname,
  entry: 'src/main.ts',
  splitting: true,
});
console.log(`dist/index.mjs ${(result.bytes / 1024).toFixed(1)} KiB`);
