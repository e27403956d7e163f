import type { StreamingError } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import type { AuthContext } from '../model.js';
import { auth, memoryStore } from '../testing.js';
import { checkScopes } from './scopes.js';
import { StreamResolver } from './streams.js';

const fail = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: StreamingError) => [e.status, e.message],
  );

function resolver(opts: { glitch?: boolean; ttl?: number } = {}) {
  const store = memoryStore();
  let now = 0;
  const r = new StreamResolver({
    store,
    glitch: opts.glitch ?? false,
    settingsTtlMs: opts.ttl ?? 1000,
    now: () => now,
  });
  const tick = (ms: number) => {
    now += ms;
  };
  return { store, r, tick };
}

describe('authorise - scopes', () => {
  const withScopes = (...scopes: string[]): AuthContext => auth({ scopes });
  it('needs read or read:notifications for user:notification, read or read:statuses elsewhere', () => {
    expect(() => checkScopes(withScopes('read:notifications'), 'user:notification')).not.toThrow();
    expect(() => checkScopes(withScopes('read:statuses'), 'user:notification')).toThrow('required scopes');
    expect(() => checkScopes(withScopes('read:statuses'), 'public:local')).not.toThrow();
    expect(() => checkScopes(withScopes('read:notifications'), 'public:local')).toThrow('required scopes');
    expect(() => checkScopes(withScopes('profile'), 'nonsense')).toThrow('required scopes');
    expect(() => checkScopes(withScopes('read'), 'anything')).not.toThrow();
  });
});

describe('authorise - stream name to channels', () => {
  it('maps personal streams to the account channels', async () => {
    const { r } = resolver();
    expect((await r.resolve(auth(), 'user', {})).channels).toEqual([
      'timeline:101',
      'timeline:101:notifications',
    ]);
    expect((await r.resolve(auth({ scopes: ['read:statuses'] }), 'user', {})).channels).toEqual([
      'timeline:101',
    ]);
    expect((await r.resolve(auth(), 'user:notification', {})).channels).toEqual([
      'timeline:101:notifications',
    ]);
    expect((await r.resolve(auth(), 'direct', {})).channels).toEqual(['timeline:direct:101']);
    const user = await r.resolve(auth(), 'user', {});
    expect(user.options.needsFiltering).toBe(false);
    expect(user.labelJson).toBe('["user"]');
  });

  it('maps public streams and marks them for filtering', async () => {
    const { r } = resolver();
    for (const name of [
      'public',
      'public:media',
      'public:local',
      'public:local:media',
      'public:remote',
      'public:remote:media',
    ]) {
      const s = await r.resolve(auth(), name, {});
      expect(s.channels).toEqual([`timeline:${name}`]);
      expect(s.options).toMatchObject({ needsFiltering: true, filterLocal: false, filterRemote: false });
      expect(s.labelJson).toBe(JSON.stringify([name]));
    }
  });

  it('normalises hashtags but labels with the tag as sent', async () => {
    const { r } = resolver();
    const s = await r.resolve(auth(), 'hashtag', { tag: '#Café' });
    expect(s.channels).toEqual(['timeline:hashtag:cafe']);
    expect(s.labelJson).toBe('["hashtag","#Café"]');
    const l = await r.resolve(auth(), 'hashtag:local', { tag: 'ＦＯＯ' });
    expect(l.channels).toEqual(['timeline:hashtag:foo:local']);
    expect(await fail(r.resolve(auth(), 'hashtag', {}))).toEqual([400, 'Missing tag name parameter']);
    expect(await fail(r.resolve(auth(), 'hashtag', { tag: '' }))).toEqual([
      400,
      'Missing tag name parameter',
    ]);
    expect(await fail(r.resolve(auth(), 'hashtag', { tag: ['a', 'b'] }))).toEqual([
      500,
      'An unexpected error occurred',
    ]);
  });

  it('checks list ownership and keeps the list label as sent', async () => {
    const { r } = resolver();
    const s = await r.resolve(auth(), 'list', { list: 42 });
    expect(s.channels).toEqual(['timeline:list:42']);
    expect(s.labelJson).toBe('["list",42]');
    expect((await r.resolve(auth(), 'list', { list: '42' })).labelJson).toBe('["list","42"]');
    expect(await fail(r.resolve(auth(), 'list', { list: '43' }))).toEqual([
      401,
      'Not authorized to stream this list',
    ]);
    expect(await fail(r.resolve(auth(), 'list', { list: '999' }))).toEqual([
      401,
      'Not authorized to stream this list',
    ]);
    expect(await fail(r.resolve(auth(), 'list', { list: 'abc' }))).toEqual([
      401,
      'Not authorized to stream this list',
    ]);
    expect(await fail(r.resolve(auth(), 'list', {}))).toEqual([400, 'Missing list name parameter']);
  });

  it('rejects unknown names, and glitch names unless enabled', async () => {
    const { r } = resolver();
    expect(await fail(r.resolve(auth(), 'nope', {}))).toEqual([400, 'Unknown stream type']);
    expect(await fail(r.resolve(auth(), '', {}))).toEqual([400, 'Unknown stream type']);
    expect(await fail(r.resolve(auth(), 'public:allow_local_only', {}))).toEqual([
      400,
      'Unknown stream type',
    ]);
  });
});

