import type { ServiceManifest, TaskManifest } from '@sidestep/manifest';
import { SERVICES as REGISTERED_SERVICES, TASKS as REGISTERED_TASKS } from '@sidestep/registry';

/**
 * Every deployed service's manifest, from the registry (`@sidestep/registry`): the stack derives its
 * repository, function, queue and IAM from each.
 */
export const SERVICES: readonly ServiceManifest[] = REGISTERED_SERVICES.map((entry) => entry.manifest);

/**
 * Every deployed Fargate task's manifest, from the registry: the stack derives its repository,
 * cluster, task definition and roles from each.
 */
export const TASKS: readonly TaskManifest[] = REGISTERED_TASKS.map((entry) => entry.manifest);
