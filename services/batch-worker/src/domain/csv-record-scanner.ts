import { isUtf8 } from 'node:buffer';
import { parse } from 'csv-parse/sync';
import { InvalidHeaderError, MalformedCsvError } from '../errors.ts';

const QUOTE = 0x22;
const COMMA = 0x2c;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const NUL = 0x00;
/** The last byte of printable ASCII that is not whitespace ('~'); '!' (0x21) is the first. */
const LAST_PRINTABLE = 0x7e;
const SPACE = 0x20;

/** Why a field (or a header name) whose bytes are not UTF-8 is refused, and what fixes it. */
export const NOT_UTF8_MESSAGE = 'is not UTF-8 text: save the file as CSV UTF-8';

/**
 * The `reject` column's mark of a record staged as written whose value of a trimmed field (see
 * {@link RecordShape}) may have whitespace to trim at an edge.
 */
export const TRIM_MARK = 't';

const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** A quote inside a quoted field: the field's end, or the first of a doubled quote. */
const QUOTE_IN_QUOTED = 3;
/** A carriage return outside quotes: a line feed must follow. */
const AFTER_CARRIAGE_RETURN = 4;

/** Where a scan stands in the object: always at a record boundary. */
export interface ScanPosition {
  /** Bytes of the object before the position. */
  readonly offset: number;
  /** Line feeds before the position: the next record starts on line `lines + 1`. */
  readonly lines: number;
}

/** What one piece of input yielded: COPY input for the records that ended in it. */
export interface ScannedRecords {
  /** `COPY ... (FORMAT csv)` input: one line per record, see {@link CsvRecordScanner}. */
  readonly bytes: Buffer;
  /** Data records in `bytes`. */
  readonly records: number;
  /** The position just past the last of them (blank lines after it included). */
  readonly end: ScanPosition;
  /**
   * The line the last of them ends on (its `line`), 0 when there is none: `end.lines` is one less
   * for a last record without a line end.
   */
  readonly lastLine: number;
}

/** What the scanner needs to know of the file's header. */
export interface RecordShape {
  /** Fields every record must have. */
  readonly columnCount: number;
  /** Fields (0-based) whose values are trimmed when they are merged: see {@link TRIM_MARK}. */
  readonly trimmedFields: readonly number[];
}

/** Options of {@link CsvRecordScanner}. */
export interface CsvRecordScannerOptions {
  /** Where the input starts: the object's first byte (a header expected), or a resume's position. */
  readonly start: ScanPosition;
  /**
   * The records' shape: known on a resume; `undefined` when the input starts with the header, which
   * `onHeader` maps (and may refuse by throwing) to the shape.
   */
  readonly shape?: RecordShape;
  readonly onHeader?: (fields: string[]) => RecordShape;
  /** The longest record accepted, in bytes. */
  readonly maxRecordBytes: number;
}

