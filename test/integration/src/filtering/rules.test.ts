/**
 * Per-event filtering end to end (spec §5.6, §8, §15; issue 4): real Postgres with Mastodon's
 * schema (a database of this file's own, so the global `settings` rows are ours), real ingest and
 * gateway processes, real WebSocket and SSE clients, events published exactly as Rails does.
 *
 * Each table row is one user with one WebSocket and one SSE connection on one stream, and one
 * event; the row says what both clients must receive for that event: nothing, the payload
 * unchanged, or the payload with `filtered` appended (byte-exact). Non-delivery is proven by a
 * later marker on the same channel (per-channel order).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, suffix, waitForMetric } from '../gateway/support.js';
import {
  type Fixtures,
  IsolatedDatabase,
  SETTING_AUTHENTICATED,
  SETTING_DISABLED,
  SETTING_PUBLIC,
  type TestAccount,
  type TestUser,
  VIEW_FEEDS,
} from '../harness/fixtures.js';
import { railsMessage } from '../harness/redis.js';
import { delay } from '../harness/wait.js';
import {
  addFilter,
  type FilterJson,
  filterResult,
  openPair,
  type Pair,
  PgProxy,
  publishMarker,
  readyPair,
  type StatusExtras,
  type StreamKind,
  ssePayloads,
  status,
  streamSpec,
  waitForMarker,
  withFiltered,
  wsPayloads,
} from './support.js';

const EVIL = 'evil.example';
const FOREVER = '2099-01-01T00:00:00.000Z';
const LONG_AGO = '2001-01-01T00:00:00.000Z';

interface Ctx {
  fx: Fixtures;
  user: TestUser;
  author: TestAccount;
  /** A local account to mention. */
  other: TestAccount;
  /** A remote account (on its own domain) to mention. */
  otherRemote: TestAccount;
  /** Filters created by the row's setup, by name. */
  f: Record<string, FilterJson>;
}

type Expect =
  | 'dropped'
  /** Delivered with `"filtered":[]` appended. */
  | 'plain'
  /** Delivered byte for byte as Rails published it. */
  | 'unchanged'
  /** Delivered with these FilterResults appended. */
  | ((c: Ctx) => unknown[]);

interface Row {
  name: string;
  stream: StreamKind;
  remoteAuthor?: boolean;
  languages?: string[];
  event?: 'update' | 'status.update' | 'delete';
  setup?: (c: Ctx) => Promise<unknown>;
  status?: (c: Ctx) => StatusExtras;
  expect: Expect;
}

/** The user blocks, mutes and filters everything about the row's status. */
async function hostileUser(c: Ctx): Promise<void> {
  await c.fx.block(c.user.accountId, c.author.accountId);
  await c.fx.mute(c.user.accountId, c.other.accountId);
  await c.fx.block(c.author.accountId, c.user.accountId);
  await c.fx.domainBlock(c.user.accountId, EVIL);
  c.f['cat'] = await addFilter(c.fx, c.user.accountId, { phrase: 'cats', keywords: [{ keyword: 'cat' }] });
}
const hostileStatus = (c: Ctx): StatusExtras => ({
  content: '<p>my cat</p>',
  language: 'en',
  mentions: [c.other],
});

