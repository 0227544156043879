import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { task as batchWorker } from '@sidestep/batch-worker/task';
import { service as exportFinalizer } from '@sidestep/export-finalizer/service';
import { service as jobSweeper } from '@sidestep/job-sweeper/service';
import { service as mailDispatcher } from '@sidestep/mail-dispatcher/service';
import type { ServiceManifest, TaskManifest } from '@sidestep/manifest';
import { service as opsLedger } from '@sidestep/ops-ledger/service';
import { service as statusUpdater } from '@sidestep/status-updater/service';
import { UnregisteredServiceError } from './unregistered-service-error.ts';

/** Where a program's package and built bundle live: what its `build` script writes and its image copies. */
export interface BuiltPackage {
  /** The package name, for `pnpm --filter <name> run build`. */
  readonly packageName: string;
  /** The package directory, relative to the repository root: `services/<manifest name>`. */
  readonly packageDir: string;
  /** The bundle directory (the image's /var/task or WORKDIR), relative to the repository root: `<packageDir>/dist`. */
  readonly bundleDir: string;
}

/** A Lambda service: its manifest (`services/<name>/service.ts`) and its package. */
export interface RegisteredService extends BuiltPackage {
  readonly manifest: ServiceManifest;
}

/** A Fargate task: its manifest (`services/<name>/task.ts`) and its package. */
export interface RegisteredTask extends BuiltPackage {
  readonly manifest: TaskManifest;
}

/** The repository root: the nearest folder above this package holding `pnpm-workspace.yaml`. */
export const WORKSPACE_ROOT: string = (() => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new UnregisteredServiceError('pnpm-workspace.yaml', 'no workspace above the registry');
    dir = parent;
  }
  return dir;
})();

/** The manifest's package: `services/<name>`, its name from its package.json, its bundle in `dist`. */
function builtPackage(manifest: { readonly name: string }): BuiltPackage {
  const packageDir = `services/${manifest.name}`;
  const packageJson = join(WORKSPACE_ROOT, packageDir, 'package.json');
  if (!existsSync(packageJson)) {
    throw new UnregisteredServiceError(`${manifest.name}.name`, `no package at ${packageDir}`);
  }
  const { name } = JSON.parse(readFileSync(packageJson, 'utf8')) as { name: string };
  return { packageName: name, packageDir, bundleDir: `${packageDir}/dist` };
}

/**
 * Every Lambda service, in deploy order: infra creates them, and lists their repositories in the
 * deploy role's policy, in this order (an order the folder names do not give, so the list is written
 * out; the registry's test fails for a `services/<name>/service.ts` missing here). Adding a service:
 * its folder, plus one import and one entry here (and its workspace dependency in this package).
 */
export const SERVICES: readonly RegisteredService[] = [
  mailDispatcher,
  statusUpdater,
  exportFinalizer,
  jobSweeper,
  opsLedger,
].map((manifest) => ({ manifest, ...builtPackage(manifest) }));

/** Every Fargate task (`services/<name>/task.ts`); adding one is the same as adding a service. */
export const TASKS: readonly RegisteredTask[] = [batchWorker].map((manifest) => ({
  manifest,
  ...builtPackage(manifest),
}));

/**
 * The service named `name`.
 * @throws UnregisteredServiceError when no registered service has that name
 */
export function registeredService(name: string): RegisteredService {
  const found = SERVICES.find((entry) => entry.manifest.name === name);
  if (!found) throw new UnregisteredServiceError(name, 'no registered service has this name');
  return found;
}

/**
 * The Fargate task named `name`.
 * @throws UnregisteredServiceError when no registered task has that name
 */
export function registeredTask(name: string): RegisteredTask {
  const found = TASKS.find((entry) => entry.manifest.name === name);
  if (!found) throw new UnregisteredServiceError(name, 'no registered task has this name');
  return found;
}
