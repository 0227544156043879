import { describe, expect, it } from '@jest/globals';
import { CsvQuoteTracker } from '../src/domain/csv-quote-tracker.ts';

function track(text: string, pieceSize: number): CsvQuoteTracker {
  const tracker = new CsvQuoteTracker();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += pieceSize) tracker.scan(bytes.subarray(at, at + pieceSize));
  return tracker;
}

describe('CsvQuoteTracker', () => {
  const unclosed = 'id,email\n1,a@example.com\n"2,b@example.com\n3,c@example.com\n4,d@example.com\n';

  it('names the line where a quote that never closes was opened, however the bytes are cut', () => {
    for (const size of [1, 2, 3, 7, 1000]) expect(track(unclosed, size).openQuoteLine).toBe(3);
  });

  it('reports no open quote when every quote closes, across doubled quotes and line breaks in fields', () => {
    const csv = 'id,note\n1,"say ""hi"""\n2,"two\nlines"\n3,"x"\n';
    for (const size of [1, 5, 1000]) expect(track(csv, size).openQuoteLine).toBeUndefined();
  });

  it('counts the lines inside a closed quoted field before a later unclosed one', () => {
    expect(track('id,note\n1,"a\nb\nc"\n2,"open\n3,x\n', 4).openQuoteLine).toBe(5);
  });
});
