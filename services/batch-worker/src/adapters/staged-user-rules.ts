import { MAX_EMAIL_LENGTH } from '@sidestep/contracts';
import { NOT_UTF8_MESSAGE, TRIM_MARK } from '../domain/csv-record-scanner.ts';
import type { HeaderMapping } from '../domain/map-header.ts';

// The import's row rules, in SQL: PostgreSQL checks the staged rows set-based, so each rule is
// defined once, here, and used by both the validation (which puts each staged segment's rejected
// rows into the staging's rejects table, counted and reported at the completion) and the merge
// (which skips them). The field-count, NUL and UTF-8 rules are found by the worker's
// CsvRecordScanner (PostgreSQL could not stage such a record) and arrive as the `reject` code.

/**
 * The longest `external_id` accepted, in Unicode code points (PostgreSQL's `char_length`): ids are
 * keys, not documents. The JavaScript validator before the SQL rules counted UTF-16 code units
 * (`String#length`), in which a character outside the Basic Multilingual Plane (an emoji, CJK
 * Extension B) counts twice; code points count what a person sees as characters and do not depend
 * on a language's string encoding, so the SQL rule is the rule: 256 such characters are accepted.
 */
export const MAX_EXTERNAL_ID_LENGTH = 256;

/**
 * The characters JavaScript's `String.prototype.trim` removes (WhiteSpace and LineTerminator), which
 * the import has always trimmed from ids, emails and names: `btrim(x)` alone removes only spaces.
 */
const WHITESPACE =
  ' \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

/**
 * zod's email rule (`z.regexes.email`, which the import applied before it validated in SQL) as a
 * PostgreSQL regular expression: only ASCII classes, so the two read it the same way.
 */
const EMAIL_PATTERN =
  "^([A-Za-z0-9_''+-]+\\.)*[A-Za-z0-9_''+-]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\\.)+[A-Za-z]{2,}$";

/** The staging table's column of CSV field `index` (0-based). */
export function fieldColumn(index: number): string {
  return `c${index + 1}`;
}

/** The staging table's columns, in COPY order: the scanner's two, then one text column per field. */
export function stagingColumns(columnCount: number): string[] {
  return ['line', 'reject', ...Array.from({ length: columnCount }, (_, index) => fieldColumn(index))];
}

/** How a staging's rows were staged: what the rules need to read them. */
export interface StagedRows {
  readonly header: HeaderMapping;
  /**
   * Whether the record scanner marked every record with a value to trim (`TRIM_MARK` in `reject`),
   * as it does for every staging created since db migration 8 (`import_stagings.trim_marked`): then
   * only marked rows are trimmed, the others have nothing to trim. An older staging's rows are all
   * trimmed.
   */
  readonly trimMarked: boolean;
}

/** A field as text: COPY stores an unquoted empty field as NULL; the rules see it as empty. */
const field = (index: number) => `coalesce(${fieldColumn(index)}, '')`;

/**
 * A field trimmed as JavaScript's `trim` would. `btrim` with this set walks the whole value and the
 * set on every call (a multibyte set): trimming the id, email and name of every row took about a
 * quarter of a 1M-row merge (PostgreSQL 15, 2026-12-04: the MERGE in 3.5-3.7 s without the three
 * `btrim`s against 4.6-5.0 s with them), so where the scanner marked the rows with a value to trim,
 * only those are trimmed.
 */
function trimmed(index: number, staged: StagedRows): string {
  const trim = `btrim(${field(index)}, '${WHITESPACE}')`;
  return staged.trimMarked ? `CASE WHEN reject = '${TRIM_MARK}' THEN ${trim} ELSE ${field(index)} END` : trim;
}

/** An SQL string literal. */
function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The header's column names for the rules' messages, field by field (`external_id`, `email`, `name`
 * for those; attributes as written).
 */
