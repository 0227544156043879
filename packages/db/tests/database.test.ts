import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Database, DatabaseOptionsError, openDatabase, TransactionMisuseError } from '../src/index.ts';
import { describeEachDatabase } from '../src/testing.ts';

describeEachDatabase('Database', (open) => {
  let db: Database;
  beforeAll(async () => {
    db = await open({ migrate: false });
    await db.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)');
  });
  afterAll(() => db.close());

  it('returns values the way pg does on every backend', async () => {
    const { rows, rowCount } = await db.query(
      `SELECT 9007199254740993::int8 AS big, 1.50::numeric AS exact, 7::int AS small,
              '{"a":[1]}'::jsonb AS doc, '2026-01-02T03:04:05Z'::timestamptz AS at, $1::text AS echoed`,
      ['x'],
    );
    expect(rowCount).toBe(1);
    expect(rows[0]).toEqual({
      big: '9007199254740993',
      exact: '1.50',
      small: 7,
      doc: { a: [1] },
      at: new Date('2026-01-02T03:04:05Z'),
      echoed: 'x',
    });
  });

  it('runs several statements without params and returns the last result', async () => {
    const result = await db.query(
      "INSERT INTO items VALUES (100, 'a'); INSERT INTO items VALUES (101, 'b'); SELECT label FROM items WHERE id >= 100 ORDER BY id",
    );
    expect(result).toEqual({ rows: [{ label: 'a' }, { label: 'b' }], rowCount: 2 });
  });

  it('reports affected rows as rowCount', async () => {
    const result = await db.query('UPDATE items SET label = $1 WHERE id >= $2', ['z', 100]);
    expect(result).toEqual({ rows: [], rowCount: 2 });
  });

  it('commits a transaction when its callback resolves', async () => {
    const value = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO items VALUES ($1, $2)', [1, 'committed']);
      return (await tx.query<{ label: string }>('SELECT label FROM items WHERE id = 1')).rows[0]?.label;
    });
    expect(value).toBe('committed');
    expect((await db.query('SELECT label FROM items WHERE id = 1')).rows).toEqual([{ label: 'committed' }]);
  });

  it('rolls back a transaction and rethrows when its callback rejects', async () => {
    const failure = new Error('step failed');
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO items VALUES ($1, $2)', [2, 'rolled back']);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await db.query('SELECT * FROM items WHERE id = 2')).rowCount).toBe(0);
  });

  it('rolls back a transaction whose statement fails', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO items VALUES ($1, $2)', [3, 'first']);
        await tx.query('INSERT INTO items VALUES ($1, $2)', [3, 'duplicate key']);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await db.query('SELECT * FROM items WHERE id = 3')).rowCount).toBe(0);
    // The connection is usable again.
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('refuses queries on the database itself from inside its transaction callback', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO items VALUES ($1, $2)', [4, 'never committed']);
        await db.query('SELECT 1');
      }),
    ).rejects.toBeInstanceOf(TransactionMisuseError);
    await expect(db.transaction(() => db.transaction(async () => 1))).rejects.toMatchObject({
      name: 'TransactionMisuseError',
    });
    expect((await db.query('SELECT * FROM items WHERE id = 4')).rowCount).toBe(0);
  });

  it('runs transactions started concurrently one after the other without losing updates', async () => {
    await db.query('CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0)');
    await Promise.all(
      Array.from({ length: 5 }, () =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>('SELECT n FROM counter FOR UPDATE');
          await tx.query('UPDATE counter SET n = $1', [(rows[0]?.n ?? 0) + 1]);
        }),
      ),
    );
    expect((await db.query('SELECT n FROM counter')).rows).toEqual([{ n: 5 }]);
  });
});

describe('openDatabase', () => {
  it.each([
    ['an empty url', { url: '' }, 'url'],
    ['a url of another database', { url: 'mysql://localhost/db' }, 'url'],
    ['max 0', { url: 'postgres://localhost/db', max: 0 }, 'max'],
  ])('rejects %s naming the field', async (_case, options, field) => {
    const failure = await openDatabase(options).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DatabaseOptionsError);
    expect(failure).toMatchObject({ name: 'DatabaseOptionsError', field, permanent: true });
  });

  it('fails with the cause, not a hang, when the server is unreachable', async () => {
    // Port 1 on loopback refuses connections.
    const db = await openDatabase({
      url: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 2000,
    });
    try {
      expect(db.kind).toBe('postgres');
      await expect(db.query('SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await db.close();
    }
  });
});
