import type { Redis } from 'ioredis';

/** Where `subscribed:<channel>` keys are written. */
export interface KeyStore {
  /** Sets each key to `1` with the TTL, in one round trip. */
  setAll(keys: string[], ttlMs: number): Promise<void>;
}

export class RedisKeyStore implements KeyStore {
  constructor(private readonly redis: Redis) {}

  async setAll(keys: string[], ttlMs: number): Promise<void> {
    if (keys.length === 0) return;
    const p = this.redis.pipeline();
    // Whole seconds like Mastodon (`EX 1080`) when possible; PX keeps sub-second test TTLs.
    if (ttlMs % 1000 === 0) for (const k of keys) p.set(k, '1', 'EX', ttlMs / 1000);
    else for (const k of keys) p.set(k, '1', 'PX', ttlMs);
    const results = await p.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }
}

export class MemoryKeyStore implements KeyStore {
  readonly sets: { key: string; ttlMs: number; at: number }[] = [];
  async setAll(keys: string[], ttlMs: number): Promise<void> {
    for (const key of keys) this.sets.push({ key, ttlMs, at: Date.now() });
  }
}
