/**
 * Slow clients (issue 3, Done when; DESIGN decision 10): a client that stops reading is
 * disconnected once its send buffer (SLUICE_SEND_BUFFER_BYTES) is full and counted in
 * `sluice_gateway_slow_client_disconnects_total`, while 1,000 other clients on the same stream keep
 * receiving every event.
 *
 * The stuck client is a raw socket with a ~1 KiB receive window (StuckClient), so the kernel
 * absorbs tens of kilobytes rather than megabytes before the gateway's own buffer fills.
 */
import { describe, expect, it } from 'vitest';
import {
  hasPython3,
  inBatches,
  SseClient as Sse,
  type SseClient,
  StuckClient,
  WsClient,
} from '../harness/clients.js';
import type { TestUser } from '../harness/fixtures.js';
import { expectFdLimit, SSE, type Stack, startStack, statusJson, suffix, waitForMetric } from './support.js';

const HEALTHY_WS = 500;
const HEALTHY_SSE = 500;
/** Events per batch: each batch (~13 KB) reaches the gateway as one burst, well under the buffer. */
const BATCH = 10;
const MAX_BATCHES = 40;
const SEND_BUFFER_BYTES = 32 * 1024;

/** Publishes probes until every client has received one. */
async function readyAll(s: Stack, clients: (WsClient | SseClient)[], channel: string, timeoutMs = 20_000) {
  const probes = new Set<string>();
  const has = (c: WsClient | SseClient) =>
    c instanceof WsClient
      ? c.events((e) => e.event === 'delete' && probes.has(String(e.payload))).length > 0
      : c.events.items.some((e) => e.event === 'delete' && probes.has(e.data));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = `probe${suffix()}`;
    probes.add(p);
    await s.publish(channel, 'delete', p);
    const waiting = clients.filter((c) => !has(c));
    if (waiting.length === 0) return;
    await Promise.allSettled(
      waiting.map((c) =>
        c instanceof WsClient
          ? c.waitForEvent((e) => e.event === 'delete' && probes.has(String(e.payload)), 500)
          : c.waitForEvent((e) => e.event === 'delete' && probes.has(e.data), 500),
      ),
    );
    if (clients.every(has)) return;
    if (Date.now() > deadline)
      throw new Error(`${clients.filter((c) => !has(c)).length} clients never got a probe on ${channel}`);
  }
}

function receivedIds(c: WsClient | SseClient): string[] {
  const payloads =
    c instanceof WsClient
      ? c.events((e) => e.event === 'update').map((e) => e.payload as string)
      : c.events.items.filter((e) => e.event === 'update').map((e) => e.data);
  return payloads.map((p) => /^\{"id":"([^"]+)"/.exec(p)?.[1] ?? `unparsable: ${p.slice(0, 40)}`);
}

