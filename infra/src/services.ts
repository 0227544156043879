import { service as mailDispatcher } from '@sidestep/mail-dispatcher/service';
import type { ServiceManifest } from '@sidestep/manifest';

/**
 * Every deployed service's manifest. Adding a service is one line here (plus its workspace dependency
 * in infra/package.json): the stack derives its repository, function, queue and IAM from the manifest.
 */
export const SERVICES: readonly ServiceManifest[] = [mailDispatcher];