export function fieldNames(header: HeaderMapping): string[] {
  const names = Array.from({ length: header.columnCount }, (_, index) => `column ${index + 1}`);
  for (const attribute of header.attributes) names[attribute.index] = attribute.name;
  names[header.externalId] = 'external_id';
  names[header.email] = 'email';
  if (header.name !== undefined) names[header.name] = 'name';
  return names;
}

/**
 * The first rule a staged row breaks, as `ARRAY[field, message]`, or NULL for a valid row. In order:
 * the field count, NUL characters and bytes that are not UTF-8 (from the scanner's `reject`), then `external_id` present
 * (trimmed) and at most {@link MAX_EXTERNAL_ID_LENGTH} characters (code points: `char_length`, not
 * UTF-16 units as JavaScript's `String#length`), then `email` present and a valid
 * address of at most {@link MAX_EMAIL_LENGTH} characters.
 */
export function rowProblemSql(staged: StagedRows): string {
  const { header } = staged;
  const names = `ARRAY[${fieldNames(header).map(literal).join(', ')}]::text[]`;
  const id = trimmed(header.externalId, staged);
  const email = trimmed(header.email, staged);
  // Cheap tests first (this runs once per row of files of millions): a trimmed value is never longer
  // than the raw one, and an email that matches the pattern as written has no whitespace to trim.
  return `CASE
      WHEN reject LIKE 'f%' THEN
        ARRAY['row', 'has ' || substr(reject, 2) || ' fields, the header has ${header.columnCount}']
      WHEN reject LIKE 'n%' THEN
        ARRAY[(${names})[substr(reject, 2)::int + 1], 'contains a NUL character']
      WHEN reject LIKE 'u%' THEN
        ARRAY[(${names})[substr(reject, 2)::int + 1], '${NOT_UTF8_MESSAGE}']
      WHEN ${id} = '' THEN ARRAY['external_id', 'is empty']
      WHEN char_length(${field(header.externalId)}) > ${MAX_EXTERNAL_ID_LENGTH}
        AND char_length(${id}) > ${MAX_EXTERNAL_ID_LENGTH} THEN
        ARRAY['external_id', 'is longer than ${MAX_EXTERNAL_ID_LENGTH} characters']
      WHEN char_length(${field(header.email)}) <= ${MAX_EMAIL_LENGTH}
        AND ${field(header.email)} ~ '${EMAIL_PATTERN}' THEN NULL
      WHEN ${email} = '' THEN ARRAY['email', 'is empty']
      WHEN char_length(${email}) > ${MAX_EMAIL_LENGTH} OR ${email} !~ '${EMAIL_PATTERN}' THEN
        ARRAY['email', 'is not a valid email address']
    END`;
}

/** The table of a staging's rejected rows (`line`, `field`, `message`), beside its staging table. */
export function rejectsTableName(table: string): string {
  return `${table}_rejects`;
}

/** Creates a staging's rejects table: UNLOGGED, as the staging is. */
export function createRejectsSql(rejects: string): string {
  return `CREATE UNLOGGED TABLE ${rejects} (line bigint NOT NULL, field text NOT NULL, message text NOT NULL)`;
}

/**
 * The rows of staged `table` (one segment, or a whole file) that break a rule, into `rejects`, one row
 * each with its line, the field and the message. Add `RETURNING` to count them.
 */
export function rejectSql(table: string, rejects: string, staged: StagedRows): string {
  return `
    INSERT INTO ${rejects} (line, field, message)
    SELECT line, problem[1], problem[2]
    FROM (SELECT line, ${rowProblemSql(staged)} AS problem FROM ${table}) AS checked
    WHERE problem IS NOT NULL`;
}

/**
 * The validation of a staged file from its rejected rows ({@link rejectSql}): how many there are,
 * the first `$1` of them (`line`, `field`, `message`, in file order), and the line of the row after
 * the first `$2` (the one that goes over the limit of rejected rows), or NULL.
 */
