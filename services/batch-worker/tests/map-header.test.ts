import { describe, expect, it } from '@jest/globals';
import { MAX_COLUMNS, mapHeader } from '../src/domain/map-header.ts';
import { InvalidHeaderError } from '../src/errors.ts';
import { rejectionOf } from './import-fixture.ts';

describe('mapHeader', () => {
  it('maps the required, optional and attribute columns in any order', () => {
    expect(mapHeader(['plan', 'email', 'name', 'external_id', 'country'])).toEqual({
      columnCount: 5,
      externalId: 3,
      email: 1,
      name: 2,
      attributes: [
        { name: 'plan', index: 0 },
        { name: 'country', index: 4 },
      ],
    });
  });

  it('trims names and matches known columns case-insensitively, keeping attribute case', () => {
    const header = mapHeader([' External_ID ', 'EMAIL', ' Plan ']);
    expect(header).toMatchObject({ externalId: 0, email: 1, name: undefined });
    expect(header.attributes).toEqual([{ name: 'Plan', index: 2 }]);
  });

  it('names every missing required column of a header, quoting the names it found', () => {
    expect(() => mapHeader(['external_id', 'emial', 'name'])).toThrow(
      new InvalidHeaderError('missing required column "email" (found: "external_id", "emial", "name")', []),
    );
    const error = (() => {
      try {
        mapHeader(['external_id', 'name']);
      } catch (e) {
        return e as InvalidHeaderError;
      }
    })();
    expect(error).toBeInstanceOf(InvalidHeaderError);
    expect(error?.name).toBe('InvalidHeaderError');
    expect(error?.field).toBe('header');
    expect(error?.columns).toEqual(['email']);
    expect(error?.permanent).toBe(true);
  });

  describe('a first line that is not a header (a file without its header row)', () => {
    // The reason goes to the logs, the job's worker_error, the Fail state's Cause and the
    // import.failed mail: without a header the first line is the first person's record.
    const record = ['u1', 'hanako.yamashita@example.jp', 'Hanako Yamashita', '090-1234-5678'];
    const notAHeader =
      'header: the first line is not a header row: it names neither "external_id" nor "email" (the file must start with its header row)';

    it('says so, quoting nothing from it', () => {
      const error = (() => {
        try {
          mapHeader(record);
        } catch (e) {
          return e as InvalidHeaderError;
        }
      })();
      expect(error).toBeInstanceOf(InvalidHeaderError);
      expect(error?.message).toBe(notAHeader);
      expect(error?.columns).toEqual(['external_id', 'email']);
      for (const value of record) expect(JSON.stringify(error)).not.toContain(value);
    });

    it('says so before looking for empty, duplicate or NUL names, which would quote its values', () => {
      expect(() => mapHeader(['u1', 'hanako@example.jp', 'hanako@example.jp'])).toThrow(notAHeader);
      expect(() => mapHeader(['u1', 'Hanako\u0000', ''])).toThrow(notAHeader);
      expect(() => mapHeader(['id', 'mail'])).toThrow(notAHeader);
    });
  });

  it('quotes at most 10 found names, none that looks like data (an @, over 40 characters)', () => {
    const long = 'x'.repeat(41);
    const header = [
      'external_id',
      'hanako@example.jp',
      long,
      'x'.repeat(40),
      ...Array.from({ length: 10 }, (_, index) => `a${index}`),
    ];
    const error = (() => {
      try {
        mapHeader(header);
      } catch (e) {
        return e as InvalidHeaderError;
      }
    })();
    expect(error?.message).toBe(
      `header: missing required column "email" (found: "external_id", column 2, column 3, "${'x'.repeat(40)}", ` +
        '"a0", "a1", "a2", "a3", "a4", "a5" and 4 more)',
    );
    expect(error?.message).not.toContain('@');
    expect(error?.message).not.toContain(long);
  });

  it('refuses duplicate and empty column names', () => {
    expect(() => mapHeader(['external_id', 'email', 'Email'])).toThrow(
      'header: column "Email" appears more than once',
    );
    expect(() => mapHeader(['external_id', 'email', ' '])).toThrow('header: column 3 has no name');
  });

  it('refuses a name with a NUL character, quoting it so that no NUL reaches the reason', async () => {
    // PostgreSQL text cannot hold a NUL (22021), nor jsonb a \u0000 (22P05): the reason goes to the
    // job's worker_error, the names to the staging's jsonb header.
    const error = await rejectionOf(
      Promise.resolve().then(() => mapHeader(['external_id', 'email', 'pl\u0000an'])),
      InvalidHeaderError,
    );
    expect(error.message).toBe('header: the name of column 3 ("pl\\u0000an") contains a NUL character');
    expect(error.message).not.toContain('\u0000');
    expect(error.columns).toEqual(['pl\u0000an']);
  });

  it('quotes names in its reasons as JSON strings: control characters escaped', () => {
    expect(() => mapHeader(['external_id', 'e"mail\u0001'])).toThrow(
      'header: missing required column "email" (found: "external_id", "e\\"mail\\u0001")',
    );
    expect(() => mapHeader(['external_id', 'email', 'a\tb', 'A\tb'])).toThrow(
      'header: column "A\\tb" appears more than once',
    );
  });

  it('takes at most 1598 columns (a staging table holds them and two of its own; PostgreSQL: 1600)', () => {
    const header = (columns: number) => [
      'external_id',
      'email',
      ...Array.from({ length: columns - 2 }, (_, index) => `a${index}`),
    ];
    expect(MAX_COLUMNS).toBe(1598);
    expect(mapHeader(header(1598)).columnCount).toBe(1598);
    expect(() => mapHeader(header(1599))).toThrow(
      new InvalidHeaderError('the file has 1599 columns; an import takes at most 1598', []),
    );
  });
});
