/**
 * Realistic Mastodon payloads (REST::StatusSerializer / NotificationSerializer shapes, about
 * 3 KB per status), each carrying a bench marker in its `uri`:
 *
 *   https://bench.invalid/sluice-bench/<run>/<kind><seq>/<publish time, µs since epoch>/
 *
 * The marker appears exactly once per payload and contains neither `"` nor `\`, so clients find
 * it with one `Buffer.indexOf` in an SSE `data:` line and in a WebSocket frame (where the
 * payload is a JSON string) alike, without parsing the JSON.
 */
import type { Author } from '../fixtures/fixtures.js';

export type MarkKind = 's' | 'w';

export function markerPrefix(run: string): string {
  return `sluice-bench/${run}/`;
}

/** Wall clock in µs with sub-ms resolution; comparable across processes on one machine. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Deterministic PRNG (mulberry32), so two runs publish the same mix. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the quick brown fox jumps over lazy dog federation instance timeline toot boost reply ' +
  'server streaming relay moderation community garden coffee morning evening photo camera ' +
  'river mountain weekend release update notes open source library rust node postgres redis ' +
  'cats sourdough bicycle train station museum concert festival rain sunshine autumn winter'
).split(' ');
const LANGS = ['en', 'en', 'en', 'de', 'fr', 'ja', 'es'];

export interface StatusInput {
  run: string;
  kind: MarkKind;
  seq: number;
  tsUs: number;
  author: Author;
  tags: readonly string[];
  media: boolean;
  /** Mentioned local account (username, account id), if any. */
  mention: { id: string; username: string } | null;
  rand: () => number;
  /** Home/list copies are personalised by Rails (StatusCacheHydrator): viewer flags and `filtered`. */
  personalised?: boolean;
  /** Build a template: `@@ID@@`, `@@MID@@`, `@@AT@@`, `@@K@@`, `@@SEQ@@`, `@@TS@@` instead of values. */
  placeholders?: boolean;
}

const HOST = 'bench.invalid';

function words(rand: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)]!);
  return out.join(' ');
}

function accountJson(a: Author, idSuffix: number) {
  const host = a.domain ?? HOST;
  const created = '2023-04-0' + ((idSuffix % 9) + 1) + 'T00:00:00.000Z';
  return {
    id: a.id,
    username: a.username,
    acct: a.acct,
    display_name: a.displayName,
    locked: false,
    bot: false,
    discoverable: true,
    indexable: true,
    group: false,
    created_at: created,
    note: `<p>Writes about ${words(() => 0.37, 3)} and more. Benchmarks, not people. Profile pictures by the bench.</p>`,
    url: `https://${host}/@${a.username}`,
    uri: `https://${host}/users/${a.username}`,
    avatar: `https://files.${host}/accounts/avatars/${a.id}/original/avatar.png`,
    avatar_static: `https://files.${host}/accounts/avatars/${a.id}/original/avatar.png`,
    header: `https://files.${host}/accounts/headers/${a.id}/original/header.jpg`,
    header_static: `https://files.${host}/accounts/headers/${a.id}/original/header.jpg`,
    followers_count: 100 + (idSuffix % 900),
    following_count: 50 + (idSuffix % 300),
    statuses_count: 1000 + idSuffix,
    last_status_at: '2026-11-24',
    hide_collections: false,
    emojis: [],
    fields: [
      {
        name: 'Website',
        value: `<a href="https://${host}" target="_blank" rel="nofollow noopener noreferrer me"><span class="invisible">https://</span><span class="">${host}</span></a>`,
        verified_at: null,
      },
    ],
  };
}

/** The `id` of a status: a Mastodon snowflake (ms << 16 | sequence). */
function snowflake(tsUs: number, seq: number): string {
  return ((BigInt(Math.floor(tsUs / 1000)) << 16n) | BigInt(seq & 0xffff)).toString();
}