describe('gateway slow clients', () => {
  it('slow client - a client that stops reading is cut off when its buffer is full; 1,000 others lose nothing', async () => {
    await expectFdLimit(2 * (HEALTHY_WS + HEALTHY_SSE) + 500);
    expect(await hasPython3(), 'python3 is needed for the small-window stuck client').toBe(true);
    const s = await startStack({
      gatewayEnv: { SLUICE_SEND_BUFFER_BYTES: String(SEND_BUFFER_BYTES), LOG_LEVEL: 'warn' },
    });
    const g = s.gateway;
    const users: TestUser[] = [];
    for (let i = 0; i < 10; i++) users.push(await s.fx.createUser());
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const x = suffix();
    const channel = `timeline:hashtag:${x}`;

    const ws = await inBatches([...Array(HEALTHY_WS).keys()], 50, (i) =>
      WsClient.connect({
        port: s.port,
        token: users[i % users.length]!.token,
        query: { stream: 'hashtag', tag: x },
      }),
    );
    const sse = await inBatches([...Array(HEALTHY_SSE).keys()], 50, (i) =>
      Sse.open({
        port: s.port,
        path: `${SSE}/hashtag`,
        query: { tag: x },
        token: users[i % users.length]!.token,
        keepRaw: false,
      }),
    );
    expect(sse.every((c) => c.status === 200)).toBe(true);
    const healthy = [...ws, ...sse];
    await readyAll(s, healthy, channel);
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === HEALTHY_WS);
    await waitForMetric(g, 'connected_clients', { type: 'eventsource' }, (v) => v === HEALTHY_SSE);

    const stuck = await StuckClient.open({
      port: s.port,
      path: `${SSE}/hashtag`,
      query: { tag: x },
      token: users[0]!.token,
    });
    await waitForMetric(
      g,
      'connected_channels',
      { type: 'eventsource', channel: 'hashtag' },
      (v) => v === HEALTHY_SSE + 1,
    );

    const ids: string[] = [];
    let publishedBytes = 0;
    const slowTotal = async () =>
      (await g.metric('sluice_gateway_slow_client_disconnects_total', { type: 'eventsource' })) +
      (await g.metric('sluice_gateway_slow_client_disconnects_total', { type: 'websocket' }));
    const publishBatch = async () => {
      for (let i = 0; i < BATCH; i++) {
        const st = statusJson(author, { tags: [x], content: `<p>${'filler '.repeat(20)}${ids.length}</p>` });
        ids.push(st.id);
        const msg = JSON.stringify({ event: 'update', payload: st });
        publishedBytes += Buffer.byteLength(msg);
        await s.publishRaw(channel, msg);
      }
      const head = `{"id":"${ids[ids.length - 1]!}"`;
      const started = Date.now();
      await Promise.all(
        healthy.map((c) =>
          c instanceof WsClient
            ? c.waitForEvent(
                (e) => e.event === 'update' && (e.payload as string).startsWith(head),
                15_000,
                `status ${ids.length}`,
              )
            : c.waitForEvent(
                (e) => e.event === 'update' && e.data.startsWith(head),
                15_000,
                `status ${ids.length}`,
              ),
        ),
      );
      return Date.now() - started;
    };

    let batches = 0;
    const batchTimes: number[] = [];
    while ((await slowTotal()) === 0) {
      expect(
        batches,
        `no slow-client disconnect after ${ids.length} events (${publishedBytes} bytes)`,
      ).toBeLessThan(MAX_BATCHES);
      batchTimes.push(await publishBatch());
      batches++;
    }
    // Keep the stream flowing after the cut: nobody else is affected.
    batchTimes.push(await publishBatch());
    batchTimes.push(await publishBatch());

    expect(await g.metric('sluice_gateway_slow_client_disconnects_total', { type: 'eventsource' })).toBe(1);
    expect(await g.metric('sluice_gateway_slow_client_disconnects_total', { type: 'websocket' })).toBe(0);
    await waitForMetric(g, 'connected_clients', { type: 'eventsource' }, (v) => v === HEALTHY_SSE);
    expect(await g.metric('connected_clients', { type: 'websocket' })).toBe(HEALTHY_WS);

    for (const [i, c] of healthy.entries()) {
      const got = receivedIds(c);
      if (got.length !== ids.length || got.some((id, j) => id !== ids[j])) {
        expect(
          got,
          `client ${i} (${c instanceof WsClient ? 'WebSocket' : 'SSE'}) lost or reordered events`,
        ).toEqual(ids);
      }
    }
    expect(ws.every((c) => c.isOpen)).toBe(true);
    expect(sse.every((c) => c.ended === null)).toBe(true);

    // The stuck client's connection was closed by the gateway: reading now reaches the end early.
    const drained = await stuck.drain(20_000);
    expect(['eof', 'reset'], `stuck client: ${drained.how} after ${drained.bytes} bytes`).toContain(
      drained.how,
    );
    expect(drained.bytes).toBeLessThan(publishedBytes);
    // Others were not held up: the slowest batch round trip stays far below the wait limit.
    expect(Math.max(...batchTimes), `batch round trips ${batchTimes.join(', ')} ms`).toBeLessThan(5_000);
  });
});
