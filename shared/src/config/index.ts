/**
 * `loadConfig(env, service)`: a pure function from environment to a validated, defaulted,
 * frozen configuration. Called once in each `main.ts`; nothing else reads `process.env`.
 */
import { bool, deepFreeze, type Env, int, num, str } from './env.js';
import {
  type NatsConfig,
  natsConfig,
  type StreamConfig,
  type SubjectConfig,
  streamConfig,
  subjectConfig,
} from './nats.js';
import { type PostgresConfig, postgresConfig } from './postgres.js';
import { type RedisConfig, redisConfig } from './redis.js';

export { withDotenv } from './dotenv.js';
export { ConfigError, type Env } from './env.js';
export type { NatsConfig, StreamConfig, SubjectConfig } from './nats.js';
export { describePostgres, type PostgresConfig, sslFromMode } from './postgres.js';
export { describeRedis, type RedisConfig } from './redis.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type ServiceName = 'ingest' | 'gateway';

export interface InterestConfig {
  /** TTL of `subscribed:` keys (Mastodon: 1080 s). */
  subscribedTtlMs: number;
  /** Refresh period of `subscribed:` keys (Mastodon: 360 s). */
  subscribedRefreshMs: number;
  /** How often a gateway re-announces every channel it holds. */
  snapshotMs: number;
  /** Ingest forgets a channel no gateway has announced for this long. */
  expiryMs: number;
}

export interface IngestConfig {
  port: number;
  bind: string;
  maxInFlight: number;
  bufferMessages: number;
  bufferBytes: number;
  publishTimeoutMs: number;
  /** A starting replica holds what it receives this long before publishing (see publisher.ts). */
  joinDelayMs: number;
}

export interface GatewayConfig {
  port: number;
  bind: string;
  socket?: string;
  trustedProxies: string[];
  sendBufferBytes: number;
  drainMs: number;
  authBatchMax: number;
  /** Least time between two token queries that are not full. */
  authBatchWindowMs: number;
  sseHeartbeatMs: number;
  wsPingMs: number;
  wsMaxPayload: number;
  glitch: boolean;
  /** Keyword filters and block checks may wait this long for Postgres before the event is dropped. */
  filterTimeoutMs: number;
  /** Keyword filters stay cached per account this long (and until `filters_changed`). */
  filterCacheMs: number;
  /** Most accounts whose keyword filters are cached. */
  filterCacheAccounts: number;
  /**
   * Most stored events delivered by one gap repair after a NATS reconnect (0: no repair, events
   * published while the connection was down are lost for this pod).
   */
  gapRepairMaxEvents: number;
  /**
   * How often the gateway looks whether it has gone quiet with garbage on its heap, and then
   * collects it (needs `node --expose-gc`; 0: never). See services/gateway/src/runtime/idle-gc.ts.
   */
  idleGcMs: number;
}

export interface Config {
  service: ServiceName;
  nodeEnv: string;
  logLevel: LogLevel;
  /** The dotenv file that was read, if any (for the start-up log). */
  envFile: string | null;
  nats: NatsConfig;
  subjects: SubjectConfig;
  stream: StreamConfig;
  interest: InterestConfig;
  telemetry: { enabled: boolean };
  redis?: RedisConfig;
  ingest?: IngestConfig;
  postgres?: PostgresConfig;
  gateway?: GatewayConfig;
}

export type IngestServiceConfig = Config & { redis: RedisConfig; ingest: IngestConfig };
export type GatewayServiceConfig = Config & { postgres: PostgresConfig; gateway: GatewayConfig };

const seconds = (env: Env, name: string, def: number, min = 0.05) =>
  Math.round(num(env, name, def, { min }) * 1000);

