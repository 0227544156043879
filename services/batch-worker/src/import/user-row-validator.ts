import { Transform, type TransformCallback } from 'node:stream';
import type { Info } from 'csv-parse';
import { type HeaderMapping, mapHeader } from '../domain/map-header.ts';
import { attributeKeysOf, type RowError, validateRow } from '../domain/validate-row.ts';
import { InvalidHeaderError, TooManyRejectedRowsError } from '../errors.ts';

/** Options of {@link UserRowValidator}. */
export interface UserRowValidatorOptions {
  /** Rejected rows tolerated; one more fails the import. */
  readonly maxRejectedRows: number;
  /** Row errors kept for the job's `row_errors` (the rest are counted only). @default 100 */
  readonly maxRowErrors?: number;
}

/** What the validator has seen so far. */
export interface RowCounts {
  /** Data records read (the header excluded). */
  readonly rowsTotal: number;
  readonly rowsValid: number;
  readonly rowsRejected: number;
  /** The first `maxRowErrors` row errors, in file order. */
  readonly rowErrors: readonly RowError[];
}

/**
 * The stage between csv-parse (`info: true`, records as arrays) and the staging table: the first
 * record is the header ({@link mapHeader}); every other record is validated ({@link validateRow}) and
 * passed on as a `UserRow` when valid, counted and (the first N) kept as a {@link RowError} when not.
 * One row over `maxRejectedRows` fails the stream with {@link TooManyRejectedRowsError}: there is no
 * point reading on. Holds no rows: memory stays flat whatever the file size.
 */
export class UserRowValidator extends Transform {
  readonly #maxRejectedRows: number;
  readonly #maxRowErrors: number;
  #header: HeaderMapping | undefined;
  #attributeKeys: string[] = [];
  #rowsTotal = 0;
  #rowsRejected = 0;
  readonly #rowErrors: RowError[] = [];

  constructor(options: UserRowValidatorOptions) {
    super({ objectMode: true });
    this.#maxRejectedRows = options.maxRejectedRows;
    this.#maxRowErrors = options.maxRowErrors ?? 100;
  }

  /** The counts so far (final once the stream has finished). */
  counts(): RowCounts {
    return {
      rowsTotal: this.#rowsTotal,
      rowsValid: this.#rowsTotal - this.#rowsRejected,
      rowsRejected: this.#rowsRejected,
      rowErrors: [...this.#rowErrors],
    };
  }

  /** The file's header mapping, once the header row has been read. */
  get header(): HeaderMapping | undefined {
    return this.#header;
  }

  override _transform(
    chunk: { record: string[]; info: Info },
    _encoding: BufferEncoding,
    callback: TransformCallback,
  ): void {
    const { record, info } = chunk;
    if (this.#header === undefined) {
      try {
        this.#header = mapHeader(record);
      } catch (error) {
        callback(error as Error);
        return;
      }
      this.#attributeKeys = attributeKeysOf(this.#header);
      callback();
      return;
    }
    this.#rowsTotal++;
    const result = validateRow(record, this.#header, this.#attributeKeys, info.lines);
    if (result.ok) {
      callback(null, result.row);
      return;
    }
    this.#rowsRejected++;
    if (this.#rowErrors.length < this.#maxRowErrors) this.#rowErrors.push(result.error);
    if (this.#rowsRejected > this.#maxRejectedRows) {
      callback(new TooManyRejectedRowsError(this.#rowsRejected, this.#maxRejectedRows, info.lines));
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    callback(
      this.#header === undefined ? new InvalidHeaderError('the file is empty: no header row', []) : null,
    );
  }
}