export function validationSql(rejects: string): string {
  return `
    SELECT
      (SELECT count(*) FROM ${rejects}) AS rejected,
      (SELECT coalesce(json_agg(json_build_object('line', line, 'field', field, 'message', message) ORDER BY line), '[]')
         FROM (SELECT * FROM ${rejects} ORDER BY line LIMIT $1) AS first) AS row_errors,
      (SELECT line FROM ${rejects} ORDER BY line OFFSET $2 LIMIT 1) AS over_line`;
}

/**
 * Copies the rejects table's rows into `import_rejected_rows` under job `$1`, in the completing
 * transaction, before the staging (rejects table included) is dropped: what a completed import left
 * out stays listed in the ledger, every row of it, where the job's `row_errors` keeps the first ones.
 */
export function rejectedRowsSql(rejects: string): string {
  return `
    INSERT INTO import_rejected_rows (job_id, line, field, message)
    SELECT $1, line, field, message FROM ${rejects}`;
}

/** Which staged rows a merge reads. */
export interface MergeOptions {
  /**
   * The rejects table ({@link rejectSql}) whose rows the merge skips (by line: a hash anti-join, so
   * the rules are not evaluated a second time; measured on 1M staged rows with 10 rejected, PostgreSQL
   * 15, 2026-12-04: the MERGE in 4.2-5.4 s, as fast as without a filter, where evaluating the rules
   * again took 5.7-7.3 s). Undefined for a file whose validation rejected no row.
   */
  readonly rejects: string | undefined;
}

/**
 * The staged file as the rows a merge writes: values trimmed; `DISTINCT ON` keeps the last row
 * (highest line) of an id, so the file's last row wins, and an id whose last row is rejected is not
 * written. (A row rejected before its fields were read, for its field count, a NUL or bad UTF-8, is
 * staged with empty fields: its id is unknown, so it supersedes no earlier row.) Attributes are the
 * file's other columns (values as written); an empty name is NULL.
 *
 * The ids are sorted by their bytes (`COLLATE "C"`), not by the database's collation: the sort is
 * only there to group each id's rows and visit ids in one fixed order, and it is most of the merge's
 * own work on a large file. PostgreSQL compares "C" text with memcmp and abbreviated keys; any other
 * libc collation (C.UTF-8 here, en_US.UTF-8 on a default RDS instance) goes through strcoll for every
 * comparison. libc collations are deterministic (equal only when the bytes are equal), so the groups
 * are the same. Measured on 1M new users (PostgreSQL 15, C.UTF-8, 2026-12-04): the MERGE in 3.5-3.6 s
 * where sorting by the database's collation took 3.8-4.1 s (the sort alone 0.55 s against 0.9 s).
 */
function mergeSourceSql(table: string, staged: StagedRows, options: MergeOptions): string {
  const { header } = staged;
  const keys = header.attributes.map((attribute) => literal(attribute.name));
  const values = header.attributes.map((attribute) => field(attribute.index));
  const attributes =
    keys.length === 0
      ? `'{}'::jsonb`
      : `jsonb_object(ARRAY[${keys.join(', ')}]::text[], ARRAY[${values.join(', ')}]::text[])`;
  const lastRows = (columns: string) => `
    SELECT DISTINCT ON (external_id COLLATE "C") ${columns}
    FROM (
      SELECT line,
        ${trimmed(header.externalId, staged)} AS external_id,
        ${trimmed(header.email, staged)} AS email,
        ${header.name === undefined ? 'NULL::text' : `nullif(${trimmed(header.name, staged)}, '')`} AS name,
        ${attributes} AS attributes
      FROM ${table}
    ) AS staged
    ORDER BY external_id COLLATE "C", line DESC`;
  const columns = 'external_id, email, name, attributes';
  if (options.rejects === undefined) return lastRows(columns);
  // The rejected rows are dropped after each id's last row is picked, not before: an id whose last
  // row is rejected is not written at all, rather than from an earlier row of the file that this
  // one was correcting (the row errors name the last row; its uploader expects the id untouched).
  // Ordered again by id: the upsert's id order (and the MERGE's) is what the last rows came in, and
  // the anti-join (a merge join sorts by line) need not keep it; a hash anti-join keeps it, and
  // then the planner sees the order and sorts nothing again.
  return `
    SELECT ${columns} FROM (${lastRows(`line, ${columns}`)}) AS last_rows
    WHERE NOT EXISTS (SELECT FROM ${options.rejects} AS rejected WHERE rejected.line = last_rows.line)
    ORDER BY external_id COLLATE "C"`;
}

