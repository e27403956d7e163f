/**
 * SSE: every stream path of spec §3.2 end to end (Rails-like Redis publish → ingest → NATS →
 * gateway → HTTP client), the response headers and framing of §3.3, and the payload rules.
 */
import { describe, expect, it } from 'vitest';
import type { SseClient } from '../harness/clients.js';
import {
  conversationJson,
  notificationJson,
  SSE,
  type Stack,
  sseHasId,
  startStack,
  statusJson,
  suffix,
} from './support.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Publishes a distinct status on each channel, then a marker on each, and returns what each client saw. */
async function fanOutCheck(s: Stack, clients: { client: SseClient; channel: string }[]) {
  const author = await s.fx.createAccount({ domain: null });
  const byChannel = new Map<string, string>();
  for (const { channel } of clients) {
    if (byChannel.has(channel)) continue;
    const st = statusJson(author, { media: channel.endsWith(':media') });
    byChannel.set(channel, st.id);
    expect(await s.publish(channel, 'update', st)).toBe(true);
  }
  // Markers after every status: once a client has its marker, everything before it was delivered.
  const markers = new Map<string, string>();
  for (const channel of byChannel.keys()) {
    const m = `marker${suffix()}`;
    markers.set(channel, m);
    await s.publish(channel, 'delete', m);
  }
  for (const { client, channel } of clients) {
    await client.waitForEvent(
      (e) => e.event === 'update' && sseHasId(byChannel.get(channel)!)(e),
      5_000,
      `the status on ${channel}`,
    );
    await client.waitForEvent(
      (e) => e.event === 'delete' && e.data === markers.get(channel),
      5_000,
      `the marker on ${channel}`,
    );
  }
  return byChannel;
}

/** Ids of the statuses this test published that `client` received (other runs may share public channels). */
function ownUpdates(client: SseClient, ids: Map<string, string>): string[] {
  const mine = new Set(ids.values());
  return client.events.items
    .filter((e) => e.event === 'update')
    .map((e) => JSON.parse(e.data).id as string)
    .filter((id) => mine.has(id));
}

