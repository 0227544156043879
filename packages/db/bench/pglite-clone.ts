/**
 * Why the test fixture clones PGlite: time to a migrated database by starting a new instance and
 * migrating it (the baseline) versus loading a dump of an already migrated one, in the same process.
 * Run: `pnpm run bench` in packages/db. Results are recorded in README.md.
 */
import { performance } from 'node:perf_hooks';
import { migrate } from '../src/migrate.ts';
import { PgliteDatabase } from '../src/pglite-database.ts';

const runs = 5;

async function time(label: string, fn: () => Promise<PgliteDatabase>): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const db = await fn();
    await db.query('SELECT count(*) FROM idempotency_records');
    samples.push(performance.now() - started);
    await db.close();
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(runs / 2)] ?? 0;
  console.log(
    `${label.padEnd(44)} median ${median.toFixed(0).padStart(5)} ms  (${samples.map((s) => s.toFixed(0)).join(', ')})`,
  );
}

const template = await PgliteDatabase.create();
await migrate(template);
const plain = await template.pglite.dumpDataDir('none');
const gzipped = await template.pglite.dumpDataDir('gzip');
await template.close();
console.log(
  `dump sizes: none ${(plain.size / 1e6).toFixed(1)} MB, gzip ${(gzipped.size / 1e6).toFixed(1)} MB`,
);

await time('baseline: new PGlite + migrate', async () => {
  const db = await PgliteDatabase.create();
  await migrate(db);
  return db;
});
await time('clone: load uncompressed dump (fixture)', () => PgliteDatabase.create({ loadDataDir: plain }));
await time('clone: load gzip dump', () => PgliteDatabase.create({ loadDataDir: gzipped }));
