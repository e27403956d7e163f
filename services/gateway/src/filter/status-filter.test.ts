import type { StatusFacts } from '@sluice/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { htmlToText } from './html-text.js';
import { KeywordCache } from './keyword-cache.js';
import { compileFilters, type FilterRow, matchFilters } from './keyword-matcher.js';
import { StatusFilter, withFiltered } from './status-filter.js';
import { searchableText } from './status-text.js';
import { MemoryFilterStore } from './store-memory.js';

const facts = (over: Partial<StatusFacts> = {}): StatusFacts => ({
  accountId: '100',
  domain: null,
  mentions: [],
  language: 'en',
  local: true,
  media: false,
  filtered: false,
  localOnly: false,
  ...over,
});

const row = (over: Partial<FilterRow>): FilterRow => ({
  accountId: '1',
  filterId: '10',
  title: 'f',
  context: ['public'],
  expiresAt: null,
  action: 0,
  keyword: 'cat',
  wholeWord: true,
  ...over,
});

const status = (content: string) => Buffer.from(JSON.stringify({ id: '9', content, account: { id: '100' } }));

describe('filter - html to text', () => {
  it('decodes entities and drops tags like textContent', () => {
    expect(
      htmlToText(
        '<p>Fish &amp; chips &lt;3 &#x1F600; &nbsp;<a href="x"><span class="invisible">https://</span>ex.org</a></p>',
      ),
    ).toBe('Fish & chips <3 😀 \u00a0https://ex.org');
    expect(htmlToText('plain')).toBe('plain');
    expect(htmlToText('<p>a<!-- hidden -->b</p>')).toBe('ab');
  });
});

describe('filter - searchable text', () => {
  it('joins spoiler, content, poll options and media descriptions with Mastodon line breaks', () => {
    const text = searchableText({
      spoiler_text: 'cw',
      content: '<p>one<br>two</p><p>three</p>',
      poll: { options: [{ title: 'yes' }, { title: 'no' }] },
      media_attachments: [{ description: 'a cat' }, { description: null }],
    });
    expect(text).toBe('cw\n\none\ntwo\n\nthree\n\nyes\n\nno\n\na cat\n\n');
  });
});

describe('filter - keyword matcher', () => {
  it('whole word uses Unicode word boundaries, others match inside words, case-insensitively', () => {
    const filters = compileFilters([
      row({ keyword: 'cat' }),
      row({ filterId: '11', keyword: 'dog', wholeWord: false }),
    ]);
    expect(matchFilters(filters, 'concatenate hotdogs', 0).map((r) => r.filter.id)).toEqual(['11']);
    expect(matchFilters(filters, 'A CAT!', 0)[0]?.keyword_matches).toEqual(['CAT']);
    const unicode = compileFilters([row({ keyword: 'été' })]);
    expect(matchFilters(unicode, 'cetété', 0)).toEqual([]);
    expect(matchFilters(unicode, "l'été.", 0)).toHaveLength(1);
  });

  it('serialises actions as Rails does, blur included, and skips expired filters', () => {
    const [f] = compileFilters([row({ action: 2, expiresAt: Date.UTC(2030, 0, 1) })]);
    expect(f?.json).toEqual({
      id: '10',
      title: 'f',
      context: ['public'],
      expires_at: '2030-01-01T00:00:00.000Z',
      filter_action: 'blur',
    });
    expect(matchFilters([f!], 'cat', Date.UTC(2031, 0, 1))).toEqual([]);
  });

  it('escapes regex metacharacters in keywords', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (kw) => {
        const filters = compileFilters([row({ keyword: kw, wholeWord: false })]);
        expect(matchFilters(filters, `x${kw}y`, 0)).toHaveLength(1);
      }),
    );
  });
});

