/** Shared pieces of the ingest tests. */
import { SubjectReorderer } from '@sluice/shared';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  type Collector,
  header,
  type PlannedMessage,
  pollUntil,
  type Received,
  type ServiceHandle,
  startService,
  type TestScope,
} from '../harness/index.js';

/** Stream settings for tests: small, but far above what one test stores. */
export const TEST_STREAM_ENV = {
  SLUICE_STREAM_MAX_AGE_SECONDS: '120',
  SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS: '60',
  SLUICE_STREAM_MAX_MSGS: '100000',
};

/** Starts an ingest process for `scope` and waits until `/health` answers 200. */
export async function startIngest(
  scope: TestScope,
  env: Record<string, string> = {},
): Promise<ServiceHandle> {
  const h = await startService('ingest', { ...scope.env, ...TEST_STREAM_ENV, ...env });
  await h.waitForHealthy(20_000);
  return h;
}

/** The ingest counters a test compares. */
export async function ingestCounters(h: ServiceHandle) {
  const m = await h.metrics();
  const invalid = m.value('sluice_ingest_invalid_messages_total');
  return {
    received: m.value('sluice_ingest_messages_received_total'),
    published: m.value('sluice_ingest_messages_published_total'),
    duplicates: m.value('sluice_ingest_duplicates_total'),
    invalid,
    dropped: m.value('sluice_ingest_dropped_total'),
    buffered: m.value('sluice_ingest_buffer_messages'),
  };
}

/**
 * Waits until `h` has dealt with everything it received: each message published, acknowledged
 * as a duplicate, rejected as invalid or dropped, and nothing left in its buffer.
 */
export async function waitDrained(
  h: ServiceHandle,
  timeoutMs = 20_000,
  atLeast = 0,
): Promise<Awaited<ReturnType<typeof ingestCounters>>> {
  let last: Awaited<ReturnType<typeof ingestCounters>> | undefined;
  try {
    return await pollUntil(
      `ingest pid ${h.pid} to finish what it received`,
      async () => {
        const c = await ingestCounters(h);
        last = c;
        const done = c.published + c.duplicates + c.invalid + c.dropped;
        return c.received >= atLeast && c.buffered === 0 && done === c.received ? c : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last counters ${JSON.stringify(last)}`);
  }
}

/**
 * Publishes planned messages in pipelined batches, never more than `window` ahead of what the
 * collector has received (flow control, event-driven). `onBatch` runs after each batch with the
 * number sent so far and may await (e.g. kill or start a process).
 */
export async function publishPlanned(
  redis: Redis,
  planned: PlannedMessage[],
  opts: {
    collector: Collector;
    batch?: number;
    window?: number;
    redisPrefix?: string;
    onBatch?: (sent: number) => Promise<void> | void;
    timeoutMs?: number;
  },
): Promise<void> {
  const batch = opts.batch ?? 500;
  const window = opts.window ?? 5000;
  const prefix = opts.redisPrefix ?? '';
  for (let i = 0; i < planned.length; i += batch) {
    const pipeline = redis.pipeline();
    for (const p of planned.slice(i, i + batch)) pipeline.publish(prefix + p.channel, p.raw);
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw new Error(`PUBLISH failed: ${failed[0]?.message}`);
    const sent = Math.min(i + batch, planned.length);
    if (opts.onBatch) await opts.onBatch(sent);
    if (sent - opts.collector.count > window) {
      await opts.collector.waitFor(sent - window, opts.timeoutMs ?? 30_000);
    }
  }
}

/** Stream sequences (`Nats-Sequence`, added by RePublish) of the messages, in arrival order. */
export function sequences(messages: readonly Received[]): number[] {
  return messages.map((m) => Number(header(m, 'Nats-Sequence')));
}

export function expectStrictlyIncreasing(values: number[], what: string): void {
  const bad = values.findIndex((v, i) => !Number.isSafeInteger(v) || (i > 0 && v <= values[i - 1]!));
  expect(
    bad,
    `${what}: not strictly increasing at position ${bad} (${values.slice(Math.max(0, bad - 2), bad + 2).join(', ')})`,
  ).toBe(-1);
}

/**
 * What a gateway delivers: the `ev` arrivals passed through the shared per-subject reorderer
 * (nats-server 2.9 may republish two replicas' messages slightly out of order; the
 * `Nats-Last-Sequence` chain restores stream order per channel). Replayed offline, so no hold
 * ever expires: a missing predecessor would show up as a missing or reordered message.
 */
export function asGatewaySees(messages: readonly Received[]): { ordered: Received[]; heldAtEnd: number } {
  const ordered: Received[] = [];
  const r = new SubjectReorderer<Received>({
    holdMs: Number.POSITIVE_INFINITY,
    deliver: (_s, m) => ordered.push(m),
    setTimer: () => 0 as never,
    clearTimer: () => {},
  });
  for (const m of messages) {
    const seq = Number(header(m, 'Nats-Sequence'));
    const lastSeq = Number(header(m, 'Nats-Last-Sequence') ?? 0);
    r.push(m.subject, Number.isSafeInteger(seq) ? { seq, lastSeq } : null, m);
  }
  const heldAtEnd = r.heldCount();
  r.flushAll();
  return { ordered, heldAtEnd };
}

/**
 * The replay stream stores republished events in the order nats-server emitted them, which may
 * swap two replicas' events; the conduit's order is their `Nats-Sequence`.
 */
export function inConduitOrder(messages: readonly Received[]): Received[] {
  const seq = (m: Received) => Number(header(m, 'Nats-Sequence'));
  return [...messages].sort((a, b) => seq(a) - seq(b));
}