/**
 * Finds the records of a CSV byte stream so that PostgreSQL can parse them: the worker's only pass
 * over the bytes. It does not split or unescape fields; it follows RFC 4180's quoting (a doubled
 * quote toggles twice) to know where each record ends, on which line, and how many fields it has,
 * and hands each record on, as written, behind two columns of its own:
 *
 * `<line>,<reject>,<the record's bytes>\n`
 *
 * - `line`: the file line the record ends on (as csv-parse's `info.lines`), which row errors name
 *   and which orders the rows (the file's last row of an id wins).
 * - `reject`: empty, or why PostgreSQL could not stage the record as it is: `f<n>` for a record of
 *   `n` fields when the header has another count, `n<i>` for a NUL byte in field `i` (0-based;
 *   PostgreSQL text cannot hold one, and COPY would abort on it), `u<i>` for bytes in field `i` that
 *   are not UTF-8 (a file saved as Windows-1252 or Shift_JIS: COPY would abort the whole import on
 *   them, SQLSTATE 22021, naming a line of the segment and no field). Such a record's fields are sent
 *   empty; `staged-user-rules.ts` turns the code into the row error. Or `t` ({@link TRIM_MARK}): the
 *   record is sent as written, and the value of one of the shape's trimmed fields starts or ends
 *   with a byte that is not printable ASCII (`!` to `~`): whitespace, a control character or any
 *   non-ASCII character, a superset of what the import trims. PostgreSQL trims only marked records'
 *   values: an unmarked value has nothing to trim. Trimming every value took about a quarter of the
 *   merge's time (`btrim` with a set of non-ASCII characters walks the whole value and the set on
 *   every call); checking two bytes per field here costs next to nothing.
 *
 * Record ends are LF or CRLF outside quotes (normalised to LF for COPY); newlines inside quotes stay
 * in the field. Blank lines are skipped; a UTF-8 BOM before the header is dropped; a UTF-16 file, or
 * a header whose bytes are not UTF-8, is refused ({@link InvalidHeaderError}). Malformed input,
 * which no parser can read on from, throws {@link MalformedCsvError}: a quote that never closes
 * (named at the line it opened), a quote inside an unquoted field, a character after a closing
 * quote, a carriage return outside quotes that no line feed follows, a record over `maxRecordBytes`.
 *
 * Memory: the bytes of one unfinished record are carried to the next piece; nothing else is kept.
 */
export class CsvRecordScanner {
  readonly #onHeader: CsvRecordScannerOptions['onHeader'];
  readonly #maxRecordBytes: number;
  #columnCount: number | undefined;
  /** 1 at the index of each trimmed field. */
  #trimmed = new Uint8Array(0);
  /** The unfinished record carried from the previous piece (starts at a record boundary). */
  #carry: Buffer = Buffer.alloc(0);
  /**
   * Where the carried record and the next piece are joined, reused from piece to piece: the scan
   * reads it only while it runs. A new buffer per piece was ~64 KiB of garbage outside V8's heap for
   * every piece, which V8 collects late when the heap itself makes little garbage.
   */
  #joined: Buffer = Buffer.alloc(0);
  /** The buffer of the COPY input the last scan returned, and whether its reader gave it back. */
  #output: Buffer = Buffer.alloc(0);
  #outputReleased = false;
  /** Object offset of `#carry[0]`. */
  #base: number;
  /** Line feeds before `#carry[0]`. */
  #linesAtRecordStart: number;
  /** Line feeds before the scan position. */
  #lines: number;
  /** Bytes of `#carry` already scanned (its state is in the fields below). */
  #scanned = 0;
  #state = FIELD_START;
  #fields = 1;
  /** Where the current field starts, from the start of its record. */
  #fieldStart = 0;
  /** Whether a trimmed field of the current record has a byte at an edge that may need trimming. */
  #untrimmed = false;
  #nulField = -1;
  #quoteLine = 0;
  #atObjectStart: boolean;
  #headerEnd: ScanPosition | undefined;

  constructor(options: CsvRecordScannerOptions) {
    this.#onHeader = options.onHeader;
    this.#maxRecordBytes = options.maxRecordBytes;
    if (options.shape) this.#setShape(options.shape);
    this.#base = options.start.offset;
    this.#linesAtRecordStart = options.start.lines;
    this.#lines = options.start.lines;
    this.#atObjectStart = options.start.offset === 0;
  }