export function statusObject(s: StatusInput): Record<string, unknown> {
  const { author: a, rand } = s;
  const ph = s.placeholders === true;
  const id = ph ? '@@ID@@' : snowflake(s.tsUs, s.seq);
  const host = a.domain ?? HOST;
  const created = ph ? '@@AT@@' : new Date(Math.floor(s.tsUs / 1000)).toISOString();
  const tagLinks = s.tags
    .map(
      (t) =>
        `<a href="https://${host}/tags/${encodeURIComponent(t)}" class="mention hashtag" rel="tag">#<span>${t}</span></a>`,
    )
    .join(' ');
  const mentionHtml = s.mention
    ? `<span class="h-card" translate="no"><a href="https://${HOST}/@${s.mention.username}" class="u-url mention">@<span>${s.mention.username}</span></a></span> `
    : '';
  const content =
    `<p>${mentionHtml}${words(rand, 18)}. ${words(rand, 14)}!</p>` +
    `<p>${words(rand, 22)}, ${words(rand, 9)}.</p><p>${tagLinks}</p>`;
  const status: Record<string, unknown> = {
    id,
    created_at: created,
    in_reply_to_id: null,
    in_reply_to_account_id: null,
    sensitive: false,
    spoiler_text: '',
    visibility: 'public',
    language: LANGS[s.seq % LANGS.length],
    uri: ph
      ? `https://${HOST}/${markerPrefix(s.run)}@@K@@@@SEQ@@/@@TS@@/`
      : `https://${HOST}/${markerPrefix(s.run)}${s.kind}${s.seq}/${s.tsUs}/`,
    url: `https://${host}/@${a.username}/${id}`,
    replies_count: s.seq % 4,
    reblogs_count: s.seq % 7,
    favourites_count: s.seq % 13,
    quotes_count: 0,
    edited_at: null,
    content,
    reblog: null,
    application: a.domain ? null : { name: 'Web', website: null },
    account: accountJson(a, s.seq),
    media_attachments: s.media
      ? [
          {
            id: ph ? '@@MID@@' : snowflake(s.tsUs, s.seq + 1),
            type: 'image',
            url: `https://files.${host}/media_attachments/files/${id}/original/photo.jpg`,
            preview_url: `https://files.${host}/media_attachments/files/${id}/small/photo.jpg`,
            remote_url: a.domain ? `https://files.${host}/original/photo.jpg` : null,
            preview_remote_url: null,
            text_url: null,
            meta: {
              original: { width: 1920, height: 1080, size: '1920x1080', aspect: 1.7777777777777777 },
              small: { width: 640, height: 360, size: '640x360', aspect: 1.7777777777777777 },
              focus: { x: 0.0, y: 0.0 },
            },
            description: `A photo of ${words(rand, 6)}`,
            blurhash: 'UDF5?xYk^6#M@-5c,1J5@[or[Q6.{z0hj[ay',
          },
        ]
      : [],
    mentions: s.mention
      ? [
          {
            id: s.mention.id,
            username: s.mention.username,
            url: `https://${HOST}/@${s.mention.username}`,
            acct: s.mention.username,
          },
        ]
      : [],
    tags: s.tags.map((t) => ({ name: t, url: `https://${host}/tags/${encodeURIComponent(t)}` })),
    emojis: [],
    card: null,
    poll: null,
    quote: null,
  };
  if (s.personalised) {
    status['favourited'] = false;
    status['reblogged'] = false;
    status['muted'] = false;
    status['bookmarked'] = false;
    status['pinned'] = false;
    status['filtered'] = [];
  }
  return status;
}

/** `{"event":"update","payload":{…}}` as Rails publishes it. */
export function updateMessage(s: StatusInput): string {
  return JSON.stringify({ event: 'update', payload: statusObject(s) });
}

/** A `mention` notification for `recipient`, whose embedded status carries the marker. */
export function notificationMessage(s: StatusInput): string {
  const status = statusObject({ ...s, personalised: true });
  return JSON.stringify({
    event: 'notification',
    payload: {
      id: String(s.seq),
      type: 'mention',
      created_at: status['created_at'],
      group_key: `ungrouped-${s.seq}`,
      account: accountJson(s.author, s.seq),
      status,
    },
  });
}

/**
 * Pre-rendered update messages for high publish rates (t5): each variant is stringified once
 * with placeholders, then only the id, time and marker are spliced in per message — about a
 * tenth of the cost of JSON.stringify, so the generator is not what limits the offered rate.
 */
export class UpdateTemplates {
  private readonly cache = new Map<string, string[]>();

  constructor(
    private readonly run: string,
    private readonly rand: () => number,
    private readonly variants = 16,
  ) {}

  render(
    author: Author,
    tags: readonly string[],
    media: boolean,
    kind: MarkKind,
    seq: number,
    tsUs: number,
  ): string {
    const key = `${author.id}|${tags.join(',')}|${media ? 1 : 0}|${seq % this.variants}`;
    let parts = this.cache.get(key);
    if (!parts) {
      const tpl = updateMessage({
        run: this.run,
        kind,
        seq,
        tsUs,
        author,
        tags,
        media,
        mention: { id: '109000000000000001', username: 'bench_reader' },
        rand: this.rand,
        placeholders: true,
      });
      parts = tpl.split(/@@(ID|MID|AT|K|SEQ|TS)@@/);
      this.cache.set(key, parts);
    }
    const values: Record<string, string> = {
      ID: snowflake(tsUs, seq),
      MID: snowflake(tsUs, seq + 1),
      AT: new Date(Math.floor(tsUs / 1000)).toISOString(),
      K: kind,
      SEQ: String(seq),
      TS: String(tsUs),
    };
    let out = '';
    for (let i = 0; i < parts.length; i++) out += i % 2 === 0 ? parts[i]! : values[parts[i]!]!;
    return out;
  }
}
