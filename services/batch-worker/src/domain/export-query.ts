import type { ExportFilter } from '@sidestep/contracts';
import { escapeLiteral } from 'pg';
import type { CsvCellScanner } from './csv-cell-scanner.ts';

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
export function exportWhereClause(filter: ExportFilter | undefined, start: ExportCopyStart = {}): string {
  const conditions: string[] = [];
  if (filter?.updatedSince !== undefined) {
    conditions.push(`updated_at >= ${sqlLiteral(filter.updatedSince)}::timestamptz`);
  }
  if (filter?.emailDomain !== undefined) {
    // Case-insensitive on both sides, in PostgreSQL, so both are lowered by the same rules.
    conditions.push(`lower(email) LIKE lower(${sqlLiteral(`%@${likeLiteralPattern(filter.emailDomain)}`)})`);
  }
  // The keyset: the same column and collation as the ORDER BY, so "after" means after in the file.
  if (start.after !== undefined) conditions.push(`external_id > ${sqlLiteral(start.after)}`);
  if (start.through !== undefined) conditions.push(`external_id <= ${sqlLiteral(start.through)}`);
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/**
 * Which stretch of the export a COPY reads: from the beginning (with the header), or after a key (a
 * resumed export); to the end, or through a key (a resumed export's check of the rows it keeps).
 */
export interface ExportCopyStart {
  /** Only users whose `external_id` sorts after this one, and no header: the parts before hold both. */
  readonly after?: string;
  /** Only users whose `external_id` sorts up to this one, inclusive. */
  readonly through?: string;
}

/**
 * The export's statement: every selected user as one CSV line, ordered by `external_id` (so the same
 * data always gives the same file, and a resumed export continues after the last key it stored: a
 * keyset on the primary key), with a header and every non-NULL cell quoted (`FORCE_QUOTE *`:
 * OWASP's advice for CSV injection, and what lets {@link CsvCellScanner} find each cell's first
 * character to escape formulas). Run it in {@link EXPORT_SESSION_SETTINGS}.
 *
 * @example exportCopySql({ emailDomain: 'example.com' })
 */
export function exportCopySql(filter: ExportFilter | undefined, start: ExportCopyStart = {}): string {
  const where = exportWhereClause(filter, start);
  const header = start.after === undefined ? 'HEADER, ' : '';
  return `COPY (SELECT ${EXPORT_COLUMNS.join(', ')} FROM users ${where} ORDER BY external_id) TO STDOUT (FORMAT csv, ${header}FORCE_QUOTE *)`;
}