/**
 * The merge of a staged file into `users`, one `MERGE` statement (PostgreSQL 15+): a join of the
 * file's rows with `users` (hash or merge join, chosen by the planner), then plain inserts of the new
 * ids and updates of the changed ones. At 1M new rows it takes ~5.2 s where `INSERT ... ON CONFLICT`
 * took ~8.2 s on the same server (measured 2026-12-03, PostgreSQL 15, EXPLAIN ANALYZE): ON CONFLICT
 * probes the key index for every row and inserts speculatively; MERGE decides by the join. Unchanged
 * users are not rewritten (the MATCHED condition). Attributes merge (the file's columns override);
 * without a `name` column existing names are kept.
 *
 * MERGE is not safe against a concurrent insert of the same id (it fails with 23505 where ON CONFLICT
 * would wait and update): imports take {@link IMPORT_MERGE_LOCK} first, so they merge one at a time,
 * and a merge that still meets another writer's new user falls back to {@link upsertSql}.
 */
export function mergeSql(table: string, staged: StagedRows, options: MergeOptions): string {
  const update = userUpdateSql('staged', staged.header);
  return `
    MERGE INTO users
    USING (${mergeSourceSql(table, staged, options)}) AS staged
    ON users.external_id = staged.external_id
    WHEN MATCHED AND ${update.changed} THEN
      UPDATE SET ${update.set}
    WHEN NOT MATCHED THEN
      INSERT (external_id, email, name, attributes)
      VALUES (staged.external_id, staged.email, staged.name, staged.attributes)`;
}

/**
 * The same merge as {@link mergeSql} as `INSERT ... ON CONFLICT DO UPDATE`, in id order: slower, but
 * it waits for and then updates a user another transaction is inserting, where MERGE fails. The
 * completion runs it when the MERGE met such a user (23505).
 */
export function upsertSql(table: string, staged: StagedRows, options: MergeOptions): string {
  const update = userUpdateSql('excluded', staged.header);
  return `
    INSERT INTO users (external_id, email, name, attributes)
    ${mergeSourceSql(table, staged, options)}
    ON CONFLICT (external_id) DO UPDATE SET ${update.set}
    WHERE ${update.changed}`;
}

/**
 * What both merges do to an existing user from the file's row (`source`: the MERGE's source alias
 * or ON CONFLICT's `excluded`): the SET list and the condition that the user would change, so an
 * unchanged user is not rewritten. Attributes merge (the file's columns override); without a `name`
 * column the existing name is kept.
 */
function userUpdateSql(source: string, header: HeaderMapping): { set: string; changed: string } {
  const name = header.name === undefined ? 'users.name' : `${source}.name`;
  const attributes = `users.attributes || ${source}.attributes`;
  return {
    set: `email = ${source}.email, name = ${name}, attributes = ${attributes}, updated_at = now()`,
    changed: `(users.email, users.name, users.attributes) IS DISTINCT FROM (${source}.email, ${name}, ${attributes})`,
  };
}

/**
 * The transaction-level advisory lock every import's completion takes before it merges, so imports
 * merge into `users` one after another, in commit order, and cannot deadlock on each other's rows
 * whatever order the MERGE's join visits them in: 'SIDESTEP' in ASCII, as a bigint (advisory lock
 * keys are shared by every application of the database; this one names its owner).
 */
export const IMPORT_MERGE_LOCK = BigInt(`0x${Buffer.from('SIDESTEP').toString('hex')}`).toString();
