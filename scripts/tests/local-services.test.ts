import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { clearLocalCloudState, LOCAL_STATE, localSecret } from '@sidestep/local-cloud';
import { FUNCTION_URLS, LOCAL_SERVICES } from '../src/services.ts';

let stateDir: string;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'local-services-'));
});

afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** The export-finalizer's extra environment as one start of the local cloud on `stateDir` gives it. */
function finalizerEnvironment(
  environment = LOCAL_SERVICES.find((s) => s.manifest.name === 'export-finalizer'),
) {
  return environment?.environment?.({
    functionUrl: (name) => `http://127.0.0.1:4566/lambda-url/${name}/`,
    secret: (name) => localSecret(stateDir, name),
  });
}

const scriptsDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The key `pnpm start` gives the export-finalizer, read by a process of its own (a start). */
async function keyOfAStart(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { LOCAL_SERVICES } = await import('./src/services.ts');
       const { localSecret } = await import('@sidestep/local-cloud');
       const finalizer = LOCAL_SERVICES.find((service) => service.manifest.name === 'export-finalizer');
       const environment = finalizer.environment({ functionUrl: (name) => name, secret: (name) => localSecret(process.argv[1], name) });
       console.log(environment.DOWNLOAD_SIGNING_KEY);`,
      stateDir,
    ],
    { cwd: scriptsDir },
  );
  return stdout.trim();
}

describe('the export download links locally', () => {
  it('are signed with the same key after a restart, as the outbox and the exports survive one', async () => {
    // A restart is a new process: nothing but the state directory is shared.
    const first = await keyOfAStart();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await keyOfAStart()).toBe(first);
    expect(finalizerEnvironment()?.DOWNLOAD_SIGNING_KEY).toBe(first);
    // The download endpoint (the finalizer's image behind a function URL) checks with the same key.
    const download = FUNCTION_URLS.find((url) => url.name === 'export-download')?.service;
    expect(finalizerEnvironment(download)?.DOWNLOAD_SIGNING_KEY).toBe(first);
  });

  it('keep the key in a file only its owner may read, which --fresh clears with the exports', async () => {
    const first = finalizerEnvironment()?.DOWNLOAD_SIGNING_KEY;
    const secrets = join(stateDir, LOCAL_STATE.secrets);
    expect((await stat(join(secrets, 'download-signing-key'))).mode & 0o777).toBe(0o600);
    expect((await stat(secrets)).mode & 0o777).toBe(0o700);
    await clearLocalCloudState(stateDir);
    expect(finalizerEnvironment()?.DOWNLOAD_SIGNING_KEY).not.toBe(first);
  });
});
