/**
 * Redis restarted under load: ingest notices, reports itself unready, reconnects and subscribes
 * again by itself, and every message Redis delivered to it after that reaches NATS once, in order.
 * (Redis pub/sub has no replay: what is published while Redis is down is lost for everyone.)
 */
import { describe, expect, it } from 'vitest';
import {
  canControlServer,
  collect,
  connectNats,
  LoadPublisher,
  outageTolerantPublisher,
  parseLoad,
  snowflake,
  startServer,
  stopServer,
  testScope,
  text,
} from '../harness/index.js';
import { startIngest } from './helpers.js';

describe.skipIf(!canControlServer('redis'))('ingest: Redis restarted under load', () => {
  it('re-subscribes by itself; what Redis delivered after the restart reaches NATS once, in order', async () => {
    const scope = testScope();
    const ingest = await startIngest(scope, { REDIS_NAMESPACE: scope.namespace });
    const nc = await connectNats();
    const col = await collect(nc, `${scope.prefix}.ev.>`);
    const channels = [
      `timeline:${snowflake()}`,
      'timeline:public',
      `timeline:hashtag:straße${scope.id}`,
      `timeline:list:${snowflake()}`,
    ];
    const load = new LoadPublisher(outageTolerantPublisher(), scope.id, channels, {
      redisPrefix: `${scope.namespace}:`,
      batch: 20,
      intervalMs: 5,
    });
    const reconnectsBefore = await ingest.metric('sluice_ingest_redis_reconnects_total');

    load.start();
    await load.waitUntil(() => load.confirmed >= 500, 10_000, '500 messages received by ingest');
    await stopServer('redis');
    const down = await ingest.waitForUnhealthy(10_000);
    expect(down.status).toBe(503);
    expect(down.json).toMatchObject({ nats: 'connected' });
    expect((down.json as { redis?: unknown }).redis).not.toBe('ready');
    await startServer('redis');
    const restartIndex = load.records.length;
    const confirmedSince = () => load.records.slice(restartIndex).filter((r) => r.outcome === 1).length;
    // PUBLISH answers 1 again only once ingest has subscribed again (nobody else listens on this namespace).
    await load.waitUntil(
      () => confirmedSince() >= 1000,
      20_000,
      '1000 messages received by ingest after the restart',
    );
    await load.stop();
    await ingest.waitForHealthy(10_000);

    const confirmed = load.records.filter((r) => r.outcome === 1);
    const uncertain = new Set(load.records.filter((r) => r.outcome === 'error').map((r) => r.payload));
    const wanted = new Set(confirmed.map((r) => r.payload));
    await col.waitUntil(
      (msgs) => msgs.filter((m) => wanted.has(text(m))).length >= wanted.size,
      20_000,
      'every confirmed message',
    );

    // Nothing else than what Redis handed to ingest (or may have, when PUBLISH failed) arrived, once each.
    const seen = new Set<string>();
    const lastN = new Map<number, number>();
    for (const m of col.messages) {
      const data = text(m);
      expect(wanted.has(data) || uncertain.has(data), `unexpected message ${data}`).toBe(true);
      expect(seen.has(data), `duplicate ${data}`).toBe(false);
      seen.add(data);
      const id = parseLoad(data, scope.id)!;
      expect(id.n, `order on ${channels[id.ch]}`).toBeGreaterThan(lastN.get(id.ch) ?? -1);
      lastN.set(id.ch, id.n);
    }
    expect(load.records.slice(0, restartIndex).some((r) => r.outcome === 0 || r.outcome === 'error')).toBe(
      true,
    );
    expect(await ingest.metric('sluice_ingest_redis_reconnects_total')).toBeGreaterThan(reconnectsBefore);
    expect(ingest.running).toBe(true);
  });
});
