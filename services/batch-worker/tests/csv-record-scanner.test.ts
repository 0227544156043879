import { describe, expect, it } from '@jest/globals';
import { CsvRecordScanner, type ScanPosition } from '../src/domain/csv-record-scanner.ts';
import { InvalidHeaderError, MalformedCsvError } from '../src/errors.ts';
import { rejectionOf } from './import-fixture.ts';

interface Scan {
  readonly header: string[] | undefined;
  /** The COPY input, as text. */
  readonly copy: string;
  readonly records: number;
  readonly end: ScanPosition;
  readonly headerEnd: ScanPosition | undefined;
}

/** Scans `input` cut into pieces of `pieceSize` bytes. */
function scan(
  input: string | Buffer,
  pieceSize: number,
  options: {
    start?: ScanPosition;
    columnCount?: number;
    trimmedFields?: readonly number[];
    maxRecordBytes?: number;
  } = {},
): Scan {
  let header: string[] | undefined;
  const trimmedFields = options.trimmedFields ?? [];
  const scanner = new CsvRecordScanner({
    start: options.start ?? { offset: 0, lines: 0 },
    ...(options.columnCount === undefined
      ? {}
      : { shape: { columnCount: options.columnCount, trimmedFields } }),
    onHeader: (fields) => {
      header = fields;
      return { columnCount: fields.length, trimmedFields };
    },
    maxRecordBytes: options.maxRecordBytes ?? 1024,
  });
  const bytes = Buffer.from(input);
  let copy = '';
  let records = 0;
  for (let at = 0; at < bytes.length; at += pieceSize) {
    const scanned = scanner.push(bytes.subarray(at, at + pieceSize));
    copy += scanned.bytes.toString();
    records += scanned.records;
  }
  const last = scanner.end();
  copy += last.bytes.toString();
  records += last.records;
  return { header, copy, records, end: last.end, headerEnd: scanner.headerEnd };
}

const SIZES = [1, 2, 3, 5, 7, 1000];

