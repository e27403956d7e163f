/**
 * Prometheus metrics. Mastodon's names and labels first (spec §9: dashboards depend on them, no
 * prefix, primed to 0), then Sluice's own under `sluice_gateway_*`. Hot paths hold label children
 * (`sent.websocket`) so that no label hashing happens per frame.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { TransportType } from './model.js';

/** Mastodon's per-channel label values (its `CHANNEL_NAMES`), all primed. */
export const CHANNEL_NAMES = [
  'system',
  'user',
  'user:notification',
  'list',
  'direct',
  'public',
  'public:media',
  'public:local',
  'public:local:media',
  'public:remote',
  'public:remote:media',
  'hashtag',
  'hashtag:local',
] as const;

const TYPES: readonly TransportType[] = ['websocket', 'eventsource'];

/** What the pool gauges read at scrape time (node-postgres `Pool`). */
export interface PoolStats {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

type PerType<T> = Record<TransportType, T>;

export class GatewayMetrics {
  readonly registry: Registry;
  readonly connectedClients: Gauge<'type'>;
  readonly connectedChannels: Gauge<'type' | 'channel'>;
  readonly redisSubscriptions: Gauge;
  readonly redisMessagesReceived: Counter;
  readonly messagesSent: PerType<Counter.Internal>;
  readonly natsSubscriptions: Gauge;
  readonly natsConnected: Gauge;
  readonly framesWritten: PerType<Counter.Internal>;
  readonly slowDisconnects: PerType<Counter.Internal>;
  readonly authBatchSize: Histogram;
  readonly draining: Gauge;
  readonly drainClosed: Counter<'type'>;
  readonly resumes: Counter<'result'>;
  readonly replayedEvents: Counter;
  readonly eventsDropped: Counter<'reason'>;
  readonly interestMessages: Counter<'op'>;
  readonly eventLatency: Histogram;
  readonly reorderGaps: Counter;
  readonly filterDropped: Counter<'reason'>;
  readonly natsDisconnects: Counter;
  readonly filterVariants: Counter;
  readonly gapRepairs: Counter;
  readonly gapRepairedEvents: Counter;
  readonly gapRepairsIncomplete: Counter<'reason'>;
  readonly idleGcs: Counter;
  /** Read at scrape time: SSE streams held outside node:http (set by the gateway's stream door). */
  detachedStreams: () => number = () => 0;
  readonly idleGcSeconds: Counter;
  readonly idleGcFreedBytes: Counter;

