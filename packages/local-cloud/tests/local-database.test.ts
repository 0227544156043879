import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase } from '@sidestep/db';
import {
  DatabasePortInUseError,
  EMBEDDED_POSTGRES_MAJOR_VERSION,
  type LocalDatabase,
  startLocalDatabase,
} from '../src/local-database.ts';

let stateDir: string;
let embedded: LocalDatabase;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'local-database-'));
  embedded = await startLocalDatabase({ dataDir: join(stateDir, 'postgres'), host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await embedded?.close();
  await rm(stateDir, { recursive: true, force: true });
});

describe('startLocalDatabase', () => {
  it('serves a migrated embedded PostgreSQL on loopback, its data under the state dir', async () => {
    expect(embedded.kind).toBe('embedded');
    // Its clients wait for an answer however long another connection's transaction makes them.
    expect(embedded.clientEnvironment).toEqual({ DATABASE_ANSWER_TIMEOUT_MS: '0' });
    expect(embedded.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect((await readdir(join(stateDir, 'postgres'))).length).toBeGreaterThan(0);
    const db = await openDatabase({ url: embedded.url });
    try {
      const { rows } = await db.query<{ tables: string }>(
        "select count(*)::text as tables from information_schema.tables where table_schema = 'public'",
      );
      expect(Number(rows[0]?.tables)).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });

  it('uses and migrates a given server instead of starting one', async () => {
    // The embedded server stands in for a real one: what matters is that nothing new is started
    // and that migrating an already migrated database is a no-op.
    const external = await startLocalDatabase({
      url: embedded.url,
      dataDir: join(stateDir, 'unused'),
      host: '127.0.0.1',
      port: 0,
    });
    expect(external).toMatchObject({ kind: 'external', url: embedded.url, clientEnvironment: {} });
    await external.close();
    await expect(readdir(join(stateDir, 'unused'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails with DatabasePortInUseError naming the port when the embedded port is taken', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const address = taken.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = startLocalDatabase({ dataDir: join(stateDir, 'busy'), host: '127.0.0.1', port });
      await expect(started).rejects.toThrow(DatabasePortInUseError);
      await expect(started).rejects.toMatchObject({ port, message: expect.stringContaining(`port ${port}`) });
    } finally {
      taken.close();
    }
  }, 60_000);

  it('runs the PostgreSQL major version EMBEDDED_POSTGRES_MAJOR_VERSION says, the one a data directory is checked against', async () => {
    const db = await openDatabase({ url: embedded.url });
    try {
      const { rows } = await db.query<{ version: string }>(
        "select current_setting('server_version_num') as version",
      );
      expect(Math.floor(Number(rows[0]?.version) / 10_000)).toBe(EMBEDDED_POSTGRES_MAJOR_VERSION);
    } finally {
      await db.close();
    }
  });

  it('refuses a data directory of another major version with CorruptStateError naming both versions', async () => {
    const dataDir = join(stateDir, 'other-major');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '16\n');
    await expect(startLocalDatabase({ dataDir, host: '127.0.0.1', port: 0 })).rejects.toMatchObject({
      name: 'CorruptStateError',
      path: dataDir,
      problem: `a PostgreSQL data directory of version 16, this one runs ${EMBEDDED_POSTGRES_MAJOR_VERSION}`,
    });
  });

  it('refuses a data directory PGlite cannot open with CorruptStateError naming it', async () => {
    const dataDir = join(stateDir, 'damaged');
    await (await startLocalDatabase({ dataDir, host: '127.0.0.1', port: 0 })).close();
    // The cluster-wide files (pg_control among them) overwritten, as a bad disk or a stray copy leaves them.
    for (const name of await readdir(join(dataDir, 'global'))) {
      await writeFile(join(dataDir, 'global', name), Buffer.alloc(100, 0x5a));
    }
    const refused = startLocalDatabase({ dataDir, host: '127.0.0.1', port: 0 });
    await expect(refused).rejects.toMatchObject({
      name: 'CorruptStateError',
      path: dataDir,
      // PGlite's own words with it, and its error as the cause: a PGlite fault reads the same.
      problem: expect.stringMatching(/^a PostgreSQL data directory PGlite cannot open \(.+\)$/),
      cause: expect.any(Error),
    });
  }, 60_000);
});
