import { describe, expect, it } from '@jest/globals';
import { CsvRecordCounter } from '../src/domain/csv-record-counter.ts';

const HEADER = 'external_id,email,name';

/** Feeds `text` in chunks of `size` bytes (to cross every boundary) and returns the count. */
function count(text: string, size: number) {
  const counter = new CsvRecordCounter(HEADER);
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; offset += size)
    counter.push(bytes.subarray(offset, offset + size));
  return counter.end();
}

describe('CsvRecordCounter', () => {
  const tricky = [
    `${HEADER}\n`,
    'u1,a@example.com,plain\n',
    'u2,b@example.com,"two\nlines"\n',
    'u3,c@example.com,"quote "" inside, and comma"\n',
    `u4,d@example.com,"'=HYPERLINK(""x"")"\n`,
    'u5,e@example.com,"\r\nexternal_id,email,name\r\n"\n',
    'u6,f@example.com,\n',
  ].join('');

  it('counts records, not lines: newlines inside quoted cells do not end a record', () => {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      expect(count(tricky, size)).toEqual({
        records: 7,
        firstIsHeader: true,
        headerRecords: 1,
        unterminatedQuote: false,
      });
    }
  });

  it('accepts CRLF line ends and a last record without a line end', () => {
    expect(count(`${HEADER}\r\nu1,a@example.com,x\r\nu2,b@example.com,y`, 5)).toMatchObject({
      records: 3,
      firstIsHeader: true,
      headerRecords: 1,
    });
  });

  it('finds a header repeated later (a part that kept its header) and a missing one', () => {
    expect(count(`${HEADER}\nu1,a,b\n${HEADER}\nu2,c,d\n`, 4)).toMatchObject({
      records: 4,
      headerRecords: 2,
    });
    expect(count('u1,a,b\nu2,c,d\n', 3)).toMatchObject({
      records: 2,
      firstIsHeader: false,
      headerRecords: 0,
    });
    // A record that merely starts like the header is not the header.
    expect(count(`${HEADER}\n${HEADER},extra\n`, 2)).toMatchObject({ records: 2, headerRecords: 1 });
  });

  it('accepts any of the header spellings it is given, and counts each as the header', () => {
    const counter = new CsvRecordCounter([HEADER, '"external_id","email","name"']);
    counter.push(Buffer.from('"external_id","email","name"\n"u1","a","b"\nexternal_id,email,name\n'));
    expect(counter.end()).toMatchObject({ records: 3, firstIsHeader: true, headerRecords: 2 });
  });

  it('reports a stream cut inside a quoted cell', () => {
    expect(count(`${HEADER}\nu1,a,"never closed\n`, 8)).toMatchObject({ unterminatedQuote: true });
  });

  it('counts nothing in an empty stream', () => {
    expect(count('', 1)).toEqual({
      records: 0,
      firstIsHeader: false,
      headerRecords: 0,
      unterminatedQuote: false,
    });
  });
});
