import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { copyInFormat } from '../src/buffer-copy-from-stdin.ts';
import { type EmbeddedPostgres, type Queryable, startEmbeddedPostgres } from '../src/index.ts';

/** COPY ... FROM STDIN of `chunks`, each its own write a turn apart (one CopyData message each). */
async function copyIn(
  client: pg.ClientBase,
  sql: string,
  chunks: Iterable<Uint8Array | string>,
): Promise<void> {
  async function* spaced() {
    for (const chunk of chunks) {
      yield chunk;
      await nextTurn();
    }
  }
  await pipeline(Readable.from(spaced()), client.query(copyFrom(sql)));
}

/** The bytes of COPY ... TO STDOUT. */
async function copyOut(client: pg.ClientBase, sql: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of client.query(copyTo(sql))) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** `bytes` cut every `size` bytes, regardless of rows and characters. */
function cut(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

/** A UTF-8 continuation byte: a chunk starting with one split a character. */
const splitsCharacter = (chunk: Buffer) => ((chunk[0] ?? 0) & 0xc0) === 0x80;

const maxCopyBytes = 8 * 1024 * 1024;

describe('COPY through the embedded server', () => {
  let embedded: EmbeddedPostgres;
  let client: pg.Client;

  beforeAll(async () => {
    embedded = await startEmbeddedPostgres({ maxCopyBytes });
    client = new pg.Client({ connectionString: embedded.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await embedded?.close();
  });

  /** The connection still answers a plain query in step after what the test did. */
  async function expectInSync(connection: Pick<Queryable, 'query'> = client): Promise<void> {
    const { rows } = await connection.query('SELECT $1::int AS n, $2::text AS s', [7, 'after']);
    expect(rows).toEqual([{ n: 7, s: 'after' }]);
  }

  /**
   * The client's transaction is aborted (PostgreSQL's state after a failed statement), its ROLLBACK
   * leaves `table` empty, and the connection is in step.
   */
  async function expectRolledBack(table: string): Promise<void> {
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows).toEqual([{ n: '0' }]);
    await expectInSync();
  }

  it('copies 50,000 rows in chunks that split rows and multi-byte characters', async () => {
    await client.query('CREATE TABLE many (id int PRIMARY KEY, label text NOT NULL)');
    const label = (id: number) => `row ${id} ünïcödé € 𝄞 ${'ß'.repeat(id % 7)}`;
    const text = Buffer.from(
      Array.from({ length: 50_000 }, (_, i) => `${i + 1}\t${label(i + 1)}\n`).join(''),
      'utf8',
    );
    const chunks = cut(text, 4093);
    expect(chunks.length).toBeGreaterThan(500);
    expect(chunks.some(splitsCharacter)).toBe(true);

    await copyIn(client, 'COPY many (id, label) FROM STDIN', chunks);

    const { rows } = await client.query<{ n: string; sum: string; bad: string }>(
      `SELECT count(*) AS n, sum(id) AS sum,
              count(*) FILTER (WHERE label <> 'row ' || id || ' ünïcödé € 𝄞 ' || repeat('ß', id % 7)) AS bad
       FROM many`,
    );
    expect(rows).toEqual([{ n: '50000', sum: String((50_000 * 50_001) / 2), bad: '0' }]);
    expect((await client.query('SELECT label FROM many WHERE id = 49999')).rows).toEqual([
      { label: label(49_999) },
    ]);
    await expectInSync();
  });

  it('copies CSV with a header, quoted delimiters, doubled quotes and newlines inside quotes', async () => {
    await client.query('CREATE TABLE csv_rows (id int PRIMARY KEY, name text, note text)');
    const csv =
      'id,name,note\r\n' +
      '1,"Doe, Jane","said ""hi"""\r\n' +
      '2,plain,"two\nlines"\r\n' +
      '3,,"crlf\r\ninside"\r\n' +
      '4,"",last\r\n';
    await copyIn(client, 'COPY csv_rows FROM STDIN (FORMAT csv, HEADER true)', cut(Buffer.from(csv), 7));

    expect((await client.query('SELECT id, name, note FROM csv_rows ORDER BY id')).rows).toEqual([
      { id: 1, name: 'Doe, Jane', note: 'said "hi"' },
      { id: 2, name: 'plain', note: 'two\nlines' },
      { id: 3, name: null, note: 'crlf\r\ninside' },
      { id: 4, name: '', note: 'last' },
    ]);
    await expectInSync();
  });

  it('reports a bad row mid-stream, rolls the transaction back and keeps the connection in step', async () => {
    await client.query('CREATE TABLE strict_rows (id int PRIMARY KEY)');
    await client.query('BEGIN');
    await client.query('INSERT INTO strict_rows VALUES (0)');
    const lines = Array.from({ length: 20_000 }, (_, i) => (i === 12_345 ? 'not-a-number\n' : `${i + 1}\n`));
    const copy = copyIn(client, 'COPY strict_rows FROM STDIN', cut(Buffer.from(lines.join('')), 1000));

    await expect(copy).rejects.toMatchObject({
      code: '22P02',
      message: expect.stringContaining('not-a-number'),
    });
    await expectRolledBack('strict_rows');
  });

  it('rolls back a COPY the client gives up on (CopyFail) and keeps the connection in step', async () => {
    await client.query('CREATE TABLE abandoned (id int)');
    async function* failing() {
      yield '1\n2\n';
      await nextTurn();
      throw new Error('source broke');
    }
    const copy = pipeline(Readable.from(failing()), client.query(copyFrom('COPY abandoned FROM STDIN')));

    await expect(copy).rejects.toThrow('source broke');
    expect((await client.query('SELECT count(*) AS n FROM abandoned')).rows).toEqual([{ n: '0' }]);
    await expectInSync();
  });

  it('reports a COPY into a missing table, then copies on the same connection', async () => {
    await expect(copyIn(client, 'COPY no_such_table FROM STDIN', ['1\n'])).rejects.toMatchObject({
      code: '42P01',
    });
    await client.query('CREATE TABLE existing_table (id int)');
    await copyIn(client, 'COPY existing_table FROM STDIN', ['1\n', '2\n']);
    expect((await client.query('SELECT count(*) AS n FROM existing_table')).rows).toEqual([{ n: '2' }]);
    await expectInSync();
  });

  it('fails a COPY larger than maxCopyBytes with an error naming the limit, aborting its transaction', async () => {
    await client.query('CREATE TABLE oversized (line text)');
    await client.query('BEGIN');
    await client.query("INSERT INTO oversized VALUES ('before')");
    const line = Buffer.from(`${'x'.repeat(1023)}\n`);
    const copy = copyIn(
      client,
      'COPY oversized FROM STDIN',
      Array.from({ length: 9 * 1024 }, () => line),
    );

    await expect(copy).rejects.toThrow(`limited to ${maxCopyBytes} bytes`);
    await expectRolledBack('oversized');
  });

  it('copies out with COPY TO STDOUT exactly what was copied in', async () => {
    await client.query('CREATE TABLE round_trip (id int PRIMARY KEY, body text)');
    const text = Array.from({ length: 5000 }, (_, i) => `${i}\tvalue\\t${i} ✓\n`).join('');
    await copyIn(client, 'COPY round_trip FROM STDIN', cut(Buffer.from(text), 333));

    const out = await copyOut(client, 'COPY (SELECT id, body FROM round_trip ORDER BY id) TO STDOUT');
    expect(out.toString('utf8')).toBe(text);
    const csv = await copyOut(client, "COPY (SELECT 'FROM STDIN' AS t) TO STDOUT (FORMAT csv, HEADER)");
    expect(csv.toString()).toBe('t\nFROM STDIN\n');
    await expectInSync();
  });

  it('copies binary COPY data back in', async () => {
    await client.query('CREATE TABLE binary_source (id int, payload bytea, at timestamptz)');
    await client.query(
      "INSERT INTO binary_source SELECT i, sha256(i::text::bytea), '2026-01-01'::timestamptz + i * interval '1 s' FROM generate_series(1, 3000) i",
    );
    await client.query('CREATE TABLE binary_copy (LIKE binary_source)');
    const bytes = await copyOut(client, 'COPY binary_source TO STDOUT (FORMAT binary)');

    await copyIn(client, 'COPY binary_copy FROM STDIN (FORMAT binary)', cut(bytes, 1000));

    const { rows } = await client.query(
      'SELECT count(*) AS n FROM (SELECT * FROM binary_source EXCEPT ALL SELECT * FROM binary_copy) d',
    );
    expect(rows).toEqual([{ n: '0' }]);
    expect((await client.query('SELECT count(*) AS n FROM binary_copy')).rows).toEqual([{ n: '3000' }]);
    await expectInSync();
  });

  it('runs two connections copying at once and queries of a third in between', async () => {
    await client.query('CREATE TABLE shared (source text, n int)');
    const other = new pg.Client({ connectionString: embedded.url });
    await other.connect();
    try {
      const rows = (source: string) => Array.from({ length: 300 }, (_, i) => `${source}\t${i}\n`);
      const copies = Promise.all([
        copyIn(client, 'COPY shared FROM STDIN', rows('a')),
        copyIn(other, 'COPY shared FROM STDIN', rows('b')),
        expectInSync(embedded.db),
      ]);
      await copies;
      const { rows: counts } = await client.query(
        'SELECT source, count(*) AS n, sum(n) AS total FROM shared GROUP BY source ORDER BY source',
      );
      expect(counts).toEqual([
        { source: 'a', n: '300', total: '44850' },
        { source: 'b', n: '300', total: '44850' },
      ]);
      await expectInSync(other);
    } finally {
      await other.end();
    }
  });
});

describe('copyInFormat', () => {
  it('recognizes COPY ... FROM STDIN in any case, after comments, with its format', () => {
    expect(copyInFormat('COPY t FROM STDIN')).toBe(0);
    expect(copyInFormat('  -- load\n/* users */ copy t (a, b) from stdin with (format csv, header)')).toBe(0);
    expect(copyInFormat('COPY t FROM STDIN (FORMAT binary)')).toBe(1);
    expect(copyInFormat('COPY t FROM STDIN WITH BINARY; SELECT 1')).toBe(1);
  });

  it('ignores FROM STDIN inside literals, identifiers, comments and subqueries, and other statements', () => {
    expect(copyInFormat("COPY (SELECT 'FROM STDIN') TO STDOUT")).toBeUndefined();
    expect(copyInFormat('COPY (SELECT x FROM stdin) TO STDOUT')).toBeUndefined();
    expect(copyInFormat('COPY "from stdin" TO STDOUT')).toBeUndefined();
    expect(copyInFormat('COPY t TO STDOUT -- not FROM STDIN')).toBeUndefined();
    expect(copyInFormat("SELECT 'COPY t FROM STDIN'")).toBeUndefined();
    expect(copyInFormat('COPY t TO STDOUT; COPY u FROM STDIN')).toBeUndefined();
    expect(copyInFormat("COPY t FROM STDIN (FORMAT csv, NULL 'binary')")).toBe(0);
  });
});
