import { batchTaskArchitecture, type EnvironmentConfig } from '@sidestep/infra';
import { SERVICES, TASKS } from '@sidestep/registry';
import { IMAGE_PLATFORM, type ImageSource } from './plan-images.ts';

/** Every program with an image: each Lambda service and each Fargate task of `SERVICES` / `TASKS`. */
export function imageSources(): readonly ImageSource[] {
  return [...SERVICES, ...TASKS].map((entry) => ({
    name: entry.manifest.name,
    packageName: entry.packageName,
    packageDir: entry.packageDir,
  }));
}

/**
 * The platform an image is built for in an environment: {@link IMAGE_PLATFORM} (linux/arm64), except a
 * Fargate task the environment runs on FARGATE_SPOT, whose task definition is X86_64 there (infra's
 * `batchTaskArchitecture`: Fargate Spot runs no ARM64 Linux task): linux/amd64.
 */
export function imagePlatform(config: Pick<EnvironmentConfig, 'batchCapacity'>, source: ImageSource): string {
  const task = TASKS.some((entry) => entry.manifest.name === source.name);
  return task && batchTaskArchitecture(config.batchCapacity) === 'X86_64' ? 'linux/amd64' : IMAGE_PLATFORM;
}
