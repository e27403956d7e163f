/**
 * Redis helpers: test-side clients, publishing exactly like Mastodon's Rails app, and waiting for
 * `subscribed:` keys. Pub/sub in Redis ignores the database number, so tests that need their
 * channels to themselves use a Redis namespace (`REDIS_NAMESPACE`, Mastodon < 4.4) instead.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { servers } from './env.js';
import { pollUntil } from './wait.js';

const open = new Set<Redis>();

/**
 * A client on the test Redis (`db` selects another logical database for keys). Closed after each
 * test by `setup.ts` if the test did not close it. `options` are passed to ioredis.
 */
export function redisClient(opts: { db?: number; options?: RedisOptions } = {}): Redis {
  const url = new URL(servers().redisUrl);
  if (opts.db !== undefined) url.pathname = `/${opts.db}`;
  const r = new Redis(url.toString(), { connectionName: 'sluice-integration-test', ...opts.options });
  // Outage tests stop Redis under this client: errors are expected and surface through commands.
  r.on('error', () => {});
  open.add(r);
  r.once('end', () => open.delete(r));
  return r;
}

/**
 * A client for publishing through Redis outages: commands fail at once while the connection is
 * down (no offline queue, no retries) instead of being replayed later, and it reconnects quickly.
 */
export function outageTolerantPublisher(): Redis {
  return redisClient({
    options: {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
      connectTimeout: 1000,
    },
  });
}

export async function closeAllRedis(): Promise<void> {
  for (const r of open) r.disconnect();
  open.clear();
}

/** `<namespace>:<key>` like the redis-namespace gem Mastodon < 4.4 used, or the key itself. */
export function namespaced(namespace: string | undefined, key: string): string {
  return namespace ? `${namespace}:${key}` : key;
}

/** The message Rails publishes: `{"event":…,"payload":…}` (payload omitted when undefined), as Oj.dump does. */
export function railsMessage(event: string, payload?: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify(payload === undefined ? { event, ...extra } : { event, payload, ...extra });
}

/**
 * The `subscribed:` keys Rails checks before publishing to a personal channel, or null for
 * channels Rails always publishes to. Home, list and direct timelines: FeedManager's
 * `push_update_required?` (`subscribed:<channel>`); notifications: NotifyService, which publishes
 * when either the home or the notifications stream is subscribed.
 */
export function subscribedKeysFor(channel: string): string[] | null {
  let m = /^timeline:(\d+)$/.exec(channel);
  if (m) return [`subscribed:${channel}`];
  m = /^timeline:(\d+):notifications$/.exec(channel);
  if (m) return [`subscribed:timeline:${m[1]}`, `subscribed:${channel}`];
  if (/^timeline:(list|direct):\d+$/.test(channel)) return [`subscribed:${channel}`];
  return null;
}

/**
 * Publishes `{"event":…,"payload":…}` on `channel` exactly like Rails: personal channels only
 * while a `subscribed:` key exists. With `namespace`, keys and channel are prefixed like the
 * redis-namespace gem does. Returns whether it published.
 */
export async function railsPublish(
  redis: Redis,
  channel: string,
  event: string,
  payload?: unknown,
  { namespace }: { namespace?: string } = {},
): Promise<boolean> {
  const keys = subscribedKeysFor(channel);
  if (keys) {
    const exists = await redis.exists(...keys.map((k) => namespaced(namespace, k)));
    if (exists === 0) return false;
  }
  await redis.publish(namespaced(namespace, channel), railsMessage(event, payload));
  return true;
}

/** PUBLISHes raw bytes; returns how many subscribers (patterns included) received it. */
export function publishRaw(redis: Redis, channel: string, message: string | Buffer): Promise<number> {
  return redis.publish(channel, message);
}

/**
 * Resolves with the elapsed milliseconds once `key` exists. A short bounded poll: Redis offers no
 * event for a key appearing without enabling keyspace notifications server-wide.
 */
export async function waitForKey(redis: Redis, key: string, timeoutMs: number): Promise<number> {
  const start = Date.now();
  await pollUntil(`Redis key ${key} to exist`, async () => (await redis.exists(key)) === 1, {
    timeoutMs,
    intervalMs: 10,
  });
  return Date.now() - start;
}

/** Resolves with the elapsed milliseconds once `key` no longer exists. */
export async function waitForKeyGone(redis: Redis, key: string, timeoutMs: number): Promise<number> {
  const start = Date.now();
  await pollUntil(`Redis key ${key} to disappear`, async () => (await redis.exists(key)) === 0, {
    timeoutMs,
    intervalMs: 10,
  });
  return Date.now() - start;
}
