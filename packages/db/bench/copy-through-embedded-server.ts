/**
 * Rows per second into the embedded server (PGlite over the socket, client `pg`): COPY ... FROM STDIN
 * through pg-copy-streams (64 KiB writes, as the batch-worker writes) versus multi-row
 * `INSERT ... SELECT FROM unnest(...)` of 1,000 rows (the batch-worker's insert path), and, for
 * reference, PGlite's own COPY from a blob in the same process, without the socket.
 * Run: `node bench/copy-through-embedded-server.ts [rows]` in packages/db. Results are in README.md.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startEmbeddedPostgres } from '../src/start-embedded-postgres.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const table =
  'CREATE TABLE bench (id int PRIMARY KEY, external_id text NOT NULL, email text NOT NULL, name text)';
const row = (i: number) => [i, `user-${i}`, `user-${i}@example.com`, `Name ${i}`] as const;

function* copyText(pieceChars = 64 * 1024): Generator<string> {
  let piece = '';
  for (let i = 1; i <= rows; i++) {
    piece += `${row(i).join('\t')}\n`;
    if (piece.length >= pieceChars) {
      yield piece;
      piece = '';
    }
  }
  if (piece) yield piece;
}

async function time(label: string, fn: () => Promise<void>, count: () => Promise<number>): Promise<void> {
  const started = performance.now();
  await fn();
  const seconds = (performance.now() - started) / 1000;
  const stored = await count();
  if (stored !== rows) throw new Error(`${label}: ${stored} rows stored, expected ${rows}`);
  const rss = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(
    `${label.padEnd(44)} ${seconds.toFixed(2).padStart(6)} s  ${Math.round(rows / seconds)
      .toLocaleString('en')
      .padStart(9)} rows/s  peak RSS so far ${rss} MiB`,
  );
}

const embedded = await startEmbeddedPostgres();
const client = new pg.Client({ connectionString: embedded.url });
await client.connect();
const countOver = (c: { query: pg.Client['query'] }) => async () =>
  Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM bench')).rows[0]?.n);
try {
  console.log(`${rows.toLocaleString('en')} rows, table with a primary key`);
  await client.query(table);
  await time(
    'socket: COPY FROM STDIN (pg-copy-streams)',
    () => pipeline(Readable.from(copyText()), client.query(copyFrom('COPY bench FROM STDIN'))),
    countOver(client),
  );
  await client.query('DROP TABLE bench');
  await client.query(table);
  await time(
    'socket: INSERT ... unnest, 1,000 rows each',
    async () => {
      for (let first = 1; first <= rows; first += 1000) {
        const batch = Array.from({ length: Math.min(1000, rows - first + 1) }, (_, k) => row(first + k));
        await client.query(
          'INSERT INTO bench SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])',
          [0, 1, 2, 3].map((c) => batch.map((r) => r[c])),
        );
      }
    },
    countOver(client),
  );
} finally {
  await client.end();
  await embedded.close();
}

const inProcess = await PGlite.create();
try {
  await inProcess.exec(table);
  await time(
    'in process: PGlite COPY FROM /dev/blob',
    async () => {
      await inProcess.query("COPY bench FROM '/dev/blob'", [], { blob: new Blob([...copyText()]) });
    },
    async () =>
      Number((await inProcess.query<{ n: number }>('SELECT count(*)::int AS n FROM bench')).rows[0]?.n),
  );
} finally {
  await inProcess.close();
}