  /** The position after the last finished record. */
  get position(): ScanPosition {
    return { offset: this.#base, lines: this.#linesAtRecordStart };
  }

  /** The position just past the header row, once it has been read from this input. */
  get headerEnd(): ScanPosition | undefined {
    return this.#headerEnd;
  }

  /** Scans a piece of the object; returns the records that ended in it (none: `records` 0). */
  push(piece: Buffer): ScannedRecords {
    let input = this.#carry.length === 0 ? piece : this.#join(piece);
    if (this.#atObjectStart && this.#columnCount === undefined) {
      if (input.length < 3) {
        this.#carry = Buffer.from(input);
        return this.#result(Buffer.alloc(0), 0, 0);
      }
      this.#atObjectStart = false;
      refuseUtf16(input);
      if (input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
        input = input.subarray(3);
        this.#base += 3;
      }
    }
    return this.#scan(input, false);
  }

  /**
   * Tells the scanner that the COPY input it returned last is no longer read (a store that sent it
   * holds no reference to it): the next scan writes into the same memory. One buffer per piece was
   * garbage outside V8's heap, which V8 collects late when the heap itself makes little garbage: the
   * import's peak RSS grew by ~30 MiB with it.
   */
  release(): void {
    this.#outputReleased = true;
  }

  /** `#carry` and then `piece`, in `#joined`. */
  #join(piece: Buffer): Buffer {
    const length = this.#carry.length + piece.length;
    if (this.#joined.length < length)
      this.#joined = Buffer.allocUnsafe(Math.max(length, 2 * this.#joined.length));
    this.#carry.copy(this.#joined, 0);
    piece.copy(this.#joined, this.#carry.length);
    return this.#joined.subarray(0, length);
  }

  /** Ends the input: the last record may lack its line end. */
  end(): ScannedRecords {
    const input = this.#carry;
    if (this.#atObjectStart && this.#columnCount === undefined) refuseUtf16(input);
    this.#atObjectStart = false;
    return this.#scan(input, true);
  }

  #scan(input: Buffer, last: boolean): ScannedRecords {
    const out = new CopyOutput(input.length - this.#scanned, this.#outputReleased ? this.#output : undefined);
    let recordStart = 0;
    let state = this.#state;
    let carriageReturnAt = -1;
    let stateBeforeCarriageReturn = FIELD_START;
    const length = input.length;
    let i = this.#scanned;
    let fieldStart = this.#fieldStart;
    let trimmed = this.#trimmed;
    // UTF-8 is checked over the input's finished records at once (simdutf, in Node's C++: gigabytes a
    // second), and record by record only in an input that fails it. Every record but the last ends
    // in a line feed, which no multi-byte character contains, so a character cut by the piece's end
    // is in the unfinished record, checked with the next piece.
    const checkEach = !isUtf8(input.subarray(0, last ? length : input.lastIndexOf(LINE_FEED) + 1));
    // Ends the record at `bodyEnd` (its line end, if any, up to `next`); the loop's own variables
    // are reset where it is called. A closure that reset them would put them in a heap context that
    // V8 reads and writes at every byte: scanning the import benchmark's 1M-row file (52 MiB, in
    // 64 KiB pieces) took ~345 ms of CPU so, ~315 ms without (Node 24, 2026-12-06).
    const finish = this.#finish.bind(this, input, out, checkEach);
    for (; i < length; i++) {
      const byte = input[i] as number;
      // Most bytes are none of the five the states tell apart (NUL, line feed, carriage return,
      // quote, comma: all below 0x2d), and inside a field, quoted or not, they only keep it going:
      // the field's run of them is skipped in a loop of its own (the benchmark's file above in
      // ~205 ms of CPU instead of ~265 ms).
      if (byte > COMMA && state <= QUOTED) {
        if (state === FIELD_START) state = UNQUOTED;
        while (i + 1 < length && (input[i + 1] as number) > COMMA) i++;
        continue;
      }
      if (byte === LINE_FEED && state !== QUOTED) {
        // The record ends (before the carriage return of a CRLF).
        finish(recordStart, fieldStart, state === AFTER_CARRIAGE_RETURN ? carriageReturnAt : i, i + 1);
        recordStart = fieldStart = i + 1;
        state = FIELD_START;
        trimmed = this.#trimmed;
        continue;
      }
      if (byte === COMMA && state !== QUOTED && state !== AFTER_CARRIAGE_RETURN) {
        // The field ends.
        if (trimmed[this.#fields - 1] === 1) this.#checkEdges(input, fieldStart, i);
        fieldStart = i + 1;
        state = FIELD_START;
        this.#fields++;
        continue;
      }
      switch (state) {
        case QUOTED:
          if (byte === QUOTE) state = QUOTE_IN_QUOTED;
          else if (byte === LINE_FEED) this.#lines++;
          else if (byte === NUL) this.#nul();
          break;
        case QUOTE_IN_QUOTED:
          if (byte === QUOTE) state = QUOTED;
          else if (byte === CARRIAGE_RETURN) {
            carriageReturnAt = i;
            stateBeforeCarriageReturn = state;
            state = AFTER_CARRIAGE_RETURN;
          } else {
            // Named at the quote that opened the field: a stray quote lines above makes every line
            // after it one field, until a quote that looks like its closing one.
            const here = this.#lines + 1;
            throw this.#malformed(
              'CSV_INVALID_CLOSING_QUOTE',
              this.#quoteLine === here
                ? 'a quoted field goes on after its closing quote'
                : `the quoted field opened on line ${this.#quoteLine} goes on after its closing quote on line ${here} (a quote missing or stray?)`,
              this.#quoteLine,
            );
          }
          break;
        case AFTER_CARRIAGE_RETURN:
          // Anything but the line feed handled above.
          throw this.#strayCarriageReturn();
        default:
          // FIELD_START or UNQUOTED
          if (byte === CARRIAGE_RETURN) {
            carriageReturnAt = i;
            stateBeforeCarriageReturn = state;
            state = AFTER_CARRIAGE_RETURN;
          } else if (byte === QUOTE) {
            if (state === UNQUOTED) {
              throw this.#malformed(
                'INVALID_OPENING_QUOTE',
                'a quote inside an unquoted field',
                this.#lines + 1,
              );
            }
            this.#quoteLine = this.#lines + 1;
            state = QUOTED;
          } else {
            if (byte === NUL) this.#nul();
            state = UNQUOTED;
          }
      }
    }
    if (last) {
      if (state === QUOTED) {
        throw this.#malformed(
          'CSV_QUOTE_NOT_CLOSED',
          `the quote opened on line ${this.#quoteLine} is never closed`,
          this.#quoteLine,
        );
      }
      if (state === AFTER_CARRIAGE_RETURN) {
        // The file ends right after it: no line feed follows it either.
        throw this.#strayCarriageReturn();
      }
      finish(recordStart, fieldStart, length, length);
      recordStart = fieldStart = length;
      state = FIELD_START;
    } else {
      this.#checkSize(length - recordStart, state === QUOTED ? this.#quoteLine : undefined);
    }
    // A carriage return at the end of the piece is read again with the next one, in the state it met.
    const rescanFrom = state === AFTER_CARRIAGE_RETURN ? carriageReturnAt : length;
    this.#state = state === AFTER_CARRIAGE_RETURN ? stateBeforeCarriageReturn : state;
    this.#carry = Buffer.from(input.subarray(recordStart));
    this.#scanned = rescanFrom - recordStart;
    this.#fieldStart = fieldStart - recordStart;
    this.#base += recordStart;
    this.#output = out.buffer;
    // An output with nothing in it is handed to no one: still free for the next scan.
    this.#outputReleased = out.records === 0;
    return this.#result(out.bytes(), out.records, out.lastLine);
  }

  /**
   * Ends the record `input[recordStart, bodyEnd)` (whose last field starts at `fieldStart`; its line
   * end, if any, runs to `next`): the header's, or a record written to `out` with its line and reject
   * code, and the scanner's per-record state reset.
   */
  #finish(
    input: Buffer,
    out: CopyOutput,
    checkEach: boolean,
    recordStart: number,
    fieldStart: number,
    bodyEnd: number,
    next: number,
  ): void {
    const line = this.#lines + 1;
    if (this.#trimmed[this.#fields - 1] === 1) this.#checkEdges(input, fieldStart, bodyEnd);
    if (bodyEnd > recordStart) {
      if (this.#columnCount === undefined) {
        this.#header(input.subarray(recordStart, bodyEnd));
        this.#headerEnd = { offset: this.#base + next, lines: this.#lines + (next > bodyEnd ? 1 : 0) };
      } else {
        this.#checkSize(bodyEnd - recordStart);
        let reject = this.#reject();
        if (
          checkEach &&
          (reject === '' || reject === TRIM_MARK) &&
          !isUtf8(input.subarray(recordStart, bodyEnd))
        ) {
          reject = `u${notUtf8Field(input, recordStart, bodyEnd)}`;
        }
        out.record(line, reject, input, recordStart, bodyEnd, this.#columnCount);
      }
    }
    if (next > bodyEnd) this.#lines++;
    this.#linesAtRecordStart = this.#lines;
    this.#fields = 1;
    this.#untrimmed = false;
    this.#nulField = -1;
  }

  #result(bytes: Buffer, records: number, lastLine: number): ScannedRecords {
    return { bytes, records, end: this.position, lastLine };
  }

  #nul(): void {
    if (this.#nulField < 0) this.#nulField = this.#fields - 1;
  }

  #reject(): string {
    if (this.#fields !== this.#columnCount) return `f${this.#fields}`;
    if (this.#nulField >= 0) return `n${this.#nulField}`;
    return this.#untrimmed ? TRIM_MARK : '';
  }

  /**
   * Marks the record when the value of the field at `input[start, end)` (quotes included) starts or
   * ends with a byte that is not printable ASCII. The quotes of a quoted field are not its value; a
   * doubled quote at an edge of it is a quote, which is nothing to trim.
   */
  #checkEdges(input: Buffer, start: number, end: number): void {
    let first = start;
    let last = end - 1;
    if (input[first] === QUOTE) {
      first++;
      last--;
    }
    if (last < first) return; // an empty value
    const a = input[first] as number;
    const b = input[last] as number;
    if (a <= SPACE || a > LAST_PRINTABLE || b <= SPACE || b > LAST_PRINTABLE) this.#untrimmed = true;
  }

  #setShape(shape: RecordShape): void {
    this.#columnCount = shape.columnCount;
    this.#trimmed = new Uint8Array(shape.columnCount);
    for (const index of shape.trimmedFields) this.#trimmed[index] = 1;
  }

  /**
   * Refuses the record being read once it passes the size limit, named at its first line (where a
   * stray quote that made it run on is), and at the quote still open when there is one.
   */
  #checkSize(bytes: number, openQuoteLine?: number): void {
    if (bytes > this.#maxRecordBytes) {
      const line = this.#linesAtRecordStart + 1;
      throw this.#malformed(
        'CSV_MAX_RECORD_SIZE',
        `a record is longer than ${this.#maxRecordBytes} bytes${
          openQuoteLine === undefined ? '' : ` (the quote opened on line ${openQuoteLine} is still open)`
        }`,
        line,
      );
    }
  }

  /**
   * Maps the header row. Its bytes must be UTF-8: decoded as they are, a name saved as Windows-1252
   * would become an attribute key with U+FFFD in every row, silently. The refusal names the column,
   * not its text: in a file without a header row the first line is a person's record (a name with an
   * accented letter), which must not reach the logs, the job's reason or the failure mail.
   */
  #header(bytes: Buffer): void {
    if (!isUtf8(bytes)) {
      const column = notUtf8Field(bytes, 0, bytes.length) + 1;
      throw new InvalidHeaderError(`the name of column ${column} ${NOT_UTF8_MESSAGE}`, [`column ${column}`]);
    }
    const [fields = []] = parse(bytes, { relax_column_count: true }) as string[][];
    this.#setShape(this.#onHeader?.(fields) ?? { columnCount: fields.length, trimmedFields: [] });
  }

  #malformed(code: string, message: string, line: number): MalformedCsvError {
    return new MalformedCsvError(message, line, code, undefined);
  }

  /** A carriage return outside quotes that no line feed follows: the next byte, or the file's end. */
  #strayCarriageReturn(): MalformedCsvError {
    return this.#malformed(
      'CSV_INVALID_RECORD_DELIMITER',
      'a carriage return outside quotes is not followed by a line feed',
      this.#lines + 1,
    );
  }
}

