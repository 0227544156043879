import type { ExportFilter } from '@sidestep/contracts';
import { escapeLiteral } from 'pg';

/** The export's columns, in file order (also the CSV header and the worker manifest's `columns`). */
export const EXPORT_COLUMNS = [
  'external_id',
  'email',
  'name',
  'attributes',
  'created_at',
  'updated_at',
] as const;

/**
 * The session the export's COPY must run in for its text to be what the file promises: timestamps in
 * UTC in ISO style (`2026-11-24 09:55:49.003+00`), whatever the server's or role's defaults are.
 */
export const EXPORT_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
};

/**
 * The first characters that make a spreadsheet run a cell as a formula (CSV injection), as OWASP
 * lists them: https://owasp.org/www-community/attacks/CSV_Injection. Tab and CR are there because
 * some spreadsheets strip them and then see the formula behind them.
 */
export const FORMULA_TRIGGERS = ['=', '+', '-', '@', '\t', '\r'] as const;

/**
 * `expression` (text) with OWASP's CSV-injection escape applied: a value whose first character is a
 * {@link FORMULA_TRIGGERS formula trigger} gets a leading `'`, which spreadsheets show but do not
 * evaluate; every other value (and NULL) is unchanged. The other half of OWASP's advice, quoting
 * the cell, is COPY's `FORCE_QUOTE *`.
 *
 * Done in SQL rather than by re-parsing the CSV in the worker: PostgreSQL applies it in C while it
 * formats the row, and the worker passes COPY's bytes through without parsing fields.
 */
export function formulaSafe(expression: string): string {
  // Control characters as chr(n), so the statement stays readable in logs.
  const triggers = FORMULA_TRIGGERS.map((c) => (c < ' ' ? `chr(${c.charCodeAt(0)})` : sqlLiteral(c))).join(
    ', ',
  );
  return `CASE WHEN left(${expression}, 1) IN (${triggers}) THEN '''' || ${expression} ELSE ${expression} END`;
}

/**
 * A string as a PostgreSQL literal. COPY cannot take bound parameters (it runs on the simple query
 * protocol: https://www.postgresql.org/docs/current/sql-copy.html "query ... parameters are not
 * supported"), so filter values are inlined as literals. `pg`'s `escapeLiteral` (a port of libpq's
 * `PQescapeLiteral`) doubles quotes and, when the value holds a backslash, doubles it and uses the
 * `E'...'` form, so the literal means the same whatever `standard_conforming_strings` is.
 *
 * @throws {RangeError} for a NUL character, which a PostgreSQL literal cannot hold.
 */
export function sqlLiteral(value: string): string {
  if (value.includes('\0')) throw new RangeError('a SQL literal cannot contain a NUL character');
  return escapeLiteral(value);
}

/** `value` with LIKE's wildcards (`%`, `_`) and its escape character (`\`) escaped, to match literally. */
export function likeLiteralPattern(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The WHERE clause for `filter` (every condition given must hold), or `''` for everyone. Values are
 * inlined with {@link sqlLiteral}; the filter is validated before it gets here (`ExportFilter`), the
 * quoting is what keeps a hostile value from becoming SQL.
 */
export function exportWhereClause(filter: ExportFilter | undefined): string {
  const conditions: string[] = [];
  if (filter?.updatedSince !== undefined) {
    conditions.push(`updated_at >= ${sqlLiteral(filter.updatedSince)}::timestamptz`);
  }
  if (filter?.emailDomain !== undefined) {
    // Case-insensitive on both sides, in PostgreSQL, so both are lowered by the same rules.
    conditions.push(`lower(email) LIKE lower(${sqlLiteral(`%@${likeLiteralPattern(filter.emailDomain)}`)})`);
  }
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/**
 * The export's statement: every selected user as one CSV line, ordered by `external_id` (so the same
 * data always gives the same file), with a header, every non-NULL cell quoted and every cell
 * formula-escaped ({@link formulaSafe}). Run it in {@link EXPORT_SESSION_SETTINGS}.
 *
 * @example exportCopySql({ emailDomain: 'example.com' })
 */
export function exportCopySql(filter: ExportFilter | undefined): string {
  const cells = EXPORT_COLUMNS.map((column) => {
    const text =
      column === 'external_id' || column === 'email' || column === 'name' ? column : `${column}::text`;
    return `${formulaSafe(text)} AS ${column}`;
  });
  const where = exportWhereClause(filter);
  return `COPY (SELECT ${cells.join(', ')} FROM users ${where} ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE *)`;
}
