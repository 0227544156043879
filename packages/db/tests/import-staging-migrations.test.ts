import { expect, it } from '@jest/globals';
import { migrate, migrations } from '../src/index.ts';
import { describeEachDatabase } from '../src/testing.ts';

const upTo = (version: number) => migrations.filter((m) => m.version <= version);

// Migration 21: drop_import_staging deletes the registry row before the segments' rows (a segment a
// task committed while a drop waited for it kept its row before), and the segment rows such drops left
// behind, whose registry row is gone, are deleted.
describeEachDatabase('import staging migrations', (open) => {
  it('deletes the segment rows a drop left behind and keeps those of a live staging', async () => {
    const db = await open({ migrate: false });
    try {
      await migrate(db, { migrations: upTo(20) });
      await db.query(
        `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version) VALUES ('imp_live', 'import', 'running', 'b', 'live.csv', 'v1'), ('imp_dropped', 'import', 'failed', 'b', 'dropped.csv', 'v1')`,
      );
      await db.query(
        `INSERT INTO import_stagings (job_id, table_name, columns, byte_offset, lines)
         VALUES ('imp_live', 'import_staging_live', '[]', 37, 2)`,
      );
      await db.query(
        `INSERT INTO import_staging_segments (job_id, segment, table_name, records)
         VALUES ('imp_live', 0, 'import_staging_live_0', 1), ('imp_live', 1, 'import_staging_live_1', 1),
                ('imp_dropped', 1, 'import_staging_dropped_1', 1)`,
      );

      expect(await migrate(db, { migrations: upTo(21) })).toEqual({
        applied: ['0021-drop-import-staging-registry-first'],
      });
      const { rows } = await db.query<{ job_id: string; segment: number }>(
        'SELECT job_id, segment FROM import_staging_segments ORDER BY job_id, segment',
      );
      expect(rows).toEqual([
        { job_id: 'imp_live', segment: 0 },
        { job_id: 'imp_live', segment: 1 },
      ]);
    } finally {
      await db.close();
    }
  });
});
