import { describe, expect, it } from '@jest/globals';
import {
  exportCopySql,
  exportWhereClause,
  likeLiteralPattern,
  sqlLiteral,
} from '../src/domain/export-query.ts';

describe('sqlLiteral', () => {
  it.each([
    ['plain', "'plain'"],
    ["o'neil", "'o''neil'"],
    ["'; DROP TABLE users; --", "'''; DROP TABLE users; --'"],
    ['back\\slash', " E'back\\\\slash'"],
    ["\\'", " E'\\\\'''"],
    ['', "''"],
    ['日本', "'日本'"],
  ])('quotes %j as %s', (value, literal) => {
    expect(sqlLiteral(value)).toBe(literal);
  });

  it('refuses a NUL character, which no literal can hold', () => {
    expect(() => sqlLiteral('a\0b')).toThrow(RangeError);
  });
});

describe('likeLiteralPattern', () => {
  it('escapes LIKE wildcards and the escape character', () => {
    expect(likeLiteralPattern('a%b_c\\d.e')).toBe('a\\%b\\_c\\\\d.e');
  });
});

describe('exportWhereClause', () => {
  it('selects everyone without a filter or with an empty one', () => {
    expect(exportWhereClause(undefined)).toBe('');
    expect(exportWhereClause({})).toBe('');
  });

  it('ANDs the conditions given, values as quoted literals', () => {
    expect(exportWhereClause({ updatedSince: '2026-11-01T00:00:00Z', emailDomain: 'Example.com' })).toBe(
      "WHERE updated_at >= '2026-11-01T00:00:00Z'::timestamptz AND lower(email) LIKE lower('%@Example.com')",
    );
  });

  it('matches a domain literally: wildcards and quotes in it are data', () => {
    expect(exportWhereClause({ emailDomain: "x%_'y" })).toBe(
      "WHERE lower(email) LIKE lower( E'%@x\\\\%\\\\_''y')",
    );
  });
});

describe('exportCopySql', () => {
  it('copies every column, ordered by id, with a header and every cell quoted', () => {
    const sql = exportCopySql({ emailDomain: 'example.com' });
    expect(sql).toBe(
      "COPY (SELECT external_id, email, name, attributes, created_at, updated_at FROM users WHERE lower(email) LIKE lower('%@example.com') ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE *)",
    );
    expect(sql).toMatch(
      /^COPY \(SELECT .* FROM users WHERE lower\(email\) LIKE lower\('%@example\.com'\) ORDER BY external_id\) TO STDOUT \(FORMAT csv, HEADER, FORCE_QUOTE \*\)$/,
    );
  });

  it('reads through a key with the header (a resumed export check), or after one without it', () => {
    expect(exportCopySql({ emailDomain: 'example.com' }, { through: "o'k" })).toBe(
      "COPY (SELECT external_id, email, name, attributes, created_at, updated_at FROM users WHERE lower(email) LIKE lower('%@example.com') AND external_id <= 'o''k' ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE *)",
    );
    expect(exportCopySql(undefined, { after: "o'k" })).toBe(
      "COPY (SELECT external_id, email, name, attributes, created_at, updated_at FROM users WHERE external_id > 'o''k' ORDER BY external_id) TO STDOUT (FORMAT csv, FORCE_QUOTE *)",
    );
  });
});
