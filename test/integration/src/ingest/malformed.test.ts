/**
 * Malformed Redis messages are counted under their reason, logged with their channel and skipped;
 * ingest keeps running and the next valid message still flows.
 */
import { channelToSubject } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import {
  collect,
  connectNats,
  publishRaw,
  redisClient,
  snowflake,
  testScope,
  text,
} from '../harness/index.js';
import { ingestCounters, startIngest, waitDrained } from './helpers.js';

const MiB = 1024 * 1024;

describe('ingest: malformed input', () => {
  it('counts and skips each kind of bad message and keeps delivering valid ones', async () => {
    const scope = testScope();
    const ns = scope.namespace;
    const ingest = await startIngest(scope, { REDIS_NAMESPACE: ns });
    const nc = await connectNats();
    const redis = redisClient();
    const channel = `timeline:${snowflake()}`;
    const col = await collect(nc, `${scope.prefix}.ev.>`);

    const bad: { reason: string; channel: string; raw: Buffer }[] = [
      { reason: 'not_json', channel, raw: Buffer.from('not json {') },
      { reason: 'missing_event', channel, raw: Buffer.from(JSON.stringify({ payload: '{"id":"1"}' })) },
      // Far above NATS's 1 MiB max_payload.
      {
        reason: 'too_large',
        channel,
        raw: Buffer.from(JSON.stringify({ event: 'update', payload: 'x'.repeat(5 * MiB) })),
      },
      // Valid JSON shape, but not UTF-8: decoding it leniently would silently turn it into U+FFFD.
      {
        reason: 'invalid_utf8',
        channel,
        raw: Buffer.concat([
          Buffer.from('{"event":"update","payload":"caf'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('"}'),
        ]),
      },
      { reason: 'empty', channel, raw: Buffer.alloc(0) },
      // No NATS subject can carry this channel (subjects are kept far below the 4 KiB control line).
      {
        reason: 'bad_channel',
        channel: `timeline:hashtag:${'a'.repeat(3000)}`,
        raw: Buffer.from('{"event":"update","payload":"x"}'),
      },
    ];

    // valid, bad, valid, bad, …, valid: after each bad message the next valid one must arrive.
    const valid: string[] = [];
    const publishValid = async () => {
      const payload = JSON.stringify({ id: snowflake(), n: valid.length, content: 'ok ✓' });
      valid.push(payload);
      expect(await publishRaw(redis, `${ns}:${channel}`, JSON.stringify({ event: 'update', payload }))).toBe(
        1,
      );
    };
    await publishValid();
    for (const b of bad) {
      expect(await publishRaw(redis, `${ns}:${b.channel}`, b.raw), `PUBLISH ${b.reason}`).toBe(1);
      await publishValid();
    }
    await col.waitFor(valid.length, 15_000);
    const counters = await waitDrained(ingest, 15_000, valid.length + bad.length);

    // Only the valid messages came out, all of them, in order, on the channel's subject.
    expect(col.messages.map(text)).toEqual(valid);
    expect(new Set(col.messages.map((m) => m.subject))).toEqual(
      new Set([channelToSubject(scope.prefix, 'ev', channel)]),
    );
    expect(ingest.running).toBe(true);
    expect((await ingest.get('/livez')).status).toBe(200);
    expect((await ingest.health()).status).toBe(200);

    // Each bad message counted once, under its reason.
    const m = await ingest.metrics();
    for (const b of bad) {
      expect(
        m.value('sluice_ingest_invalid_messages_total', { reason: b.reason }),
        `invalid reason=${b.reason}`,
      ).toBe(1);
    }
    expect(counters.invalid).toBe(bad.length);
    expect(counters.received).toBe(valid.length + bad.length);
    expect(counters.published).toBe(valid.length);
    expect((await ingestCounters(ingest)).dropped).toBe(0);

    // Logged (warn or worse) with the channel, so an operator can find the publisher.
    const warnings = ingest
      .jsonLogs()
      .filter((r) =>
        typeof r['level'] === 'number'
          ? r['level'] >= 40
          : ['warn', 'error', 'fatal'].includes(String(r['level'])),
      );
    expect(
      warnings.some((r) => JSON.stringify(r).includes(channel)),
      `a warning naming ${channel}`,
    ).toBe(true);
    // The 5 MiB message is not copied into the logs.
    expect(ingest.logs.every((l) => l.length < MiB)).toBe(true);
  });
});
