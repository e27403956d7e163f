import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../metrics.js';
import { auth, memoryLogger } from '../testing.js';
import type { Connection } from './connection.js';
import { Connections } from './connections.js';
import { sendPaced } from './pace.js';
import { MemorySink } from './sink-memory.js';

function setup(sendBufferBytes = 100) {
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const closed: Connection[] = [];
  const { logger } = memoryLogger();
  const connections = new Connections({ metrics, logger, sendBufferBytes, onClosed: (c) => closed.push(c) });
  return { metrics, closed, connections };
}

async function value(
  metrics: GatewayMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? Number.NaN;
}

describe('write - bounded send buffer', () => {
  it('writes while under the bound, disconnects and counts past it', async () => {
    const { metrics, closed, connections } = setup(100);
    const sink = new MemorySink('websocket');
    sink.stalled = true;
    const conn = connections.create(sink, auth(), 'r1');
    connections.add(conn);
    expect(conn.send(Buffer.alloc(60))).toBe(true);
    expect(conn.send(Buffer.alloc(40))).toBe(true);
    expect(conn.send(Buffer.alloc(1))).toBe(false);
    expect(sink.aborted).toBe(true);
    expect(conn.closed).toBe(true);
    expect(closed).toEqual([conn]);
    expect(connections.size).toBe(0);
    expect(await value(metrics, 'sluice_gateway_slow_client_disconnects_total', { type: 'websocket' })).toBe(
      1,
    );
    expect(await value(metrics, 'connected_clients', { type: 'websocket' })).toBe(0);
    expect(conn.send(Buffer.alloc(1))).toBe(false);
    expect(sink.frames).toHaveLength(2);
  });

  it('a reading client is never disconnected however much it receives', () => {
    const { connections } = setup(100);
    const sink = new MemorySink('eventsource');
    const conn = connections.create(sink, auth(), 'r1');
    connections.add(conn);
    for (let i = 0; i < 1000; i++) expect(conn.send(Buffer.alloc(90))).toBe(true);
    expect(conn.closed).toBe(false);
  });

  it('holds live frames back during a resume', () => {
    const { connections } = setup();
    const sink = new MemorySink('eventsource');
    const conn = connections.create(sink, auth(), 'r1');
    conn.held = [];
    conn.deliver(Buffer.from('a'), 5);
    expect(sink.frames).toEqual([]);
    expect(conn.held).toHaveLength(1);
    conn.held = null;
    conn.deliver(Buffer.from('b'), 6);
    expect(sink.frames).toEqual(['b']);
  });
});

describe('write - paced writes (replay)', () => {
  it('waits while the buffer is full instead of cutting the client off', async () => {
    const { connections } = setup(100);
    const sink = new MemorySink('eventsource');
    sink.stalled = true;
    const conn = connections.create(sink, auth(), 'r');
    connections.add(conn);
    expect(await sendPaced(conn, Buffer.alloc(80))).toBe(true);
    const second = sendPaced(conn, Buffer.alloc(80), { pollMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.frames).toHaveLength(1);
    sink.drain();
    expect(await second).toBe(true);
    expect(sink.frames).toHaveLength(2);
    expect(conn.closed).toBe(false);
  });

  it('counts a client that does not read within the timeout as slow', async () => {
    const { connections } = setup(100);
    const sink = new MemorySink('eventsource');
    sink.stalled = true;
    const conn = connections.create(sink, auth(), 'r');
    connections.add(conn);
    await sendPaced(conn, Buffer.alloc(80));
    expect(await sendPaced(conn, Buffer.alloc(80), { timeoutMs: 20, pollMs: 1 })).toBe(false);
    expect(sink.aborted).toBe(true);
  });
});

describe('write - close', () => {
  it('is idempotent and ends politely for kill and drain', async () => {
    const { metrics, closed, connections } = setup();
    const a = new MemorySink('websocket');
    const b = new MemorySink('eventsource');
    const ca = connections.create(a, auth(), 'a');
    const cb = connections.create(b, auth(), 'b');
    connections.add(ca);
    connections.add(cb);
    expect(await value(metrics, 'connected_clients', { type: 'websocket' })).toBe(1);
    connections.close(ca, 'kill');
    connections.close(ca, 'drain');
    connections.close(cb, 'drain');
    expect(a.ended).toBe('kill');
    expect(b.ended).toBe('drain');
    expect(closed).toEqual([ca, cb]);
    expect(await value(metrics, 'sluice_gateway_drain_closed_total', { type: 'eventsource' })).toBe(1);
    expect(await value(metrics, 'connected_clients', { type: 'websocket' })).toBe(0);
  });

  it('does not count a connection that was never added', async () => {
    const { metrics, connections } = setup();
    const conn = connections.create(new MemorySink('eventsource'), auth(), 'x');
    connections.close(conn, 'gone');
    expect(await value(metrics, 'connected_clients', { type: 'eventsource' })).toBe(0);
  });
});

describe('write - keep-alive', () => {
  it('sends SSE heartbeats to every SSE connection in one pass', () => {
    const { connections } = setup();
    const sinks = [new MemorySink('eventsource'), new MemorySink('eventsource'), new MemorySink('websocket')];
    for (const s of sinks) connections.add(connections.create(s, auth(), 'r'));
    connections.sseHeartbeat();
    connections.sseHeartbeat();
    expect(sinks.map((s) => s.heartbeats)).toEqual([2, 2, 0]);
  });

  it('pings WebSockets and terminates one that missed the last pong', () => {
    const { connections, closed } = setup();
    const alive = new MemorySink('websocket');
    const dead = new MemorySink('websocket');
    const ca = connections.create(alive, auth(), 'a');
    const cd = connections.create(dead, auth(), 'd');
    connections.add(ca);
    connections.add(cd);
    connections.wsPing();
    expect([alive.heartbeats, dead.heartbeats]).toEqual([1, 1]);
    ca.alive = true; // pong
    connections.wsPing();
    expect(dead.aborted).toBe(true);
    expect(closed).toEqual([cd]);
    expect(alive.heartbeats).toBe(2);
    expect(alive.aborted).toBe(false);
  });
});
