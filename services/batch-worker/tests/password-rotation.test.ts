import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { migrate } from '@sidestep/db';
import { connectPostgres, type Database } from '@sidestep/db/postgres';
import { describeIfAvailable } from '@sidestep/db/testing';
import { resolveDatabaseUrl } from '@sidestep/runtime';
import { SecretsManagerDouble } from '@sidestep/runtime/testing';
import { PostgresUserExportStore } from '../src/adapters/postgres-user-export-store.ts';
import { PostgresUserImportStore } from '../src/adapters/postgres-user-import-store.ts';
import { connectWorkerClient } from '../src/adapters/worker-client.ts';
import { isTransientFailure } from '../src/transient-failure.ts';

const url = process.env.TEST_DATABASE_URL;

// Secrets Manager's single-user rotation (and RDS's managed master password, rotated every 7 days by
// default) changes the password in place: the task's open connections survive, the ones it opens
// later (progress, the validator, recording a failure, dropping the staging) need the new password,
// and between the password's change (setSecret) and the secret's (finishSecret) a fresh read still
// holds the old one. https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html
// PostgreSQL only: the embedded server checks no password.
describeIfAvailable(url !== undefined)('the batch-worker across a password rotation', () => {
  const role = `rotation_${randomBytes(4).toString('hex')}`;
  const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${role}`;
  /** The task's environment: the URL comes from the secret, as on AWS. */
  const env = { DATABASE_SECRET_ARN: arn };
  const secretsManager = new SecretsManagerDouble();
  const savedEnv = { ...process.env };
  let admin: Database;
  let password = 0;
  const urlWith = (value: string) => {
    const parsed = new URL(url as string);
    parsed.username = role;
    parsed.password = value;
    return parsed.toString();
  };
  /** Changes the role's password, and the secret's value too unless `secretToo` is false. */
  const rotate = async (secretToo = true) => {
    password += 1;
    await admin.query(`ALTER ROLE ${role} PASSWORD 'password-${password}'`);
    if (secretToo) secretsManager.secrets.set(arn, urlWith(`password-${password}`));
  };
  const fetches = () => secretsManager.requests.filter((request) => request.startsWith(`${arn} `)).length;
  const workerError = async (jobId: string) =>
    (await admin.query(`SELECT worker_error FROM ${role}.jobs WHERE id = $1`, [jobId])).rows[0]?.worker_error;

  beforeAll(async () => {
    await secretsManager.start();
    Object.assign(process.env, secretsManager.environment());
    admin = connectPostgres({ url: url as string, max: 1 });
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'password-0'`);
    await admin.query(`CREATE SCHEMA ${role} AUTHORIZATION ${role}`);
    await admin.query(`ALTER ROLE ${role} SET search_path = ${role}`);
    const owner = connectPostgres({ url: urlWith('password-0'), max: 1 });
    await migrate(owner);
    await owner.close();
    secretsManager.secrets.set(arn, urlWith('password-0'));
  });
  afterAll(async () => {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    await sleep(200);
    await admin.query(`DROP SCHEMA ${role} CASCADE`);
    await admin.query(`DROP ROLE ${role}`);
    await admin.close();
    await secretsManager.stop();
    process.env = savedEnv;
  });

  it('an export opens its later connections with the secret read afresh: progress and the failure are recorded', async () => {
    const jobId = `exp_rotation_${randomBytes(4).toString('hex')}`;
    await admin.query(`INSERT INTO ${role}.jobs (id, kind, state) VALUES ($1, 'export', 'running')`, [jobId]);
    const progressFailures: unknown[] = [];
    const store = await PostgresUserExportStore.connect({
      url: await resolveDatabaseUrl(env),
      env,
      onProgressFailure: (error) => progressFailures.push(error),
    });
    const before = fetches();
    try {
      await store.checkJob(jobId);
      await rotate();
      await store.recordProgress(jobId, { rows: 1000, parts: 1, bytes: 100 });
      expect(progressFailures).toEqual([]);
      await store.recordFailure(jobId, 'S3 UploadPart failed: SlowDown');
      expect(await workerError(jobId)).toBe('S3 UploadPart failed: SlowDown');
      const progress = await admin.query(`SELECT rows FROM ${role}.export_progress WHERE job_id = $1`, [
        jobId,
      ]);
      expect(progress.rows).toEqual([{ rows: '1000' }]);
      // Read afresh once: the second connection used the URL the first renewal found.
      expect(fetches() - before).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('an import records its failure and drops its staging on connections opened after the rotation', async () => {
    const jobId = `imp_rotation_${randomBytes(4).toString('hex')}`;
    await admin.query(
      `INSERT INTO ${role}.jobs (id, kind, state, source_bucket, source_key, source_version)
       VALUES ($1, 'import', 'running', 'imports', 'users.csv', 'v1')`,
      [jobId],
    );
    const store = await PostgresUserImportStore.connect({ url: await resolveDatabaseUrl(env), env });
    try {
      await rotate();
      await store.recordFailure(jobId, {
        reason: 'S3 read kept breaking off',
        rowsRejected: 0,
        rowErrors: [],
        permanent: false,
      });
      expect(await workerError(jobId)).toBe('S3 read kept breaking off');
      await store.dropStaging(jobId);
    } finally {
      await store.close();
    }
  });

  it('a task that connects between setSecret and finishSecret fails with the 28P01, which reruns it (exit 75)', async () => {
    await rotate(false);
    const before = fetches();
    const failure = await PostgresUserExportStore.connect({ url: await resolveDatabaseUrl(env), env }).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: '28P01' });
    expect(isTransientFailure(failure)).toBe(true);
    expect(fetches() - before).toBe(1);
    // finishSecret: the rerun reads the new password.
    secretsManager.secrets.set(arn, urlWith(`password-${password}`));
    const rerun = await PostgresUserExportStore.connect({
      url: await resolveDatabaseUrl(env, { fresh: true }),
      env,
    });
    await rerun.close();
  });

  it('reads the secret afresh at most once per interval while the password stays wrong (a rotation stopped before finishSecret)', async () => {
    await rotate(false);
    const connection = { url: await resolveDatabaseUrl(env), env };
    const before = fetches();
    for (let i = 0; i < 5; i += 1) {
      await expect(connectWorkerClient(connection)).rejects.toMatchObject({ code: '28P01' });
    }
    const concurrent = await Promise.allSettled(
      Array.from({ length: 5 }, () => connectWorkerClient(connection)),
    );
    expect(concurrent.map((result) => result.status)).toEqual(Array(5).fill('rejected'));
    expect(fetches() - before).toBe(1);
    secretsManager.secrets.set(arn, urlWith(`password-${password}`));
  });
});