describe('filter - status filter', () => {
  it('appends filtered last, without re-serialising', () => {
    expect(Buffer.from(withFiltered(Buffer.from('{"a":1}'), [])).toString()).toBe('{"a":1,"filtered":[]}');
    expect(Buffer.from(withFiltered(Buffer.from('{}'), [])).toString()).toBe('{"filtered":[]}');
  });

  it('decides for all recipients in at most two queries, sharing bytes', async () => {
    const store = new MemoryFilterStore();
    store.block('2', '100');
    store.mute('3', '7');
    store.block('100', '4');
    store.blockDomain('5', 'evil.example');
    store.filters = [row({ accountId: '6', keyword: 'hello' })];
    const filter = new StatusFilter(store, new KeywordCache(store, { ttlMs: 60_000, maxAccounts: 100 }), {
      timeoutMs: 1000,
    });
    const recipients = ['1', '2', '3', '4', '5', '6'];
    const d = await filter.decide(
      { data: status('<p>hello</p>'), status: facts({ mentions: ['7'] }) },
      recipients,
    );
    expect([...d.excluded].sort()).toEqual(['2', '3', '4']);
    expect(store.queries).toBe(2);
    expect(JSON.parse(Buffer.from(d.payloadFor('1')).toString()).filtered).toEqual([]);
    expect(JSON.parse(Buffer.from(d.payloadFor('6')).toString()).filtered[0].keyword_matches).toEqual([
      'hello',
    ]);
    expect(d.variants).toBe(2);
    const remote = await filter.decide(
      { data: status('x'), status: facts({ domain: 'evil.example' }) },
      recipients,
    );
    expect(remote.excluded.has('5')).toBe(true);
    // Keyword filters are cached: the second status cost one query, not two.
    expect(store.queries).toBe(3);
  });

  it('one status arriving on several channels in one tick costs one set of queries', async () => {
    const store = new MemoryFilterStore();
    store.block('2', '100');
    const filter = new StatusFilter(store, new KeywordCache(store, { ttlMs: 60_000, maxAccounts: 100 }), {
      timeoutMs: 1000,
    });
    const ev = () => ({ data: status('<p>same</p>'), status: facts() });
    const [onPublic, onLocal, onTag] = await Promise.all([
      filter.decide(ev(), ['1', '2']),
      filter.decide(ev(), ['3']),
      filter.decide(ev(), ['2', '4']),
    ]);
    expect(store.queries).toBe(2);
    for (const d of [onPublic, onLocal, onTag]) expect([...d.excluded]).toEqual(['2']);
    expect(JSON.parse(Buffer.from(onLocal!.payloadFor('3')).toString()).filtered).toEqual([]);
    // A different status in the same tick is decided on its own.
    await Promise.all([
      filter.decide(ev(), ['1']),
      filter.decide({ data: status('other'), status: facts() }, ['1']),
    ]);
    expect(store.queries).toBe(4);
  });

  it('passes a payload Rails already filtered unchanged', async () => {
    const store = new MemoryFilterStore();
    const filter = new StatusFilter(store, new KeywordCache(store, { ttlMs: 60_000, maxAccounts: 100 }), {
      timeoutMs: 1000,
    });
    const data = Buffer.from('{"id":"1","filtered":[]}');
    const d = await filter.decide({ data, status: facts({ filtered: true }) }, ['1']);
    expect(d.payloadFor('1')).toBe(data);
    expect(store.queries).toBe(1);
  });

  it('rejects when the database is slower than the timeout', async () => {
    const store = new MemoryFilterStore();
    store.excludedRecipients = () => new Promise(() => {});
    const filter = new StatusFilter(store, new KeywordCache(store, { ttlMs: 60_000, maxAccounts: 100 }), {
      timeoutMs: 20,
    });
    await expect(filter.decide({ data: status('x'), status: facts() }, ['1'])).rejects.toThrow(
      /longer than 20 ms/,
    );
  });

  it('property: the batched decision equals the per-user decision of the spec', async () => {
    const id = fc.constantFrom('1', '2', '3', '4', '5', '6');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(id, id), { maxLength: 12 }),
        fc.array(fc.tuple(id, id), { maxLength: 12 }),
        fc.array(fc.tuple(id, fc.constantFrom('a.example', 'b.example')), { maxLength: 6 }),
        id,
        fc.uniqueArray(id, { maxLength: 3 }),
        fc.option(fc.constantFrom('a.example', 'b.example'), { nil: null }),
        async (blocks, mutes, domainBlocks, author, mentions, domain) => {
          const store = new MemoryFilterStore();
          for (const [a, b] of blocks) store.block(a, b);
          for (const [a, b] of mutes) store.mute(a, b);
          for (const [a, d] of domainBlocks) store.blockDomain(a, d);
          const recipients = ['1', '2', '3', '4', '5', '6'];
          const batched = await store.excludedRecipients({
            recipients,
            authorId: author,
            mentionIds: mentions,
            domain,
          });
          for (const user of recipients) {
            const targets = [author, ...mentions];
            const blocked =
              blocks.some(([a, b]) => (a === user && targets.includes(b)) || (a === author && b === user)) ||
              mutes.some(([a, b]) => a === user && targets.includes(b)) ||
              (domain !== null && domainBlocks.some(([a, d]) => a === user && d === domain));
            expect(batched.has(user)).toBe(blocked);
          }
        },
      ),
    );
  });
});
