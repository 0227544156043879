import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import type { ServiceManifest } from '@sidestep/manifest';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { fixtureDir, queuelessService } from './fixtures/manifests.ts';

/** A function granted the database and the mail identity, as the mail-dispatcher is. */
const reader: ServiceManifest = {
  ...queuelessService('env-service', 'returns its DATABASE_* and MAIL_* variables'),
  permissions: [
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
    { resource: 'mail-identity', actions: ['ses:SendEmail'] },
  ],
};

/** Functions granted the database that read their DATABASE_SECRET_ARN through Secrets Manager. */
const secretReader = (name: string): ServiceManifest => ({
  ...queuelessService(name, 'reads its database secret'),
  permissions: [{ resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] }],
});

// The ARN infra's `sidestep-local` config names the database secret by (`databaseSecretArn`): the
// stack gives it to each function granted `database-secret` and grants GetSecretValue on it.
const DATABASE_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-database';

// As infra synthesizes it: the granted reader's policy names the secret's ARN, the other reader's
// role has no grant (a manifest whose policy lost it).
const stack: SynthesizedTerraformJson = {
  provider: { aws: [{ region: 'us-east-1' }] },
  resource: {
    aws_iam_role: {
      env: role('sidestep-local-env-service'),
      granted: role('sidestep-local-granted-reader'),
      ungranted: role('sidestep-local-ungranted-reader'),
    },
    aws_iam_role_policy: {
      granted: allow('granted', [
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: DATABASE_SECRET_ARN },
      ]),
    },
    aws_lambda_function: {
      granted: { environment: { variables: { DATABASE_SECRET_ARN } } },
    },
  },
};

let fixture: FixtureCloud;

beforeAll(async () => {
  fixture = await startFixtureCloud('database-environment-', {
    services: [
      { manifest: reader, bundleDir: fixtureDir('env-service') },
      { manifest: secretReader('granted-reader'), bundleDir: fixtureDir('secret-service') },
      { manifest: secretReader('ungranted-reader'), bundleDir: fixtureDir('secret-service') },
    ],
    stack,
    databasePort: 0,
    reporter: createCollectingReporter().reporter,
  });
}, 60_000);

afterAll(() => fixture?.stop());

describe('a function of the local cloud on its embedded database', () => {
  // The embedded server (PGlite) ignores statement_timeout and serves one transaction at a time: a
  // statement waiting for another connection's transaction would fail the answer limit (statement
  // plus connect timeout, 20 s) on a live server, while the server cannot vanish silently.
  // The runtime makes an RDS secret's URL ask for sslmode=verify-full; the embedded server has no TLS.
  it('gets DATABASE_SECRET_ARN as on AWS, not DATABASE_URL, beside DATABASE_ANSWER_TIMEOUT_MS=0 and DATABASE_TLS=off', async () => {
    const { cloud } = fixture;
    expect(cloud.databaseKind).toBe('embedded');
    expect(cloud.databaseSecretArn).toBe(DATABASE_SECRET_ARN);
    const result = await cloud.invoke('env-service', { prefix: 'DATABASE_' });
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.payload).toEqual({
      DATABASE_SECRET_ARN,
      DATABASE_ANSWER_TIMEOUT_MS: '0',
      DATABASE_TLS: 'off',
    });
  });

  it("reads the RDS JSON of the database's user from the secret the stack names, as its role", async () => {
    const { cloud } = fixture;
    const url = new URL(cloud.databaseUrl ?? '');
    const result = await cloud.invoke('granted-reader', {});
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.payload).toEqual({
      arn: DATABASE_SECRET_ARN,
      secret: {
        engine: 'postgres',
        host: url.hostname,
        port: Number(url.port),
        username: url.username,
        dbname: url.pathname.slice(1),
        hasPassword: true,
      },
    });
  });

  it('is refused the secret without the grant', async () => {
    const result = await fixture.cloud.invoke('ungranted-reader', {});
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.payload).toEqual({ arn: DATABASE_SECRET_ARN, error: 'AccessDeniedException' });
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