function common(env: Env, service: ServiceName, envFile: string | null): Config {
  const nodeEnv = str(env, 'NODE_ENV') ?? 'development';
  const logLevelRaw = str(env, 'LOG_LEVEL');
  // Mastodon silently ignores an unknown LOG_LEVEL; we keep that rather than refuse to start.
  const logLevel: LogLevel =
    logLevelRaw && (LOG_LEVELS as readonly string[]).includes(logLevelRaw)
      ? (logLevelRaw as LogLevel)
      : nodeEnv === 'development'
        ? 'debug'
        : 'info';
  return {
    service,
    nodeEnv,
    logLevel,
    envFile,
    nats: natsConfig(env),
    subjects: subjectConfig(env),
    stream: streamConfig(env),
    interest: {
      subscribedTtlMs: seconds(env, 'SLUICE_SUBSCRIBED_TTL_SECONDS', 1080, 1),
      subscribedRefreshMs: seconds(env, 'SLUICE_SUBSCRIBED_REFRESH_SECONDS', 360),
      snapshotMs: seconds(env, 'SLUICE_INTEREST_SNAPSHOT_SECONDS', 60),
      expiryMs: seconds(env, 'SLUICE_INTEREST_EXPIRY_SECONDS', 180),
    },
    telemetry: {
      enabled:
        str(env, 'OTEL_SDK_DISABLED') !== 'true' &&
        (str(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined ||
          str(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined),
    },
  };
}

function ingestSection(env: Env): IngestConfig {
  return {
    port: int(env, 'SLUICE_INGEST_PORT', 4001, { min: 0, max: 65535 }),
    bind: str(env, 'SLUICE_INGEST_BIND') ?? '127.0.0.1',
    maxInFlight: int(env, 'SLUICE_INGEST_MAX_IN_FLIGHT', 512, { min: 1, max: 65536 }),
    bufferMessages: int(env, 'SLUICE_INGEST_BUFFER_MESSAGES', 100_000, { min: 1 }),
    bufferBytes: int(env, 'SLUICE_INGEST_BUFFER_BYTES', 128 * 1024 * 1024, { min: 1024 }),
    publishTimeoutMs: seconds(env, 'SLUICE_INGEST_PUBLISH_TIMEOUT_SECONDS', 2),
    joinDelayMs: seconds(env, 'SLUICE_INGEST_JOIN_DELAY_SECONDS', 2, 0),
  };
}

function gatewaySection(env: Env): GatewayConfig {
  const bindRaw = str(env, 'BIND') ?? '127.0.0.1';
  const socket = str(env, 'SOCKET');
  // Mastodon coerces PORT with unary +; we validate instead of failing later in listen().
  const port = int(env, 'PORT', 4000, { min: 0, max: 65535 });
  return {
    port,
    bind: bindRaw.startsWith('[') && bindRaw.endsWith(']') ? bindRaw.slice(1, -1) : bindRaw,
    ...(socket ? { socket } : {}),
    trustedProxies: (str(env, 'TRUSTED_PROXY_IP') ?? 'loopback,uniquelocal').split(/[\s,]+/).filter(Boolean),
    sendBufferBytes: int(env, 'SLUICE_SEND_BUFFER_BYTES', 1024 * 1024, { min: 16 * 1024 }),
    drainMs: seconds(env, 'SLUICE_DRAIN_SECONDS', 30, 0),
    authBatchMax: int(env, 'SLUICE_AUTH_BATCH_MAX', 500, { min: 1, max: 10_000 }),
    authBatchWindowMs: int(env, 'SLUICE_AUTH_BATCH_WINDOW_MS', 60, { min: 0, max: 1000 }),
    sseHeartbeatMs: int(env, 'SLUICE_SSE_HEARTBEAT_MS', 15_000, { min: 10 }),
    wsPingMs: int(env, 'SLUICE_WS_PING_MS', 30_000, { min: 10 }),
    wsMaxPayload: int(env, 'SLUICE_WS_MAX_PAYLOAD', 64 * 1024, { min: 1024 }),
    glitch: bool(env, 'SLUICE_GLITCH', false),
    filterTimeoutMs: seconds(env, 'SLUICE_FILTER_TIMEOUT_SECONDS', 2),
    filterCacheMs: seconds(env, 'SLUICE_FILTER_CACHE_SECONDS', 600, 0),
    filterCacheAccounts: int(env, 'SLUICE_FILTER_CACHE_ACCOUNTS', 100_000, { min: 1 }),
    gapRepairMaxEvents: int(env, 'SLUICE_GAP_REPAIR_MAX_EVENTS', 10_000, { min: 0, max: 1_000_000 }),
    idleGcMs: seconds(env, 'SLUICE_IDLE_GC_SECONDS', 5, 0),
  };
}

export function loadConfig(env: Env, service: 'ingest', envFile?: string | null): IngestServiceConfig;
export function loadConfig(env: Env, service: 'gateway', envFile?: string | null): GatewayServiceConfig;
export function loadConfig(env: Env, service: ServiceName, envFile: string | null = null): Config {
  const cfg = common(env, service, envFile);
  if (service === 'ingest') {
    cfg.redis = redisConfig(env);
    cfg.ingest = ingestSection(env);
  } else {
    cfg.postgres = postgresConfig(env, cfg.nodeEnv);
    cfg.gateway = gatewaySection(env);
  }
  return deepFreeze(cfg);
}

/** Mastodon-style "truthy" query/env value (spec §3.2 `only_media`). */
export function isTruthy(value: unknown): boolean {
  return typeof value === 'string'
    ? value !== '' && !['false', '0', 'f', 'F', 'false', 'FALSE', 'off', 'OFF'].includes(value)
    : Boolean(value);
}
