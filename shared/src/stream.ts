/**
 * The two JetStream streams both services agree on (DESIGN decisions 2 and 3; why two:
 * docs/streams.md).
 *
 * - The **conduit** (`SLUICE_STREAM_NAME`, subjects `<prefix>.in.>`): every ingest replica
 *   publishes every Redis message with a deterministic `Nats-Msg-Id`; the stream stores each once
 *   and RePublishes it to `<prefix>.ev.>` with its sequence (`Nats-Sequence`, the SSE `id:`) and
 *   `Nats-Last-Sequence`. It keeps only the last {@link CONDUIT_MAX_MSGS} messages: on
 *   nats-server 2.9.10 RePublish slows down as the stream fills (100,000 stored: ~2,800
 *   publishes/s; 1,000: ~38,000/s with 3,000 channels; docs/benchmarks.md). Dedup does not need
 *   the messages: ids are remembered for the duplicate window even after eviction.
 * - The **replay buffer** (`<SLUICE_STREAM_NAME>_REPLAY`, subjects `<prefix>.ev.>`): captures the
 *   republished events, headers included, with no RePublish and no dedup, so it can be large
 *   (`SLUICE_STREAM_MAX_*`). Gateways read it for SSE `Last-Event-ID`.
 */
import { allSubjects } from './channels.js';
import type { StreamConfig } from './config/index.js';

const NS_PER_S = 1_000_000_000;

export interface StreamDefinition {
  name: string;
  subjects: string[];
  storage: 'memory' | 'file';
  num_replicas: number;
  max_age: number;
  max_bytes: number;
  max_msgs: number;
  max_msgs_per_subject: number;
  duplicate_window: number;
  discard: 'old';
  retention: 'limits';
  republish: { src: string; dest: string };
  allow_direct: boolean;
}

/** Messages the conduit keeps: enough for in-flight publishes, small enough for fast RePublish. */
export const CONDUIT_MAX_MSGS = 1000;

/** The conduit: dedup across ingest replicas, and RePublish to the `ev` subjects. */
export function streamDefinition(cfg: StreamConfig, prefix: string): StreamDefinition {
  return {
    name: cfg.name,
    subjects: [allSubjects(prefix, 'in')],
    storage: cfg.storage,
    num_replicas: cfg.replicas,
    max_age: cfg.maxAgeSeconds * NS_PER_S,
    max_bytes: cfg.maxBytes,
    max_msgs: CONDUIT_MAX_MSGS,
    max_msgs_per_subject: -1,
    duplicate_window: cfg.duplicateWindowSeconds * NS_PER_S,
    discard: 'old',
    retention: 'limits',
    republish: { src: allSubjects(prefix, 'in'), dest: allSubjects(prefix, 'ev') },
    allow_direct: true,
  };
}

export function replayStreamName(cfg: StreamConfig): string {
  return `${cfg.name}_REPLAY`;
}

/** The replay buffer: the republished `ev` events, kept for SSE `Last-Event-ID`. */
export function replayStreamDefinition(
  cfg: StreamConfig,
  prefix: string,
): Omit<StreamDefinition, 'republish'> {
  return {
    name: replayStreamName(cfg),
    subjects: [allSubjects(prefix, 'ev')],
    storage: cfg.storage,
    num_replicas: cfg.replicas,
    max_age: cfg.maxAgeSeconds * NS_PER_S,
    max_bytes: cfg.maxBytes,
    max_msgs: cfg.maxMsgs,
    max_msgs_per_subject: cfg.maxMsgsPerSubject,
    // Not used for dedup (the conduit did that); the server requires a window ≤ max_age.
    duplicate_window: Math.min(cfg.maxAgeSeconds, 1) * NS_PER_S,
    discard: 'old',
    retention: 'limits',
    allow_direct: true,
  };
}
