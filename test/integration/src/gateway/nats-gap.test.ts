/**
 * Gap repair (docs/streams.md §5): the gateway's own NATS connection is cut (a TCP proxy between
 * the gateway and NATS; ingest and NATS keep running) while Rails publishes. After the gateway
 * reconnects, it reads what it missed from the replay stream: a WebSocket and an SSE client end
 * with every event exactly once, in order, across the cut, the outage and the reconnect.
 */
import { channelToSubject } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import type { SseClient, WsClient } from '../harness/clients.js';
import { servers } from '../harness/env.js';
import { collect, connectNats } from '../harness/nats.js';
import { TcpProxy } from '../harness/tcp-proxy.js';
import { isProbeSse, isProbeWs, SSE, startStack, statusJson } from './support.js';

describe('gateway NATS gap repair', () => {
  it('NATS connection cut - events published meanwhile reach WS and SSE clients exactly once, in order', async () => {
    const nats = new URL(servers().natsUrl);
    const proxy = await TcpProxy.start({ host: nats.hostname, port: Number(nats.port) });
    const s = await startStack({ gatewayEnv: { NATS_URL: proxy.url() } });
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const channel = 'timeline:public:local';
    const ws = await s.ws({ token: u.token });
    ws.subscribe('public:local');
    const sse = await s.sse({ path: `${SSE}/public/local`, token: u.token });
    await s.ready(ws, channel);
    await s.ready(sse, channel);

    // What NATS republished on the channel's subject, seen from a connection of our own: proof
    // that ingest stored an event while the gateway could not receive it.
    const nc = await connectNats('sluice-gap-test');
    const republished = await collect(nc, channelToSubject(s.scope.prefix, 'ev', channel));

    const ids: string[] = [];
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const st = statusJson(author);
        ids.push(st.id);
        expect(await s.publish(channel, 'update', st)).toBe(true);
      }
    };
    const wsIds = (c: WsClient) =>
      c
        .events((e) => e.event === 'update' && !isProbeWs(e))
        .map((e) => JSON.parse(e.payload as string).id as string);
    const sseUpdates = (c: SseClient) => c.events.items.filter((e) => e.event === 'update' && !isProbeSse(e));

    // 1. Live.
    await publish(5);
    await ws.waitForEvent((e) => e.event === 'update' && (e.payload as string).includes(ids[4]!), 5_000);
    await sse.waitForEvent((e) => e.event === 'update' && e.data.includes(ids[4]!), 5_000);

    // 2. The gateway's connection is cut, and reconnecting is refused for a while.
    proxy.cut();
    await s.gateway.waitForLog(/NATS disconnected/, 10_000);
    await publish(20);
    await republished.waitUntil(
      (m) => m.some((x) => Buffer.from(x.data).toString().includes(ids[24]!)),
      10_000,
      'the 25th event republished by NATS',
    );
    expect(wsIds(ws)).toHaveLength(5);

    // 3. Reconnecting is allowed again: events keep coming before, during and after the reconnect.
    const restoredAt = Date.now();
    proxy.restore();
    await publish(10);
    await proxy.accepted.waitFor(
      (at) => at >= restoredAt,
      10_000,
      'the gateway to reconnect through the proxy',
    );
    await s.gateway.waitForLog(/NATS reconnected/, 10_000);
    await publish(10);

    const last = ids.at(-1)!;
    await ws.waitForEvent((e) => e.event === 'update' && (e.payload as string).includes(last), 15_000);
    await sse.waitForEvent((e) => e.event === 'update' && e.data.includes(last), 15_000);

    expect(ids).toHaveLength(45);
    expect(wsIds(ws)).toEqual(ids);
    expect(sseUpdates(sse).map((e) => JSON.parse(e.data).id as string)).toEqual(ids);
    // SSE ids are the conduit sequences: strictly increasing across the gap.
    const seqs = sseUpdates(sse).map((e) => Number(e.id));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(ws.isOpen).toBe(true);
    expect(sse.ended).toBeNull();

    // Counted: at least the 20 events published while reconnecting was refused were repaired.
    await s.gateway.waitForLog(/Repaired the events missed while NATS was disconnected/, 5_000);
    const m = await s.gateway.metrics();
    expect(m.value('sluice_gateway_nats_disconnects_total')).toBeGreaterThanOrEqual(1);
    expect(m.value('sluice_gateway_gap_repairs_total')).toBeGreaterThanOrEqual(1);
    expect(m.value('sluice_gateway_gap_repaired_events_total')).toBeGreaterThanOrEqual(20);
    for (const reason of ['evicted', 'limit', 'error'])
      expect(m.value('sluice_gateway_gap_repairs_incomplete_total', { reason }), reason).toBe(0);
  });
});
