/**
 * Two real ingest processes on real Redis and NATS: 20,000 Mastodon-shaped messages over 50
 * channels reach a NATS subscriber on `<prefix>.ev.>` exactly once, in per-channel order, with
 * byte-identical payloads — also when one ingest is SIGKILLed mid-stream and restarted.
 */
import { describe, expect, it } from 'vitest';
import {
  asRepublished,
  collect,
  connectNats,
  mastodonChannels,
  ownDeliveries,
  planMessages,
  readStream,
  redisClient,
  replayStreamOf,
  type ServiceHandle,
  startService,
  streamInfo,
  testScope,
  verifyDeliveries,
} from '../harness/index.js';
import {
  asGatewaySees,
  expectStrictlyIncreasing,
  inConduitOrder,
  ingestCounters,
  publishPlanned,
  sequences,
  startIngest,
  TEST_STREAM_ENV,
  waitDrained,
} from './helpers.js';

const TOTAL = 20_000;

describe('ingest: two replicas, 20,000 messages over 50 channels', () => {
  it('delivers every message exactly once, in per-channel order, byte-identical', async () => {
    // No REDIS_NAMESPACE: the plain Mastodon ≥ 4.4 channels. Other runs may publish on the shared
    // public channels at the same time, so deliveries are filtered to this run's messages.
    const scope = testScope();
    const channels = mastodonChannels(scope.id);
    const planned = planMessages(scope.id, channels, TOTAL);
    const [a, b] = await Promise.all([startIngest(scope), startIngest(scope)]);

    const nc = await connectNats();
    const col = await collect(nc, `${scope.prefix}.ev.>`, {
      filter: ownDeliveries(scope.prefix, scope.id, channels),
    });
    const redis = redisClient();
    await publishPlanned(redis, planned, { collector: col, batch: 500, window: 5000 });
    await col.waitFor(TOTAL, 30_000);
    // Both replicas have handled every message they received: a late copy would have arrived by now.
    const [ca, cb] = await Promise.all([waitDrained(a, 20_000, TOTAL), waitDrained(b, 20_000, TOTAL)]);

    // First what the stream stored (each message once, per-channel order), then what a subscriber
    // of the republished `ev` subjects received, in arrival order: it must be the same.
    const own = ownDeliveries(scope.prefix, scope.id, channels);
    const stored = inConduitOrder(
      asRepublished(scope.prefix, await readStream(nc, replayStreamOf(scope.stream))),
    ).filter(own);
    expect(
      verifyDeliveries(scope.prefix, planned, stored).problems,
      'stream contents, in stream order',
    ).toEqual([]);
    // What a gateway delivers: arrivals put back in per-channel stream order by the shared
    // reorderer (nats-server 2.9 may republish two replicas' messages slightly out of order).
    const { ordered, heldAtEnd } = asGatewaySees(col.messages);
    expect(heldAtEnd, 'messages still waiting for a predecessor that never arrived').toBe(0);
    const report = verifyDeliveries(scope.prefix, planned, ordered);
    expect(report.problems, 'deliveries on the ev subjects, per channel after reordering').toEqual([]);
    expect(report).toMatchObject({
      missing: 0,
      duplicated: 0,
      corrupted: 0,
      reorderedChannels: 0,
      received: TOTAL,
    });
    // One stream: RePublish numbers every stored message once.
    expectStrictlyIncreasing(
      [...sequences(col.messages)].sort((x, y) => x - y),
      'Nats-Sequence of received messages (sorted)',
    );

    // Both replicas took part: each received everything; each message was stored once, the other copy
    // acknowledged as a duplicate.
    expect(ca.received).toBeGreaterThanOrEqual(TOTAL);
    expect(cb.received).toBeGreaterThanOrEqual(TOTAL);
    expect(ca.invalid + cb.invalid).toBe(0);
    expect(ca.duplicates + cb.duplicates).toBeGreaterThanOrEqual(TOTAL);
    const info = await streamInfo(nc, scope.stream);
    // The conduit keeps only its last messages; its last sequence counts every one it stored.
    expect(info?.state.last_seq).toBe(ca.published + cb.published);
    expect(info?.state.last_seq).toBeGreaterThanOrEqual(TOTAL);

    // Mastodon's own metric name is kept, and publishes are timed.
    const m = await a.metrics();
    expect(m.value('redis_messages_received_total')).toBeGreaterThanOrEqual(TOTAL);
    expect(m.value('sluice_ingest_publish_latency_seconds_count')).toBeGreaterThanOrEqual(
      ca.published + ca.duplicates,
    );
    // Logs are pino JSON on stdout.
    expect(a.jsonLogs().length).toBeGreaterThan(0);
  });

  it('loses and duplicates nothing when one replica is SIGKILLed mid-stream and restarted', async () => {
    // A Redis namespace keeps this run's channels to itself, so every counter can be checked exactly.
    const scope = testScope();
    const env = { REDIS_NAMESPACE: scope.namespace };
    const channels = mastodonChannels(scope.id);
    const planned = planMessages(scope.id, channels, TOTAL);
    const [a, b] = await Promise.all([startIngest(scope, env), startIngest(scope, env)]);

    const nc = await connectNats();
    const col = await collect(nc, `${scope.prefix}.ev.>`);
    const redis = redisClient();
    let restarted: ServiceHandle | undefined;
    let killedAt = 0;
    let restartedAt = 0;
    await publishPlanned(redis, planned, {
      collector: col,
      batch: 250,
      window: 4000,
      redisPrefix: `${scope.namespace}:`,
      onBatch: async (sent) => {
        if (sent === 5000) {
          // Mid-stream: A still has messages in flight (the window lets the collector lag behind).
          killedAt = col.count;
          const exit = await a.kill();
          expect(exit.signal).toBe('SIGKILL');
        } else if (sent === 10_000) {
          // Start the replacement while messages keep coming; it joins once it is subscribed.
          restarted = await startService('ingest', { ...scope.env, ...TEST_STREAM_ENV, ...env });
        } else if (sent === 14_000) {
          await restarted!.waitForHealthy(20_000);
          restartedAt = col.count;
        }
      },
    });
    expect(killedAt).toBeLessThanOrEqual(5000);
    expect(restartedAt).toBeLessThanOrEqual(14_000);
    await col.waitFor(TOTAL, 30_000);
    const [cb, cr] = await Promise.all([waitDrained(b, 20_000, TOTAL), waitDrained(restarted!, 20_000)]);

    const stored = inConduitOrder(
      asRepublished(scope.prefix, await readStream(nc, replayStreamOf(scope.stream))),
    );
    expect(
      verifyDeliveries(scope.prefix, planned, stored).problems,
      'stream contents, in stream order',
    ).toEqual([]);
    const { ordered, heldAtEnd } = asGatewaySees(col.messages);
    expect(heldAtEnd, 'messages still waiting for a predecessor that never arrived').toBe(0);
    const report = verifyDeliveries(scope.prefix, planned, ordered);
    expect(report.problems, 'deliveries on the ev subjects, per channel after reordering').toEqual([]);
    expect(report).toMatchObject({
      missing: 0,
      duplicated: 0,
      corrupted: 0,
      reorderedChannels: 0,
      received: TOTAL,
    });
    // The stream stored each message once: sequences are exactly 1..TOTAL.
    const seqs = [...sequences(col.messages)].sort((x, y) => x - y);
    expect(seqs[0]).toBe(1);
    expectStrictlyIncreasing(seqs, 'Nats-Sequence');
    expect(seqs[seqs.length - 1]).toBe(TOTAL);
    const info = await streamInfo(nc, scope.stream);
    expect(info?.state.last_seq).toBe(TOTAL);

    // B saw everything; the restarted replica received only what came after it subscribed, and took part.
    expect(cb.received).toBe(TOTAL);
    expect(cb.invalid).toBe(0);
    expect(cr.received).toBeGreaterThanOrEqual(TOTAL - 14_000);
    expect(cr.received).toBeLessThanOrEqual(TOTAL - 10_000);
    expect(cr.published + cr.duplicates).toBe(cr.received);
    // Every message B received was either stored by B or recognised as a copy of A's or the new
    // replica's; every message the new replica received was published twice, so one copy of each
    // was a duplicate.
    expect(cb.published + cb.duplicates).toBe(TOTAL);
    expect(cb.duplicates + cr.duplicates).toBeGreaterThanOrEqual(cr.received);
    const live = await ingestCounters(b);
    expect(live.buffered).toBe(0);
  });
});
