/**
 * Assembles the stages around their seams (bus, auth store, replay source) into one gateway, and
 * owns its lifecycle: listen, and drain (unready → stop accepting → spread closes → done).
 * `main.ts` gives it the real NATS and Postgres; tests give it the memory implementations.
 */
import type { Server } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { type GatewayConfig, type InterestConfig, interestSubject, type Logger } from '@sluice/shared';
import { Authoriser, type AuthStore, StreamResolver, TokenLookup } from './authorise/index.js';
import { createFilter, type EventFilter } from './filter/index.js';
import {
  createHttpServer,
  listen,
  Probes,
  RequestLog,
  SseRoute,
  StreamDoor,
  trustedProxies,
  WsSessions,
  WsUpgrade,
} from './http/index.js';
import { GatewayMetrics, type PoolStats } from './metrics.js';
import { Pipeline } from './pipeline.js';
import {
  type Bus,
  GapRepair,
  Hub,
  InterestAnnouncer,
  type ReplaySource,
  Resumer,
  SubjectRegistry,
  Subscriber,
} from './subscribe/index.js';
import { Connections, spreadClose } from './write/index.js';

export interface GatewayDeps {
  gateway: GatewayConfig;
  interest: Pick<InterestConfig, 'snapshotMs'>;
  prefix: string;
  logger: Logger;
  bus: Bus;
  store: AuthStore;
  /** JetStream replay for SSE `Last-Event-ID`; absent = resume is ignored. */
  replay?: ReplaySource;
  pool?: PoolStats;
  tracer: Tracer;
  tracing: boolean;
  gatewayId: string;
  metrics?: GatewayMetrics;
  /** Further filters after the in-memory rules (blocks/mutes/keywords, a later issue). */
  filters?: readonly EventFilter[];
  /** Most token queries in flight at once (default: half the Postgres pool). */
  authInFlight?: number;
}

export class Gateway {
  readonly server: Server;
  /** Null when node:http is wired unexpectedly; SSE streams then stay in node:http. */
  readonly door: StreamDoor | null;
  readonly metrics: GatewayMetrics;
  readonly connections: Connections;
  readonly hub: Hub;
  readonly registry: SubjectRegistry;
  readonly interest: InterestAnnouncer;
  readonly subscriber: Subscriber;
  readonly pipeline: Pipeline;
  /** Refills what NATS lost while disconnected; absent without replay or with the limit at 0. */
  readonly gapRepair: GapRepair | undefined;
  private draining = false;
  private drained: Promise<void> | undefined;

