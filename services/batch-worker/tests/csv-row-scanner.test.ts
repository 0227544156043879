import { describe, expect, it } from '@jest/globals';
import { CsvRowScanner } from '../src/domain/csv-row-scanner.ts';

/** A CSV as PostgreSQL writes it with FORCE_QUOTE: quotes doubled, line feeds kept inside quotes. */
const CSV = 'a,b\n"1","x"\n"2","line\nbreak"\n"3","say ""hi""\n"""\n"4",\n';
const RECORD_ENDS = [4, 12, 29, 49, 54];

describe('CsvRowScanner', () => {
  it('counts record ends, not line feeds inside quoted fields', () => {
    expect(new CsvRowScanner().countRecordEnds(Buffer.from(CSV))).toBe(5);
  });

  it('counts the same wherever the bytes are cut', () => {
    const bytes = Buffer.from(CSV);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const scanner = new CsvRowScanner();
      const ends =
        scanner.countRecordEnds(bytes.subarray(0, cut)) + scanner.countRecordEnds(bytes.subarray(cut));
      expect(ends).toBe(5);
    }
  });

  it('finds each record end in turn, across chunks', () => {
    const bytes = Buffer.from(CSV);
    for (const size of [1, 3, 7, bytes.length]) {
      const scanner = new CsvRowScanner();
      const found: number[] = [];
      for (let base = 0; base < bytes.length; base += size) {
        const chunk = bytes.subarray(base, base + size);
        let at = 0;
        for (;;) {
          const end = scanner.nextRecordEnd(chunk, at);
          if (end === -1) break;
          found.push(base + end);
          at = end;
        }
      }
      expect(found).toEqual(RECORD_ENDS);
    }
  });

  it('remembers being inside quotes between chunks', () => {
    const scanner = new CsvRowScanner();
    expect(scanner.countRecordEnds(Buffer.from('"2","line'))).toBe(0);
    expect(scanner.insideQuotes).toBe(true);
    expect(scanner.nextRecordEnd(Buffer.from('\nbreak"\n'))).toBe(8);
    expect(scanner.insideQuotes).toBe(false);
  });
});
