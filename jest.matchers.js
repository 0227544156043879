// Loaded after the test framework in every package (jest.base.js, setupFilesAfterEnv).
import { expect } from '@jest/globals';

/**
 * A regular expression where a string is expected matches the string by the expression, and
 * nothing else. Without
 * this, `toMatchObject({ message: /refused/ })` passes for ANY message: toMatchObject compares a
 * property as a subset, and a RegExp is an object with no own keys, so every value holds all of them
 * (the same at any depth, and in arrays). `toEqual`, `toStrictEqual` and `expect.objectContaining`
 * failed on a string against a RegExp instead; with this they match it by the expression too.
 * Everywhere else a RegExp is compared as before (to another RegExp by source and flags).
 */
function regExpMatchesString(a, b) {
  // Either side: asymmetric matchers (expect.objectContaining) compare expected to received, so a
  // received RegExp equals an expected string it matches too (nothing here receives one).
  if (a instanceof RegExp === b instanceof RegExp) return undefined;
  const [pattern, value] = a instanceof RegExp ? [a, b] : [b, a];
  // Anything but a string (null, a number, an Error, an array) is not what the expression describes.
  if (typeof value !== 'string') return false;
  pattern.lastIndex = 0;
  return pattern.test(value);
}

expect.addEqualityTesters([regExpMatchesString]);
