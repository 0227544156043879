import { SERVICES, TASKS } from '@sidestep/registry';
import type { ImageSource } from './plan-images.ts';

/** Every program with an image: each Lambda service and each Fargate task of `SERVICES` / `TASKS`. */
export function imageSources(): readonly ImageSource[] {
  return [...SERVICES, ...TASKS].map((entry) => ({
    name: entry.manifest.name,
    packageName: entry.packageName,
    packageDir: entry.packageDir,
  }));
}