  constructor(private readonly deps: GatewayDeps) {
    const { logger, bus, gateway: cfg } = deps;
    const metrics = deps.metrics ?? new GatewayMetrics(deps.pool ? { pool: deps.pool } : {});
    this.metrics = metrics;
    metrics.natsConnected.set(bus.isConnected() ? 1 : 0);

    const subject = interestSubject(deps.prefix);
    this.interest = new InterestAnnouncer({
      publish: (data) => bus.publish(subject, data),
      gatewayId: deps.gatewayId,
      snapshotMs: deps.interest.snapshotMs,
      channels: () => this.registry.interestChannels(),
      logger,
      onPublished: (op) => metrics.interestMessages.labels(op).inc(),
    });
    this.registry = new SubjectRegistry({
      bus,
      prefix: deps.prefix,
      logger,
      onMessage: (channel, msg) => this.pipeline.deliver(channel, msg),
      onFirstUse: (channel) => this.interest.added(channel),
      onCount: (channels, subscriptions) => metrics.setSubscriptions(channels, subscriptions),
      onGap: (channel, held) => {
        metrics.reorderGaps.inc();
        logger.warn({ channel, held }, 'Predecessor of an event never arrived; delivering without it');
      },
    });
    this.hub = new Hub(this.registry);

    const authoriser = new Authoriser(
      new TokenLookup({
        store: deps.store,
        batchMax: cfg.authBatchMax,
        windowMs: cfg.authBatchWindowMs,
        maxInFlight: deps.authInFlight ?? 2,
        onBatch: (n) => metrics.authBatchSize.observe(n),
      }),
      new StreamResolver({ store: deps.store, glitch: cfg.glitch }),
      deps.tracer,
    );
    this.connections = new Connections({
      metrics,
      logger,
      sendBufferBytes: cfg.sendBufferBytes,
      onClosed: (conn) => this.subscriber.release(conn),
    });
    this.subscriber = new Subscriber({ hub: this.hub, authoriser, metrics, logger });
    this.pipeline = new Pipeline({
      hub: this.hub,
      filter: createFilter({ glitch: cfg.glitch, ...(deps.filters ? { extra: deps.filters } : {}) }),
      connections: this.connections,
      metrics,
      logger,
      tracer: deps.tracer,
      tracing: deps.tracing,
    });
    const resumer = deps.replay
      ? new Resumer({
          source: deps.replay,
          bus,
          replay: (sub, ch, msg, seq) => this.pipeline.replay(sub, ch, msg, seq),
          metrics,
          logger,
        })
      : undefined;

    const isDraining = () => this.draining;
    const requestLog = new RequestLog(logger, trustedProxies(cfg.trustedProxies));
    const sessions = new WsSessions({
      connections: this.connections,
      subscriber: this.subscriber,
      metrics,
      logger,
    });
    this.server = createHttpServer({
      probes: new Probes({ isDraining, isBusConnected: () => bus.isConnected() }, metrics.registry, logger),
      sse: new SseRoute({
        authoriser,
        subscriber: this.subscriber,
        connections: this.connections,
        ...(resumer ? { resumer } : {}),
        isDraining,
        requestLog,
        logger,
      }),
      upgrade: new WsUpgrade({
        authoriser,
        sessions,
        requestLog,
        isDraining,
        logger,
        maxPayload: cfg.wsMaxPayload,
      }),
      requestLog,
      logger,
    });
    this.door = StreamDoor.install(this.server, logger);
    const door = this.door;
    if (door) metrics.detachedStreams = () => door.detachedCount;

    this.gapRepair =
      deps.replay && cfg.gapRepairMaxEvents > 0
        ? new GapRepair({
            registry: this.registry,
            source: deps.replay,
            bus,
            metrics,
            logger,
            maxEvents: cfg.gapRepairMaxEvents,
          })
        : undefined;
    bus.onDisconnect(() => this.gapRepair?.disconnected());
    bus.onReconnect(() => {
      this.interest.snapshot();
      void this.gapRepair?.reconnected();
    });
  }

  /** Starts keep-alive and interest snapshots, then listens. Resolves to the address. */
  async start(): Promise<string> {
    const cfg = this.deps.gateway;
    this.connections.startKeepAlive(cfg.sseHeartbeatMs, cfg.wsPingMs);
    this.interest.start();
    return listen(this.server, cfg, this.deps.logger);
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * SIGTERM: unready at once (health, `/readyz` 503, upgrades and new streams refused), stop
   * listening, close every connection spread over `drainMs` (WebSocket 1012, SSE ended), wait
   * briefly for the close handshakes, then drop whatever is left.
   */
  drain(): Promise<void> {
    this.drained ??= this.runDrain();
    return this.drained;
  }

  private async runDrain(): Promise<void> {
    const { logger, gateway: cfg } = this.deps;
    this.draining = true;
    this.metrics.draining.set(1);
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const conns = this.connections.all();
    logger.info({ connections: conns.length, drainMs: cfg.drainMs }, 'Draining: closing connections');
    await spreadClose(conns, (c) => this.connections.close(c, 'drain'), { windowMs: cfg.drainMs });
    // Streams that were being set up when the drain began.
    for (const c of this.connections.all()) this.connections.close(c, 'drain');
    const grace = Math.min(5000, Math.max(500, cfg.drainMs / 10));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([serverClosed, new Promise<void>((r) => (timer = setTimeout(r, grace)))]);
    clearTimeout(timer);
    this.closeAllConnections();
    this.stop();
    logger.info('Drain complete');
  }

  /** Drops every connection at once, streams outside `node:http` included (the end of a drain, tests). */
  closeAllConnections(): void {
    this.server.closeAllConnections();
    this.door?.destroyDetached();
  }

  /** Stops the timers (tests, and the end of a drain). */
  stop(): void {
    this.connections.stopKeepAlive();
    this.interest.stop();
  }
}
