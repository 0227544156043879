import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase } from '@sidestep/db';
import { DatabasePortInUseError, type LocalDatabase, startLocalDatabase } from '../src/local-database.ts';

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
});
