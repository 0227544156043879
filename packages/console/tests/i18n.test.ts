import { describe, expect, it } from '@jest/globals';
import { chooseLocale, translator } from '../src/i18n.ts';

describe('chooseLocale', () => {
  it("takes the browser's first language it speaks, by q-value", () => {
    expect(chooseLocale({ acceptLanguage: 'ja-JP,ja;q=0.9,en;q=0.8' })).toBe('ja');
    expect(chooseLocale({ acceptLanguage: 'fr-FR, en;q=0.5, ja;q=0.7' })).toBe('ja');
    expect(chooseLocale({ acceptLanguage: 'fr-FR, de;q=0.9' })).toBe('en');
    expect(chooseLocale({ acceptLanguage: 'ja;q=0, en' })).toBe('en');
    expect(chooseLocale({})).toBe('en');
  });

  it('lets the switcher (query) win over the cookie, and the cookie over the browser', () => {
    expect(chooseLocale({ query: 'en', cookie: 'ja', acceptLanguage: 'ja' })).toBe('en');
    expect(chooseLocale({ cookie: 'ja', acceptLanguage: 'en' })).toBe('ja');
    expect(chooseLocale({ query: 'xx', cookie: 'ja', acceptLanguage: 'en' })).toBe('ja');
  });
});

describe('translator', () => {
  it('fills placeholders in the chosen language', () => {
    expect(translator('en')('job.rows', { done: 3, total: 10 })).toBe('3 of 10 rows');
    expect(translator('ja')('job.rows', { done: 3, total: 10 })).toBe('10 行中 3 行');
  });
});
