/**
 * Hashtag normalisation: turns a client's `tag` parameter into the name Rails uses in
 * `timeline:hashtag:<name>`. We follow Rails' `HashtagNormalizer` + `downcase` (what Rails
 * publishes to), not Mastodon's JavaScript copy, which drops `・` (U+30FB) and the Thai marks
 * U+0E47–U+0E4E and so never receives such hashtags (docs/compatibility.md).
 */

const FOLD_FROM =
  'ÀÁÂÃÄÅàáâãäåĀāĂăĄąÇçĆćĈĉĊċČčÐðĎďĐđÈÉÊËèéêëĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħÌÍÎÏìíîïĨĩĪīĬĭĮįİıĴĵĶķĸĹĺĻļĽľĿŀŁłÑñŃńŅņŇňŉŊŋÒÓÔÕÖØòóôõöøŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšſŢţŤťŦŧÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲųŴŵÝýÿŶŷŸŹźŻżŽž';
const FOLD_TO =
  'AAAAAAaaaaaaAaAaAaCcCcCcCcCcDdDdDdEEEEeeeeEeEeEeEeEeGgGgGgGgHhHhIIIIiiiiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnNnnNnOOOOOOooooooOoOoOoRrRrRrSsSsSsSssTtTtTtUUUUuuuuUuUuUuUuUuUuWwYyyYyYZzZzZz';

const FOLD = new Map<string, string>();
for (let i = 0; i < FOLD_FROM.length; i++) FOLD.set(FOLD_FROM[i]!, FOLD_TO[i]!);
const FOLDABLE = new RegExp(`[${FOLD_FROM}]`, 'gu');

/** Rails keeps `[[:alnum:]]` (letters, marks, decimal digits) plus these. */
const NOT_KEPT = /[^\p{L}\p{M}\p{Nd}_\u00B7\u30FB\u200C\u0E47-\u0E4E]/gu;

export function normalizeHashtag(tag: string): string {
  return tag
    .normalize('NFKC')
    .toLowerCase()
    .replace(FOLDABLE, (ch) => FOLD.get(ch) ?? ch)
    .replace(NOT_KEPT, '');
}
