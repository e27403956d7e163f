/**
 * The searchable text of a status for keyword filters (spec §8 step 8): spoiler text,
 * content, poll option titles and media descriptions, joined by blank lines; `<br>` becomes a
 * line break and `</p><p>` a blank line before the HTML is turned into text. Computed at most
 * once per event per pod.
 */
import { htmlToText } from './html-text.js';

interface StatusLike {
  spoiler_text?: unknown;
  content?: unknown;
  poll?: { options?: { title?: unknown }[] } | null;
  media_attachments?: { description?: unknown }[];
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v);

export function searchableText(status: StatusLike): string {
  const parts: string[] = [str(status.spoiler_text), str(status.content)];
  const options = status.poll?.options;
  if (Array.isArray(options)) for (const o of options) parts.push(str(o?.title));
  if (Array.isArray(status.media_attachments))
    for (const m of status.media_attachments) parts.push(str(m?.description));
  const html = parts
    .join('\n\n')
    .replace(/<br\s*\/?>/g, '\n')
    .replace(/<\/p><p>/g, '\n\n');
  return htmlToText(html);
}
