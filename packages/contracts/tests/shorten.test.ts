import { describe, expect, it } from '@jest/globals';
import { shorten } from '../src/index.ts';

describe('shorten', () => {
  it('keeps a text of at most max units, and cuts a longer one to max units ending in …', () => {
    expect(shorten('abcdef', 6)).toBe('abcdef');
    expect(shorten('abcdefg', 6)).toBe('abcde…');
    expect(shorten('abcdefg', 6)).toHaveLength(6);
  });

  it('never cuts between the two halves of a character above U+FFFF', () => {
    // 'abcd' + 𠮷 (two UTF-16 units): a cut after 5 units would keep its first half alone.
    const cut = shorten('abcd𠮷xyz', 6);
    expect(cut).toBe('abcd…');
    expect(cut.isWellFormed()).toBe(true);
    expect(shorten('abc𠮷xyz', 6)).toBe('abc𠮷…');
  });
});