  constructor(opts: { pool?: PoolStats; defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.connectedClients = new Gauge({
      name: 'connected_clients',
      help: 'The number of clients connected to the streaming server',
      labelNames: ['type'],
      registers,
    });
    this.connectedChannels = new Gauge({
      name: 'connected_channels',
      help: 'The number of channels the streaming server is streaming to',
      labelNames: ['type', 'channel'],
      registers,
    });
    this.redisSubscriptions = new Gauge({
      name: 'redis_subscriptions',
      help: 'The number of Redis channels the streaming server is subscribed to (Sluice: channels held)',
      registers,
    });
    this.redisMessagesReceived = new Counter({
      name: 'redis_messages_received_total',
      help: 'The total number of messages the streaming server has received from redis subscriptions (Sluice: from NATS)',
      registers,
    });
    const sent = new Counter({
      name: 'messages_sent_total',
      help: 'The total number of messages the streaming server sent to clients per connection type',
      labelNames: ['type'],
      registers,
    });
    const pool = opts.pool;
    const poolGauge = (name: string, help: string, read: (p: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(pool ? read(pool) : 0);
        },
      });
    poolGauge(
      'pg_pool_total_connections',
      'The total number of clients existing within the pool',
      (p) => p.totalCount,
    );
    poolGauge(
      'pg_pool_idle_connections',
      'The number of clients which are not checked out but are currently idle in the pool',
      (p) => p.idleCount,
    );
    poolGauge(
      'pg_pool_waiting_queries',
      'The number of queued requests waiting on a client when all clients are checked out',
      (p) => p.waitingCount,
    );

    this.natsSubscriptions = new Gauge({
      name: 'sluice_gateway_nats_subscriptions',
      help: 'Core NATS subscriptions held by this gateway (one per channel, plus two wildcards for all system channels)',
      registers,
    });
    this.natsConnected = new Gauge({
      name: 'sluice_gateway_nats_connected',
      help: '1 while the NATS connection is up',
      registers,
    });
    const frames = new Counter({
      name: 'sluice_gateway_frames_written_total',
      help: 'Frames written to clients: events, heartbeats, pings and error replies',
      labelNames: ['type'],
      registers,
    });
    const slow = new Counter({
      name: 'sluice_gateway_slow_client_disconnects_total',
      help: 'Clients disconnected because their send buffer was full',
      labelNames: ['type'],
      registers,
    });
    this.authBatchSize = new Histogram({
      name: 'sluice_gateway_auth_batch_size',
      help: 'Tokens looked up per coalesced token query',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    });
    this.draining = new Gauge({
      name: 'sluice_gateway_draining',
      help: '1 while the gateway drains on SIGTERM',
      registers,
    });
    this.drainClosed = new Counter({
      name: 'sluice_gateway_drain_closed_total',
      help: 'Connections closed by a drain',
      labelNames: ['type'],
      registers,
    });
    this.resumes = new Counter({
      name: 'sluice_gateway_replay_total',
      help: 'SSE requests with Last-Event-ID by result: replayed, partial (oldest events of a channel evicted), current (nothing missed), too_old (older than the replay buffer: resumed live), ahead (unknown to this stream: resumed live), error',
      labelNames: ['result'],
      registers,
    });
    this.replayedEvents = new Counter({
      name: 'sluice_gateway_sse_replayed_events_total',
      help: 'Events replayed from JetStream to resuming SSE clients',
      registers,
    });
    this.eventsDropped = new Counter({
      name: 'sluice_gateway_events_dropped_total',
      help: 'Events received but delivered to nobody: no_payload (payload-less events), no_recipients',
      labelNames: ['reason'],
      registers,
    });
    this.interestMessages = new Counter({
      name: 'sluice_gateway_interest_messages_total',
      help: 'Interest messages published to ingest',
      labelNames: ['op'],
      registers,
    });
    this.eventLatency = new Histogram({
      name: 'sluice_gateway_event_latency_seconds',
      help: 'From ingest receiving the Redis message to the gateway writing it to its clients',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });

    this.natsDisconnects = new Counter({
      name: 'sluice_gateway_nats_disconnects_total',
      help: 'Times the NATS connection dropped (e.g. nats-server cut a slow consumer): events in between are fetched again from the replay stream (sluice_gateway_gap_*)',
      registers,
    });
    this.filterDropped = new Counter({
      name: 'sluice_gateway_filter_dropped_total',
      help: 'Deliveries of statuses withheld by filtering: relationship (block, mute, domain block), timeout or error (database too slow or failing: dropped for the recipients that needed a decision)',
      labelNames: ['reason'],
      registers,
    });
    this.filterVariants = new Counter({
      name: 'sluice_gateway_filter_variants_total',
      help: 'Individual payloads built because a user keyword filter matched',
      registers,
    });
    for (const reason of ['relationship', 'timeout', 'error']) this.filterDropped.labels(reason).inc(0);
    this.gapRepairs = new Counter({
      name: 'sluice_gateway_gap_repairs_total',
      help: 'Repairs started after a NATS reconnect: the events published while disconnected are read from the replay stream and delivered',
      registers,
    });
    this.gapRepairedEvents = new Counter({
      name: 'sluice_gateway_gap_repaired_events_total',
      help: 'Events missed while NATS was disconnected and delivered by a gap repair',
      registers,
    });
    this.gapRepairsIncomplete = new Counter({
      name: 'sluice_gateway_gap_repairs_incomplete_total',
      help: 'Gap repairs that could not deliver every missed event: evicted (no longer in the replay buffer), limit (SLUICE_GAP_REPAIR_MAX_EVENTS reached), error (NATS or the replay stream failed or timed out)',
      labelNames: ['reason'],
      registers,
    });
    const detached: Gauge = new Gauge({
      name: 'sluice_gateway_sse_detached_streams',
      help: 'SSE streams held outside node:http by the stream door; the other eventsource clients (HEAD, or a stream after another request on a keep-alive connection) stay in node:http and cost ~8 KB more each',
      registers,
      collect: () => detached.set(this.detachedStreams()),
    });
    this.idleGcs = new Counter({
      name: 'sluice_gateway_idle_gc_total',
      help: 'Major garbage collections run because the gateway went quiet with a grown heap (SLUICE_IDLE_GC_SECONDS)',
      registers,
    });
    this.idleGcSeconds = new Counter({
      name: 'sluice_gateway_idle_gc_seconds_total',
      help: 'Time the idle garbage collections took (the event loop waits for them)',
      registers,
    });
    this.idleGcFreedBytes = new Counter({
      name: 'sluice_gateway_idle_gc_freed_bytes_total',
      help: 'Heap bytes the idle garbage collections freed',
      registers,
    });
    this.reorderGaps = new Counter({
      name: 'sluice_gateway_reorder_gaps_total',
      help: 'Events released without their predecessor on the channel after the reorder hold (lost or evicted predecessor)',
      registers,
    });

    this.messagesSent = { websocket: sent.labels('websocket'), eventsource: sent.labels('eventsource') };
    this.framesWritten = { websocket: frames.labels('websocket'), eventsource: frames.labels('eventsource') };
    this.slowDisconnects = { websocket: slow.labels('websocket'), eventsource: slow.labels('eventsource') };
    this.prime(sent, frames, slow);
  }

  private prime(sent: Counter<'type'>, frames: Counter<'type'>, slow: Counter<'type'>): void {
    for (const type of TYPES) {
      this.connectedClients.labels(type).set(0);
      for (const channel of CHANNEL_NAMES) this.connectedChannels.labels(type, channel).set(0);
      sent.labels(type).inc(0);
      frames.labels(type).inc(0);
      slow.labels(type).inc(0);
      this.drainClosed.labels(type).inc(0);
    }
    this.redisSubscriptions.set(0);
    this.redisMessagesReceived.inc(0);
    this.natsSubscriptions.set(0);
    this.natsConnected.set(0);
    this.draining.set(0);
    this.reorderGaps.inc(0);
    this.gapRepairs.inc(0);
    this.gapRepairedEvents.inc(0);
    this.idleGcs.inc(0);
    this.idleGcSeconds.inc(0);
    this.idleGcFreedBytes.inc(0);
    for (const r of ['evicted', 'limit', 'error']) this.gapRepairsIncomplete.labels(r).inc(0);
    for (const r of ['replayed', 'partial', 'current', 'too_old', 'ahead', 'error'])
      this.resumes.labels(r).inc(0);
    for (const r of ['no_payload', 'no_recipients']) this.eventsDropped.labels(r).inc(0);
    for (const op of ['add', 'snapshot']) this.interestMessages.labels(op).inc(0);
  }

  setSubscriptions(channels: number, natsSubscriptions: number): void {
    this.redisSubscriptions.set(channels);
    this.natsSubscriptions.set(natsSubscriptions);
  }
}
