const QUOTE = 0x22;
const COMMA = 0x2c;
const LINE_FEED = 0x0a;

/**
 * The first characters that make a spreadsheet run a cell as a formula (CSV injection), as OWASP
 * lists them: https://owasp.org/www-community/attacks/CSV_Injection. Tab and CR are there because
 * some spreadsheets strip them and then see the formula behind them.
 */
export const FORMULA_TRIGGERS = ['=', '+', '-', '@', '\t', '\r'] as const;

/**
 * OWASP's escape, put before a cell's first character. A cell that already starts with it is escaped
 * too, so that removing one leading `'` gives every cell back as stored: unescaped, a stored `'=1+1`
 * would export as the escaped `=1+1` does.
 */
export const FORMULA_ESCAPE = "'";

/**
 * The first bytes of the cells that get {@link FORMULA_ESCAPE}: the {@link FORMULA_TRIGGERS} and the
 * escape itself, as a byte lookup (all ASCII, so never part of a UTF-8 sequence).
 */
const IS_ESCAPED = new Uint8Array(256);
for (const first of [...FORMULA_TRIGGERS, FORMULA_ESCAPE]) IS_ESCAPED[first.charCodeAt(0)] = 1;

/** What a scan found in a range of bytes. */
export interface ScanResult {
  /** Records that ended in the range. */
  recordEnds: number;
  /**
   * Indexes (ascending) of the first byte of every cell that starts with a formula trigger or with
   * `'`: a `'` goes in front of each, inside the cell's quotes.
   */
  readonly escapes: number[];
  /**
   * Where the last record that ended in the range started: its index, or -1 when it started before
   * the range (or no record ended in it).
   */
  lastEndedRecordStart: number;
  /** Where the record still open at the end of the range started: its index, or -1 when before the range. */
  openRecordStart: number;
}

/**
 * One pass over CSV bytes that arrive in arbitrary pieces (pg-copy-streams hands over network reads,
 * which cut records and cells anywhere), for two things the export needs without parsing fields:
 *
 * - **Record ends**: a line feed outside quotes. A doubled quote (`""`, an escaped quote) toggles the
 *   quote state twice, so counting quotes is enough. Gives per-part row counts and where a part may
 *   be cut.
 * - **Formula cells** (CSV injection): OWASP's escape is a `'` before a cell that starts with a
 *   {@link FORMULA_TRIGGERS trigger}, and the cell quoted; a cell that starts with `'` gets one too
 *   ({@link FORMULA_ESCAPE}). The scan reports where such cells start; the caller inserts the `'`.
 *   The output is for spreadsheets: a program reading it back removes one leading `'` from a cell
 *   that has one, and the import does not (an export is not an import file as it is).
 *
 * Expects what PostgreSQL's `COPY ... (FORMAT csv, FORCE_QUOTE *)` writes: every non-NULL cell
 * quoted (so a cell's first character is the byte after its opening quote), NULL as nothing, LF
 * line ends. Unquoted cells (NULLs, the header's column names) are never escaped: a NULL is empty and
 * the header is ours. Done here rather than in SQL because PostgreSQL spent ~40% more time on the
 * COPY with a CASE per cell (bench/EXPORT-RESULTS.md), while this loop already visits every byte.
 */
export class CsvCellScanner {
  #quoted = false;
  /** The next byte starts a cell (after a comma or a record end outside quotes, or at the start). */
  #cellStart = true;
  /** The previous byte was a cell's opening quote: the next is the cell's first character. */
  #afterOpeningQuote = false;

  /** True when the bytes scanned so far end inside a quoted field. */
  get insideQuotes(): boolean {
    return this.#quoted;
  }

  /**
   * Scans `bytes[start..]` to the end, or with `stopAtRecordEnd` only up to the end of the first
   * record that ends in it. Returns what it found and where it stopped (the index after the record's
   * line feed, or `bytes.length`).
   */
  scan(bytes: Uint8Array, start = 0, stopAtRecordEnd = false): ScanResult & { end: number } {
    let quoted = this.#quoted;
    let cellStart = this.#cellStart;
    let afterOpeningQuote = this.#afterOpeningQuote;
    let recordEnds = 0;
    let lastEndedRecordStart = -1;
    let openRecordStart = -1;
    const escapes: number[] = [];
    const length = bytes.length;
    let i = start;
    for (; i < length; i++) {
      if (quoted && !afterOpeningQuote) {
        // Inside a quoted value only a quote matters: skip to it in a tight loop (most of COPY's
        // output is inside quotes). Not Buffer#indexOf: its call costs more than the ~10 bytes
        // between two quotes of a typical row (measured: twice the time of this loop).
        while (i < length && bytes[i] !== QUOTE) i++;
        if (i === length) break;
        quoted = false;
        cellStart = false;
        continue;
      }
      const byte = bytes[i] as number;
      if (afterOpeningQuote) {
        afterOpeningQuote = false;
        if (IS_ESCAPED[byte] === 1) escapes.push(i);
      }
      if (byte === QUOTE) {
        if (cellStart) afterOpeningQuote = true;
        quoted = !quoted;
        cellStart = false;
      } else if (quoted) {
        cellStart = false;
      } else if (byte === COMMA) {
        cellStart = true;
      } else if (byte === LINE_FEED) {
        cellStart = true;
        recordEnds++;
        lastEndedRecordStart = openRecordStart;
        openRecordStart = i + 1;
        if (stopAtRecordEnd) {
          i++;
          break;
        }
      } else {
        cellStart = false;
      }
    }
    this.#quoted = quoted;
    this.#cellStart = cellStart;
    this.#afterOpeningQuote = afterOpeningQuote;
    return { recordEnds, escapes, end: i, lastEndedRecordStart, openRecordStart };
  }
}

/**
 * The first cell of the CSV record `bytes` starts with, when it is quoted (as every non-NULL cell of
 * COPY's `FORCE_QUOTE *` output is) and wholly inside `bytes`; `undefined` otherwise. A doubled
 * quote is one quote. The export reads its keyset position (the last `external_id` of a part) with
 * it.
 *
 * @example quotedFirstCell(Buffer.from('"a""b","x"\n')) // 'a"b'
 */
export function quotedFirstCell(bytes: Uint8Array): string | undefined {
  if (bytes[0] !== QUOTE) return undefined;
  const pieces: Uint8Array[] = [];
  let from = 1;
  for (;;) {
    const quote = bytes.indexOf(QUOTE, from);
    if (quote === -1 || quote + 1 >= bytes.length) return undefined;
    pieces.push(bytes.subarray(from, quote));
    const next = bytes[quote + 1];
    if (next === QUOTE) {
      pieces.push(bytes.subarray(quote, quote + 1));
      from = quote + 2;
    } else if (next === COMMA || next === LINE_FEED) {
      return Buffer.concat(pieces).toString('utf8');
    } else {
      return undefined;
    }
  }
}
