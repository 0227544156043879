const QUOTE = 0x22;
const LINE_FEED = 0x0a;

/**
 * Finds where CSV records end in a byte stream that arrives in arbitrary pieces (pg-copy-streams
 * hands over network reads, which cut records anywhere). A record ends at a line feed outside
 * quotes; inside a quoted field a line feed is data. A doubled quote (`""`, an escaped quote) toggles
 * the state twice, so counting quotes is enough: no field is parsed. This is the one pass the worker
 * makes over the bytes, for per-part row counts and for cutting parts between records.
 *
 * Assumes RFC 4180 output as PostgreSQL's COPY CSV writes it (LF line ends, `"` quote).
 */
export class CsvRowScanner {
  #quoted = false;

  /** True when the bytes scanned so far end inside a quoted field. */
  get insideQuotes(): boolean {
    return this.#quoted;
  }

  /** Scans `bytes[start..]` and returns how many records end in it. */
  countRecordEnds(bytes: Uint8Array, start = 0): number {
    let quoted = this.#quoted;
    let ends = 0;
    for (let i = start; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === QUOTE) quoted = !quoted;
      else if (byte === LINE_FEED && !quoted) ends++;
    }
    this.#quoted = quoted;
    return ends;
  }

  /**
   * Scans `bytes[start..]` up to the end of the first record that ends in it and returns the index
   * just after that record's line feed, or -1 (having scanned everything) when none ends.
   */
  nextRecordEnd(bytes: Uint8Array, start = 0): number {
    let quoted = this.#quoted;
    for (let i = start; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === QUOTE) quoted = !quoted;
      else if (byte === LINE_FEED && !quoted) {
        this.#quoted = false;
        return i + 1;
      }
    }
    this.#quoted = quoted;
    return -1;
  }
}
