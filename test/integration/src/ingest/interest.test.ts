/**
 * Interest (DESIGN decision 9): gateways announce the channels they hold on `<prefix>.ctl.interest`;
 * ingest keeps `subscribed:<channel>` keys alive in Mastodon's Redis while that lasts, which is
 * what makes Rails publish home, list, direct and notification events at all.
 */
import { channelToSubject } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import {
  announceInterest,
  collect,
  connectNats,
  delay,
  onCleanup,
  railsPublish,
  redisClient,
  snowflake,
  testScope,
  text,
  waitForKey,
  waitForKeyGone,
} from '../harness/index.js';
import { startIngest } from './helpers.js';

const TTL_MS = 3000;
const INTEREST_ENV = {
  SLUICE_SUBSCRIBED_TTL_SECONDS: String(TTL_MS / 1000),
  SLUICE_SUBSCRIBED_REFRESH_SECONDS: '1',
  SLUICE_INTEREST_EXPIRY_SECONDS: '2',
};

describe('ingest: interest → subscribed: keys', () => {
  it('sets the key within 1 s, refreshes it while interest lasts, lets it expire after', async () => {
    const scope = testScope();
    const ingest = await startIngest(scope, INTEREST_ENV);
    const nc = await connectNats();
    const redis = redisClient();
    const channel = `timeline:${snowflake()}`;
    const key = `subscribed:${channel}`;
    onCleanup(async () => void (await redis.del(key)));
    const col = await collect(nc, channelToSubject(scope.prefix, 'ev', channel));
    const payload = JSON.stringify({ id: snowflake(), content: '<p>home</p>' });

    // Nobody listens yet: Rails does not even publish.
    expect(await railsPublish(redis, channel, 'update', payload)).toBe(false);
    expect(await ingest.metric('sluice_ingest_subscribed_keys_set_total')).toBe(0);

    await announceInterest(nc, scope.prefix, [channel], { op: 'add' });
    const appearedAfter = await waitForKey(redis, key, 1000);
    expect(appearedAfter).toBeLessThan(1000);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_MS);
    expect(await redis.get(key)).toBe('1');
    expect(await ingest.metric('sluice_ingest_subscribed_keys_set_total')).toBeGreaterThanOrEqual(1);

    // Now Rails publishes, and the event reaches NATS.
    expect(await railsPublish(redis, channel, 'update', payload)).toBe(true);
    await col.waitFor(1, 5000);
    expect(text(col.messages[0]!)).toBe(payload);

    // A gateway keeps announcing (snapshots every 500 ms) for longer than the TTL: the key is
    // re-set again and again and never disappears.
    const until = Date.now() + TTL_MS + 2000;
    let nextAnnounce = 0;
    let prev = ttl;
    let refreshes = 0;
    while (Date.now() < until) {
      if (Date.now() >= nextAnnounce) {
        await announceInterest(nc, scope.prefix, [channel], { op: 'snapshot' });
        nextAnnounce = Date.now() + 500;
      }
      const t = await redis.pttl(key);
      expect(t, 'the key vanished while interest continued').toBeGreaterThan(0);
      expect(t).toBeLessThanOrEqual(TTL_MS);
      if (t > prev + 100) refreshes++;
      prev = t;
      await delay(50); // sampling pace while observing the key over time
    }
    expect(refreshes).toBeGreaterThanOrEqual(3);

    // Announcements stop: ingest stops refreshing after the expiry, and the key runs out.
    const goneAfter = await waitForKeyGone(redis, key, 2000 + 1000 + TTL_MS + 3000);
    // It was refreshed less than a refresh period ago, so it outlives the last announcement by more than TTL − refresh.
    expect(goneAfter).toBeGreaterThanOrEqual(1500);
    expect(await railsPublish(redis, channel, 'update', payload)).toBe(false);
    expect(ingest.running).toBe(true);
  });

  it('with REDIS_NAMESPACE, writes <namespace>:subscribed:<channel> for every announced channel', async () => {
    const scope = testScope();
    const ns = scope.namespace;
    const ingest = await startIngest(scope, { ...INTEREST_ENV, REDIS_NAMESPACE: ns });
    const nc = await connectNats();
    const redis = redisClient();
    const user = snowflake();
    const channels = [
      `timeline:${user}`,
      `timeline:${user}:notifications`,
      `timeline:list:${snowflake()}`,
      `timeline:direct:${snowflake()}`,
    ];
    onCleanup(
      async () =>
        void (await redis.del(...channels.flatMap((c) => [`${ns}:subscribed:${c}`, `subscribed:${c}`]))),
    );
    const col = await collect(nc, `${scope.prefix}.ev.>`);

    await announceInterest(nc, scope.prefix, channels, { op: 'snapshot', gateway: 'gw-a' });
    for (const c of channels) {
      await waitForKey(redis, `${ns}:subscribed:${c}`, 1000);
      const ttl = await redis.pttl(`${ns}:subscribed:${c}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(TTL_MS);
      expect(await redis.exists(`subscribed:${c}`), `un-namespaced key for ${c}`).toBe(0);
    }

    // Rails (Mastodon < 4.4, redis-namespace) publishes on `<ns>:timeline:…`; NATS subjects carry no namespace.
    const payload = JSON.stringify({ id: snowflake(), type: 'mention' });
    expect(await railsPublish(redis, channels[1]!, 'notification', payload, { namespace: ns })).toBe(true);
    await col.waitFor(1, 5000);
    expect(col.messages[0]!.subject).toBe(channelToSubject(scope.prefix, 'ev', channels[1]!));
    expect(text(col.messages[0]!)).toBe(payload);
    expect(ingest.running).toBe(true);
  });
});
