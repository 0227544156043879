import { describe, expect, it } from '@jest/globals';
import { loadConfig, signingKeySource } from '../src/config.ts';

const base = { DOWNLOAD_BASE_URL: 'https://dl.example.com/exports', DOWNLOAD_SIGNING_KEY: 'k'.repeat(32) };

describe('loadConfig', () => {
  it('reads the download settings with their defaults: links live 7 days, redirects 5 minutes', () => {
    expect(loadConfig({ ...base, _HANDLER: 'index.handler' })).toEqual({
      role: 'finalizer',
      downloadBaseUrl: 'https://dl.example.com/exports',
      signingKey: { value: 'k'.repeat(32) },
      linkTtlSeconds: 604_800,
      exportsBucket: undefined,
      s3ForcePathStyle: false,
    });
    expect(
      loadConfig({ ...base, AWS_S3_FORCE_PATH_STYLE: 'true', EXPORTS_BUCKET: 'sidestep-local-exports' }),
    ).toMatchObject({ s3ForcePathStyle: true, exportsBucket: 'sidestep-local-exports' });
  });

  it('configures the download endpoint by its CMD: the bucket it serves, no base URL needed', () => {
    const download = { DOWNLOAD_SIGNING_KEY: base.DOWNLOAD_SIGNING_KEY, _HANDLER: 'index.downloadHandler' };
    expect(loadConfig({ ...download, EXPORTS_BUCKET: 'sidestep-staging-exports' })).toEqual({
      role: 'download',
      exportsBucket: 'sidestep-staging-exports',
      redirectTtlSeconds: 300,
      signingKey: { value: 'k'.repeat(32) },
      s3ForcePathStyle: false,
    });
    expect(() => loadConfig(download)).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'EXPORTS_BUCKET' }),
    );
  });

  it('names a missing base URL, and a signing key given neither way', () => {
    expect(() => loadConfig({ DOWNLOAD_SIGNING_KEY: 'k'.repeat(32) })).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'DOWNLOAD_BASE_URL' }),
    );
    expect(() => loadConfig({ DOWNLOAD_BASE_URL: base.DOWNLOAD_BASE_URL })).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'DOWNLOAD_SIGNING_KEY' }),
    );
  });

  it('refuses a short signing key and a link lifetime beyond 30 days', () => {
    expect(() => loadConfig({ ...base, DOWNLOAD_SIGNING_KEY: 'short' })).toThrow(
      expect.objectContaining({ field: 'DOWNLOAD_SIGNING_KEY' }),
    );
    expect(() => loadConfig({ ...base, DOWNLOAD_LINK_TTL_SECONDS: String(31 * 86_400) })).toThrow(
      expect.objectContaining({ field: 'DOWNLOAD_LINK_TTL_SECONDS' }),
    );
  });

  it('takes the key from the secret on AWS', async () => {
    const config = loadConfig({
      DOWNLOAD_BASE_URL: base.DOWNLOAD_BASE_URL,
      DOWNLOAD_SIGNING_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:dl',
    });
    expect(config.signingKey).toEqual({
      secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:dl',
    });
    expect(await signingKeySource({ value: 'v'.repeat(32) }).current()).toBe('v'.repeat(32));
  });
});
