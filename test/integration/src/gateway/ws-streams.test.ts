/**
 * WebSocket: every stream name of spec §4.3 multiplexed on one socket with the labels of §4.4,
 * the `stream` query parameter, payload stringification, unsubscribe, duplicate subscribe, binary
 * frames and ignored messages.
 */
import { describe, expect, it } from 'vitest';
import type { WsClient } from '../harness/clients.js';
import {
  conversationJson,
  isProbeWs,
  notificationJson,
  startStack,
  statusJson,
  suffix,
  waitForMetric,
  wsHasId,
} from './support.js';

/** Events of `client` carrying a status/notification/conversation with this id. */
function labelsOf(client: WsClient, id: string): unknown[] {
  return client.events(wsHasId(id)).map((e) => e.stream);
}

describe('gateway WebSocket streams', () => {
  it('WS - every stream type multiplexed on one socket, each event labelled as the client subscribed', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read' });
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const listId = await s.fx.createList(u.accountId);
    const x = suffix();
    const ws = await s.ws({ token: u.token });

    const subs: { sub: Record<string, unknown>; channel: string; label: unknown[]; event?: string }[] = [
      { sub: { stream: 'user' }, channel: `timeline:${u.accountId}`, label: ['user'] },
      {
        sub: { stream: 'user:notification' },
        channel: `timeline:${u.accountId}:notifications`,
        label: ['user:notification'],
        event: 'notification',
      },
      { sub: { stream: 'public' }, channel: 'timeline:public', label: ['public'] },
      { sub: { stream: 'public:media' }, channel: 'timeline:public:media', label: ['public:media'] },
      { sub: { stream: 'public:local' }, channel: 'timeline:public:local', label: ['public:local'] },
      {
        sub: { stream: 'public:local:media' },
        channel: 'timeline:public:local:media',
        label: ['public:local:media'],
      },
      { sub: { stream: 'public:remote' }, channel: 'timeline:public:remote', label: ['public:remote'] },
      {
        sub: { stream: 'public:remote:media' },
        channel: 'timeline:public:remote:media',
        label: ['public:remote:media'],
      },
      {
        sub: { stream: 'hashtag', tag: `#Foo${x}` },
        channel: `timeline:hashtag:foo${x}`,
        label: ['hashtag', `#Foo${x}`],
      },
      {
        sub: { stream: 'hashtag:local', tag: `Café${x}` },
        channel: `timeline:hashtag:cafe${x}:local`,
        label: ['hashtag:local', `Café${x}`],
      },
      { sub: { stream: 'list', list: listId }, channel: `timeline:list:${listId}`, label: ['list', listId] },
      {
        sub: { stream: 'direct' },
        channel: `timeline:direct:${u.accountId}`,
        label: ['direct'],
        event: 'conversation',
      },
    ];
    for (const { sub } of subs)
      ws.subscribe(sub['stream'], Object.fromEntries(Object.entries(sub).filter(([k]) => k !== 'stream')));
    for (const { channel } of subs) await s.ready(ws, channel);

    const sent = new Map<string, string>();
    for (const { channel, event } of subs) {
      const payload =
        event === 'notification'
          ? notificationJson(author)
          : event === 'conversation'
            ? conversationJson(author, statusJson(author))
            : statusJson(author, { media: channel.endsWith(':media') });
      sent.set(channel, payload.id);
      expect(await s.publish(channel, event ?? 'update', payload), `published on ${channel}`).toBe(true);
    }
    for (const { channel } of subs)
      await ws.waitForEvent(wsHasId(sent.get(channel)!), 5_000, `the event on ${channel}`);
    // Notifications reach both subscriptions: ["user"] (the user stream includes them) and ["user:notification"].
    const notifId = sent.get(`timeline:${u.accountId}:notifications`)!;
    await ws.waitForEvents(wsHasId(notifId), 2, 5_000, 'the notification under both labels');

    for (const { channel, label } of subs) {
      const labels = labelsOf(ws, sent.get(channel)!);
      if (channel.endsWith(':notifications')) {
        expect(labels.sort(), channel).toEqual([['user'], ['user:notification']]);
      } else {
        expect(labels, channel).toEqual([label]);
      }
    }
    // No acknowledgements or other frames: everything received is an event with stream and event.
    expect(ws.errors()).toEqual([]);
    expect(
      ws.frames.items.every((f) => Array.isArray(f.json?.stream) && typeof f.json?.event === 'string'),
    ).toBe(true);
  });

  it('WS - frames are {"stream","event","payload"} with payload always a string (objects as JSON text, ids raw)', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const ws = await s.ws({ token: u.token });
    ws.subscribe('user');
    await s.ready(ws, `timeline:${u.accountId}`);
    await s.ready(ws, `timeline:${u.accountId}:notifications`);

    const st = statusJson(author);
    await s.publish(`timeline:${u.accountId}`, 'update', st);
    const upd = await ws.waitForEvent(wsHasId(st.id, 'update'));
    expect(upd.raw).toBe(JSON.stringify({ stream: ['user'], event: 'update', payload: JSON.stringify(st) }));

    await s.publish(`timeline:${u.accountId}`, 'delete', st.id);
    const del = await ws.waitForEvent((e) => e.event === 'delete' && e.payload === st.id);
    expect(del.raw).toBe(`{"stream":["user"],"event":"delete","payload":"${st.id}"}`);

    await s.publish(`timeline:${u.accountId}:notifications`, 'notifications_merged', '1');
    const merged = await ws.waitForEvent((e) => e.event === 'notifications_merged');
    expect(merged.raw).toBe('{"stream":["user"],"event":"notifications_merged","payload":"1"}');

    // Payload-less events (filters_changed on the home channel) are never forwarded (spec §7.4).
    await s.publishRaw(`timeline:${u.accountId}`, JSON.stringify({ event: 'filters_changed' }));
    const edit = statusJson(author, { content: '<p>edited</p>' });
    await s.publish(`timeline:${u.accountId}:notifications`, 'status.update', edit);
    const su = await ws.waitForEvent(wsHasId(edit.id, 'status.update'));
    expect(su.stream).toEqual(['user']);
    expect(typeof su.payload).toBe('string');
    expect(JSON.parse(su.payload as string)).toEqual(edit);
    expect(ws.events((e) => e.event === 'filters_changed')).toEqual([]);
  });

  it('WS - the stream query parameter subscribes at connect, on any path, with tag from the query', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const x = suffix();
    const a = await s.ws({
      token: u.token,
      path: '/api/v1/streaming/',
      query: { stream: 'hashtag', tag: `Foo${x}` },
    });
    const b = await s.ws({ token: u.token, path: '/some/other/path', query: { stream: 'public:local' } });
    await s.ready(a, `timeline:hashtag:foo${x}`);
    await s.ready(b, 'timeline:public:local');
    const t = statusJson(author, { tags: [`foo${x}`] });
    const l = statusJson(author);
    await s.publish(`timeline:hashtag:foo${x}`, 'update', t);
    await s.publish('timeline:public:local', 'update', l);
    expect((await a.waitForEvent(wsHasId(t.id))).stream).toEqual(['hashtag', `Foo${x}`]);
    expect((await b.waitForEvent(wsHasId(l.id))).stream).toEqual(['public:local']);
    expect(labelsOf(a, l.id)).toEqual([]);
  });

  it('WS - list label keeps the value as sent (a JSON number stays a number)', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const small = String(1_000_000 + Math.floor(Math.random() * 8_000_000));
    const numeric = await s.fx.createList(u.accountId, 'numeric', small);
    const text = await s.fx.createList(u.accountId, 'text');
    const ws = await s.ws({ token: u.token });
    ws.subscribe('list', { list: Number(numeric) });
    ws.subscribe('list', { list: text });
    await s.ready(ws, `timeline:list:${numeric}`);
    await s.ready(ws, `timeline:list:${text}`);
    const a = statusJson(author);
    const b = statusJson(author);
    await s.publish(`timeline:list:${numeric}`, 'update', a);
    await s.publish(`timeline:list:${text}`, 'update', b);
    await ws.waitForEvent(wsHasId(a.id));
    await ws.waitForEvent(wsHasId(b.id));
    expect(ws.events(wsHasId(a.id))[0]!.raw.startsWith(`{"stream":["list",${numeric}],`)).toBe(true);
    expect(ws.events(wsHasId(b.id))[0]!.raw.startsWith(`{"stream":["list","${text}"],`)).toBe(true);
  });

  it('WS - unsubscribe stops delivery of that stream only; unknown unsubscribes are ignored', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const x = suffix();
    const ws = await s.ws({ token: u.token });
    ws.subscribe('hashtag', { tag: `Foo${x}` });
    ws.subscribe('public:local');
    await s.ready(ws, `timeline:hashtag:foo${x}`);
    await s.ready(ws, 'timeline:public:local');
    await waitForMetric(
      s.gateway,
      'connected_channels',
      { type: 'websocket', channel: 'hashtag' },
      (v) => v === 1,
    );

    // A different spelling resolves to the same channel, so it removes the subscription.
    ws.unsubscribe('hashtag', { tag: `FOO${x}` });
    ws.unsubscribe('public:remote'); // never subscribed: ignored
    ws.unsubscribe('hashtag', { tag: `nothing${x}` }); // never subscribed: ignored
    await waitForMetric(
      s.gateway,
      'connected_channels',
      { type: 'websocket', channel: 'hashtag' },
      (v) => v === 0,
    );

    const gone = statusJson(author);
    await s.publish(`timeline:hashtag:foo${x}`, 'update', gone);
    const marker = statusJson(author);
    await s.publish('timeline:public:local', 'update', marker);
    // Everything passes through one JetStream stream in publish order: had the hashtag status been
    // delivered, it would have arrived before the marker.
    await ws.waitForEvent(wsHasId(marker.id));
    expect(labelsOf(ws, gone.id)).toEqual([]);
    // Subscribing again works (and replays nothing).
    ws.subscribe('hashtag', { tag: `foo${x}` });
    await s.ready(ws, `timeline:hashtag:foo${x}`);
    const again = statusJson(author);
    await s.publish(`timeline:hashtag:foo${x}`, 'update', again);
    expect((await ws.waitForEvent(wsHasId(again.id))).stream).toEqual(['hashtag', `foo${x}`]);
    expect(labelsOf(ws, gone.id)).toEqual([]);
    expect(ws.errors()).toEqual([]);
    expect(ws.isOpen).toBe(true);
  });

  it('WS - a duplicate subscribe (same resolved channels) is a no-op: one delivery, first label', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const x = suffix();
    const ws = await s.ws({ token: u.token });
    ws.subscribe('hashtag', { tag: `Foo${x}` });
    ws.subscribe('hashtag', { tag: `foo${x}` });
    ws.subscribe('hashtag', { tag: `#FOO${x}` });
    ws.subscribe('public');
    ws.subscribe('public');
    await s.ready(ws, `timeline:hashtag:foo${x}`);
    await s.ready(ws, 'timeline:public');
    const t = statusJson(author);
    const p = statusJson(author);
    await s.publish(`timeline:hashtag:foo${x}`, 'update', t);
    await s.publish('timeline:public', 'update', p);
    await ws.waitForEvent(wsHasId(t.id));
    await ws.waitForEvent(wsHasId(p.id));
    // A marker on each channel after them: anything duplicated would have arrived before it.
    const m1 = `m${x}1`;
    const m2 = `m${x}2`;
    await s.publish(`timeline:hashtag:foo${x}`, 'delete', m1);
    await s.publish('timeline:public', 'delete', m2);
    await ws.waitForEvent((e) => e.payload === m1);
    await ws.waitForEvent((e) => e.payload === m2);
    expect(labelsOf(ws, t.id)).toEqual([['hashtag', `Foo${x}`]]);
    expect(labelsOf(ws, p.id)).toEqual([['public']]);
    expect(ws.events((e) => e.payload === m1)).toHaveLength(1);
    expect(await s.gateway.metric('connected_channels', { type: 'websocket', channel: 'hashtag' })).toBe(1);
    expect(await s.gateway.metric('connected_channels', { type: 'websocket', channel: 'public' })).toBe(1);
  });

  it("WS - a binary frame closes the connection with 1003 and Mastodon's reason", async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const ws = await s.ws({ token: u.token });
    ws.sendBinary(Buffer.from('{"type":"subscribe","stream":"public"}'));
    const close = await ws.waitForClose(5_000);
    expect(close.code).toBe(1003);
    expect(close.reason).toBe('The mastodon streaming server does not support binary messages');
  });

  it('WS - invalid JSON and unknown message types are ignored; the connection stays usable', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const ws = await s.ws({ token: u.token });
    ws.send('this is not json');
    ws.send('{"type":');
    ws.send({ type: 'ping' });
    ws.send({ type: 'hello', stream: 'public' });
    ws.send('[]');
    ws.send('null');
    ws.subscribe('public:remote');
    await s.ready(ws, 'timeline:public:remote');
    const st = statusJson(author);
    await s.publish('timeline:public:remote', 'update', st);
    await ws.waitForEvent(wsHasId(st.id));
    expect(ws.isOpen).toBe(true);
    // Nothing but events (ours and probes): no error frames, no acknowledgements.
    expect(ws.frames.items.length).toBe(ws.events().length);
    expect(ws.events((e) => isProbeWs(e) || wsHasId(st.id)(e)).length).toBeGreaterThanOrEqual(2);
  });

  it('WS - one bus subscription per subject per gateway, kept while any local subscriber remains', async () => {
    const s = await startStack();
    const g = s.gateway;
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const x = suffix();
    const channel = `timeline:hashtag:${x}`;
    const base = await g.metric('sluice_gateway_nats_subscriptions');
    const a = await s.ws({ token: u.token });
    a.subscribe('hashtag', { tag: x });
    await s.ready(a, channel);
    const one = await g.metric('sluice_gateway_nats_subscriptions');
    expect(one).toBeGreaterThan(base);
    // Same token (same system channels), same hashtag: no new subscription.
    const b = await s.ws({ token: u.token });
    b.subscribe('hashtag', { tag: x.toUpperCase() });
    await s.ready(b, channel);
    expect(await g.metric('sluice_gateway_nats_subscriptions')).toBe(one);
    expect(await g.metric('redis_subscriptions')).toBe(one);
    await a.close();
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === 1);
    expect(await g.metric('sluice_gateway_nats_subscriptions')).toBe(one);
    const st = statusJson(author);
    await s.publish(channel, 'update', st);
    await b.waitForEvent(wsHasId(st.id));
    await b.close();
    await waitForMetric(g, 'sluice_gateway_nats_subscriptions', {}, (v) => v === base);
  });

  it('WS - subscribes still in flight when the socket closes register nothing', async () => {
    const s = await startStack();
    const g = s.gateway;
    const u = await s.fx.createUser();
    const listId = await s.fx.createList(u.accountId);
    const x = suffix();
    for (let i = 0; i < 20; i++) {
      const ws = await s.ws({ token: u.token });
      // The list subscription needs a database round trip; the close frame follows at once.
      ws.subscribe('list', { list: listId });
      ws.subscribe('hashtag', { tag: `${x}${i % 3}` });
      ws.subscribe('user');
      await ws.close();
    }
    // A later connection's list subscription completes after theirs (same path, same pool).
    const last = await s.ws({ token: u.token });
    last.subscribe('list', { list: listId });
    await s.ready(last, `timeline:list:${listId}`);
    await last.close();
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === 0);
    for (const channel of ['list', 'hashtag', 'user', 'system']) {
      expect(await g.metric('connected_channels', { type: 'websocket', channel }), channel).toBe(0);
    }
    await waitForMetric(g, 'sluice_gateway_nats_subscriptions', {}, (v) => v === 0);
  });
});
