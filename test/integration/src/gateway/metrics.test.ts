/**
 * `/metrics` keeps Mastodon's names and labels without prefix (spec §9, §16 row 13), primed to 0,
 * and the gauges and counters follow clients as they connect, subscribe, receive and leave.
 */
import { describe, expect, it } from 'vitest';
import { httpRequest, WsClient } from '../harness/clients.js';
import type { TestUser } from '../harness/fixtures.js';
import { SSE, startStack, statusJson, suffix, waitForMetric, wsHasId } from './support.js';

const CHANNELS = [
  'system',
  'user',
  'user:notification',
  'list',
  'direct',
  'public',
  'public:media',
  'public:local',
  'public:local:media',
  'public:remote',
  'public:remote:media',
  'hashtag',
  'hashtag:local',
];

describe('gateway metrics', () => {
  it("metrics - Prometheus text with Mastodon's metric names and labels, primed to 0", async () => {
    const s = await startStack();
    const r = await httpRequest({ port: s.port, path: '/metrics' });
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.headers['cache-control']).toBe('private, no-store');
    const m = await s.gateway.metrics();
    expect(m.types.get('connected_clients')).toBe('gauge');
    expect(m.types.get('connected_channels')).toBe('gauge');
    expect(m.types.get('redis_subscriptions')).toBe('gauge');
    expect(m.types.get('redis_messages_received_total') ?? m.types.get('redis_messages_received')).toBe(
      'counter',
    );
    expect(m.types.get('messages_sent_total') ?? m.types.get('messages_sent')).toBe('counter');
    for (const name of ['pg_pool_total_connections', 'pg_pool_idle_connections', 'pg_pool_waiting_queries']) {
      expect(m.types.get(name), name).toBe('gauge');
    }
    for (const type of ['websocket', 'eventsource']) {
      expect(
        m.samples.some((x) => x.name === 'connected_clients' && x.labels['type'] === type && x.value === 0),
        type,
      ).toBe(true);
      expect(
        m.samples.some((x) => x.name === 'messages_sent_total' && x.labels['type'] === type),
        type,
      ).toBe(true);
      for (const channel of CHANNELS) {
        const sample = m.samples.find(
          (x) =>
            x.name === 'connected_channels' && x.labels['type'] === type && x.labels['channel'] === channel,
        );
        expect(sample?.value, `connected_channels{type="${type}",channel="${channel}"}`).toBe(0);
      }
    }
    // prom-client's default process metrics, as Mastodon exports them.
    expect(m.has('process_cpu_seconds_total')).toBe(true);
    expect(m.has('nodejs_eventloop_lag_seconds')).toBe(true);
    // No prefix on Mastodon's names.
    expect(m.has('mastodon_streaming_connected_clients')).toBe(false);
  });

  it('metrics - connected_clients, connected_channels and messages_sent_total follow WebSocket and SSE clients', async () => {
    const s = await startStack();
    const g = s.gateway;
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const x = suffix();
    const received0 = await g.metric('redis_messages_received_total');

    const ws = await s.ws({ token: u.token });
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === 1);
    // Two system channels per connection, as Mastodon counts them.
    await waitForMetric(g, 'connected_channels', { type: 'websocket', channel: 'system' }, (v) => v === 2);
    ws.subscribe('hashtag', { tag: `Tag${x}` });
    ws.subscribe('public:local');
    await waitForMetric(g, 'connected_channels', { type: 'websocket', channel: 'hashtag' }, (v) => v === 1);
    await waitForMetric(
      g,
      'connected_channels',
      { type: 'websocket', channel: 'public:local' },
      (v) => v === 1,
    );

    const sse = await s.sse({ path: `${SSE}/public/local`, token: u.token });
    const sse2 = await s.sse({ path: `${SSE}/user`, token: u.token });
    await waitForMetric(g, 'connected_clients', { type: 'eventsource' }, (v) => v === 2);
    await waitForMetric(
      g,
      'connected_channels',
      { type: 'eventsource', channel: 'public:local' },
      (v) => v === 1,
    );
    await waitForMetric(g, 'connected_channels', { type: 'eventsource', channel: 'user' }, (v) => v === 1);
    await waitForMetric(g, 'connected_channels', { type: 'eventsource', channel: 'system' }, (v) => v === 4);

    await s.ready(ws, 'timeline:public:local');
    await s.ready(sse, 'timeline:public:local');
    const wsSent0 = await g.metric('messages_sent_total', { type: 'websocket' });
    const sseSent0 = await g.metric('messages_sent_total', { type: 'eventsource' });
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    await ws.waitForEvent(wsHasId(st.id));
    await sse.waitForEvent((e) => e.data.includes(st.id));
    // Probes may still trickle in: at least this one event was counted per transport.
    await waitForMetric(g, 'messages_sent_total', { type: 'websocket' }, (v) => v >= wsSent0 + 1);
    await waitForMetric(g, 'messages_sent_total', { type: 'eventsource' }, (v) => v >= sseSent0 + 1);
    await waitForMetric(g, 'redis_messages_received_total', {}, (v) => v > received0);
    expect(await g.metric('redis_subscriptions')).toBeGreaterThan(0);

    ws.unsubscribe('hashtag', { tag: `tag${x}` });
    await waitForMetric(g, 'connected_channels', { type: 'websocket', channel: 'hashtag' }, (v) => v === 0);
    await ws.close();
    sse.close();
    sse2.close();
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === 0);
    await waitForMetric(g, 'connected_clients', { type: 'eventsource' }, (v) => v === 0);
    for (const type of ['websocket', 'eventsource']) {
      for (const channel of CHANNELS) {
        await waitForMetric(g, 'connected_channels', { type, channel }, (v) => v === 0);
      }
    }
  });

  it('metrics - pg_pool gauges report the pool after authentication used it', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const ws = await s.ws({ token: u.token });
    expect(ws.status).toBe(101);
    const total = await waitForMetric(s.gateway, 'pg_pool_total_connections', {}, (v) => v >= 1);
    const idle = await s.gateway.metric('pg_pool_idle_connections');
    expect(idle).toBeLessThanOrEqual(total);
    expect(await s.gateway.metric('pg_pool_waiting_queries')).toBe(0);
  });

  it('metrics - concurrent token look-ups are coalesced into few queries (sluice_gateway_auth_batch_size)', async () => {
    const s = await startStack();
    const g = s.gateway;
    const users: TestUser[] = [];
    for (let i = 0; i < 40; i++) users.push(await s.fx.createUser());
    const count0 = await g.metric('sluice_gateway_auth_batch_size_count');
    const N = 200;
    const clients = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        WsClient.connect({ port: s.port, token: users[i % users.length]!.token }),
      ),
    );
    expect(clients.every((c) => c.status === 101)).toBe(true);
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === N);
    const queries = (await g.metric('sluice_gateway_auth_batch_size_count')) - count0;
    expect(queries, `${N} concurrent connections took ${queries} token queries`).toBeGreaterThan(0);
    expect(queries).toBeLessThanOrEqual(N / 4);
  });
});