const ROWS: Row[] = [
  // ---- relationships (blocks either way, mutes, mentions, domain blocks)
  {
    name: 'user blocks the author',
    stream: 'public',
    setup: (c) => c.fx.block(c.user.accountId, c.author.accountId),
    expect: 'dropped',
  },
  {
    name: 'the author blocks the user',
    stream: 'public',
    setup: (c) => c.fx.block(c.author.accountId, c.user.accountId),
    expect: 'dropped',
  },
  {
    name: 'user mutes the author',
    stream: 'public:local',
    setup: (c) => c.fx.mute(c.user.accountId, c.author.accountId),
    expect: 'dropped',
  },
  {
    name: 'an expired mute still filters (Mastodon ignores mutes.expires_at)',
    stream: 'public',
    setup: (c) => c.fx.mute(c.user.accountId, c.author.accountId, { expiresAt: new Date(LONG_AGO) }),
    expect: 'dropped',
  },
  {
    name: 'status mentions an account the user blocks',
    stream: 'public',
    setup: (c) => c.fx.block(c.user.accountId, c.other.accountId),
    status: (c) => ({ mentions: [c.otherRemote, c.other] }),
    expect: 'dropped',
  },
  {
    name: 'status mentions an account the user mutes',
    stream: 'hashtag',
    setup: (c) => c.fx.mute(c.user.accountId, c.other.accountId),
    status: (c) => ({ mentions: [c.other] }),
    expect: 'dropped',
  },
  {
    name: 'a mentioned account blocking the user does not matter',
    stream: 'public',
    setup: (c) => c.fx.block(c.other.accountId, c.user.accountId),
    status: (c) => ({ mentions: [c.other] }),
    expect: 'plain',
  },
  {
    name: 'blocks and mutes of accounts the status does not involve do not matter',
    stream: 'public',
    setup: async (c) => {
      await c.fx.block(c.user.accountId, c.other.accountId);
      await c.fx.mute(c.user.accountId, c.otherRemote.accountId);
      await c.fx.block(c.author.accountId, c.other.accountId);
    },
    expect: 'plain',
  },
  {
    name: "domain block of the remote author's domain",
    stream: 'public:remote',
    remoteAuthor: true,
    setup: (c) => c.fx.domainBlock(c.user.accountId, EVIL),
    expect: 'dropped',
  },
  {
    name: 'domain block of the remote author\'s domain, on "public"',
    stream: 'public',
    remoteAuthor: true,
    setup: (c) => c.fx.domainBlock(c.user.accountId, EVIL),
    expect: 'dropped',
  },
  {
    name: 'domain block of another domain',
    stream: 'public:remote',
    remoteAuthor: true,
    setup: (c) => c.fx.domainBlock(c.user.accountId, 'good.example'),
    expect: 'plain',
  },
  {
    name: 'domain block of an internationalised domain (non-ASCII acct survives the trip through ingest)',
    stream: 'public:remote',
    setup: async (c) => {
      c.author = await c.fx.createAccount({ username: `x${suffix()}`, domain: 'bücher.example' });
      await c.fx.domainBlock(c.user.accountId, 'bücher.example');
    },
    expect: 'dropped',
  },
  {
    name: "a mentioned account's domain is not checked",
    stream: 'public',
    setup: (c) => c.fx.domainBlock(c.user.accountId, c.otherRemote.domain!),
    status: (c) => ({ mentions: [c.otherRemote] }),
    expect: 'plain',
  },
  {
    name: 'status.update by a blocked author',
    stream: 'public',
    event: 'status.update',
    setup: (c) => c.fx.block(c.user.accountId, c.author.accountId),
    expect: 'dropped',
  },
  {
    name: 'status.update by anyone else gets "filtered":[]',
    stream: 'public',
    event: 'status.update',
    expect: 'plain',
  },
  {
    name: "delete of a blocked author's status still arrives (deletes are never filtered)",
    stream: 'public',
    event: 'delete',
    setup: hostileUser,
    expect: 'unchanged',
  },
  {
    name: 'hashtag:local with a block',
    stream: 'hashtag:local',
    setup: (c) => c.fx.block(c.user.accountId, c.author.accountId),
    expect: 'dropped',
  },
  {
    name: 'hashtag:local without relationships',
    stream: 'hashtag:local',
    expect: 'plain',
  },
  // ---- languages
  {
    name: 'chosen languages include the status language',
    stream: 'public',
    languages: ['en', 'de'],
    status: () => ({ language: 'de' }),
    expect: 'plain',
  },
  {
    name: 'chosen languages exclude the status language',
    stream: 'public',
    languages: ['en'],
    status: () => ({ language: 'fr' }),
    expect: 'dropped',
  },
  {
    name: 'null language with chosen languages set',
    stream: 'public',
    languages: ['en'],
    status: () => ({ language: null }),
    expect: 'dropped',
  },
  {
    name: 'null language without chosen languages',
    stream: 'public:local',
    status: () => ({ language: null }),
    expect: 'plain',
  },
  {
    name: 'language allowed but the author is muted',
    stream: 'public',
    languages: ['en'],
    setup: (c) => c.fx.mute(c.user.accountId, c.author.accountId),
    status: () => ({ language: 'en' }),
    expect: 'dropped',
  },
  {
    name: 'language allowed and a keyword filter matches',
    stream: 'hashtag',
    languages: ['de'],
    setup: async (c) => {
      c.f['k'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'Katze',
        keywords: [{ keyword: 'katze' }],
      });
    },
    status: () => ({ language: 'de', content: '<p>Meine Katze schläft</p>' }),
    expect: (c) => [filterResult(c.f['k']!, 'Katze')],
  },
  {
    name: 'a muted author with a matching keyword filter is dropped, not filtered',
    stream: 'public',
    setup: async (c) => {
      await c.fx.mute(c.user.accountId, c.author.accountId);
      await addFilter(c.fx, c.user.accountId, { phrase: 'x', keywords: [{ keyword: 'welcome' }] });
    },
    expect: 'dropped',
  },
  // ---- keyword filters
  {
    name: 'whole-word keyword inside a longer word does not match',
    stream: 'public',
    setup: (c) => addFilter(c.fx, c.user.accountId, { phrase: 'cats', keywords: [{ keyword: 'cat' }] }),
    status: () => ({ content: '<p>Let us concatenate strings</p>' }),
    expect: 'plain',
  },
  {
    name: 'whole-word keyword as a word matches (case-insensitive, through tags and entities)',
    stream: 'public',
    setup: async (c) => {
      c.f['cat'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'cats',
        keywords: [{ keyword: 'cat' }],
      });
    },
    status: () => ({ content: '<p>My <strong>Cat</strong>&#39;s toy</p>' }),
    expect: (c) => [filterResult(c.f['cat']!, 'Cat')],
  },
  {
    name: 'keyword that is not whole-word matches inside a word',
    stream: 'public',
    setup: async (c) => {
      c.f['cat'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'cat anywhere',
        action: 1,
        keywords: [{ keyword: 'cat', wholeWord: false }],
      });
    },
    status: () => ({ content: '<p>Let us concatenate strings</p>' }),
    expect: (c) => [filterResult(c.f['cat']!, 'cat')],
  },
  {
    name: 'an expired filter is ignored',
    stream: 'public',
    setup: (c) =>
      addFilter(c.fx, c.user.accountId, {
        phrase: 'old',
        expiresAt: LONG_AGO,
        keywords: [{ keyword: 'cat', wholeWord: false }],
      }),
    status: () => ({ content: '<p>my cat</p>' }),
    expect: 'plain',
  },
  {
    name: 'several filters: spoiler, poll option and media description; warn, hide, blur; any context; one misses',
    stream: 'public:media',
    setup: async (c) => {
      c.f['apple'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'Apples',
        action: 0,
        // Context is not considered by the server (clients check it): a thread-only filter still reports.
        context: ['thread'],
        keywords: [{ keyword: 'apple' }],
      });
      c.f['banana'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'Bananas',
        action: 1,
        context: ['home', 'public', 'thread'],
        keywords: [{ keyword: 'plantain' }, { keyword: 'banana' }],
      });
      c.f['cherry'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'Cherries',
        action: 2,
        expiresAt: FOREVER,
        keywords: [{ keyword: 'cherry', wholeWord: false }],
      });
      c.f['durian'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'Durian',
        keywords: [{ keyword: 'durian' }],
      });
    },
    status: () => ({
      spoiler: 'Apple pie recipe',
      content: '<p>What should I bake next?</p>',
      poll: ['Banana bread', 'Scones'],
      media: [null, 'A cherrytree in bloom'],
    }),
    expect: (c) => [
      filterResult(c.f['apple']!, 'Apple'),
      filterResult(c.f['banana']!, 'Banana'),
      filterResult(c.f['cherry']!, 'cherry'),
    ],
  },
  {
    name: 'expires_at with microseconds (as Rails stores it) is rendered truncated to milliseconds, like Rails',
    stream: 'public',
    setup: async (c) => {
      c.f['fig'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'Figs',
        expiresAt: '2099-03-04T05:06:07.123567Z',
        keywords: [{ keyword: 'fig' }],
      });
    },
    status: () => ({ content: '<p>fig jam</p>' }),
    expect: (c) => [filterResult(c.f['fig']!, 'fig')],
  },
  {
    name: 'real Mastodon markup: mention h-card, hashtag link, custom emoji shortcode, invisible URL parts',
    stream: 'public',
    setup: async (c) => {
      c.f['bob'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'bob',
        keywords: [{ keyword: '@bob hello', wholeWord: false }],
      });
      c.f['tag'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'tag',
        keywords: [{ keyword: '#caturday' }],
      });
      c.f['emoji'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'emoji',
        keywords: [{ keyword: ':blobcat:' }],
      });
      c.f['url'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'url',
        keywords: [{ keyword: 'example.org/a-long-path', wholeWord: false }],
      });
      await addFilter(c.fx, c.user.accountId, {
        phrase: 'href',
        keywords: [{ keyword: 'u-url', wholeWord: false }],
      });
    },
    status: () => ({
      content:
        '<p><span class="h-card" translate="no"><a href="https://remote.example/@bob" class="u-url mention">@<span>bob</span></a></span> hello! ' +
        '<a href="https://local.test/tags/caturday" class="mention hashtag" rel="tag">#<span>Caturday</span></a> :blobcat: 🐈‍⬛</p>' +
        '<p><a href="https://example.org/a-long-path/index.html" target="_blank" rel="nofollow noopener" translate="no">' +
        '<span class="invisible">https://</span><span class="ellipsis">example.org/a-long-path</span>' +
        '<span class="invisible">/index.html</span></a></p>',
    }),
    expect: (c) => [
      filterResult(c.f['bob']!, '@bob hello'),
      filterResult(c.f['tag']!, '#Caturday'),
      filterResult(c.f['emoji']!, ':blobcat:'),
      filterResult(c.f['url']!, 'example.org/a-long-path'),
    ],
  },
  {
    name: 'keywords with regex metacharacters match literally',
    stream: 'public',
    setup: async (c) => {
      c.f['cpp'] = await addFilter(c.fx, c.user.accountId, { phrase: 'C++', keywords: [{ keyword: 'c++' }] });
      await addFilter(c.fx, c.user.accountId, { phrase: 'dot', keywords: [{ keyword: 'a.c' }] });
      c.f['paren'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'paren',
        keywords: [{ keyword: '(sic)', wholeWord: false }],
      });
    },
    status: () => ({ content: '<p>I write C++ and abc (sic)</p>' }),
    expect: (c) => [filterResult(c.f['cpp']!, 'C++'), filterResult(c.f['paren']!, '(sic)')],
  },
  {
    name: 'text, not markup: attributes never match, entities are decoded',
    stream: 'public',
    setup: async (c) => {
      await addFilter(c.fx, c.user.accountId, { phrase: 'zebra', keywords: [{ keyword: 'zebra' }] });
      c.f['rd'] = await addFilter(c.fx, c.user.accountId, { phrase: 'R&D', keywords: [{ keyword: 'r&d' }] });
    },
    status: () => ({
      content:
        '<p>Our R&amp;D team <a href="https://local.test/tags/zebra" class="mention hashtag" rel="tag">#<span>stripes</span></a></p>',
    }),
    expect: (c) => [filterResult(c.f['rd']!, 'R&D')],
  },
  {
    name: 'line breaks: <br> and </p><p> separate words, parts are joined by blank lines',
    stream: 'public',
    setup: async (c) => {
      for (const keyword of ['good night', 'goodnight', 'nightmoon', 'sunflower'])
        await addFilter(c.fx, c.user.accountId, {
          phrase: keyword,
          keywords: [{ keyword, wholeWord: false }],
        });
      c.f['well'] = await addFilter(c.fx, c.user.accountId, {
        phrase: 'well',
        keywords: [{ keyword: 'well, good' }],
      });
    },
    status: () => ({ spoiler: 'sun', content: '<p>flower: sleep well, good<br />night</p><p>moon</p>' }),
    expect: (c) => [filterResult(c.f['well']!, 'well, good')],
  },
  {
    name: 'no filters: "filtered":[] appended as the last key, bytes otherwise untouched',
    stream: 'public:media',
    status: () => ({
      content: '<p>Caf&eacute; &lt;b&gt; “quotes” ü 🎉 <a href="https://x.example/?a=1&amp;b=2">link</a></p>',
      media: ['ünïcødé \u2028 description'],
    }),
    expect: 'plain',
  },
  {
    name: 'Rails already set "filtered": [] — passes unchanged although a filter matches',
    stream: 'public',
    setup: (c) => addFilter(c.fx, c.user.accountId, { phrase: 'cats', keywords: [{ keyword: 'cat' }] }),
    status: () => ({ content: '<p>my cat</p>', filtered: [] }),
    expect: 'unchanged',
  },
  {
    name: 'Rails already set "filtered" with a result — passes unchanged',
    stream: 'public',
    status: () => ({
      filtered: [
        {
          filter: { id: '1', title: 'rails', context: ['home'], expires_at: null, filter_action: 'warn' },
          keyword_matches: ['welcome'],
          status_matches: null,
        },
      ],
    }),
    expect: 'unchanged',
  },
  {
    name: 'Rails set "filtered": null (own property) — passes unchanged',
    stream: 'public',
    setup: (c) => addFilter(c.fx, c.user.accountId, { phrase: 'w', keywords: [{ keyword: 'welcome' }] }),
    status: () => ({ filtered: null as unknown as unknown[] }),
    expect: 'unchanged',
  },
  // ---- home, list and direct are never filtered (Rails did it)
  {
    name: 'home (user stream) is never filtered',
    stream: 'user',
    remoteAuthor: true,
    languages: ['de'],
    setup: hostileUser,
    status: hostileStatus,
    expect: 'unchanged',
  },
  {
    name: 'list stream is never filtered',
    stream: 'list',
    remoteAuthor: true,
    languages: ['de'],
    setup: hostileUser,
    status: hostileStatus,
    expect: 'unchanged',
  },
  {
    name: 'direct stream is never filtered',
    stream: 'direct',
    remoteAuthor: true,
    languages: ['de'],
    setup: hostileUser,
    status: hostileStatus,
    expect: 'unchanged',
  },
  // ---- glitch-soc local_only (SLUICE_GLITCH=true)
  {
    name: 'local_only status on public is dropped',
    stream: 'public',
    status: () => ({ localOnly: true }),
    expect: 'dropped',
  },
  {
    name: 'local_only status on public:local is delivered',
    stream: 'public:local',
    status: () => ({ localOnly: true }),
    expect: 'plain',
  },
  {
    name: 'local_only status on public with allow_local_only=true is delivered',
    stream: 'public+allow_local_only',
    status: () => ({ localOnly: true }),
    expect: 'plain',
  },
  {
    name: 'local_only status on public:allow_local_only is delivered',
    stream: 'public:allow_local_only',
    status: () => ({ localOnly: true }),
    expect: 'plain',
  },
  {
    name: 'local_only status on hashtag is delivered, other rules still apply',
    stream: 'hashtag',
    status: () => ({ localOnly: true }),
    expect: 'plain',
  },
  {
    name: 'local_only status on public:local from a blocked author is dropped',
    stream: 'public:local',
    setup: (c) => c.fx.block(c.user.accountId, c.author.accountId),
    status: () => ({ localOnly: true }),
    expect: 'dropped',
  },
  {
    name: 'local_only status on home is delivered unchanged',
    stream: 'user',
    status: () => ({ localOnly: true }),
    expect: 'unchanged',
  },
  {
    name: 'local_only: false on public is delivered',
    stream: 'public',
    status: () => ({ localOnly: false }),
    expect: 'plain',
  },
];

