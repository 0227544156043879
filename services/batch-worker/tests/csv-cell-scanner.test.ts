import { describe, expect, it } from '@jest/globals';
import { CsvCellScanner, FORMULA_TRIGGERS } from '../src/domain/csv-cell-scanner.ts';

/**
 * A CSV as PostgreSQL writes it with FORCE_QUOTE *: a bare header, quotes doubled, line feeds kept
 * inside quotes, NULL as nothing.
 */
const CSV = 'a,b\n"1","x"\n"2","line\nbreak"\n"3","say ""hi""\n"""\n"4",\n';
const RECORD_ENDS = [4, 12, 29, 49, 54];

/** Applies a scan's escapes the way the writer does. */
function escaped(text: string, escapes: readonly number[]): string {
  let out = '';
  let from = 0;
  for (const index of escapes) {
    out += `${text.slice(from, index)}'`;
    from = index;
  }
  return out + text.slice(from);
}

/** Scans `text` in `size`-byte pieces and returns the record ends and escapes as absolute indexes. */
function scanInPieces(text: string, size: number): { recordEnds: number; escapes: number[] } {
  const bytes = Buffer.from(text);
  const scanner = new CsvCellScanner();
  let recordEnds = 0;
  const escapes: number[] = [];
  for (let base = 0; base < bytes.length; base += size) {
    const result = scanner.scan(bytes.subarray(base, base + size));
    recordEnds += result.recordEnds;
    escapes.push(...result.escapes.map((index) => base + index));
  }
  return { recordEnds, escapes };
}

describe('CsvCellScanner', () => {
  it('counts record ends, not line feeds inside quoted fields', () => {
    expect(new CsvCellScanner().scan(Buffer.from(CSV)).recordEnds).toBe(5);
  });

  it('counts the same wherever the bytes are cut', () => {
    for (const size of [1, 2, 3, 5, 8, 13, CSV.length]) expect(scanInPieces(CSV, size).recordEnds).toBe(5);
  });

  it('stops after each record end in turn, across chunks', () => {
    const bytes = Buffer.from(CSV);
    for (const size of [1, 3, 7, bytes.length]) {
      const scanner = new CsvCellScanner();
      const found: number[] = [];
      for (let base = 0; base < bytes.length; base += size) {
        const chunk = bytes.subarray(base, base + size);
        let at = 0;
        while (at < chunk.length) {
          const result = scanner.scan(chunk, at, true);
          if (result.recordEnds === 1) found.push(base + result.end);
          at = result.end;
        }
      }
      expect(found).toEqual(RECORD_ENDS);
    }
  });

  it('remembers being inside quotes between chunks', () => {
    const scanner = new CsvCellScanner();
    expect(scanner.scan(Buffer.from('"2","line')).recordEnds).toBe(0);
    expect(scanner.insideQuotes).toBe(true);
    expect(scanner.scan(Buffer.from('\nbreak"\n'), 0, true)).toEqual({
      recordEnds: 1,
      escapes: [],
      end: 8,
      lastEndedRecordStart: -1,
      openRecordStart: 8,
    });
    expect(scanner.insideQuotes).toBe(false);
  });

  it('escapes exactly the cells that start with one of OWASP’s formula triggers', () => {
    expect(FORMULA_TRIGGERS).toEqual(['=', '+', '-', '@', '\t', '\r']);
    const table: [csv: string, expected: string][] = [
      ['"=1+1"', `"'=1+1"`],
      ['"+1"', `"'+1"`],
      ['"-1"', `"'-1"`],
      ['"@SUM(A1)"', `"'@SUM(A1)"`],
      ['"\tTAB"', `"'\tTAB"`],
      ['"\rCR"', `"'\rCR"`],
      ['"=HYPERLINK(""http://x"",""y"")"', `"'=HYPERLINK(""http://x"",""y"")"`],
      ['"plain"', '"plain"'],
      ['"a=b"', '"a=b"'],
      ['" =1"', '" =1"'],
      ['"\n=1"', '"\n=1"'],
      ['"""=1"', '"""=1"'], // starts with a quote character
      ['""', '""'], // empty string
      ['', ''], // NULL
      ['"日本=1"', '"日本=1"'],
    ];
    for (const [cell, expected] of table) {
      // As the first, a middle and the last cell of a record, after a header.
      const csv = `h1,h2,h3\n${cell},"x","y"\n"x",${cell},"y"\n"x","y",${cell}\n`;
      const want = `h1,h2,h3\n${expected},"x","y"\n"x",${expected},"y"\n"x","y",${expected}\n`;
      for (const size of [1, 2, 4, csv.length]) {
        const result = scanInPieces(csv, size);
        expect({ cell, size, out: escaped(csv, result.escapes) }).toEqual({ cell, size, out: want });
        expect(result.recordEnds).toBe(4);
      }
    }
  });

  it("escapes a cell that starts with the escape itself, so that one leading ' removed gives back every cell as stored", () => {
    const stored = ["'=1+1", '=1+1', "'quoted", "''", "'", 'plain', '-1', "a'b"];
    const exported = stored.map((value) => {
      const csv = `"${value}"\n`;
      return escaped(csv, scanInPieces(csv, 1).escapes).slice(1, -2);
    });
    expect(exported).toEqual(["''=1+1", "'=1+1", "''quoted", "'''", "''", 'plain', "'-1", "a'b"]);
    const unescaped = exported.map((cell) => (cell.startsWith("'") ? cell.slice(1) : cell));
    expect(unescaped).toEqual(stored);
  });

  it('never escapes the bare header or cells inside a quoted value', () => {
    const csv = '=a,-b\n"x,=y","z\n=w"\n';
    expect(scanInPieces(csv, 1).escapes).toEqual([]);
  });
});
