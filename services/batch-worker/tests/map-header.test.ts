import { describe, expect, it } from '@jest/globals';
import { mapHeader } from '../src/domain/map-header.ts';
import { InvalidHeaderError } from '../src/errors.ts';

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

  it('names every missing required column', () => {
    expect(() => mapHeader(['id', 'mail'])).toThrow(
      new InvalidHeaderError('missing required columns "external_id", "email" (found: "id", "mail")', []),
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

  it('refuses duplicate and empty column names', () => {
    expect(() => mapHeader(['external_id', 'email', 'Email'])).toThrow(
      'header: column "Email" appears more than once',
    );
    expect(() => mapHeader(['external_id', 'email', ' '])).toThrow('header: column 3 has no name');
  });
});
