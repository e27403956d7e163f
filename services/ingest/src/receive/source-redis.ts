import type { Logger, RedisConfig } from '@sluice/shared';
import { Redis } from 'ioredis';
import type { IngestMetrics } from '../metrics.js';
import type { MessageHandler, MessageSource } from './source.js';

/** Creates an ioredis client from Mastodon's Redis settings (spec §2.3). */
export function createRedis(cfg: RedisConfig, name: string): Redis {
  const options = { ...cfg.options, connectionName: name, maxRetriesPerRequest: null };
  return cfg.url ? new Redis(cfg.url, options) : new Redis(options);
}

/**
 * One `PSUBSCRIBE <ns:>timeline:*` on a dedicated connection. Payloads arrive as Buffers and
 * are never decoded here; ioredis re-subscribes by itself after a reconnect (the lesson of
 * Mastodon issue #25157), and we log and count each reconnect.
 */
export class RedisSource implements MessageSource {
  private readonly redis: Redis;
  private readonly pattern: string;
  private readonly strip: number;

  constructor(cfg: RedisConfig, log: Logger, metrics: IngestMetrics) {
    this.redis = createRedis(cfg, 'sluice-ingest-sub');
    const ns = cfg.namespace ? `${cfg.namespace}:` : '';
    this.pattern = `${ns}timeline:*`;
    this.strip = ns.length;
    this.redis.on('error', (err) => log.warn({ err }, 'Redis Client Error!'));
    this.redis.on('reconnecting', () => {
      metrics.redisReconnects.inc();
      metrics.redisConnected.set(0);
      log.warn('Redis subscriber reconnecting');
    });
    this.redis.on('ready', () => {
      metrics.redisConnected.set(1);
      log.info({ pattern: this.pattern }, 'Redis subscriber ready');
    });
    this.redis.on('end', () => metrics.redisConnected.set(0));
  }

  async start(onMessage: MessageHandler): Promise<void> {
    this.redis.on('pmessageBuffer', (_pattern: unknown, channel: Buffer, message: Buffer) => {
      onMessage(channel.toString('utf8', this.strip), message);
    });
    await this.redis.psubscribe(this.pattern);
  }

  ready(): boolean {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
