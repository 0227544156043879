import * as z from 'zod/mini';
import type { HeaderMapping } from './map-header.ts';

/** A valid row, ready for staging. */
export interface UserRow {
  /** The file line the record ends on (csv-parse's `info.lines`). */
  readonly line: number;
  readonly externalId: string;
  readonly email: string;
  readonly name: string | null;
  /** The other columns as a JSON object text, keys as in the header. */
  readonly attributes: string;
}

/** Why a row was rejected: its line, the column, and what is wrong. */
export interface RowError {
  readonly line: number;
  /** The column name, or `row` for the record as a whole. */
  readonly field: string;
  readonly message: string;
}

export type RowResult =
  | { readonly ok: true; readonly row: UserRow }
  | { readonly ok: false; readonly error: RowError };

/** The longest `external_id` accepted: ids are keys, not documents. */
export const MAX_EXTERNAL_ID_LENGTH = 256;
/** RFC 5321's limit on a forward path, the practical maximum of an address. */
export const MAX_EMAIL_LENGTH = 254;

/**
 * The same rule `z.email()` applies, used as a bare regex because this runs once per row (tens of
 * millions) and a schema parse allocates an issue list per call.
 */
const EMAIL = z.regexes.email;

/**
 * Validates one data record against the header: the field count matches, `external_id` and `email`
 * are present (trimmed) and well formed, no field holds a NUL character (PostgreSQL text cannot store
 * one, and a single one would abort the whole COPY). An empty `name` is stored as NULL.
 *
 * @param attributeKeys `JSON.stringify` of each attribute column name, precomputed once per file by
 *   {@link attributeKeysOf}.
 */
export function validateRow(
  fields: readonly string[],
  header: HeaderMapping,
  attributeKeys: readonly string[],
  line: number,
): RowResult {
  if (fields.length !== header.columnCount) {
    return reject(line, 'row', `has ${fields.length} fields, the header has ${header.columnCount}`);
  }
  for (let index = 0; index < fields.length; index++) {
    if ((fields[index] as string).includes('\0')) {
      return reject(line, columnName(header, index), 'contains a NUL character');
    }
  }
  const externalId = (fields[header.externalId] as string).trim();
  if (externalId === '') return reject(line, 'external_id', 'is empty');
  if (externalId.length > MAX_EXTERNAL_ID_LENGTH) {
    return reject(line, 'external_id', `is longer than ${MAX_EXTERNAL_ID_LENGTH} characters`);
  }
  const email = (fields[header.email] as string).trim();
  if (email === '') return reject(line, 'email', 'is empty');
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) {
    return reject(line, 'email', 'is not a valid email address');
  }
  const rawName = header.name === undefined ? '' : (fields[header.name] as string).trim();
  // Attributes are written as JSON text directly: keys are fixed per file (precomputed), and building
  // an object per row only to stringify it would double the allocations. Values stay as written.
  let attributes = '{';
  header.attributes.forEach(({ index }, position) => {
    if (position > 0) attributes += ',';
    attributes += `${attributeKeys[position]}:${JSON.stringify(fields[index])}`;
  });
  attributes += '}';
  return { ok: true, row: { line, externalId, email, name: rawName === '' ? null : rawName, attributes } };
}

/** The JSON-encoded attribute names of a header, for {@link validateRow}. */
export function attributeKeysOf(header: HeaderMapping): string[] {
  return header.attributes.map(({ name }) => JSON.stringify(name));
}

function reject(line: number, field: string, message: string): RowResult {
  return { ok: false, error: { line, field, message } };
}

function columnName(header: HeaderMapping, index: number): string {
  if (index === header.externalId) return 'external_id';
  if (index === header.email) return 'email';
  if (index === header.name) return 'name';
  return header.attributes.find((attribute) => attribute.index === index)?.name ?? `column ${index + 1}`;
}
