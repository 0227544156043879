import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { z as mini } from 'zod/mini';
import {
  ConfigError,
  DATABASE_ENVIRONMENT,
  databaseSource,
  readConfig,
  resolveDatabaseUrl,
} from '../src/index.ts';
import { SecretsManagerDouble } from '../src/testing.ts';

describe('readConfig', () => {
  const Config = z.object({
    MAIL_QUEUE_URL: z.url(),
    BATCH_SIZE: z.coerce.number().int().positive(),
    SIDESTEP_ENV: z.enum(['local', 'staging', 'production']).default('local'),
  });

  it('returns the typed, coerced configuration and drops unrelated variables', () => {
    const config = readConfig(Config, {
      MAIL_QUEUE_URL: 'http://127.0.0.1:1/q',
      BATCH_SIZE: '10',
      PATH: '/bin',
    });
    expect(config).toEqual({ MAIL_QUEUE_URL: 'http://127.0.0.1:1/q', BATCH_SIZE: 10, SIDESTEP_ENV: 'local' });
  });

  it('names a missing variable', () => {
    expect(() => readConfig(Config, { BATCH_SIZE: '10' })).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        field: 'MAIL_QUEUE_URL',
        permanent: true,
        message: 'invalid configuration: MAIL_QUEUE_URL is missing',
      }),
    );
  });

  it('names an invalid variable and what is wrong, and every other bad one', () => {
    let thrown: unknown;
    try {
      readConfig(Config, { MAIL_QUEUE_URL: 'not a url', BATCH_SIZE: '-1', SIDESTEP_ENV: 'prod' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.field).toBe('MAIL_QUEUE_URL');
    expect(error.message).toMatch(/MAIL_QUEUE_URL is invalid: .*URL/i);
    expect(error.message).toMatch(/BATCH_SIZE is invalid: /);
    expect(error.message).toMatch(/SIDESTEP_ENV is invalid: /);
  });

  it('reads process.env by default and accepts zod/mini schemas', () => {
    process.env.SIDESTEP_CONFIG_TEST = 'yes';
    try {
      expect(readConfig(mini.object({ SIDESTEP_CONFIG_TEST: mini.literal('yes') }))).toEqual({
        SIDESTEP_CONFIG_TEST: 'yes',
      });
    } finally {
      delete process.env.SIDESTEP_CONFIG_TEST;
    }
  });
});

