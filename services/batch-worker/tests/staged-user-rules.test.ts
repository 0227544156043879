import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { emailAddressOfLength } from '@sidestep/contracts/testing';
import {
  createRejectsSql,
  mergeSql,
  rejectSql,
  rejectsTableName,
  type StagedRows,
  stagingColumns,
  upsertSql,
  validationSql,
} from '../src/adapters/staged-user-rules.ts';
import { mapHeader } from '../src/domain/map-header.ts';
import { databaseBackends, type WorkerDatabase } from './import-fixture.ts';

const header = mapHeader(['external_id', 'email', 'name', 'plan', 'note']);
/** Rows staged by the scanner of today, which marks (`t`) the rows with a value to trim. */
const staged = { header, trimMarked: true };

/** A staged row: the scanner's reject code (empty: none) and the five fields. */
type StagedRow = [reject: string, ...fields: (string | null)[]];

for (const backend of databaseBackends()) {
  backend.describe(`staged user rules [${backend.name}]`, () => {
    let database: WorkerDatabase;
    let tables = 0;
    beforeAll(async () => {
      database = await backend.start();
    }, 60_000);
    afterAll(() => database?.close());

    /** Stages `rows` (lines 2, 3, ...) in a table of their own and returns its name. */
    const stage = async (rows: StagedRow[]): Promise<string> => {
      const table = `rules_staging_${++tables}`;
      const columns = stagingColumns(header.columnCount);
      await database.db.query(
        `CREATE TABLE ${table} (line bigint, reject text, c1 text, c2 text, c3 text, c4 text, c5 text)`,
      );
      for (const [index, [reject, ...fields]] of rows.entries()) {
        await database.db.query(
          `INSERT INTO ${table} (${columns.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [index + 2, reject === '' ? null : reject, ...fields],
        );
      }
      return table;
    };

    /** Validates staged `table` as a segment of its own: its rejected rows into its rejects table. */
    const check = async (
      table: string,
      limits: [maxRowErrors: number, maxRejectedRows: number],
      rows: StagedRows = staged,
    ) => {
      const rejects = rejectsTableName(table);
      await database.db.query(createRejectsSql(rejects));
      await database.db.query(rejectSql(table, rejects, rows));
      const { rows: result } = await database.db.query<{
        rejected: string;
        row_errors: { line: number; field: string; message: string }[];
        over_line: string | null;
      }>(validationSql(rejects), limits);
      return result[0];
    };

    const validate = async (rows: StagedRow[]) => check(await stage(rows), [100, 0]);

    it('merges a valid row with trimmed id, email and name, the other columns as attributes, values as written', async () => {
      const table = await stage([
        ['t', ' rules-1 ', ' rules-1@example.com ', ' Jane ', 'pro', 'says "hi"\n'],
        ['t', '\u00a0rules-2\t', 'rules-2@example.com\u3000', '  ', '', null],
      ]);
      expect(await check(table, [100, 0])).toMatchObject({ rejected: '0', row_errors: [] });
      const merged = await database.db.query(mergeSql(table, staged, { rejects: undefined }));
      expect(merged.rowCount).toBe(2);
      const { rows } = await database.db.query(
        `SELECT external_id, email, name, attributes FROM users WHERE external_id LIKE 'rules-%' ORDER BY external_id`,
      );
      expect(rows).toEqual([
        {
          external_id: 'rules-1',
          email: 'rules-1@example.com',
          name: 'Jane',
          attributes: { plan: 'pro', note: 'says "hi"\n' },
        },
        // An empty name is NULL; an unquoted empty field (NULL from COPY) is an empty attribute.
        {
          external_id: 'rules-2',
          email: 'rules-2@example.com',
          name: null,
          attributes: { plan: '', note: '' },
        },
      ]);
    });

    it('merges only the ids whose last row its rejects table does not name: a rejected last row leaves its id unwritten', async () => {
      const table = await stage([
        ['', 'skip-1', 'skip-1@example.com', 'First', '', ''],
        ['', 'skip-2', 'not-an-address', 'Bad', '', ''],
        ['', 'skip-1', 'broken', 'Later but bad', '', ''],
        ['', 'skip-3', 'skip-3@example.com', 'Third', '', ''],
      ]);
      expect(await check(table, [100, 10])).toMatchObject({ rejected: '2' });
      const merged = await database.db.query(mergeSql(table, staged, { rejects: rejectsTableName(table) }));
      expect(merged.rowCount).toBe(1);
      const { rows } = await database.db.query(
        `SELECT external_id, email, name FROM users WHERE external_id LIKE 'skip-%' ORDER BY external_id`,
      );
      // skip-1's last row (line 3) is rejected: the file's last row of an id wins, so its first row
      // is not written in its place.
      expect(rows).toEqual([{ external_id: 'skip-3', email: 'skip-3@example.com', name: 'Third' }]);
    });

    // README, Behaviour: "Unchanged users are not rewritten"; a user whose attributes change is one
    // that changed. The completion runs the MERGE, and the upsert when the MERGE met a user another
    // writer inserted meanwhile: both write the same users.
    it.each([
      ['MERGE', mergeSql],
      ['upsert', upsertSql],
    ] as const)(
      'updates a user whose only change is an attribute, and leaves an unchanged one alone (%s)',
      async (kind, merge) => {
        const id = `attr-only-${kind}`;
        const row = (plan: string): StagedRow => ['', id, `${id}@example.com`, 'Jane', plan, 'n'];
        const written = async (plan: string) =>
          (await database.db.query(merge(await stage([row(plan)]), staged, { rejects: undefined }))).rowCount;
        expect(await written('free')).toBe(1);
        expect(await written('pro')).toBe(1);
        expect(await written('pro')).toBe(0);
        const { rows } = await database.db.query(
          'SELECT email, name, attributes FROM users WHERE external_id = $1',
          [id],
        );
        expect(rows).toEqual([
          { email: `${id}@example.com`, name: 'Jane', attributes: { plan: 'pro', note: 'n' } },
        ]);
      },
    );

    it('trims only the rows the scanner marked, in a staging it marked, and every row of an earlier one', async () => {
      const rows: StagedRow[] = [
        ['t', ' mark-1 ', '\u00a0mark-1@example.com', ' Jane\u3000', '', ''],
        // Unmarked: the scanner found nothing to trim; taken as written (a space kept shows it).
        ['', 'mark-2 ', 'mark-2@example.com', 'Joe ', '', ''],
        ['t', '\t', 'mark-3@example.com', '', '', ''],
      ];
      const marked = await stage(rows);
      expect(await check(marked, [100, 10])).toMatchObject({
        rejected: '1',
        row_errors: [{ line: 4, field: 'external_id', message: 'is empty' }],
      });
      await database.db.query(mergeSql(marked, staged, { rejects: rejectsTableName(marked) }));
      const earlier = { header, trimMarked: false };
      const unmarked = await stage(rows.map(([, ...fields]) => ['', ...fields] as StagedRow));
      expect(await check(unmarked, [100, 10], earlier)).toMatchObject({ rejected: '1' });
      await database.db.query(`UPDATE ${unmarked} SET c1 = 'old-' || c1`);
      await database.db.query(mergeSql(unmarked, earlier, { rejects: rejectsTableName(unmarked) }));
      const { rows: users } = await database.db.query(
        `SELECT external_id, email, name FROM users WHERE external_id ~ '^(old-)?\\s*mark-' ORDER BY external_id`,
      );
      expect(users).toEqual([
        { external_id: 'mark-1', email: 'mark-1@example.com', name: 'Jane' },
        { external_id: 'mark-2 ', email: 'mark-2@example.com', name: 'Joe ' },
        { external_id: 'old- mark-1', email: 'mark-1@example.com', name: 'Jane' },
        { external_id: 'old-mark-2', email: 'mark-2@example.com', name: 'Joe' },
      ]);
    });

    // The cases of the validator the import had before PostgreSQL validated (validate-row.test.ts).
    it.each([
      [['', '', 'a@example.com', '', '', ''], 'external_id', 'is empty'],
      [['', 'x'.repeat(257), 'a@example.com', '', '', ''], 'external_id', 'is longer than 256 characters'],
      [['t', 'u', ' ', '', '', ''], 'email', 'is empty'],
      [['', 'u', null, '', '', ''], 'email', 'is empty'],
      [['', 'u', 'no-at-sign', '', '', ''], 'email', 'is not a valid email address'],
      [['', 'u', 'a@b', '', '', ''], 'email', 'is not a valid email address'],
      [['', 'u', `${'a'.repeat(250)}@example.com`, '', '', ''], 'email', 'is not a valid email address'],
      [['f4', null, null, null, null, null], 'row', 'has 4 fields, the header has 5'],
      [['f6', null, null, null, null, null], 'row', 'has 6 fields, the header has 5'],
      [['n4', null, null, null, null, null], 'note', 'contains a NUL character'],
      [['n0', null, null, null, null, null], 'external_id', 'contains a NUL character'],
      [['u2', null, null, null, null, null], 'name', 'is not UTF-8 text: save the file as CSV UTF-8'],
    ] as [StagedRow, string, string][])('rejects %j: %s %s', async (row, field, message) => {
      expect(await validate([row])).toEqual({
        rejected: '1',
        row_errors: [{ line: 2, field, message }],
        over_line: '2',
      });
    });

    it('counts an id’s length in Unicode code points: 256 astral characters (512 UTF-16 units, 1,024 bytes) are at the limit', async () => {
      const astral = (count: number) => '\u{20000}'.repeat(count); // CJK Extension B: a surrogate pair each
      expect(astral(256)).toHaveLength(512);
      const result = await validate([
        ['t', astral(256), 'a@example.com', '', '', ''],
        ['t', astral(257), 'b@example.com', '', '', ''],
      ]);
      expect(result).toEqual({
        rejected: '1',
        row_errors: [{ line: 3, field: 'external_id', message: 'is longer than 256 characters' }],
        over_line: '3',
      });
    });

    it('counts an id’s length after trimming it: 256 characters with whitespace around them are accepted, 257 are not', async () => {
      const result = await validate([
        ['t', ` ${'x'.repeat(256)}\t`, 'a@example.com', '', '', ''],
        ['t', ` ${'y'.repeat(257)} `, 'b@example.com', '', '', ''],
      ]);
      expect(result).toEqual({
        rejected: '1',
        row_errors: [{ line: 3, field: 'external_id', message: 'is longer than 256 characters' }],
        over_line: '3',
      });
    });

    it('accepts an address of 254 characters (RFC 5321’s limit on a path) and rejects one of 255', async () => {
      // A local part of 64 octets and labels of at most 63: only the whole address's length is at fault.
      const result = await validate([
        ['', 'u', emailAddressOfLength(254), '', '', ''],
        ['', 'u', emailAddressOfLength(255), '', '', ''],
      ]);
      expect(result).toEqual({
        rejected: '1',
        row_errors: [{ line: 3, field: 'email', message: 'is not a valid email address' }],
        over_line: '3',
      });
    });

    it("accepts the addresses zod's email rule accepts", async () => {
      const result = await validate([
        ['', 'u', "o'brien+tag@mail.example.co.jp", '', '', ''],
        ['', 'u', 'first.last_1@sub-domain.example.com', '', '', ''],
      ]);
      expect(result).toMatchObject({ rejected: '0', over_line: null });
    });

    it('counts every rejected row, lists the first in file order and names the line past the limit', async () => {
      const bad: StagedRow = ['', 'u', 'broken', '', '', ''];
      const good: StagedRow = ['', 'u', 'u@example.com', '', '', ''];
      const result = await check(await stage([good, bad, bad, good, bad]), [2, 1]);
      expect(result?.rejected).toBe('3');
      expect(result?.row_errors.map((error) => error.line)).toEqual([3, 4]);
      expect(result?.over_line).toBe('4');
    });
  });
}
