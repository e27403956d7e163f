/**
 * services/ingest: Mastodon's Redis pub/sub → NATS JetStream, plus the `subscribed:` keeper.
 * Wiring only: config → connections → pipeline → health → signals.
 */
import {
  connectNats,
  createLogger,
  decodeInterest,
  describeRedis,
  interestSubject,
  loadConfig,
  startTelemetry,
  VERSION,
  withDotenv,
} from '@sluice/shared';
import { createAdminServer } from './http/admin-server.js';
import { InterestKeeper } from './interest/keeper.js';
import { RedisKeyStore } from './interest/key-store.js';
import { createIngestMetrics } from './metrics.js';
import { OccurrenceCounter } from './normalise/occurrences.js';
import { createPipeline } from './pipeline.js';
import { JetStreamBus } from './publish/jetstream-bus.js';
import { Publisher } from './publish/publisher.js';
import { createRedis, RedisSource } from './receive/source-redis.js';

async function main(): Promise<void> {
  const { env, file } = withDotenv(process.env, process.cwd());
  const cfg = loadConfig(env, 'ingest', file);
  const log = createLogger({ name: 'sluice-ingest', level: cfg.logLevel });
  if (file) log.info({ file }, 'Loaded environment file');
  const telemetry = startTelemetry({
    enabled: cfg.telemetry.enabled,
    serviceName: 'sluice-ingest',
    version: VERSION,
  });
  const metrics = createIngestMetrics();

  let fatal = false;
  const die = (err: unknown, what: string) => {
    if (fatal) return;
    fatal = true;
    log.fatal({ err }, what);
    setTimeout(() => process.exit(1), 200).unref();
  };
  process.on('uncaughtException', (err) => die(err, 'Uncaught exception'));
  process.on('unhandledRejection', (err) => die(err, 'Unhandled rejection'));

  log.info({ servers: cfg.nats.servers }, 'Connecting to NATS');
  const nc = await connectNats(cfg.nats, `sluice-ingest-${process.pid}`);
  const bus = new JetStreamBus(
    nc,
    cfg.stream,
    cfg.subjects.prefix,
    cfg.ingest.publishTimeoutMs,
    metrics,
    log,
  );
  bus.setConnected(true);
  await bus.ensureStream();
  const publisher = new Publisher(bus, cfg.ingest, metrics, log);

  const commands = createRedis(cfg.redis, 'sluice-ingest-cmd');
  commands.on('error', (err) => log.warn({ err }, 'Redis Client Error!'));
  const keeper = new InterestKeeper(
    new RedisKeyStore(commands),
    cfg.interest,
    cfg.redis.namespace,
    metrics,
    log,
  );
  // Redis restarted (maybe without persistence): restore every live key at once.
  let commandsReadyOnce = false;
  commands.on('ready', () => {
    if (commandsReadyOnce) void keeper.resetAll();
    commandsReadyOnce = true;
  });
  keeper.start();

  let streamOk = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        bus.setConnected(false);
        log.warn({ server: 'server' in s ? s.server : undefined }, 'NATS disconnected; buffering');
      } else if (s.type === 'reconnect') {
        metrics.natsReconnects.inc();
        log.info('NATS reconnected');
        try {
          await bus.ensureStream();
          streamOk = true;
        } catch (err) {
          streamOk = false;
          log.error({ err }, 'Could not ensure the JetStream stream after reconnect');
        }
        bus.setConnected(true);
        publisher.resume();
      } else if (s.type === 'ldm') {
        log.info('NATS server entering lame duck mode');
      }
    }
  })();

  nc.subscribe(interestSubject(cfg.subjects.prefix), {
    callback: (err, msg) => {
      if (err) return log.warn({ err }, 'Interest subscription error');
      try {
        void keeper.handle(decodeInterest(msg.data));
      } catch (e) {
        metrics.interestMessages.inc({ op: 'invalid' });
        log.warn({ err: e }, 'Invalid interest message');
      }
    },
  });

  const source = new RedisSource(cfg.redis, log, metrics);
  const onMessage = createPipeline({
    prefix: cfg.subjects.prefix,
    occurrences: new OccurrenceCounter(cfg.stream.duplicateWindowSeconds * 1000),
    publisher,
    metrics,
    log,
    tracer: telemetry.enabled ? telemetry.tracer : null,
    maxPayload: () => nc.info?.max_payload ?? 1024 * 1024,
  });
  log.info({ redis: describeRedis(cfg.redis), namespace: cfg.redis.namespace }, 'Subscribing to Redis');
  await source.start(onMessage);

  const admin = createAdminServer({
    registry: metrics.registry,
    log,
    health: () => {
      const redis = source.ready() ? 'ready' : 'unavailable';
      const nats = bus.connected() ? 'connected' : 'disconnected';
      return {
        ok: redis === 'ready' && nats === 'connected' && streamOk && !closing,
        redis,
        nats,
        stream: streamOk ? 'ok' : 'missing',
        buffered: publisher.depth(),
        interestChannels: keeper.size(),
      };
    },
  });
  admin.listen(cfg.ingest.port, cfg.ingest.bind, () => {
    const a = admin.address();
    const where = typeof a === 'object' && a ? `${a.address}:${a.port}` : String(a);
    log.info({ stream: cfg.stream.name, prefix: cfg.subjects.prefix }, `Sluice ingest listening on ${where}`);
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'Shutting down: stop receiving, flush, close');
    await source.close();
    const flushed = await publisher.flush(5000);
    if (!flushed) log.warn({ left: publisher.depth() }, 'Exiting with unpublished messages');
    keeper.stop();
    publisher.close();
    await nc.drain().catch(() => {});
    commands.disconnect();
    admin.close();
    await telemetry.shutdown().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  // Configuration errors name the variable; print them plainly as well as in JSON.
  console.error(`sluice-ingest: ${(err as Error)?.message ?? err}`);
  process.exit(1);
});
