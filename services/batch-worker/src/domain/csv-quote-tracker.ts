const QUOTE = 0x22;
const LINE_FEED = 0x0a;

/**
 * Follows the quotes of CSV bytes that arrive in arbitrary pieces and remembers on which line the
 * quoted field still open at the end was opened. csv-parse reports an unclosed quote at the line
 * where the file ends (`CSV_QUOTE_NOT_CLOSED`), which is no help to the person who has to find the
 * stray quote; this names the line it opened on.
 *
 * Counting quotes is enough: a doubled quote (`""`) toggles twice, and a quote that opens anywhere
 * but at a field's start is an error csv-parse raises at once, with its line, so it never gets here.
 * Lines are physical lines (line feeds, also those inside quoted fields), as csv-parse counts them.
 */
export class CsvQuoteTracker {
  #line = 1;
  #quoted = false;
  #openedAt = 1;

  /** The line of the quote still open after the bytes scanned so far; undefined when none is open. */
  get openQuoteLine(): number | undefined {
    return this.#quoted ? this.#openedAt : undefined;
  }

  /** Scans the next piece of the file. */
  scan(bytes: Uint8Array): void {
    let line = this.#line;
    let quoted = this.#quoted;
    let openedAt = this.#openedAt;
    let at = 0;
    let nextQuote = bytes.indexOf(QUOTE, at);
    let nextLineFeed = bytes.indexOf(LINE_FEED, at);
    // Jumps from quote to line feed with indexOf (memchr) instead of looking at every byte.
    while (nextQuote !== -1 || nextLineFeed !== -1) {
      if (nextLineFeed !== -1 && (nextQuote === -1 || nextLineFeed < nextQuote)) {
        line++;
        at = nextLineFeed + 1;
        nextLineFeed = bytes.indexOf(LINE_FEED, at);
      } else {
        quoted = !quoted;
        if (quoted) openedAt = line;
        at = nextQuote + 1;
        nextQuote = bytes.indexOf(QUOTE, at);
      }
    }
    this.#line = line;
    this.#quoted = quoted;
    this.#openedAt = openedAt;
  }
}
