import { Errors, StreamingError } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../testing.js';
import type { AuthStore } from './store.js';
import { TokenLookup } from './token-lookup.js';
import { extractToken } from './token-source.js';

const reason = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: StreamingError) => [e.status, e.message],
  );

describe('authorise - coalesced token lookup', () => {
  it('answers concurrent look-ups of one tick with one query', async () => {
    const store = memoryStore();
    const sizes: number[] = [];
    const lookup = new TokenLookup({ store, batchMax: 500, onBatch: (n) => sizes.push(n) });
    const results = await Promise.all([
      lookup.lookup('tok-read'),
      lookup.lookup('tok-bob'),
      lookup.lookup('tok-read'),
      lookup.lookup('tok-statuses'),
    ]);
    expect(store.tokenQueries).toEqual([['tok-read', 'tok-bob', 'tok-statuses']]);
    expect(sizes).toEqual([3]);
    expect(results.map((r) => r.accountId)).toEqual(['101', '102', '101', '101']);
    expect(results[0]).toEqual({
      accessTokenId: '11',
      accountId: '101',
      scopes: ['read', 'write'],
      chosenLanguages: null,
      permissions: 0n,
    });
    expect(results[1]!.chosenLanguages).toEqual(['en']);
  });

  it('splits at batchMax and lets waiting look-ups join the next batch', async () => {
    const store = memoryStore();
    for (let i = 0; i < 30; i++)
      store.addToken({ token: `t${i}`, id: String(1000 + i), accountId: '1', scopes: 'read' });
    store.delayMs = 20;
    const lookup = new TokenLookup({ store, batchMax: 10, maxInFlight: 1 });
    const first = Array.from({ length: 25 }, (_, i) => lookup.lookup(`t${i}`));
    await new Promise((r) => setTimeout(r, 5));
    // Arrive while the first query runs: they wait for the next one.
    const late = Array.from({ length: 5 }, (_, i) => lookup.lookup(`t${i + 25}`));
    const all = await Promise.all([...first, ...late]);
    expect(all.map((a) => a.accessTokenId)).toEqual([
      ...Array.from({ length: 25 }, (_, i) => String(1000 + i)),
      ...Array.from({ length: 5 }, (_, i) => String(1025 + i)),
    ]);
    expect(store.tokenQueries.map((q) => q.length)).toEqual([10, 10, 10]);
    expect(store.tokenQueries.every((q) => q.length <= 10)).toBe(true);
  });

  it('a reconnect storm of 2,000 clients costs a handful of queries', async () => {
    const store = memoryStore();
    for (let i = 0; i < 2000; i++)
      store.addToken({ token: `s${i}`, id: String(i + 1), accountId: '1', scopes: 'read' });
    store.delayMs = 5;
    const lookup = new TokenLookup({ store, batchMax: 500, maxInFlight: 2 });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => lookup.lookup(`s${i}`)));
    expect(store.tokenQueries.length).toBeLessThanOrEqual(5);
  });

  it("keeps Mastodon's per-token outcomes inside a shared batch", async () => {
    const store = memoryStore();
    const lookup = new TokenLookup({ store, batchMax: 500 });
    const [ok, invalid, revoked, nullScopes, nul] = await Promise.all([
      reason(lookup.lookup('tok-read')),
      reason(lookup.lookup('nope')),
      reason(lookup.lookup('tok-revoked')),
      reason(lookup.lookup('tok-null')),
      reason(lookup.lookup('a\0b')),
    ]);
    expect(ok).toBeNull();
    expect(invalid).toEqual([401, 'Invalid access token']);
    expect(revoked).toEqual([401, 'Invalid access token']);
    expect(nullScopes).toEqual([500, 'An unexpected error occurred']);
    expect(nul).toEqual([500, 'An unexpected error occurred']);
    expect(store.tokenQueries).toEqual([['tok-read', 'nope', 'tok-revoked', 'tok-null']]);
  });

  it('fails the whole batch with 500 when the database fails', async () => {
    const store = memoryStore();
    store.fail = new Error('connection refused');
    const lookup = new TokenLookup({ store, batchMax: 500 });
    const errs = await Promise.all([reason(lookup.lookup('tok-read')), reason(lookup.lookup('tok-bob'))]);
    expect(errs).toEqual([
      [500, 'An unexpected error occurred'],
      [500, 'An unexpected error occurred'],
    ]);
    store.fail = null;
    await expect(lookup.lookup('tok-read')).resolves.toMatchObject({ accountId: '101' });
  });
});

describe('authorise - token sources', () => {
  const q = (o: Record<string, string | string[]>) => o;
  it('prefers Authorization, then access_token, then Sec-WebSocket-Protocol', () => {
    expect(extractToken({ authorization: 'Bearer a' }, q({ access_token: 'b' }))).toBe('a');
    expect(extractToken({ authorization: 'bad' }, q({ access_token: 'b' }))).toBe('bad');
    expect(extractToken({ authorization: 'bearer x' }, {})).toBe('bearer x');
    expect(extractToken({ 'sec-websocket-protocol': 'c' }, q({ access_token: 'b' }))).toBe('b');
    expect(extractToken({ 'sec-websocket-protocol': 'c, d' }, {})).toBe('c, d');
    expect(extractToken({ authorization: '', 'sec-websocket-protocol': 'c' }, q({ access_token: '' }))).toBe(
      'c',
    );
  });

  it('throws Missing access token when there is none', () => {
    expect(() => extractToken({}, {})).toThrowError(new StreamingError(Errors.MissingToken));
  });

  it('never matches a repeated access_token', () => {
    expect(extractToken({}, q({ access_token: ['a', 'b'] }))).toBe('');
  });
});

describe('authorise - token look-up batching window', () => {
  it('a storm of one look-up per millisecond costs about one query per window', async () => {
    let queries = 0;
    const store = {
      async findTokens(tokens: string[]) {
        queries++;
        return tokens.map((t, i) => ({
          token: t,
          id: String(i + 1),
          account_id: String(i + 100),
          chosen_languages: null,
          scopes: 'read',
          permissions: '0',
        }));
      },
    } as unknown as AuthStore;
    const lookup = new TokenLookup({ store, batchMax: 500, windowMs: 50 });
    const done: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      done.push(lookup.lookup(`tok-${i}`));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(done);
    // 300 look-ups over ≥ 300 ms: at most one query per 50 ms window (+ the first, immediate one).
    expect(queries).toBeLessThanOrEqual(Math.ceil(300 / 50) + 3);
    expect(queries).toBeGreaterThan(1);
  });

  it('a lone look-up after a quiet period is not delayed by the window', async () => {
    const store = {
      findTokens: async () => [],
    } as unknown as AuthStore;
    const lookup = new TokenLookup({ store, batchMax: 500, windowMs: 10_000 });
    const started = Date.now();
    await expect(lookup.lookup('nope')).rejects.toThrow('Invalid access token');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
