import { describe, expect, it } from '@jest/globals';

// jest.matchers.js, which every package's jest loads (jest.base.js): a RegExp where a string is
// expected matches it by the expression. Without it toMatchObject took a RegExp as an object with no
// keys, so `toMatchObject({ message: /refused/ })` passed for any message at all.
describe('a RegExp expected of a string', () => {
  it('fails toMatchObject when the string does not match, at any depth and in arrays', () => {
    expect(() => expect({ message: 'accepted' }).toMatchObject({ message: /refused/ })).toThrow();
    expect(() =>
      expect([{ error: { message: 'accepted' } }]).toMatchObject([{ error: { message: /refused/ } }]),
    ).toThrow();
    expect(() => expect(new Error('accepted')).toMatchObject({ message: /refused/ })).toThrow();
  });

  it('fails toMatchObject on anything but a string, whatever the expression', () => {
    for (const value of [null, undefined, 42, new Error('refused'), ['refused'], { message: 'refused' }]) {
      expect(() => expect({ message: value }).toMatchObject({ message: /refused|.*/ })).toThrow();
    }
  });

  it('passes toMatchObject, toEqual and expect.objectContaining when it matches, a global one every time', () => {
    const pattern = /refused/g;
    expect({ message: 'mail refused', other: 1 }).toMatchObject({ message: pattern });
    expect({ message: 'mail refused' }).toMatchObject({ message: pattern });
    expect({ message: 'mail refused' }).toEqual(expect.objectContaining({ message: pattern }));
    expect(() =>
      expect({ message: 'sent' }).toEqual(expect.objectContaining({ message: pattern })),
    ).toThrow();
  });

  it('still compares a RegExp with a RegExp by source and flags', () => {
    expect(/a/g).toEqual(/a/g);
    expect(/a/).not.toEqual(/b/);
    expect(/a/).not.toEqual(/a/i);
  });
});
