import { describe, expect, it } from '@jest/globals';
import { copyTextField } from '../src/adapters/postgres-user-import-store.ts';
import { mapHeader } from '../src/domain/map-header.ts';
import { attributeKeysOf, validateRow } from '../src/domain/validate-row.ts';

const header = mapHeader(['external_id', 'email', 'name', 'plan', 'note']);
const keys = attributeKeysOf(header);
const validate = (fields: string[], line = 2) => validateRow(fields, header, keys, line);

describe('validateRow', () => {
  it('returns the user with trimmed id and email, attributes as JSON text', () => {
    expect(validate([' u-1 ', ' u-1@example.com ', ' Jane ', 'pro', 'says "hi"\n'], 7)).toEqual({
      ok: true,
      row: {
        line: 7,
        externalId: 'u-1',
        email: 'u-1@example.com',
        name: 'Jane',
        attributes: '{"plan":"pro","note":"says \\"hi\\"\\n"}',
      },
    });
  });

  it('stores an empty name as null', () => {
    const result = validate(['u-1', 'u-1@example.com', '  ', '', '']);
    expect(result.ok && result.row.name).toBeNull();
  });

  it.each([
    [['', 'a@example.com', '', '', ''], 'external_id', 'is empty'],
    [['x'.repeat(257), 'a@example.com', '', '', ''], 'external_id', 'is longer than 256 characters'],
    [['u', ' ', '', '', ''], 'email', 'is empty'],
    [['u', 'no-at-sign', '', '', ''], 'email', 'is not a valid email address'],
    [['u', 'a@b', '', '', ''], 'email', 'is not a valid email address'],
    [['u', `${'a'.repeat(250)}@example.com`, '', '', ''], 'email', 'is not a valid email address'],
    [['u', 'a@example.com', '', ''], 'row', 'has 4 fields, the header has 5'],
    [['u', 'a@example.com', '', '', '', ''], 'row', 'has 6 fields, the header has 5'],
    [['u', 'a@example.com', '', '', 'a\u0000b'], 'note', 'contains a NUL character'],
  ])('rejects %j: %s %s', (fields, field, message) => {
    expect(validate(fields, 9)).toEqual({ ok: false, error: { line: 9, field, message } });
  });
});

describe('copyTextField', () => {
  it('escapes what COPY text format gives a meaning to and leaves the rest', () => {
    expect(copyTextField('plain, "quoted" é')).toBe('plain, "quoted" é');
    expect(copyTextField('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyTextField('\\N')).toBe('\\\\N');
  });
});
