import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceManifest } from '@sidestep/manifest';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { fixtureDir, queuelessService } from './fixtures/manifests.ts';

/** A function granted the database and the mail identity, as the mail-dispatcher is. */
const reader: ServiceManifest = {
  ...queuelessService('env-service', 'returns its DATABASE_* and MAIL_* variables'),
  permissions: [
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
    { resource: 'mail-identity', actions: ['ses:SendEmail'] },
  ],
};

let fixture: FixtureCloud;

beforeAll(async () => {
  fixture = await startFixtureCloud('database-environment-', {
    services: [{ manifest: reader, bundleDir: fixtureDir('env-service') }],
    databasePort: 0,
    reporter: createCollectingReporter().reporter,
  });
}, 60_000);

afterAll(() => fixture?.stop());

describe('a function of the local cloud on its embedded database', () => {
  // The embedded server (PGlite) ignores statement_timeout and serves one transaction at a time: a
  // statement waiting for another connection's transaction would fail the answer limit (statement
  // plus connect timeout, 20 s) on a live server, while the server cannot vanish silently.
  it('gets DATABASE_ANSWER_TIMEOUT_MS=0 beside DATABASE_URL', async () => {
    const { cloud } = fixture;
    expect(cloud.databaseKind).toBe('embedded');
    const result = await cloud.invoke('env-service', { prefix: 'DATABASE_' });
    expect(result).toMatchObject({
      ok: true,
      payload: { DATABASE_URL: cloud.databaseUrl, DATABASE_ANSWER_TIMEOUT_MS: '0' },
    });
  });
});

// This cloud is started without `mail: { maxSendRate }` (tests/mail-send-rate.test.ts starts one with).
describe('a local cloud started without a mail send rate', () => {
  it('gives no MAIL_MAX_SEND_RATE and throttles nothing', async () => {
    const { cloud } = fixture;
    expect(cloud.mail).toEqual({ maxSendRate: undefined, throttled: 0 });
    const result = await cloud.invoke('env-service', { prefix: 'MAIL_' });
    expect(result).toMatchObject({ ok: true, payload: { MAIL_TRANSPORT: 'smtp' } });
    expect(result.ok && result.payload).not.toHaveProperty('MAIL_MAX_SEND_RATE');
  });
});
