import { ConfigError, type Env, int, str } from './env.js';

/** ioredis connection options derived from Mastodon's variables (spec §2.3). */
export interface RedisConfig {
  /** Set when `REDIS_URL` is used: passed verbatim to ioredis. */
  url?: string;
  options: {
    host?: string;
    port?: number;
    db?: number;
    username?: string;
    password?: string;
    sentinels?: { host: string; port: number }[];
    name?: string;
    sentinelUsername?: string;
    sentinelPassword?: string;
    family: 0;
  };
  /** `REDIS_NAMESPACE` (Mastodon < 4.4): prefix of every channel and `subscribed:` key, without the colon. */
  namespace?: string;
}

export function redisConfig(env: Env): RedisConfig {
  const namespace = str(env, 'REDIS_NAMESPACE');
  const base = { family: 0 as const };
  const url = str(env, 'REDIS_URL');
  if (url) {
    if (!/^(rediss?|unix):\/\//.test(url) && !url.startsWith('/')) {
      throw new ConfigError(
        'REDIS_URL',
        `Invalid REDIS_URL environment variable: expected redis://, rediss:// or unix://`,
      );
    }
    return { url, options: base, ...(namespace ? { namespace } : {}) };
  }
  const db = int(env, 'REDIS_DB', 0, { min: 0 });
  const username = str(env, 'REDIS_USER');
  const password = str(env, 'REDIS_PASSWORD');
  const sentinels = str(env, 'REDIS_SENTINELS');
  const master = str(env, 'REDIS_SENTINEL_MASTER');
  if (sentinels && master) {
    const defPort = int(env, 'REDIS_SENTINEL_PORT', 26379, { min: 1, max: 65535 });
    const list = sentinels.split(',').map((entry) => {
      const i = entry.indexOf(':');
      const host = (i < 0 ? entry : entry.slice(0, i)).trim();
      const port = i < 0 ? defPort : Number.parseInt(entry.slice(i + 1), 10);
      if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new ConfigError(
          'REDIS_SENTINELS',
          `Invalid REDIS_SENTINELS environment variable: ${sentinels}`,
        );
      }
      return { host, port };
    });
    return {
      options: {
        ...base,
        sentinels: list,
        name: master,
        db,
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        ...((str(env, 'REDIS_SENTINEL_USERNAME') ?? username)
          ? { sentinelUsername: str(env, 'REDIS_SENTINEL_USERNAME') ?? username }
          : {}),
        ...((str(env, 'REDIS_SENTINEL_PASSWORD') ?? password)
          ? { sentinelPassword: str(env, 'REDIS_SENTINEL_PASSWORD') ?? password }
          : {}),
      },
      ...(namespace ? { namespace } : {}),
    };
  }
  // Mastodon uses `??` for REDIS_HOST: an explicitly empty value is passed through.
  const host = env['REDIS_HOST'] ?? '127.0.0.1';
  return {
    options: {
      ...base,
      host,
      port: int(env, 'REDIS_PORT', 6379, { min: 1, max: 65535 }),
      db,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    },
    ...(namespace ? { namespace } : {}),
  };
}

/** Redacts credentials for logs. */
export function describeRedis(c: RedisConfig): string {
  if (c.url) return c.url.replace(/\/\/([^@/]*)@/, '//[Redacted]@');
  if (c.options.sentinels)
    return `sentinel ${c.options.name} via ${c.options.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  return `${c.options.host}:${c.options.port}/${c.options.db}`;
}
