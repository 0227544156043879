import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { pgliteTemplateDirectory } from '../src/pglite-template.ts';
import { connectPostgres } from '../src/postgres.ts';
import { createPostgresSchema } from '../src/postgres-schema.ts';
import { describeIfAvailable, testDatabases } from '../src/testing.ts';

describe('testDatabases', () => {
  it('lists PostgreSQL as unavailable without TEST_DATABASE_URL, so its suites are declared skipped', async () => {
    const backends = testDatabases({});
    expect(backends.map(({ name, available }) => ({ name, available }))).toEqual([
      { name: 'pglite', available: true },
      { name: 'postgres', available: false },
    ]);
    await expect(backends[1]?.open()).rejects.toThrow('TEST_DATABASE_URL is unset');
  });

  it('lists PostgreSQL as available when TEST_DATABASE_URL names a server', () => {
    const backends = testDatabases({ TEST_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' });
    expect(backends.map((backend) => backend.available)).toEqual([true, true]);
  });
});

describe('the PGlite backend', () => {
  // Every test file has its own module registry: the dumps it clones from are kept on disk, made
  // once per machine, instead of once per file (~4 s of CPU each).
  it('clones a migrated database from dumps kept in the temporary directory for the next test file', async () => {
    const pglite = testDatabases({}).find((backend) => backend.name === 'pglite');
    const db = await pglite?.open();
    try {
      expect((await db?.query<{ n: string }>('SELECT count(*) AS n FROM jobs'))?.rows).toEqual([{ n: '0' }]);
    } finally {
      await db?.close();
    }
    const dir = pgliteTemplateDirectory();
    expect(dir.startsWith(tmpdir())).toBe(true);
    expect(statSync(dir).mode & 0o077).toBe(0);
    const dumps = readdirSync(dir).filter((name) => /^[0-9a-f]{16}-(empty|migrated)\.tar$/.test(name));
    const keys = new Set(dumps.map((name) => name.slice(0, 16)));
    expect(dumps.length).toBeGreaterThanOrEqual(2);
    for (const key of keys) {
      for (const kind of ['empty', 'migrated']) {
        expect(statSync(join(dir, `${key}-${kind}.tar`)).size).toBeGreaterThan(1024 * 1024);
      }
    }
  });
});

describe('describeIfAvailable', () => {
  it('declares the suite of an unavailable backend skipped, which jest counts as skipped tests', () => {
    expect(describeIfAvailable(true)).toBe(describe);
    expect(describeIfAvailable(false)).toBe(describe.skip);
  });
});

const serverUrl = process.env.TEST_DATABASE_URL;

describeIfAvailable(Boolean(serverUrl))('createPostgresSchema', () => {
  it('gives a URL whose connections work in a schema of their own, and drops it with what it holds', async () => {
    const url = serverUrl ?? '';
    const schema = await createPostgresSchema(url, 'schema_test');
    expect(schema.name).toMatch(/^schema_test_[0-9a-f]{12}$/);
    const inSchema = await connectPostgres({ url: schema.url });
    const server = await connectPostgres({ url });
    const where = (table: string) =>
      server.query<{ schema: string }>(
        'SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = $1',
        [table],
      );
    try {
      await inSchema.query(`CREATE TABLE ${schema.name}_users (id text PRIMARY KEY)`);
      await inSchema.query(`INSERT INTO ${schema.name}_users VALUES ('a')`);
      expect((await where(`${schema.name}_users`)).rows).toEqual([{ schema: schema.name }]);
      await inSchema.close();
      await schema.drop();
      await schema.drop(); // once, however often
      expect((await where(`${schema.name}_users`)).rows).toEqual([]);
      const left = await server.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        schema.name,
      ]);
      expect(left.rows).toEqual([]);
    } finally {
      await inSchema.close();
      await server.close();
      await schema.drop();
    }
  });

  it('refuses a prefix that is not a lowercase identifier, before touching the server', async () => {
    await expect(createPostgresSchema('postgres://127.0.0.1:1/x', 'Path; DROP')).rejects.toThrow(
      'prefix: "Path; DROP" is not a lowercase identifier',
    );
  });
});
