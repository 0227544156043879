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

/**
 * Maps a CSV header row to column positions. Names are trimmed and matched case-insensitively
 * (`External_ID` is `external_id`: spreadsheets capitalise headers), attribute names keep their case.
 *
 * Names in reasons are quoted as JSON strings (`JSON.stringify`): a control character in a name is
 * written escaped, so the reason can go to the job's `worker_error`.
 *
 * @throws {InvalidHeaderError} for more than {@link MAX_COLUMNS} columns, an empty name, a name with
 * a NUL character, a duplicate name, or a missing required column.
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
  const seen = new Map<string, number>();
  names.forEach((name, index) => {
    if (name === '') {
      throw new InvalidHeaderError(`column ${index + 1} has no name`, [`column ${index + 1}`]);
    }
    // PostgreSQL's text cannot hold a NUL, nor its jsonb a \u0000 (22P05): the staging keeps the
    // names in a jsonb column and the attributes are jsonb keys.
    if (name.includes('\0')) {
      throw new InvalidHeaderError(
        `the name of column ${index + 1} (${JSON.stringify(name)}) contains a NUL character`,
        [name],
      );
    }
    const key = name.toLowerCase();
    if (seen.has(key)) {
      throw new InvalidHeaderError(`column ${JSON.stringify(name)} appears more than once`, [name]);
    }
    seen.set(key, index);
  });
  const missing = REQUIRED_COLUMNS.filter((column) => !seen.has(column));
  if (missing.length > 0) {
    const quoted = (list: readonly string[]) => list.map((name) => JSON.stringify(name)).join(', ');
    throw new InvalidHeaderError(
      `missing required column${missing.length > 1 ? 's' : ''} ${quoted(missing)} (found: ${quoted(names)})`,
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