/**
 * Refuses an object whose first bytes are UTF-16 text: Windows PowerShell 5.1's `>` and `Out-File`
 * write it, and Excel's "Unicode Text". A UTF-16 byte order mark (FF FE, FE FF), or a NUL in the
 * first two bytes: every ASCII character in UTF-16 has one, and a UTF-8 header starts with none.
 * Read as UTF-8, such a header is names full of NULs (or, with CRLF, a carriage return followed by a
 * NUL: malformed CSV), which says nothing of the cause.
 *
 * @throws {InvalidHeaderError} naming UTF-16 and what fixes it.
 */
function refuseUtf16(start: Buffer): void {
  const [first, second] = start;
  if (
    (first === 0xff && second === 0xfe) ||
    (first === 0xfe && second === 0xff) ||
    first === NUL ||
    second === NUL
  ) {
    throw new InvalidHeaderError('the file is UTF-16 text: save it as CSV UTF-8', []);
  }
}

/**
 * The first field (0-based) of the well-formed record `input[start, end)` whose bytes are not UTF-8.
 * Only a record that fails the check comes here, so this walk may be simple: a quote toggles the
 * state (a doubled quote toggles it twice), a comma outside quotes ends a field.
 */
function notUtf8Field(input: Buffer, start: number, end: number): number {
  let field = 0;
  let fieldStart = start;
  let quoted = false;
  for (let i = start; i < end; i++) {
    const byte = input[i];
    if (byte === QUOTE) quoted = !quoted;
    else if (byte === COMMA && !quoted) {
      if (!isUtf8(input.subarray(fieldStart, i))) return field;
      field++;
      fieldStart = i + 1;
    }
  }
  return field;
}

