const QUOTE = 0x22;
const NEWLINE = 0x0a;

/**
 * Counts the records of a CSV stream (RFC 4180, `\n` or `\r\n` line ends, as PostgreSQL's
 * `COPY ... (FORMAT csv)` writes them) and checks its header, in one pass over the bytes.
 *
 * A record ends at a newline outside quotes; inside a quoted cell a doubled quote toggles the state
 * twice, so tracking one "in quotes" bit is exact. Written here rather than with csv-parse because
 * the check needs only record boundaries: csv-parse would build every cell of tens of millions of
 * records as strings. The scan jumps between quotes and newlines with `Buffer.indexOf` (native).
 *
 * Records equal to the header are counted wherever they appear, so a part that repeated the header
 * (or parts combined in the wrong order) is caught.
 */
export class CsvRecordCounter {
  readonly #headers: readonly Buffer[];
  readonly #longestHeader: number;
  #inQuotes = false;
  /** The current record's bytes, kept only while it can still equal the header. */
  #prefix: Buffer[] = [];
  #prefixBytes = 0;
  #prefixAlive = true;
  #records = 0;
  #headerRecords = 0;
  #firstIsHeader: boolean | undefined;
  #sawBytes = false;

  /**
   * @param header the header line the CSV must start with, without its line end; several spellings
   *   of the same header may be given (PostgreSQL quotes column names only when needed, a writer with
   *   every cell quoted may quote them all).
   */
  constructor(header: string | readonly string[]) {
    this.#headers = (typeof header === 'string' ? [header] : header).map((line) => Buffer.from(line, 'utf8'));
    this.#longestHeader = Math.max(...this.#headers.map((line) => line.length));
  }

  /** Feeds the next bytes of the (decompressed) CSV. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#sawBytes = true;
    let pos = 0;
    let nextQuote = chunk.indexOf(QUOTE, 0);
    let nextNewline = chunk.indexOf(NEWLINE, 0);
    while (pos < chunk.length) {
      if (this.#inQuotes) {
        if (nextQuote === -1) {
          this.#keep(chunk, pos, chunk.length);
          return;
        }
        this.#keep(chunk, pos, nextQuote + 1);
        pos = nextQuote + 1;
        this.#inQuotes = false;
        nextQuote = chunk.indexOf(QUOTE, pos);
        if (nextNewline !== -1 && nextNewline < pos) nextNewline = chunk.indexOf(NEWLINE, pos);
        continue;
      }
      if (nextNewline === -1 && nextQuote === -1) {
        this.#keep(chunk, pos, chunk.length);
        return;
      }
      if (nextQuote !== -1 && (nextNewline === -1 || nextQuote < nextNewline)) {
        this.#keep(chunk, pos, nextQuote + 1);
        pos = nextQuote + 1;
        this.#inQuotes = true;
        nextQuote = chunk.indexOf(QUOTE, pos);
        continue;
      }
      // A newline outside quotes (nextNewline !== -1 here): the record ends.
      this.#keep(chunk, pos, nextNewline);
      this.#endRecord();
      pos = nextNewline + 1;
      nextNewline = chunk.indexOf(NEWLINE, pos);
    }
  }

  /** Ends the stream: a last record without a final newline still counts. */
  end(): CsvRecordCount {
    if (this.#prefixBytes > 0 || (!this.#prefixAlive && this.#sawBytes)) this.#endRecord();
    return {
      records: this.#records,
      firstIsHeader: this.#firstIsHeader === true,
      headerRecords: this.#headerRecords,
      unterminatedQuote: this.#inQuotes,
    };
  }

  #keep(chunk: Buffer, start: number, end: number): void {
    if (!this.#prefixAlive || end <= start) return;
    // `\r` of a `\r\n` line end may still follow: allow one byte more than the header.
    if (this.#prefixBytes + (end - start) > this.#longestHeader + 1) {
      this.#prefixAlive = false;
      this.#prefix = [];
      return;
    }
    this.#prefix.push(chunk.subarray(start, end));
    this.#prefixBytes += end - start;
  }

  #endRecord(): void {
    let isHeader = false;
    if (this.#prefixAlive) {
      let record = Buffer.concat(this.#prefix, this.#prefixBytes);
      if (record.at(-1) === 0x0d) record = record.subarray(0, -1);
      isHeader = this.#headers.some((line) => record.equals(line));
    }
    if (this.#firstIsHeader === undefined) this.#firstIsHeader = isHeader;
    if (isHeader) this.#headerRecords += 1;
    this.#records += 1;
    this.#prefix = [];
    this.#prefixBytes = 0;
    this.#prefixAlive = true;
  }
}

/** What {@link CsvRecordCounter.end} found. */
export interface CsvRecordCount {
  /** Every record, the header included. */
  readonly records: number;
  /** The first record is exactly the header. */
  readonly firstIsHeader: boolean;
  /** Records equal to the header, wherever they are (1 in a good export). */
  readonly headerRecords: number;
  /** The stream ended inside a quoted cell: it was cut off. */
  readonly unterminatedQuote: boolean;
}