/**
 * `{"event":"filters_changed"}` as Rails publishes it on the account's system channel, and a wait
 * until the gateway has taken it: every bus message a gateway receives counts in
 * `redis_messages_received_total`, and the system handler runs synchronously on receipt.
 */
async function filtersChanged(s: Stack, accountId: string): Promise<void> {
  const before = await s.gateway.metric('redis_messages_received_total');
  await s.publishRaw(`timeline:system:${accountId}`, railsMessage('filters_changed'));
  await waitForMetric(s.gateway, 'redis_messages_received_total', {}, (v) => v >= before + 1);
}

interface Prepared {
  row: Row;
  ctx: Ctx;
  pair: Pair;
  event: string;
  payload: unknown;
  /** What each client must have received for this row's event. */
  expected: string[];
  id: string;
}

async function prepare(s: Stack, row: Row, tag: string): Promise<Prepared> {
  const fx = s.fx;
  const user = await fx.createUser({ chosenLanguages: row.languages ?? null });
  const author = row.remoteAuthor
    ? await fx.createAccount({ username: `x${suffix()}`, domain: EVIL })
    : await fx.createAccount();
  const other = await fx.createAccount();
  const otherRemote = await fx.createAccount({ domain: `m${suffix()}.example` });
  const ctx: Ctx = { fx, user, author, other, otherRemote, f: {} };
  await row.setup?.(ctx);
  const listId = row.stream === 'list' ? await fx.createList(user.accountId) : undefined;
  const spec = streamSpec(row.stream, { accountId: user.accountId, tag, ...(listId ? { listId } : {}) });
  const st = status(ctx.author, { tags: [tag], ...(row.status?.(ctx) ?? {}) });
  const event = row.event ?? 'update';
  const payload = event === 'delete' ? st.id : st;
  const e = row.expect;
  const expected =
    e === 'dropped'
      ? []
      : e === 'unchanged'
        ? [typeof payload === 'string' ? payload : JSON.stringify(payload)]
        : [withFiltered(payload, e === 'plain' ? [] : e(ctx))];
  const pair = await openPair(s, user.token, spec);
  return { row, ctx, pair, event, payload, expected, id: st.id };
}