describe('authorise - feed access settings', () => {
  it('turns disabled live feeds into filter flags', async () => {
    const { r, store } = resolver();
    store.settingsTable.set('local_live_feed_access', '--- disabled\n');
    store.settingsTable.set('remote_live_feed_access', '--- authenticated\n');
    const s = await r.resolve(auth(), 'public', {});
    expect(s.options).toMatchObject({ filterLocal: true, filterRemote: false });
  });

  it('reads topic settings for hashtags', async () => {
    const { r, store } = resolver();
    store.settingsTable.set('remote_topic_feed_access', '--- disabled\n');
    store.settingsTable.set('local_live_feed_access', '--- disabled\n');
    const s = await r.resolve(auth(), 'hashtag', { tag: 'x' });
    expect(s.options).toMatchObject({ filterLocal: false, filterRemote: true });
  });

  it('skips the settings for view_feeds', async () => {
    const { r, store } = resolver();
    store.settingsTable.set('local_live_feed_access', '--- disabled\n');
    const s = await r.resolve(auth({ permissions: 0x100000n | 1n }), 'public:local', {});
    expect(s.options.filterLocal).toBe(false);
    expect(store.settingsQueries).toBe(0);
  });

  it('shares one settings query between concurrent subscribers, re-reads after the TTL', async () => {
    const { r, store, tick } = resolver({ ttl: 1000 });
    await Promise.all([
      r.resolve(auth(), 'public', {}),
      r.resolve(auth(), 'public:local', {}),
      r.resolve(auth(), 'public', {}),
    ]);
    expect(store.settingsQueries).toBe(1);
    tick(1500);
    await r.resolve(auth(), 'public', {});
    expect(store.settingsQueries).toBe(2);
  });

  it('answers 500 when the settings query fails, and retries next time', async () => {
    const { r, store } = resolver();
    store.fail = new Error('db down');
    expect(await fail(r.resolve(auth(), 'public', {}))).toEqual([500, 'An unexpected error occurred']);
    store.fail = null;
    await expect(r.resolve(auth(), 'public', {})).resolves.toMatchObject({ channels: ['timeline:public'] });
  });
});

describe('authorise - glitch-soc', () => {
  it('accepts the allow_local_only names and sets allowLocalOnly like glitch', async () => {
    const { r } = resolver({ glitch: true });
    const a = await r.resolve(auth(), 'public:allow_local_only', {});
    expect(a.channels).toEqual(['timeline:public']);
    expect(a.options.allowLocalOnly).toBe(true);
    expect((await r.resolve(auth(), 'public:allow_local_only:media', {})).channels).toEqual([
      'timeline:public:media',
    ]);
    expect((await r.resolve(auth(), 'public', {})).options.allowLocalOnly).toBe(false);
    expect((await r.resolve(auth(), 'public', { allow_local_only: 'true' })).options.allowLocalOnly).toBe(
      true,
    );
    expect((await r.resolve(auth(), 'public:remote', {})).options.allowLocalOnly).toBe(false);
    expect((await r.resolve(auth(), 'public:local', {})).options.allowLocalOnly).toBe(true);
  });
});
