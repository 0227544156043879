import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { clearLocalCloudState, LOCAL_STATE, localSecret } from '@sidestep/local-cloud';
import { FUNCTION_URLS, LOCAL_SERVICES, localNotifyLocale, WORKFLOWS } from '../src/services.ts';

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

describe('the import mails’ locale locally', () => {
  /** The locale of each import mail in the local import workflow's definition. */
  function importMailLocales(): unknown[] {
    const workflow = WORKFLOWS.find((candidate) => candidate.name === 'import');
    const definition = workflow?.definition({
      environment: 'local',
      region: 'us-east-1',
      accountId: '000000000000',
      functionArn: (name) => `arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-${name}`,
      taskDefinitionArn: (name) =>
        `arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-local-${name}:1`,
      clusterArn: (name) => `arn:aws:ecs:us-east-1:000000000000:cluster/sidestep-local-${name}`,
      subnetIds: ['subnet-local'],
      securityGroupIds: ['sg-local'],
      queueUrl: (name) => `http://127.0.0.1:4566/000000000000/sidestep-local-${name}`,
    }) as { States: Record<string, { Parameters?: { payload?: { locale?: unknown } } }> };
    return ['ComposeCompletedMail', 'ComposeFailedMail'].map(
      (state) => definition.States[state]?.Parameters?.payload?.locale,
    );
  }

  afterEach(() => {
    delete process.env.SIDESTEP_LOCAL_NOTIFY_LOCALE;
  });

  it('is SIDESTEP_LOCAL_NOTIFY_LOCALE when the cloud starts, English without it', () => {
    expect(importMailLocales()).toEqual(['en', 'en']);
    process.env.SIDESTEP_LOCAL_NOTIFY_LOCALE = 'ja';
    expect(importMailLocales()).toEqual(['ja', 'ja']);
  });

  it('refuses a locale no template is written in, naming the variable', () => {
    expect(() => localNotifyLocale({ SIDESTEP_LOCAL_NOTIFY_LOCALE: 'fr' })).toThrow(
      expect.objectContaining({
        name: 'InvalidWorkflowPropsError',
        field: 'SIDESTEP_LOCAL_NOTIFY_LOCALE',
      }) as unknown as Error,
    );
  });
});
