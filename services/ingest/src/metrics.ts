import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const INVALID_REASONS = [
  'empty',
  'invalid_utf8',
  'not_json',
  'missing_event',
  'too_large',
  'bad_channel',
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

export const PUBLISH_ERROR_KINDS = ['timeout', 'no_stream', 'disconnected', 'other'] as const;
export type PublishErrorKind = (typeof PUBLISH_ERROR_KINDS)[number];

/** Every metric ingest exposes, in one registry (no module-level singletons). */
export function createIngestMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    // Mastodon's own name, so existing dashboards keep a Redis message rate.
    redisMessagesReceived: new Counter({
      name: 'redis_messages_received_total',
      help: 'Messages received from Redis pub/sub',
      registers: [registry],
    }),
    received: new Counter({
      name: 'sluice_ingest_messages_received_total',
      help: 'Redis pub/sub messages received on timeline channels',
      registers: [registry],
    }),
    published: new Counter({
      name: 'sluice_ingest_messages_published_total',
      help: 'Messages stored by JetStream for the first time (acknowledged, not duplicate)',
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'sluice_ingest_duplicates_total',
      help: 'Publishes JetStream acknowledged as duplicates (another replica or a retry stored it first)',
      registers: [registry],
    }),
    invalid: new Counter({
      name: 'sluice_ingest_invalid_messages_total',
      help: 'Redis messages skipped because they cannot be forwarded, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'sluice_ingest_dropped_total',
      help: 'Valid messages dropped, by reason (buffer_full: NATS away longer than the buffer lasts; rejected: JetStream refused it repeatedly)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: 'sluice_ingest_publish_errors_total',
      help: 'Failed JetStream publishes (each is retried in order, not lost), by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    publishLatency: new Histogram({
      name: 'sluice_ingest_publish_latency_seconds',
      help: 'From Redis receipt to JetStream acknowledgement',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    bufferMessages: new Gauge({
      name: 'sluice_ingest_buffer_messages',
      help: 'Messages waiting to be published (not yet sent to NATS)',
      registers: [registry],
    }),
    bufferBytes: new Gauge({
      name: 'sluice_ingest_buffer_bytes',
      help: 'Payload bytes waiting to be published',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'sluice_ingest_in_flight',
      help: 'Publishes sent and not yet acknowledged',
      registers: [registry],
    }),
    redisConnected: new Gauge({
      name: 'sluice_ingest_redis_connected',
      help: '1 while the Redis subscriber connection is ready',
      registers: [registry],
    }),
    natsConnected: new Gauge({
      name: 'sluice_ingest_nats_connected',
      help: '1 while connected to NATS',
      registers: [registry],
    }),
    redisReconnects: new Counter({
      name: 'sluice_ingest_redis_reconnects_total',
      help: 'Redis reconnection attempts',
      registers: [registry],
    }),
    natsReconnects: new Counter({
      name: 'sluice_ingest_nats_reconnects_total',
      help: 'Reconnections to NATS',
      registers: [registry],
    }),
    streamCreated: new Counter({
      name: 'sluice_ingest_stream_created_total',
      help: 'Times this replica created the JetStream stream because it did not exist',
      registers: [registry],
    }),
    interestMessages: new Counter({
      name: 'sluice_ingest_interest_messages_total',
      help: 'Interest messages received from gateways, by op',
      labelNames: ['op'],
      registers: [registry],
    }),
    interestChannels: new Gauge({
      name: 'sluice_ingest_interest_channels',
      help: 'Channels some gateway currently announces',
      registers: [registry],
    }),
    subscribedKeysSet: new Counter({
      name: 'sluice_ingest_subscribed_keys_set_total',
      help: 'SET subscribed:<channel> commands sent to Redis',
      registers: [registry],
    }),
  };
  for (const reason of INVALID_REASONS) m.invalid.inc({ reason }, 0);
  for (const kind of PUBLISH_ERROR_KINDS) m.publishErrors.inc({ kind }, 0);
  m.dropped.inc({ reason: 'buffer_full' }, 0);
  m.dropped.inc({ reason: 'rejected' }, 0);
  m.interestMessages.inc({ op: 'add' }, 0);
  m.interestMessages.inc({ op: 'snapshot' }, 0);
  m.interestMessages.inc({ op: 'invalid' }, 0);
  return m;
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