/** Publishes every row's event, then one marker per channel, and waits for the markers everywhere. */
async function publishAll(s: Stack, rows: Prepared[]): Promise<void> {
  for (const p of rows) {
    const published = await s.publish(p.pair.spec.channel, p.event, p.payload);
    expect(published, `${p.row.name}: Rails published on ${p.pair.spec.channel}`).toBe(true);
  }
  const markers = new Map<string, string>();
  for (const p of rows) {
    const ch = p.pair.spec.channel;
    if (!markers.has(ch)) markers.set(ch, await publishMarker(s, ch));
  }
  await Promise.all(rows.map((p) => waitForMarker(p.pair, markers.get(p.pair.spec.channel)!)));
}

function received(rows: Prepared[]) {
  return rows.map((p) => ({
    row: p.row.name,
    ws: wsPayloads(p.pair.ws, p.event, p.id),
    sse: ssePayloads(p.pair.sse, p.event, p.id),
  }));
}

function wanted(rows: Prepared[]) {
  return rows.map((p) => ({ row: p.row.name, ws: p.expected, sse: p.expected }));
}

describe('filtering - rules end to end', () => {
  let db: IsolatedDatabase;
  beforeAll(async () => {
    db = await IsolatedDatabase.create();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('table: relationships, languages, keyword filters, Rails-filtered payloads, unfiltered streams, local_only', async () => {
    // A gateway in a non-UTC zone: filter expiry must still be read as UTC (docs/compatibility.md).
    const s = await startStack({
      databaseUrl: db.url,
      gatewayEnv: { SLUICE_GLITCH: 'true', TZ: 'Asia/Tokyo' },
    });
    const tag = `filt${suffix()}`;
    const rows: Prepared[] = [];
    for (const row of ROWS) rows.push(await prepare(s, row, tag));
    for (const p of rows) await readyPair(s, p.pair);

    await publishAll(s, rows);

    expect(received(rows)).toEqual(wanted(rows));
    // Drops by relationship were counted (one per client of each relationship-dropped row).
    const relationshipDrops = await s.gateway.metric('sluice_gateway_filter_dropped_total', {
      reason: 'relationship',
    });
    expect(relationshipDrops).toBeGreaterThanOrEqual(2 * 10);
  });

  it('feed access: local/remote live and topic feeds disabled, with and without view_feeds', async () => {
    const s = await startStack({ databaseUrl: db.url });
    await s.fx.setSetting('local_live_feed_access', SETTING_DISABLED);
    await s.fx.setSetting('remote_live_feed_access', SETTING_PUBLIC);
    await s.fx.setSetting('local_topic_feed_access', SETTING_AUTHENTICATED);
    await s.fx.setSetting('remote_topic_feed_access', SETTING_DISABLED);
    const viewFeeds = await s.fx.createRole(VIEW_FEEDS, 'viewer');
    const otherBits = await s.fx.createRole(0x10000 | 0x2, 'moderator-ish');
    const users = {
      none: await s.fx.createUser(),
      role: await s.fx.createUser({ roleId: otherBits }),
      viewer: await s.fx.createUser({ roleId: viewFeeds }),
    };
    const tag = `feed${suffix()}`;
    const local = await s.fx.createAccount();
    const remote = await s.fx.createAccount({ username: `x${suffix()}`, domain: EVIL });
    const L = status(local, { tags: [tag] });
    const R = status(remote, { tags: [tag] });
    // Where Rails publishes each: L to public, public:local, hashtag, hashtag:local; R to public, public:remote, hashtag.
    const streams: { kind: StreamKind; statuses: (typeof L)[] }[] = [
      { kind: 'public', statuses: [L, R] },
      { kind: 'public:local', statuses: [L] },
      { kind: 'public:remote', statuses: [R] },
      { kind: 'hashtag', statuses: [L, R] },
      { kind: 'hashtag:local', statuses: [L] },
    ];
    // [user, stream] → which statuses arrive. Live feeds: local disabled; topic feeds: remote disabled.
    const allowed = (who: keyof typeof users, kind: StreamKind, st: typeof L): boolean => {
      if (who === 'viewer') return true;
      const isLocal = st === L;
      return kind.startsWith('hashtag') ? isLocal : !isLocal;
    };
    const pairs: { who: keyof typeof users; kind: StreamKind; pair: Pair; statuses: (typeof L)[] }[] = [];
    for (const who of Object.keys(users) as (keyof typeof users)[]) {
      for (const { kind, statuses } of streams) {
        const spec = streamSpec(kind, { accountId: users[who].accountId, tag });
        pairs.push({ who, kind, pair: await openPair(s, users[who].token, spec), statuses });
      }
    }
    for (const p of pairs) await readyPair(s, p.pair);
    for (const { kind, statuses } of streams) {
      const channel = streamSpec(kind, { accountId: '0', tag }).channel;
      for (const st of statuses) expect(await s.publish(channel, 'update', st)).toBe(true);
      const marker = await publishMarker(s, channel);
      await Promise.all(pairs.filter((p) => p.kind === kind).map((p) => waitForMarker(p.pair, marker)));
    }
    const got = pairs.map((p) => ({
      case: `${p.who} on ${p.kind}`,
      ws: p.statuses.flatMap((st) => wsPayloads(p.pair.ws, 'update', st.id)),
      sse: p.statuses.flatMap((st) => ssePayloads(p.pair.sse, 'update', st.id)),
    }));
    const want = pairs.map((p) => {
      const bytes = p.statuses.filter((st) => allowed(p.who, p.kind, st)).map((st) => withFiltered(st, []));
      return { case: `${p.who} on ${p.kind}`, ws: bytes, sse: bytes };
    });
    expect(got).toEqual(want);
  });

  it('keyword filters: cached per account, refreshed by filters_changed on the system channel, expiry honoured', async () => {
    const s = await startStack({ databaseUrl: db.url });
    const user = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const pair = await openPair(s, user.token, streamSpec('public', { accountId: user.accountId, tag: 'x' }));
    await readyPair(s, pair);

    /** Publishes a status and returns what the WebSocket and SSE clients got for it. */
    const roundTrip = async (content: string) => {
      const st = status(author, { content });
      expect(await s.publish('timeline:public', 'update', st)).toBe(true);
      const [w, e] = await Promise.all([
        pair.ws.waitForEvent(
          (ev) => ev.event === 'update' && wsPayloads(pair.ws, 'update', st.id).length > 0,
        ),
        pair.sse.waitForEvent(
          (ev) => ev.event === 'update' && ssePayloads(pair.sse, 'update', st.id).length > 0,
        ),
      ]);
      expect(e.data).toBe(w.payload);
      return { st, bytes: w.payload as string };
    };

    // 1. No filters yet: the (empty) filter list is loaded and cached.
    const first = await roundTrip('<p>a kiwi</p>');
    expect(first.bytes).toBe(withFiltered(first.st, []));

    // 2. A filter added in the database is not seen while the cache holds (one query per account, not per status).
    const kiwi = await addFilter(s.fx, user.accountId, { phrase: 'Kiwis', keywords: [{ keyword: 'kiwi' }] });
    const stale = await roundTrip('<p>another kiwi</p>');
    expect(stale.bytes).toBe(withFiltered(stale.st, []));

    // 3. Rails publishes {"event":"filters_changed"} on timeline:system:<account>; once the gateway
    //    got it, the next status is filtered with the new filter.
    await filtersChanged(s, user.accountId);
    const fresh = await roundTrip('<p>kiwi season</p>');
    expect(fresh.bytes).toBe(withFiltered(fresh.st, [filterResult(kiwi, 'kiwi')]));
    // filters_changed itself is never delivered to clients (spec §7.4).
    expect(pair.ws.events((e) => e.event === 'filters_changed')).toEqual([]);
    expect(pair.sse.events.filter((e) => e.event === 'filters_changed')).toEqual([]);

    // 4. A filter that expires while cached stops matching once expired, without filters_changed.
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const soon = await addFilter(s.fx, user.accountId, {
      phrase: 'Plums',
      action: 2,
      expiresAt,
      keywords: [{ keyword: 'plum' }],
    });
    await filtersChanged(s, user.accountId);
    const live = await roundTrip('<p>plum jam</p>');
    expect(Date.now()).toBeLessThan(Date.parse(expiresAt));
    expect(live.bytes).toBe(withFiltered(live.st, [filterResult(soon, 'plum')]));
    // Poll (bounded) until a status comes through unfiltered: it must be after the expiry.
    const deadline = Date.now() + 6_000;
    for (;;) {
      const t = Date.now();
      const r = await roundTrip('<p>plum tart</p>');
      if (r.bytes === withFiltered(r.st, [])) {
        expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
        break;
      }
      expect(r.bytes).toBe(withFiltered(r.st, [filterResult(soon, 'plum')]));
      expect(t, 'the expired filter still matched after its expiry').toBeLessThan(
        Date.parse(expiresAt) + 100,
      );
      expect(Date.now()).toBeLessThan(deadline);
      await delay(100); // pacing between probes, not synchronisation
    }
  });

  it('keyword filters: filters_changed while the filter query is in flight is not lost', async () => {
    // The gateway reaches Postgres through a proxy that can hold the server's answers.
    const proxy = await PgProxy.start(db.url);
    const s = await startStack({
      databaseUrl: db.url,
      gatewayEnv: { DATABASE_URL: proxy.url(db.url), SLUICE_FILTER_TIMEOUT_SECONDS: '10' },
    });
    const user = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const pair = await openPair(s, user.token, streamSpec('public', { accountId: user.accountId, tag: 'x' }));
    await readyPair(s, pair);

    // 1. A status makes the gateway load the user's filters (none yet); the query runs, its answer is held.
    proxy.holdAnswers('custom_filter_keywords');
    const since = Date.now();
    const s1 = status(author, { content: '<p>kiwi one</p>' });
    expect(await s.publish('timeline:public', 'update', s1)).toBe(true);
    await proxy.answered('custom_filter_keywords', since);
    // 2. Meanwhile the user adds a filter; Rails publishes filters_changed; the gateway takes it.
    const kiwi = await addFilter(s.fx, user.accountId, { phrase: 'Kiwis', keywords: [{ keyword: 'kiwi' }] });
    await filtersChanged(s, user.accountId);
    // 3. The old answer arrives: it may serve the status that asked for it...
    proxy.release();
    const marker1 = await publishMarker(s, 'timeline:public');
    await waitForMarker(pair, marker1);
    expect(wsPayloads(pair.ws, 'update', s1.id)).toEqual([withFiltered(s1, [])]);
    // ...but it must not outlive filters_changed: the next status sees the new filter.
    const s2 = status(author, { content: '<p>kiwi two</p>' });
    expect(await s.publish('timeline:public', 'update', s2)).toBe(true);
    const marker2 = await publishMarker(s, 'timeline:public');
    await waitForMarker(pair, marker2);
    expect(wsPayloads(pair.ws, 'update', s2.id)).toEqual([withFiltered(s2, [filterResult(kiwi, 'kiwi')])]);
    expect(ssePayloads(pair.sse, 'update', s2.id)).toEqual([withFiltered(s2, [filterResult(kiwi, 'kiwi')])]);
  });

  it('SSE resume: replayed statuses go through the same filters', async () => {
    const s = await startStack({ databaseUrl: db.url });
    const user = await s.fx.createUser({ chosenLanguages: ['en'] });
    const keeper = await s.fx.createUser();
    const blocked = await s.fx.createAccount();
    const author = await s.fx.createAccount();
    await s.fx.block(user.accountId, blocked.accountId);
    const plum = await addFilter(s.fx, user.accountId, {
      phrase: 'Plums',
      action: 1,
      keywords: [{ keyword: 'plum' }],
    });
    const tag = `replay${suffix()}`;
    const spec = streamSpec('hashtag', { accountId: user.accountId, tag });
    // Another subscriber keeps the channel held while the user is away.
    const keep = await openPair(s, keeper.token, spec);
    await readyPair(s, keep);
    const first = await s.sse({ path: spec.sse.path, query: spec.sse.query, token: user.token });
    await s.ready(first, spec.channel);
    const lastEventId = first.lastEventId;
    expect(lastEventId).toMatch(/^\d+$/);
    first.close();

    const fromBlocked = status(blocked, { tags: [tag] });
    const french = status(author, { tags: [tag], language: 'fr' });
    const plain = status(author, { tags: [tag] });
    const plums = status(author, { tags: [tag], content: '<p>plum cake</p>' });
    for (const st of [fromBlocked, french, plain, plums])
      expect(await s.publish(spec.channel, 'update', st)).toBe(true);
    const marker = await publishMarker(s, spec.channel);
    await waitForMarker(keep, marker);

    const second = await s.sse({
      path: spec.sse.path,
      query: spec.sse.query,
      token: user.token,
      lastEventId: lastEventId!,
    });
    expect(second.status).toBe(200);
    await second.waitForEvent(
      (e) => e.event === 'delete' && e.data === marker,
      10_000,
      'the marker, replayed',
    );
    const updates = second.events.items.filter((e) => e.event === 'update').map((e) => e.data);
    expect(updates).toEqual([withFiltered(plain, []), withFiltered(plums, [filterResult(plum, 'plum')])]);
    // The keeper (no relationships, no filters) got all four, each with "filtered":[].
    expect(
      [fromBlocked, french, plain, plums].flatMap((st) => ssePayloads(keep.sse, 'update', st.id)),
    ).toEqual([fromBlocked, french, plain, plums].map((st) => withFiltered(st, [])));
  });

  it('glitch off: local_only is an ordinary key and public:allow_local_only is unknown', async () => {
    const s = await startStack({ databaseUrl: db.url, gatewayEnv: { SLUICE_GLITCH: 'false' } });
    const user = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const pair = await openPair(s, user.token, streamSpec('public', { accountId: user.accountId, tag: 'x' }));
    await readyPair(s, pair);
    pair.ws.subscribe('public:allow_local_only');
    const err = await pair.ws.waitForError();
    expect(err.error).toMatch(/Unknown stream type/i);
    const st = status(author, { localOnly: true });
    expect(await s.publish('timeline:public', 'update', st)).toBe(true);
    const marker = await publishMarker(s, 'timeline:public');
    await waitForMarker(pair, marker);
    expect(wsPayloads(pair.ws, 'update', st.id)).toEqual([withFiltered(st, [])]);
    expect(ssePayloads(pair.sse, 'update', st.id)).toEqual([withFiltered(st, [])]);
  });
});
