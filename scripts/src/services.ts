import { service as mailDispatcher } from '@sidestep/mail-dispatcher/service';
import type { ServiceManifest } from '@sidestep/manifest';

/** A service the local cloud runs: its manifest and where its package and built bundle live. */
export interface ServiceEntry {
  readonly manifest: ServiceManifest;
  /** The package name, for `pnpm --filter <name> run build`. */
  readonly packageName: string;
  /** The package directory, relative to the repository root. */
  readonly packageDir: string;
  /** The bundle directory (what the image copies to /var/task), relative to the repository root. */
  readonly bundleDir: string;
}

/** Every service of the repository. Adding a service is one entry here. */
export const SERVICES: readonly ServiceEntry[] = [
  {
    manifest: mailDispatcher,
    packageName: '@sidestep/mail-dispatcher',
    packageDir: 'services/mail-dispatcher',
    bundleDir: 'services/mail-dispatcher/dist',
  },
];