/** The COPY input being built: a growing buffer, one line per record. */
class CopyOutput {
  #buffer: Buffer;
  #length = 0;
  /** Records written. */
  records = 0;
  /** The line the last record written ends on. */
  lastLine = 0;

  /** `spare`: a buffer to write into (grown like any other when it is too small). */
  constructor(estimate: number, spare: Buffer | undefined) {
    const size = Math.max(1024, Math.ceil(estimate * 1.25));
    this.#buffer = spare !== undefined && spare.length >= size ? spare : Buffer.allocUnsafe(size);
  }

  /** The whole buffer written into (`bytes()` is its written part). */
  get buffer(): Buffer {
    return this.#buffer;
  }

  record(line: number, reject: string, input: Buffer, start: number, end: number, columns: number): void {
    const asWritten = reject === '' || reject === TRIM_MARK;
    const bodyLength = asWritten ? end - start : columns - 1;
    // The line's digits (at most 16: a safe integer), the reject code, two commas, the line feed.
    this.#reserve(16 + reject.length + bodyLength + 3);
    const buffer = this.#buffer;
    // The prefix `<line>,<reject>,` written byte by byte: a template string per record, encoded into
    // the buffer, made the scan of the import benchmark's 1M-row file ~315 ms of CPU instead of ~265.
    let at = this.#length;
    let digits = 1;
    for (let rest = line; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    for (let rest = line, index = at + digits - 1; index >= at; index--, rest = Math.floor(rest / 10)) {
      buffer[index] = 0x30 + (rest % 10);
    }
    at += digits;
    buffer[at++] = COMMA;
    if (reject !== '') at += buffer.write(reject, at, 'latin1');
    buffer[at++] = COMMA;
    if (asWritten) {
      at += input.copy(buffer, at, start, end);
    } else {
      buffer.fill(COMMA, at, at + bodyLength);
      at += bodyLength;
    }
    buffer[at++] = LINE_FEED;
    this.#length = at;
    this.records++;
    this.lastLine = line;
  }

  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + bytes));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
  }
}