describe('resolveDatabaseUrl', () => {
  const secretsManager = new SecretsManagerDouble();
  const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}`;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    await secretsManager.start();
    Object.assign(process.env, secretsManager.environment());
  });

  afterAll(async () => {
    process.env = savedEnv;
    await secretsManager.stop();
  });

  it('prefers DATABASE_URL without fetching anything', async () => {
    const url = await resolveDatabaseUrl({
      DATABASE_URL: 'postgres://u:p@db:5432/app',
      DATABASE_SECRET_ARN: arn('x'),
    });
    expect(url).toBe('postgres://u:p@db:5432/app');
    expect(secretsManager.requests).toEqual([]);
  });

  it('names both variables when neither is set', async () => {
    await expect(resolveDatabaseUrl({})).rejects.toMatchObject({
      name: 'ConfigError',
      field: 'DATABASE_URL',
      message: expect.stringMatching(/DATABASE_URL.*DATABASE_SECRET_ARN/),
    });
  });

  it('fetches a plain URL secret once and serves it from the cache afterwards', async () => {
    secretsManager.secrets.set(arn('plain'), 'postgresql://app:pw@db.internal:5432/sidestep\n');
    const env = { DATABASE_SECRET_ARN: arn('plain') };
    expect(await resolveDatabaseUrl(env)).toBe('postgresql://app:pw@db.internal:5432/sidestep');
    expect(await resolveDatabaseUrl(env)).toBe('postgresql://app:pw@db.internal:5432/sidestep');
    expect(secretsManager.requests).toEqual([`${arn('plain')} AWSCURRENT`]);
  });

  // A pool built from the URL keeps it, so a rotated password is never seen through the cache: after
  // Secrets Manager's single-user rotation "new connections use the new credentials" and AWS
  // recommends retrying (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html).
  it('fetches the secret again, bypassing the cache, when asked for a fresh URL, and caches what it fetched', async () => {
    const env = { DATABASE_SECRET_ARN: arn('rotated') };
    secretsManager.secrets.set(arn('rotated'), 'postgres://app:old@db.internal:5432/sidestep');
    expect(await resolveDatabaseUrl(env)).toBe('postgres://app:old@db.internal:5432/sidestep');
    secretsManager.secrets.set(arn('rotated'), 'postgres://app:new@db.internal:5432/sidestep');
    // Within the 15 minutes the cache keeps it, only a fresh read sees the rotated password.
    expect(await resolveDatabaseUrl(env)).toBe('postgres://app:old@db.internal:5432/sidestep');
    expect(await resolveDatabaseUrl(env, { fresh: true })).toBe(
      'postgres://app:new@db.internal:5432/sidestep',
    );
    expect(await resolveDatabaseUrl(env)).toBe('postgres://app:new@db.internal:5432/sidestep');
    expect(
      secretsManager.requests.filter((request) => request.startsWith(`${arn('rotated')} `)),
    ).toHaveLength(2);
  });

  it('builds the URL from the RDS JSON shape, encoding every part', async () => {
    secretsManager.secrets.set(
      arn('rds'),
      JSON.stringify({
        engine: 'postgres',
        username: 'app user',
        password: 'p@ss/w:rd?#',
        host: 'db.cluster-abc.us-east-1.rds.amazonaws.com',
        port: 6543,
        dbname: 'side step',
      }),
    );
    const url = await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('rds') });
    expect(url).toBe(
      'postgres://app%20user:p%40ss%2Fw%3Ard%3F%23@db.cluster-abc.us-east-1.rds.amazonaws.com:6543/side%20step?sslmode=verify-full',
    );
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.password)).toBe('p@ss/w:rd?#');
    expect(parsed.pathname).toBe('/side%20step');
  });

  it('defaults the port and database of an RDS secret that omits them', async () => {
    secretsManager.secrets.set(arn('minimal'), JSON.stringify({ username: 'u', password: 'p', host: 'db' }));
    expect(await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('minimal') })).toBe(
      'postgres://u:p@db:5432/postgres?sslmode=verify-full',
    );
  });

  it('asks for TLS with the certificate and host name verified in a URL built from the RDS secret', async () => {
    secretsManager.secrets.set(
      arn('rds-tls'),
      JSON.stringify({ username: 'u', password: 'p', host: 'db.cluster-abc.eu-west-1.rds.amazonaws.com' }),
    );
    const url = new URL(await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('rds-tls') }));
    expect(url.searchParams.get('sslmode')).toBe('verify-full');
    expect(url.hostname).toBe('db.cluster-abc.eu-west-1.rds.amazonaws.com');
  });

  it('names DATABASE_SECRET_ARN and the missing key when the secret has the wrong shape', async () => {
    secretsManager.secrets.set(
      arn('no-host'),
      JSON.stringify({ username: 'u', password: 'hunter2', hostname: 'db.internal' }),
    );
    const error = await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('no-host') }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ConfigError', field: 'DATABASE_SECRET_ARN', permanent: true });
    expect((error as Error).message).toMatch(/missing host/);
    expect((error as Error).message).not.toContain('hunter2');
  });

  // RDS's managed master user password is a secret of {username, password} alone (no host): the
  // master user, which an application should not run as. Said so, rather than "missing host" alone.
  it('refuses, saying why, the {username, password} secret of RDS’s managed master user password', async () => {
    secretsManager.secrets.set(
      arn('rds!db-1a2b3c4d'),
      JSON.stringify({ username: 'postgres', password: 'hunter2' }),
    );
    const error = await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('rds!db-1a2b3c4d') }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'ConfigError', field: 'DATABASE_SECRET_ARN', permanent: true });
    expect((error as Error).message).toMatch(
      /holds a username and password and no host, as RDS's managed master user password does: give sidestep a secret of its own database user/,
    );
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('does not echo a secret that is neither a URL nor JSON', async () => {
    secretsManager.secrets.set(arn('garbage'), 'hunter2');
    const error = await resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('garbage') }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ConfigError', field: 'DATABASE_SECRET_ARN' });
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('reports a secret it cannot fetch as a transient error naming DATABASE_SECRET_ARN', async () => {
    await expect(resolveDatabaseUrl({ DATABASE_SECRET_ARN: arn('absent') })).rejects.toMatchObject({
      name: 'SecretUnavailableError',
      field: 'DATABASE_SECRET_ARN',
      permanent: false,
    });
  });
});

describe('DATABASE_ENVIRONMENT and databaseSource', () => {
  const Environment = mini.object({ ...DATABASE_ENVIRONMENT });

  it('takes DATABASE_URL, else DATABASE_SECRET_ARN', () => {
    const url = 'postgres://u:p@127.0.0.1:5432/db';
    const secret = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf';
    expect(databaseSource(readConfig(Environment, { DATABASE_URL: url }))).toBe('url');
    expect(databaseSource(readConfig(Environment, { DATABASE_SECRET_ARN: secret }))).toBe('secret');
    expect(databaseSource(readConfig(Environment, { DATABASE_URL: url, DATABASE_SECRET_ARN: secret }))).toBe(
      'url',
    );
  });

  it('names DATABASE_URL when neither is set or the URL is not postgres', () => {
    const named = expect.objectContaining({ name: 'ConfigError', field: 'DATABASE_URL' });
    expect(() => databaseSource(readConfig(Environment, {}))).toThrow(named);
    expect(() => readConfig(Environment, { DATABASE_URL: 'mysql://x' })).toThrow(named);
  });
});
