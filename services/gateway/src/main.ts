/**
 * Wiring only: config → logger → telemetry → Postgres pool → NATS → gateway → signals.
 * SIGTERM/SIGINT drain and exit 0; a crash logs and exits 1 (Mastodon exits 0, hiding crashes).
 */
import { hostname } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  connectNats,
  createLogger,
  type GatewayServiceConfig,
  loadConfig,
  replayStreamName,
  startTelemetry,
  VERSION,
  withDotenv,
} from '@sluice/shared';
import pg from 'pg';
import { PgAuthStore } from './authorise/index.js';
import { KeywordCache, PostgresFilterStore, RelationshipFilter, StatusFilter } from './filter/index.js';
import { Gateway } from './gateway.js';
import { GatewayMetrics } from './metrics.js';
import { IDLE_GC_DEFAULTS, IdleGc } from './runtime/idle-gc.js';
import { JetStreamReplay, NatsBus } from './subscribe/index.js';

let config: GatewayServiceConfig;
try {
  const { env, file } = withDotenv(process.env, process.cwd());
  config = loadConfig(env, 'gateway', file);
} catch (err) {
  // No logger yet: the message names the variable (ConfigError).
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
const logger = createLogger({ name: 'streaming', level: config.logLevel });

let gateway: Gateway | undefined;

process.on('uncaughtException', (err) => {
  logger.fatal({ err }, 'Uncaught exception');
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  logger.fatal({ err }, 'Unhandled promise rejection');
  process.exit(1);
});

const telemetry = startTelemetry({
  enabled: config.telemetry.enabled,
  serviceName: 'sluice-gateway',
  version: VERSION,
});
const pool = new pg.Pool(config.postgres);
pool.on('error', (err) => logger.error({ err }, 'Postgres pool error'));

const nc = await connectNats(config.nats, `sluice-gateway ${hostname()}:${process.pid}`);
const bus = new NatsBus(nc, logger, (up) => {
  gateway?.metrics.natsConnected.set(up ? 1 : 0);
  if (!up) gateway?.metrics.natsDisconnects.inc();
});
const replay = new JetStreamReplay({
  js: jetstream(nc),
  jsm: await jetstreamManager(nc, { checkAPI: false }),
  stream: config.stream.name,
  replayStream: replayStreamName(config.stream),
  prefix: config.subjects.prefix,
  maxMsgsPerSubject: config.stream.maxMsgsPerSubject,
});

// Blocks, mutes, domain blocks and keyword filters: one query per event per pod (docs/filtering.md).
const metrics = new GatewayMetrics({ pool });
const filterStore = new PostgresFilterStore(pool);
const keywordCache = new KeywordCache(filterStore, {
  ttlMs: config.gateway.filterCacheMs,
  maxAccounts: config.gateway.filterCacheAccounts,
});
const relationships = new RelationshipFilter(
  new StatusFilter(filterStore, keywordCache, { timeoutMs: config.gateway.filterTimeoutMs }),
  keywordCache,
  metrics,
  (err) => logger.warn({ err }, 'Filter queries failed or timed out; status dropped for filtered streams'),
);

gateway = new Gateway({
  gateway: config.gateway,
  metrics,
  filters: [relationships],
  interest: config.interest,
  prefix: config.subjects.prefix,
  logger,
  bus,
  store: new PgAuthStore(pool),
  replay,
  pool,
  tracer: telemetry.tracer,
  tracing: telemetry.enabled,
  gatewayId: `${hostname()}:${process.pid}`,
  authInFlight: Math.max(1, Math.floor(config.postgres.max / 2)),
});
if (config.envFile) logger.info({ file: config.envFile }, 'Loaded environment file');
await gateway.start();
if (config.gateway.idleGcMs > 0) {
  new IdleGc({
    ...IDLE_GC_DEFAULTS,
    checkMs: config.gateway.idleGcMs,
    logger,
    onCollect: (before, after, ms) => {
      metrics.idleGcs.inc();
      metrics.idleGcSeconds.inc(ms / 1000);
      metrics.idleGcFreedBytes.inc(Math.max(0, before - after));
    },
  }).start();
}

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) {
    logger.warn({ signal }, 'Second signal: exiting without finishing the drain');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'Shutting down');
  gateway!
    .drain()
    .then(async () => {
      await nc.drain().catch(() => nc.close());
      await pool.end().catch(() => {});
      await telemetry.shutdown().catch(() => {});
      process.exit(0);
    })
    .catch((err: unknown) => {
      logger.fatal({ err }, 'Drain failed');
      process.exit(1);
    });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
