import { afterEach, describe, expect, it } from '@jest/globals';
import { FUNCTION_URLS, LOCAL_SERVICES, localNotifyLocale, WORKFLOWS } from '../src/services.ts';

/** The export-finalizer's extra environment as the local cloud gives it, with `secretArn` naming each secret asked for. */
function finalizerEnvironment(
  environment = LOCAL_SERVICES.find((s) => s.manifest.name === 'export-finalizer'),
) {
  return environment?.environment?.({
    functionUrl: (name) => `http://127.0.0.1:4566/lambda-url/${name}/`,
    secretArn: (name) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-${name}-local`,
  });
}

describe('the export download links locally', () => {
  it('are signed with the key of infra’s secret, read through Secrets Manager as on AWS', () => {
    // infra's ExportDownload names the secret `sidestep-<env>-export-download-key` and passes its ARN.
    const arn =
      'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-export-download-key-local';
    expect(finalizerEnvironment()).toMatchObject({ DOWNLOAD_SIGNING_KEY_SECRET_ARN: arn });
    expect(finalizerEnvironment()).not.toHaveProperty('DOWNLOAD_SIGNING_KEY');
    // The download endpoint (the finalizer's image behind a function URL) checks with the same secret.
    const download = FUNCTION_URLS.find((url) => url.name === 'export-download')?.service;
    expect(finalizerEnvironment(download)).toMatchObject({ DOWNLOAD_SIGNING_KEY_SECRET_ARN: arn });
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