describe('gateway SSE streams', () => {
  it('SSE - headers, ":)" preamble, event framing with id, object payloads re-serialised, delete ids raw', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read' });
    const author = await s.fx.createAccount();
    const c = await s.sse({ path: `${SSE}/public/local`, token: u.token });

    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(c.headers['cache-control']).toBe('private, no-store');
    expect(c.headers['access-control-allow-origin']).toBe('*');
    expect(c.headers['transfer-encoding']).toBe('chunked');
    expect(String(c.headers['x-request-id'])).toMatch(UUID);

    await c.waitForComment(')');
    expect(c.text.startsWith(':)\n')).toBe(true);
    await s.ready(c, 'timeline:public:local');

    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    const ev = await c.waitForEvent(sseHasId(st.id, 'update'));
    expect(JSON.parse(ev.data)).toMatchObject(st);
    // One line of JSON, non-ASCII and <>& unescaped, written as "event: …\ndata: …\n\n".
    const json = JSON.stringify(st);
    expect(c.text).toContain(`event: update\n`);
    expect(c.text).toContain(`data: ${json.slice(0, -1)}`);
    expect(ev.data).toContain('<p>Hello &amp; welcome — café');
    expect(ev.data).toContain('🎉');

    await s.publish('timeline:public:local', 'delete', st.id);
    const del = await c.waitForEvent((e) => e.event === 'delete' && e.data === st.id);
    expect(del.data).toBe(st.id);
    expect(c.text).toMatch(new RegExp(`\\n(id: \\d+\\n)?event: delete\\n(id: \\d+\\n)?data: ${st.id}\\n\\n`));

    // Sluice: every event carries the stream sequence as id, increasing.
    expect(ev.id).toMatch(/^\d+$/);
    expect(del.id).toMatch(/^\d+$/);
    expect(Number(del.id)).toBeGreaterThan(Number(ev.id));
    // No retry: field (spec §3.3).
    expect(c.text).not.toMatch(/^retry:/m);
  });

  it('SSE - HTML-escaped JSON from Rails (\\u003c…) reaches clients re-serialised with raw <>&', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const c = await s.sse({ path: `${SSE}/user`, token: u.token });
    await s.ready(c, `timeline:${u.accountId}:notifications`);
    const from = await s.fx.createAccount({ domain: 'remote.example' });
    const n = notificationJson(from);
    // ActiveSupport's to_json escapes HTML characters; Mastodon's JSON.parse + JSON.stringify undoes that.
    const escaped = JSON.stringify({ event: 'notification', payload: { ...n, note: '<b>&</b>' } })
      .replace(/</g, '\\u003c')
      .replace(/>/g, '\\u003e')
      .replace(/&/g, '\\u0026');
    expect(escaped).toContain('\\u003cb\\u003e');
    await s.publishRaw(`timeline:${u.accountId}:notifications`, escaped);
    const ev = await c.waitForEvent(sseHasId(n.id, 'notification'));
    expect(ev.data).toBe(JSON.stringify({ ...n, note: '<b>&</b>' }));
  });

  it('SSE - user stream gets home and notification events; user/notification only notifications', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read' });
    const v = await s.fx.createUser({ scopes: 'read:notifications' });
    const author = await s.fx.createAccount({ domain: 'remote.example' });

    const user = await s.sse({ path: `${SSE}/user`, token: u.token });
    const notif = await s.sse({ path: `${SSE}/user/notification`, token: v.token });
    expect(user.status).toBe(200);
    expect(notif.status).toBe(200);
    await s.ready(user, `timeline:${u.accountId}`);
    await s.ready(user, `timeline:${u.accountId}:notifications`);
    await s.ready(notif, `timeline:${v.accountId}:notifications`);

    const home = statusJson(author);
    const n = notificationJson(author, statusJson(author));
    expect(await s.publish(`timeline:${u.accountId}`, 'update', home)).toBe(true);
    expect(await s.publish(`timeline:${u.accountId}:notifications`, 'notification', n)).toBe(true);
    await user.waitForEvent(sseHasId(home.id, 'update'));
    await user.waitForEvent(sseHasId(n.id, 'notification'));
    expect(user.events.items.filter((e) => e.event === 'notification')[0]!.data).toBe(JSON.stringify(n));

    // v's home timeline is not part of user/notification: force a home event past Rails' key check.
    const vHome = statusJson(author);
    await s.publishRaw(`timeline:${v.accountId}`, JSON.stringify({ event: 'update', payload: vHome }));
    const vn = notificationJson(author);
    expect(await s.publish(`timeline:${v.accountId}:notifications`, 'notification', vn)).toBe(true);
    await notif.waitForEvent(sseHasId(vn.id, 'notification'));
    expect(notif.events.filter(sseHasId(vHome.id))).toEqual([]);
  });

  it('SSE - a read:statuses token on user gets home events but no notifications', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read:statuses' });
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const c = await s.sse({ path: `${SSE}/user`, token: u.token });
    expect(c.status).toBe(200);
    await s.ready(c, `timeline:${u.accountId}`);
    const n = notificationJson(author);
    await s.publishRaw(
      `timeline:${u.accountId}:notifications`,
      JSON.stringify({ event: 'notification', payload: n }),
    );
    const marker = statusJson(author);
    await s.publish(`timeline:${u.accountId}`, 'update', marker);
    await c.waitForEvent(sseHasId(marker.id, 'update'));
    expect(c.events.filter(sseHasId(n.id))).toEqual([]);
  });

  it('SSE - public, public/local, public/remote and their only_media variants each get only their channel', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const variants: [string, Record<string, string>, string][] = [
      ['/public', {}, 'timeline:public'],
      ['/public', { only_media: 'true' }, 'timeline:public:media'],
      ['/public/local', {}, 'timeline:public:local'],
      ['/public/local', { only_media: 'true' }, 'timeline:public:local:media'],
      ['/public/remote', {}, 'timeline:public:remote'],
      ['/public/remote', { only_media: '1' }, 'timeline:public:remote:media'],
    ];
    const clients: { client: SseClient; channel: string }[] = [];
    for (const [path, query, channel] of variants) {
      const client = await s.sse({ path: SSE + path, query, token: u.token });
      expect(client.status, `${path} ${JSON.stringify(query)}`).toBe(200);
      await s.ready(client, channel);
      clients.push({ client, channel });
    }
    const ids = await fanOutCheck(s, clients);
    for (const { client, channel } of clients) {
      const others = [...ids].filter(([ch]) => ch !== channel).map(([, id]) => id);
      const got = ownUpdates(client, ids);
      expect(got, `${channel} received another channel's status`).toEqual([ids.get(channel)]);
      expect(got.some((id) => others.includes(id))).toBe(false);
    }
  });

  it('SSE - only_media truthiness follows Mastodon (false/0/f/off → plain; no/False/1 → media)', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const cases: [string, boolean][] = [
      ['false', false],
      ['0', false],
      ['f', false],
      ['F', false],
      ['off', false],
      ['FALSE', false],
      ['', false],
      ['no', true],
      ['False', true],
      ['1', true],
      ['yes', true],
    ];
    const clients: { client: SseClient; channel: string; value: string }[] = [];
    for (const [value, media] of cases) {
      const channel = media ? 'timeline:public:local:media' : 'timeline:public:local';
      const client = await s.sse({
        path: `${SSE}/public/local`,
        query: { only_media: value },
        token: u.token,
      });
      expect(client.status).toBe(200);
      clients.push({ client, channel, value });
    }
    for (const c of clients) await s.ready(c.client, c.channel);
    const ids = await fanOutCheck(s, clients);
    for (const { client, channel, value } of clients) {
      const got = ownUpdates(client, ids);
      expect(got, `only_media=${JSON.stringify(value)}`).toEqual([ids.get(channel)]);
    }
  });

  it('SSE - hashtag and hashtag/local normalise Unicode tags to the Rails channel (only_media ignored)', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read:statuses' });
    const x = suffix();
    const cases: [string, Record<string, string>, string][] = [
      ['/hashtag', { tag: `Café${x}` }, `timeline:hashtag:cafe${x}`],
      ['/hashtag', { tag: `#ÜBER${x}`, only_media: 'true' }, `timeline:hashtag:uber${x}`],
      ['/hashtag', { tag: `日本${x}` }, `timeline:hashtag:日本${x}`],
      ['/hashtag/local', { tag: `Ｆｕｌｌ${x}` }, `timeline:hashtag:full${x}:local`],
    ];
    const clients: { client: SseClient; channel: string }[] = [];
    for (const [path, query, channel] of cases) {
      const client = await s.sse({ path: SSE + path, query, token: u.token });
      expect(client.status, `${path} ${JSON.stringify(query)}`).toBe(200);
      await s.ready(client, channel);
      clients.push({ client, channel });
    }
    const ids = await fanOutCheck(s, clients);
    for (const { client, channel } of clients) {
      const got = ownUpdates(client, ids);
      expect(got).toEqual([ids.get(channel)]);
    }
  });

  it('SSE - list stream for its owner; direct stream gets conversations', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const listId = await s.fx.createList(u.accountId);
    const list = await s.sse({ path: `${SSE}/list`, query: { list: listId }, token: u.token });
    const direct = await s.sse({ path: `${SSE}/direct`, token: u.token });
    expect(list.status).toBe(200);
    expect(direct.status).toBe(200);
    await s.ready(list, `timeline:list:${listId}`);
    await s.ready(direct, `timeline:direct:${u.accountId}`);

    const st = statusJson(author);
    expect(await s.publish(`timeline:list:${listId}`, 'update', st)).toBe(true);
    const conv = conversationJson(author, statusJson(author, { content: '<p>psst</p>' }));
    expect(await s.publish(`timeline:direct:${u.accountId}`, 'conversation', conv)).toBe(true);

    const l = await list.waitForEvent(sseHasId(st.id, 'update'));
    expect(l.data).toBe(JSON.stringify(st));
    const d = await direct.waitForEvent(sseHasId(conv.id, 'conversation'));
    expect(d.data).toBe(JSON.stringify(conv));
    expect(list.events.filter(sseHasId(conv.id))).toEqual([]);
    expect(direct.events.filter(sseHasId(st.id))).toEqual([]);
  });

  it('SSE - payload-less events (filters_changed) are never sent; strings like notifications_merged "1" are raw', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const c = await s.sse({ path: `${SSE}/user`, token: u.token });
    await s.ready(c, `timeline:${u.accountId}`);
    await s.ready(c, `timeline:${u.accountId}:notifications`);
    await s.publishRaw(`timeline:${u.accountId}`, JSON.stringify({ event: 'filters_changed' }));
    expect(await s.publish(`timeline:${u.accountId}:notifications`, 'notifications_merged', '1')).toBe(true);
    const merged = await c.waitForEvent((e) => e.event === 'notifications_merged');
    expect(merged.data).toBe('1');
    expect(c.text).not.toContain('"1"');
    const annId = `${Date.now()}`;
    await s.publish(`timeline:${u.accountId}`, 'announcement.delete', annId);
    await c.waitForEvent((e) => e.event === 'announcement.delete' && e.data === annId);
    expect(c.events.filter((e) => e.event === 'filters_changed')).toEqual([]);
    expect(c.text).not.toContain('undefined');
  });
});
