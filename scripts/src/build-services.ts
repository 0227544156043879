import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { BuiltPackage } from '@sidestep/registry';

/** A service's build script failed; its output is already on the terminal. */
export class ServiceBuildError extends Error {
  override readonly name = 'ServiceBuildError';
  readonly packages: readonly string[];
  readonly exitCode: number | null;
  constructor(packages: readonly string[], exitCode: number | null) {
    super(`building ${packages.join(', ')} failed (exit code ${exitCode}); fix it or start with --no-build`);
    this.packages = packages;
    this.exitCode = exitCode;
  }
}

/**
 * Runs each service's and task's own `build` script (the one the image build uses) through the
 * workspace's pnpm, so the local cloud runs exactly the bundle the image would contain.
 */
export async function buildServices(services: readonly BuiltPackage[], rootDir: string): Promise<void> {
  if (services.length === 0) return;
  const packages = services.map((service) => service.packageName);
  const filters = packages.flatMap((name) => ['--filter', name]);
  const pnpm = join(rootDir, 'node_modules', '.bin', 'pnpm');
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(pnpm, [...filters, 'run', 'build'], { cwd: rootDir, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  if (exitCode !== 0) throw new ServiceBuildError(packages, exitCode);
}
