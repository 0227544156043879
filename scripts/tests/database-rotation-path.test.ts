import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { connectPostgres, type Database } from '@sidestep/db/postgres';
import { describeIfAvailable, temporaryLoginRole } from '@sidestep/db/testing';
import { LOCAL_SERVICES } from '../src/services.ts';
import { type PathCloud, startPathCloud } from './start-path-cloud.ts';

const url = process.env.TEST_DATABASE_URL;

// On AWS the services read the database's credentials from DATABASE_SECRET_ARN, and a rotation
// (Secrets Manager's single-user rotation, RDS's managed password) changes the password in place:
// a connection refused with 28P01 reads the secret past its cache and connects with the new one
// (@sidestep/db renew-credentials). Locally the same runs on a server that checks passwords; the
// embedded one (PGlite) takes any password, so this needs TEST_DATABASE_URL.
describeIfAvailable(url !== undefined)('a database password rotation in the local cloud', () => {
  // The role's URL with `password`: urlWith.
  const { name: role, urlWith } = temporaryLoginRole(url as string);
  let admin: Database;
  let path: PathCloud;
  /** Ends the role's sessions (the function's pooled connection among them) and waits until they are gone. */
  const endSessions = async () => {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    for (const started = Date.now(); ; await sleep(10)) {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
        [role],
      );
      if (rows[0]?.n === 0) return;
      if (Date.now() - started > 5_000) throw new Error(`the sessions of ${role} did not end within 5 s`);
    }
  };

  beforeAll(async () => {
    admin = connectPostgres({ url: url as string, max: 1 });
    const { rows } = await admin.query<{ name: string }>('SELECT current_database() AS name');
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'password-0'`);
    await admin.query(`GRANT CREATE ON DATABASE "${rows[0]?.name}" TO ${role}`);
    // The cloud migrates a schema of its own (made and dropped as the role) and gives the ledger
    // function the secret holding the role's credentials.
    path = await startPathCloud('database-rotation', {
      services: LOCAL_SERVICES.filter((service) => service.manifest.name === 'ops-ledger'),
      databaseUrl: urlWith('password-0'),
    });
  }, 120_000);

  afterAll(async () => {
    // The schema is dropped through the URL the cloud was started with.
    await admin?.query(`ALTER ROLE ${role} PASSWORD 'password-0'`);
    await path?.stop();
    await admin?.query(`DROP OWNED BY ${role}`);
    await admin?.query(`DROP ROLE ${role}`);
    await admin?.close();
  });

  const listJobs = () => path.cloud.invoke('ops-ledger', { op: 'jobs.list', limit: 1 });

  it('reconnects with the password PutSecretValue put, re-reading the secret when the old one is refused', async () => {
    const { cloud } = path;
    expect(await listJobs()).toMatchObject({ ok: true, payload: { ok: true } });
    const secrets = new SecretsManagerClient(path.client);
    try {
      const SecretId = cloud.databaseSecretArn as string;
      expect(SecretId).toBe('arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-database');
      const current = JSON.parse(
        (await secrets.send(new GetSecretValueCommand({ SecretId }))).SecretString ?? '{}',
      );
      expect(current).toMatchObject({ username: role, password: 'password-0', engine: 'postgres' });
      // The rotation: the role's password changes, then the secret's; the function's open connection
      // is ended (pg-pool's idle timeout, a thawed environment's lost socket), so it needs a new one.
      await admin.query(`ALTER ROLE ${role} PASSWORD 'password-1'`);
      await secrets.send(
        new PutSecretValueCommand({
          SecretId,
          SecretString: JSON.stringify({ ...current, password: 'password-1' }),
        }),
      );
      await endSessions();
      // The function was frozen while its pooled connection was ended: the first statement may still
      // be handed that connection and fail with PostgreSQL's 57P01, as a thawed Lambda environment's
      // lost socket does; the ops-ledger runs the request again on a new connection. Its environment
      // has no password: only a fresh read of the secret gives it the new one.
      expect(await listJobs()).toMatchObject({ ok: true, payload: { ok: true } });
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
        [role],
      );
      expect(rows[0]?.n).toBeGreaterThan(0);
    } finally {
      secrets.destroy();
    }
  });
});
