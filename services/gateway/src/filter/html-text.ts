/**
 * HTML → text as the DOM's `textContent` gives it for a parsed fragment (what Mastodon's
 * server gets from `JSDOM.fragment(html).textContent`): the text of every text node in document
 * order, entities decoded, tags and comments dropped. htmlparser2 is a streaming tokenizer, so
 * this costs one linear pass and no DOM — and it runs once per status per pod, not per user.
 */
import { Parser } from 'htmlparser2';

export function htmlToText(html: string): string {
  if (!html.includes('<') && !html.includes('&')) return html;
  let out = '';
  const parser = new Parser(
    {
      ontext(text) {
        out += text;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, recognizeCDATA: false },
  );
  parser.write(html);
  parser.end();
  return out;
}
