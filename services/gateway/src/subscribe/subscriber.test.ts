import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { Authoriser, StreamResolver, TokenLookup } from '../authorise/index.js';
import { GatewayMetrics } from '../metrics.js';
import { auth, memoryLogger, memoryStore, PREFIX } from '../testing.js';
import { Connections, MemorySink } from '../write/index.js';
import { MemoryBus } from './bus-memory.js';
import { Hub } from './hub.js';
import { SubjectRegistry } from './subject-registry.js';
import { Subscriber } from './subscriber.js';

function setup() {
  const store = memoryStore();
  const bus = new MemoryBus();
  const { logger } = memoryLogger();
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const registry = new SubjectRegistry({ bus, prefix: PREFIX, logger, onMessage: () => {} });
  const hub = new Hub(registry);
  const authoriser = new Authoriser(
    new TokenLookup({ store, batchMax: 10 }),
    new StreamResolver({ store, glitch: false }),
    trace.getTracer('t'),
  );
  const subscriber = new Subscriber({ hub, authoriser, metrics, logger });
  const connections = new Connections({
    metrics,
    logger,
    sendBufferBytes: 1 << 20,
    onClosed: (c) => subscriber.release(c),
  });
  const conn = connections.create(new MemorySink('websocket'), auth(), 'r');
  connections.add(conn);
  return { store, bus, hub, metrics, subscriber, connections, conn };
}

async function channels(metrics: GatewayMetrics, type: string, channel: string): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'connected_channels');
  return m!.values.find((v) => v.labels['type'] === type && v.labels['channel'] === channel)!.value;
}

describe('subscribe - connection subscriptions', () => {
  it('opens the two system channels once', async () => {
    const { subscriber, conn, hub, metrics } = setup();
    subscriber.openSystem(conn);
    subscriber.openSystem(conn);
    expect(hub.recipients('timeline:access_token:11')?.size).toBe(1);
    expect(hub.recipients('timeline:system:101')?.size).toBe(1);
    expect(await channels(metrics, 'websocket', 'system')).toBe(2);
  });

  it('treats the same resolved channel set as the same subscription', async () => {
    const { subscriber, conn, metrics } = setup();
    const first = await subscriber.subscribe(conn, 'hashtag', { tag: 'Foo' });
    const again = await subscriber.subscribe(conn, 'hashtag', { tag: 'foo' });
    expect(first?.labelJson).toBe('["hashtag","Foo"]');
    expect(again).toBeNull();
    expect(conn.subscriptions.values().map((s) => s.key)).toEqual(['timeline:hashtag:foo']);
    expect(await channels(metrics, 'websocket', 'hashtag')).toBe(1);
  });

  it('checks scopes before resolving, even for unknown names', async () => {
    const { subscriber, connections } = setup();
    const weak = connections.create(new MemorySink('websocket'), auth({ scopes: ['profile'] }), 'w');
    await expect(subscriber.subscribe(weak, 'nonsense', {})).rejects.toThrow(
      'Access token does not have the required scopes',
    );
    const notif = connections.create(new MemorySink('websocket'), auth({ scopes: ['read:statuses'] }), 'n');
    await expect(subscriber.subscribe(notif, 'user:notification', {})).rejects.toThrow('required scopes');
  });

  it('registers nothing when the connection closed while resolving', async () => {
    const { subscriber, conn, connections, hub, store, bus } = setup();
    store.delayMs = 10;
    const pending = subscriber.subscribe(conn, 'list', { list: '42' });
    connections.close(conn, 'gone');
    expect(await pending).toBeNull();
    expect(hub.recipients('timeline:list:42')).toBeUndefined();
    expect(bus.subjects()).toEqual([]);
  });

  it('unsubscribes by resolving again and ignores unknown subscriptions', async () => {
    const { subscriber, conn, bus, metrics } = setup();
    await subscriber.subscribe(conn, 'public:local', {});
    await subscriber.unsubscribe(conn, 'public', {});
    expect(conn.subscriptions.size).toBe(1);
    await subscriber.unsubscribe(conn, 'public:local', {});
    expect(conn.subscriptions.size).toBe(0);
    expect(bus.subjects()).toEqual([]);
    expect(await channels(metrics, 'websocket', 'public:local')).toBe(0);
    await expect(subscriber.unsubscribe(conn, 'list', { list: '43' })).rejects.toThrow('Not authorized');
  });

  it('releases everything when the connection closes', async () => {
    const { subscriber, conn, connections, bus, metrics } = setup();
    subscriber.openSystem(conn);
    await subscriber.subscribe(conn, 'user', {});
    await subscriber.subscribe(conn, 'public', {});
    // Two system wildcards, one for the user's home + notifications, one for public.
    expect(bus.subjects().sort()).toEqual([
      'test.ev.access_token.*',
      'test.ev.public',
      'test.ev.system.*',
      'test.ev.user.101.*',
    ]);
    connections.close(conn, 'gone');
    expect(bus.subjects()).toEqual([]);
    expect(await channels(metrics, 'websocket', 'system')).toBe(0);
    expect(await channels(metrics, 'websocket', 'user')).toBe(0);
  });
});
