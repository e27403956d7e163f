import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeHashtag } from './hashtag.js';

/** Rails `app/lib/ascii_folding.rb` (spec §6), index by index. */
const FOLD_FROM =
  'ÀÁÂÃÄÅàáâãäåĀāĂăĄąÇçĆćĈĉĊċČčÐðĎďĐđÈÉÊËèéêëĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħÌÍÎÏìíîïĨĩĪīĬĭĮįİıĴĵĶķĸĹĺĻļĽľĿŀŁłÑñŃńŅņŇňŉŊŋÒÓÔÕÖØòóôõöøŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšſŢţŤťŦŧÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲųŴŵÝýÿŶŷŸŹźŻżŽž';
const FOLD_TO =
  'AAAAAAaaaaaaAaAaAaCcCcCcCcCcDdDdDdEEEEeeeeEeEeEeEeEeGgGgGgGgHhHhIIIIiiiiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnNnnNnOOOOOOooooooOoOoOoRrRrRrSsSsSsSssTtTtTtUUUUuuuuUuUuUuUuUuUuWwYyyYyYZzZzZz';

describe('hashtag - normalizeHashtag', () => {
  it.each([
    ['Café', 'cafe'],
    ['#Foo', 'foo'],
    ['FOO', 'foo'],
    ['foo', 'foo'],
    ['ＦＯＯ１２３', 'foo123'], // NFKC: full-width Latin and digits
    ['ｶﾀｶﾅ', 'カタカナ'], // NFKC: half-width katakana
    ['ﬁsh', 'fish'], // NFKC ligature
    ['Ⅻ', 'xii'], // NFKC roman numeral
    ['²', '2'], // NFKC superscript
    ['e\u0301', 'e'], // decomposed é composes (NFKC), then folds
    ['Straße', 'straße'], // ß is a letter and not on the folding list
    ['ŁÓDŹ', 'lodz'],
    ['Ærø', 'æro'], // Æ/æ is not on the folding list, ø is
    ['123', '123'],
    ['2024', '2024'],
    ['١٢٣', '١٢٣'], // Arabic-Indic decimal digits
    ['foo_bar', 'foo_bar'],
    ['foo-bar', 'foobar'],
    ['foo.bar', 'foobar'],
    ['foo bar', 'foobar'],
    ['a!b?c,d;e:f\'g"h(i)j[k]l{m}n/o\\p@q$r%s^t&u*v+w=x<y>z~|`', 'abcdefghijklmnopqrstuvwxyz'],
    ['¡¿«»“”…—–', ''],
    ['🎉party', 'party'], // emoji are symbols
    ['', ''],
    ['#', ''],
    ['日本語', '日本語'],
    ['Ελληνικά', 'ελληνικά'],
    ['Русский', 'русский'],
    ['한국어', '한국어'],
    ['עברית', 'עברית'],
    ['हिन्दी', 'हिन्दी'], // virama and vowel signs are marks: kept
    ['नमस्ते', 'नमस्ते'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeHashtag(input)).toBe(expected);
  });

  it('keeps the Rails separators · (U+00B7), ・ (U+30FB) and ZWNJ (U+200C)', () => {
    expect(normalizeHashtag('a·b')).toBe('a·b');
    expect(normalizeHashtag('日本・語')).toBe('日本・語');
    expect(normalizeHashtag('می\u200Cخواهم')).toBe('می\u200Cخواهم');
  });

  it('keeps the Thai marks U+0E47–U+0E4E (Rails, unlike Mastodon JS) but drops U+0E4F', () => {
    for (let cp = 0x0e47; cp <= 0x0e4e; cp++) {
      const mark = String.fromCodePoint(cp);
      expect(normalizeHashtag(`ก${mark}`)).toBe(`ก${mark}`);
    }
    expect(normalizeHashtag('ภาษาไทย๎')).toBe('ภาษาไทย๎');
    expect(normalizeHashtag('ก\u0E4F')).toBe('ก'); // FONGMAN is punctuation
  });

  it('keeps combining marks', () => {
    expect(normalizeHashtag('a\u0308\u0301')).toBe('a\u0301'); // ä composes and folds, the acute stays
    expect(normalizeHashtag('q\u0307')).toBe('q\u0307'); // no precomposed form: mark stays
    expect(normalizeHashtag('İstanbul')).toBe('i\u0307stanbul'); // lower-casing İ leaves a combining dot
  });

  it('folds every character of the Rails list to its ASCII equivalent (after lower-casing)', () => {
    expect([...FOLD_FROM]).toHaveLength([...FOLD_TO].length);
    const from = [...FOLD_FROM];
    const to = [...FOLD_TO];
    for (let i = 0; i < from.length; i++) {
      const ch = from[i]!;
      const prepared = ch.normalize('NFKC').toLowerCase();
      if (prepared.length !== 1) continue; // ŉ → ʼn, İ → i̇: changed before folding
      const folded = to[from.indexOf(prepared)] ?? prepared;
      expect(normalizeHashtag(ch), `${ch} (index ${i})`).toBe(folded.toLowerCase());
      expect(normalizeHashtag(ch)).toMatch(/^[a-z]$/);
    }
  });

  it('output holds only kept characters, lower-cased', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (tag) => {
        const n = normalizeHashtag(tag);
        expect(n.toLowerCase()).toBe(n);
        expect(n).toMatch(/^[\p{L}\p{M}\p{Nd}_\u00B7\u30FB\u200C]*$/u);
      }),
      { numRuns: 2000 },
    );
  });

  it('drops lone surrogates, so a channel never holds one', () => {
    expect(normalizeHashtag('a\uD800b\uDC00')).toBe('ab');
  });
});
