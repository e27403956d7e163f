/**
 * The JetStream stream both services agree on (DESIGN decisions 2 and 3): a dedup conduit
 * that stores each Redis message once and republishes it to the `ev` subjects with its
 * sequence, and a short replay buffer for SSE `Last-Event-ID`. Retention is capped in
 * messages, bytes and age, and per subject: on nats-server 2.9.10 RePublish gets slower as the
 * stream fills (measured with thousands of channels: 100,000 stored → ~2,800 publishes/s;
 * 5,000 → 6–8k/s per replica; docs/benchmarks.md), so the default buffer is small.
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

export function streamDefinition(cfg: StreamConfig, prefix: string): StreamDefinition {
  return {
    name: cfg.name,
    subjects: [allSubjects(prefix, 'in')],
    storage: cfg.storage,
    num_replicas: cfg.replicas,
    max_age: cfg.maxAgeSeconds * NS_PER_S,
    max_bytes: cfg.maxBytes,
    max_msgs: cfg.maxMsgs,
    max_msgs_per_subject: cfg.maxMsgsPerSubject,
    duplicate_window: cfg.duplicateWindowSeconds * NS_PER_S,
    discard: 'old',
    retention: 'limits',
    republish: { src: allSubjects(prefix, 'in'), dest: allSubjects(prefix, 'ev') },
    allow_direct: true,
  };
}
