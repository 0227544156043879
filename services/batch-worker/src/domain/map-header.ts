import { InvalidHeaderError } from '../errors.ts';
import type { RecordShape } from './csv-record-scanner.ts';

/** Where each column of the import lives in a record, from the header row. */
export interface HeaderMapping {
  /** Fields every record must have: the header's length. */
  readonly columnCount: number;
  readonly externalId: number;
  readonly email: number;
  /** `undefined` when the file has no `name` column (existing names are then kept). */
  readonly name: number | undefined;
  /** Every other column, in file order, with its name as written (trimmed): these go into `attributes`. */
  readonly attributes: readonly { readonly name: string; readonly index: number }[];
}

/** The columns an import file must have. */
export const REQUIRED_COLUMNS = ['external_id', 'email'] as const;

/**
 * The most columns an import file may have: the staging table holds one column per field and two of
 * its own (`line`, `reject`), and a PostgreSQL table has at most 1600
 * (https://www.postgresql.org/docs/current/limits.html).
 */
export const MAX_COLUMNS = 1600 - 2;

/** How many of the names found a missing-column reason quotes. */
const MAX_QUOTED_NAMES = 10;
/** The longest name a reason quotes: a longer one is more likely a value than a column name. */
const MAX_QUOTED_NAME_LENGTH = 40;

/**
 * A column as a reason names it: its name as a JSON string (a control character written escaped,
 * so the reason can go to the job's `worker_error`), or `column <n>` when the name looks like data
 * (an `@`, or longer than {@link MAX_QUOTED_NAME_LENGTH}). The reason reaches the logs, the job, the
 * workflow's Fail state and the import.failed mail, none of which may carry a person's data.
 */
function columnInReason(name: string, index: number): string {
  return name.includes('@') || [...name].length > MAX_QUOTED_NAME_LENGTH
    ? `column ${index + 1}`
    : JSON.stringify(name);
}

/**
 * Maps a CSV header row to column positions. Names are trimmed and matched case-insensitively
 * (`External_ID` is `external_id`: spreadsheets capitalise headers), attribute names keep their case.
 *
 * Names in reasons are quoted as JSON strings (`JSON.stringify`): a control character in a name is
 * written escaped, so the reason can go to the job's `worker_error`. No reason quotes a value: a
 * first line that names no required column is said not to be a header, quoting nothing from it (a
 * file without its header row would have its first person's record there); otherwise at most
 * {@link MAX_QUOTED_NAMES} names are quoted, and one that looks like data is named by its position.
 *
 * @throws {InvalidHeaderError} for more than {@link MAX_COLUMNS} columns, a first line that names no
 * required column, an empty name, a name with a NUL character, a duplicate name, or a missing
 * required column.
 *
 * @example
 * mapHeader(['external_id', 'email', 'plan'])
 * // { columnCount: 3, externalId: 0, email: 1, name: undefined, attributes: [{ name: 'plan', index: 2 }] }
 */
export function mapHeader(fields: readonly string[]): HeaderMapping {
  if (fields.length > MAX_COLUMNS) {
    throw new InvalidHeaderError(
      `the file has ${fields.length} columns; an import takes at most ${MAX_COLUMNS}`,
      [],
    );
  }
  const names = fields.map((field) => field.trim());
  // A file without its header row: the first line is a person's record, so the reason quotes
  // nothing from it, and says so before the checks below, which would quote its values.
  const keys = new Set(names.map((name) => name.toLowerCase()));
  if (!REQUIRED_COLUMNS.some((column) => keys.has(column))) {
    throw new InvalidHeaderError(
      `the first line is not a header row: it names neither ${REQUIRED_COLUMNS.map((column) => JSON.stringify(column)).join(' nor ')} (the file must start with its header row)`,
      REQUIRED_COLUMNS,
    );
  }
  const seen = new Map<string, number>();
  names.forEach((name, index) => {
    if (name === '') {
      throw new InvalidHeaderError(`column ${index + 1} has no name`, [`column ${index + 1}`]);
    }
    // PostgreSQL's text cannot hold a NUL, nor its jsonb a \u0000 (22P05): the staging keeps the
    // names in a jsonb column and the attributes are jsonb keys.
    if (name.includes('\0')) {
      throw new InvalidHeaderError(
        `the name of column ${index + 1} (${columnInReason(name, index)}) contains a NUL character`,
        [name],
      );
    }
    const key = name.toLowerCase();
    if (seen.has(key)) {
      throw new InvalidHeaderError(`column ${columnInReason(name, index)} appears more than once`, [name]);
    }
    seen.set(key, index);
  });
  const missing = REQUIRED_COLUMNS.filter((column) => !seen.has(column));
  if (missing.length > 0) {
    // A header with a typo or without one column: the names found help, within bounds.
    const found = names.slice(0, MAX_QUOTED_NAMES).map(columnInReason);
    const more = names.length > MAX_QUOTED_NAMES ? ` and ${names.length - MAX_QUOTED_NAMES} more` : '';
    throw new InvalidHeaderError(
      `missing required column${missing.length > 1 ? 's' : ''} ${missing.map((name) => JSON.stringify(name)).join(', ')} (found: ${found.join(', ')}${more})`,
      missing,
    );
  }
  const known = new Set<string>([...REQUIRED_COLUMNS, 'name']);
  return {
    columnCount: names.length,
    externalId: seen.get('external_id') as number,
    email: seen.get('email') as number,
    name: seen.get('name'),
    attributes: names
      .map((name, index) => ({ name, index }))
      .filter(({ name }) => !known.has(name.toLowerCase())),
  };
}

/**
 * The records' shape for the record scanner (csv-record-scanner.ts): the column count, and the fields whose values the
 * import trims (ids, emails and names, as JavaScript's `String.prototype.trim` would; attributes are
 * kept as written).
 */
export function recordShapeOf(header: HeaderMapping): RecordShape {
  const trimmedFields = [header.externalId, header.email];
  if (header.name !== undefined) trimmedFields.push(header.name);
  return { columnCount: header.columnCount, trimmedFields };
}