describe('CsvRecordScanner', () => {
  it('hands each record on as written, behind its line and an empty reject code, however the bytes are cut', () => {
    const csv =
      'id,email,note\n1,a@example.com,"say ""hi"""\n2,b@example.com,"two\nlines"\n3,c@example.com,x';
    for (const size of SIZES) {
      expect(scan(csv, size)).toEqual({
        header: ['id', 'email', 'note'],
        copy: '2,,1,a@example.com,"say ""hi"""\n4,,2,b@example.com,"two\nlines"\n5,,3,c@example.com,x\n',
        records: 3,
        end: { offset: Buffer.byteLength(csv), lines: 4 },
        headerEnd: { offset: 14, lines: 1 },
      });
    }
  });

  it('tells the line the last record of each piece ends on, 0 for a piece that ends none', () => {
    const scanner = new CsvRecordScanner({
      start: { offset: 0, lines: 0 },
      onHeader: (fields) => ({ columnCount: fields.length, trimmedFields: [] }),
      maxRecordBytes: 1024,
    });
    const pieces = ['id,email,note\n', '1,a@x.io,"two\nlines"\n', '2,b@x.io,x\n3,c', '@x.io,x'];
    expect(pieces.map((piece) => scanner.push(Buffer.from(piece)).lastLine)).toEqual([0, 3, 4, 0]);
    // The last record has no line end: it ends on line 5 all the same.
    expect(scanner.end().lastLine).toBe(5);
  });

  it('drops a BOM, turns CRLF into LF (keeping CRLF inside quotes) and skips blank lines', () => {
    const csv = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('id,name\r\n\r\n1,"a\r\nb"\r\n\r\n2,Zoë\r\n\r\n'),
    ]);
    for (const size of SIZES) {
      const result = scan(csv, size);
      expect(result.header).toEqual(['id', 'name']);
      expect(result.copy).toBe('4,,1,"a\r\nb"\n6,,2,Zoë\n');
      expect(result.end).toEqual({ offset: csv.length, lines: 7 });
    }
  });

  it('marks a record with the wrong field count or a NUL byte and sends its fields empty', () => {
    const csv = 'a,b,c\n1,2\n1,2,3,4\n1,x\u0000y,3\n"1\u0000",2,3\n';
    for (const size of SIZES) {
      expect(scan(csv, size).copy).toBe('2,f2,,,\n3,f4,,,\n4,n1,,,\n5,n0,,,\n');
    }
  });

  it('marks a record with bytes that are not UTF-8 in field i as u<i> and sends its fields empty, however the bytes are cut', () => {
    // Windows-1252 "é" (0xE9), a lone continuation byte, a cut three-byte character, an overlong "/";
    // and valid multi-byte characters (cut by every piece size) that mark nothing.
    const csv = Buffer.concat([
      Buffer.from('a,b,c\n1,Zoë,日本\n1,caf'),
      Buffer.from([0xe9]),
      Buffer.from(',3\n"x\n'),
      Buffer.from([0x80]),
      Buffer.from('",2,3\n1,2,'),
      Buffer.from([0xe6, 0x97]),
      Buffer.from('\n1,'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from(',3\n1,"a,""b",'),
      Buffer.from([0xff]),
      Buffer.from('\n9,ü,ß'),
    ]);
    for (const size of SIZES) {
      expect(scan(csv, size).copy).toBe(
        '2,,1,Zoë,日本\n3,u1,,,\n5,u0,,,\n6,u2,,,\n7,u1,,,\n8,u2,,,\n9,,9,ü,ß\n',
      );
    }
  });

  it('marks the bytes that are not UTF-8 of a last record without a line end', () => {
    const csv = Buffer.concat([Buffer.from('a,b\n1,2\n3,'), Buffer.from([0xe6, 0x97])]);
    for (const size of SIZES) expect(scan(csv, size).copy).toBe('2,,1,2\n3,u1,,\n');
  });

  it('marks a record whose trimmed fields start or end with whitespace or a non-ASCII byte, however the bytes are cut', () => {
    // Fields 0 and 2 are trimmed, field 1 is not: its edges mark nothing.
    const records = [
      ['a,b,c', ''],
      [' a,b,c', 't'],
      ['a\t,b,c', 't'],
      ['a, b ,c', ''],
      ['a,b,c ', 't'],
      ['a,b,\u00a0c', 't'],
      ['a,b,c\u3000', 't'],
      ['Zoë,b,c', 't'], // any non-ASCII byte at an edge: a superset of what trimming removes
      ['aëa,b,cëc', ''],
      ['" a",b,c', 't'],
      ['"a\n",b,c', 't'],
      ['"a, b",b,"c ""d"""', ''], // a doubled quote at an edge is a quote, nothing to trim
      ['"",b,', ''],
      ['a,b,"x\r\ny"', ''],
      ['a,b,"c\r\n"', 't'],
    ];
    const csv = `x,y,z\r\n${records.map(([record]) => record).join('\r\n')}\r\n`;
    for (const size of SIZES) {
      const marks = scan(csv, size, { trimmedFields: [0, 2] })
        .copy.split(/\n(?=\d+,)/)
        .map((line) => line.split(',')[1]);
      expect(marks).toEqual(records.map(([, mark]) => mark));
    }
  });

  it('marks trimmed fields on a resume too, and only records staged as written', () => {
    const result = scan('a ,b\n1,2,3\n', 1, {
      start: { offset: 20, lines: 3 },
      columnCount: 2,
      trimmedFields: [0],
    });
    expect(result.copy).toBe('4,t,a ,b\n5,f3,,\n');
  });

  it('writes the next COPY input over the last one only once its reader released it', () => {
    const scanner = new CsvRecordScanner({
      start: { offset: 0, lines: 0 },
      shape: { columnCount: 2, trimmedFields: [] },
      maxRecordBytes: 1024,
    });
    /** Whether two buffers start at the same byte of the same memory. */
    const same = (a: Buffer, b: Buffer) => a.buffer === b.buffer && a.byteOffset === b.byteOffset;
    const first = scanner.push(Buffer.from('a,b\nc,d\n'));
    const firstText = first.bytes.toString();
    // Not released: a new buffer, the first one as it was.
    const second = scanner.push(Buffer.from('e,f\n'));
    expect(same(second.bytes, first.bytes)).toBe(false);
    expect(first.bytes.toString()).toBe(firstText);
    scanner.release();
    const third = scanner.push(Buffer.from('g,h\ni,j\n'));
    expect(same(third.bytes, second.bytes)).toBe(true);
    expect(third.bytes.toString()).toBe('4,,g,h\n5,,i,j\n');
    // Released once: the one after it gets a buffer of its own again.
    const fourth = scanner.push(Buffer.from('k,l\n'));
    expect(same(fourth.bytes, third.bytes)).toBe(false);
    // A piece that ends no record hands nothing over: the released buffer waits for the next one.
    scanner.release();
    expect(scanner.push(Buffer.from('m,')).records).toBe(0);
    expect(same(scanner.push(Buffer.from('n\n')).bytes, fourth.bytes)).toBe(true);
  });

  it('numbers lines of every length in decimal, up to the largest safe integer', () => {
    for (const lines of [8, 9, 99, 12_345_678_900, Number.MAX_SAFE_INTEGER - 4]) {
      const result = scan('a,b\n"c\nd",e\nf,g\n', 1000, { start: { offset: 0, lines }, columnCount: 2 });
      expect(result.copy).toBe(`${lines + 1},,a,b\n${lines + 3},,"c\nd",e\n${lines + 4},,f,g\n`);
    }
  });

  it('resumes at a position with the known column count, numbering lines on from it', () => {
    const csv = 'id,email\n1,a@example.com\n2,"b\n"\n3,c@example.com\n';
    const start = { offset: 'id,email\n1,a@example.com\n'.length, lines: 2 };
    const rest = Buffer.from(csv).subarray(start.offset);
    for (const size of SIZES) {
      const result = scan(rest, size, { start, columnCount: 2 });
      expect(result.header).toBeUndefined();
      expect(result.copy).toBe('4,,2,"b\n"\n5,,3,c@example.com\n');
      expect(result.end).toEqual({ offset: csv.length, lines: 5 });
    }
  });

  it('names the line where a quote that never closes was opened, however the bytes are cut', async () => {
    const unclosed = 'id,email\n1,a@example.com\n"2,b@example.com\n3,c@example.com\n4,d@example.com\n';
    for (const size of SIZES) {
      const error = await rejectionOf(
        Promise.resolve().then(() => scan(unclosed, size)),
        MalformedCsvError,
      );
      expect(error).toMatchObject({ line: 3, code: 'CSV_QUOTE_NOT_CLOSED' });
      expect(error.message).toBe('malformed CSV at line 3: the quote opened on line 3 is never closed');
    }
  });

  it('counts the lines inside a closed quoted field before a later unclosed one', async () => {
    const error = await rejectionOf(
      Promise.resolve().then(() => scan('id,note\n1,"a\nb\nc"\n2,"open\n3,x\n', 4)),
      MalformedCsvError,
    );
    expect(error.line).toBe(5);
  });

  it.each([
    ['id,email\n1,a"b\n', 'INVALID_OPENING_QUOTE', 2],
    ['id,email\n1,"a"b\n', 'CSV_INVALID_CLOSING_QUOTE', 2],
    ['id,email\n1,a\r2,b\n', 'CSV_INVALID_RECORD_DELIMITER', 2],
    // At the end of the file too: a lone CR is no line end (README, "a bare carriage return").
    ['id,email\n1,a\r', 'CSV_INVALID_RECORD_DELIMITER', 2],
    ['id,email\r', 'CSV_INVALID_RECORD_DELIMITER', 1],
    [`id,email\n1,"${'x'.repeat(2000)}"\n`, 'CSV_MAX_RECORD_SIZE', 2],
    // Named at the record's first line, where the quote that made it run on opened, not at the line
    // the limit was passed on.
    [`id,email\n1,"${'x\n'.repeat(2000)}`, 'CSV_MAX_RECORD_SIZE', 2],
    // A stray quote on line 2 makes lines 2 to 4 one field, "closed" by the quote of line 4.
    ['id,email\n"1,a\n2,b\n3,"x"y\n', 'CSV_INVALID_CLOSING_QUOTE', 2],
  ])('refuses malformed input %#: %s', async (csv, code, line) => {
    const error = await rejectionOf(
      Promise.resolve().then(() => scan(csv, 64)),
      MalformedCsvError,
    );
    expect(error.code).toBe(code);
    expect(error.line).toBe(line);
  });

  it('says where a stray quote opened the field that runs on, and where the scan gave up', async () => {
    const closing = await rejectionOf(
      Promise.resolve().then(() => scan('id,email\n"1,a\n2,b\n3,"x"y\n', 64)),
      MalformedCsvError,
    );
    expect(closing.message).toContain(
      'the quoted field opened on line 2 goes on after its closing quote on line 4',
    );
    const long = await rejectionOf(
      Promise.resolve().then(() => scan(`id,email\n1,"${'x\n'.repeat(2000)}`, 64)),
      MalformedCsvError,
    );
    expect(long.message).toContain('(the quote opened on line 2 is still open)');
  });

  it('refuses a UTF-16 file (PowerShell 5.1 Out-File, Excel "Unicode Text") with a header error, however the bytes are cut', async () => {
    const le = Buffer.from('external_id,email\r\nx1,x1@example.com\r\n', 'utf16le');
    const be = Buffer.from(le).swap16();
    const files = {
      'UTF-16LE with its BOM': Buffer.concat([Buffer.from([0xff, 0xfe]), le]),
      'UTF-16BE with its BOM': Buffer.concat([Buffer.from([0xfe, 0xff]), be]),
      'UTF-16LE without a BOM': le,
      'UTF-16BE without a BOM': be,
      'a BOM alone': Buffer.from([0xff, 0xfe]),
    };
    for (const [label, file] of Object.entries(files)) {
      for (const size of SIZES) {
        const error = await rejectionOf(
          Promise.resolve().then(() => scan(file, size)),
          InvalidHeaderError,
        );
        expect([label, size, error.message]).toEqual([
          label,
          size,
          'header: the file is UTF-16 text: save it as CSV UTF-8',
        ]);
      }
    }
  });

  it('refuses a first line that is not UTF-8 without quoting it: without a header row it is a person (a name saved as Windows-1252)', async () => {
    const csv = Buffer.concat([
      Buffer.from('u1,jos'),
      Buffer.from([0xe9]),
      Buffer.from('@example.com,Jos'),
      Buffer.from([0xe9]),
      Buffer.from(' Garc\u00eda\n'),
    ]);
    const error = await rejectionOf(
      Promise.resolve().then(() => scan(csv, 1 << 16)),
      InvalidHeaderError,
    );
    expect(error.message).toBe('header: the name of column 2 is not UTF-8 text: save the file as CSV UTF-8');
  });

  it('refuses a header name whose bytes are not UTF-8, naming its column, however the bytes are cut', async () => {
    // "Région" saved as Windows-1252 (0xE9), in a quoted name after a quoted comma.
    const csv = Buffer.concat([
      Buffer.from('external_id,"e,mail",R'),
      Buffer.from([0xe9]),
      Buffer.from('gion\nx1,x1@example.com,Paris\n'),
    ]);
    for (const size of SIZES) {
      const error = await rejectionOf(
        Promise.resolve().then(() => scan(csv, size)),
        InvalidHeaderError,
      );
      expect([size, error.message, error.columns]).toEqual([
        size,
        'header: the name of column 3 is not UTF-8 text: save the file as CSV UTF-8',
        ['column 3'],
      ]);
    }
  });

  it('reports no header for an empty input', () => {
    expect(scan('', 10)).toMatchObject({ header: undefined, records: 0, headerEnd: undefined });
    expect(scan('\n\r\n', 1)).toMatchObject({ header: undefined, records: 0 });
  });
});
