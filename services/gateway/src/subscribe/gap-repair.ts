/**
 * Gap repair after a lost NATS connection. Core NATS does not keep what is published while a
 * subscriber is away (a network blip, nats-server cutting a slow consumer, a NATS pod restart);
 * the replay stream does. So:
 *
 *   1. disconnect: the registry records each held channel's position (the last conduit sequence
 *      it delivered) and queues its live messages from then on (`SubjectRegistry.suspend`);
 *   2. reconnect: flush the bus (the server has our subscriptions again: everything stored from
 *      now on also arrives live), locate the gap in the replay stream, and read each waiting
 *      channel's stored events after its position, a few channels at a time;
 *   3. per channel, as soon as its read is done: deliver those events, then the queued live
 *      messages, skipping the ones the repair already delivered (`SubjectRegistry.resume`).
 *
 * Bounded: at most `maxEvents` stored events per repair, and each step has a timeout. A repair
 * that could not deliver everything (the limit, events evicted from the replay buffer, a failed
 * read) is counted by reason and logged; the channels go on live either way. A disconnect during
 * a repair supersedes it: the next repair starts from the positions reached so far. Channels
 * acquired during the outage have no position and are not repaired; released ones are skipped.
 */
import type { Logger } from '@sluice/shared';
import type { GatewayMetrics } from '../metrics.js';
import type { Bus } from './bus.js';
import type { GapReader, ReplaySource, StoredEvent } from './replay.js';
import type { SubjectRegistry } from './subject-registry.js';

export type GapRepairResult =
  /** Every waiting channel got all its stored events after its position. */
  | 'complete'
  /** Some events are gone: the replay buffer no longer held them (or the stream was recreated). */
  | 'evicted'
  /** `maxEvents` was reached. */
  | 'limit'
  /** NATS or the replay stream failed or timed out. */
  | 'error'
  /** Another disconnect came first; the next repair takes over. */
  | 'superseded'
  /** No channel had a position to repair from. */
  | 'nothing';

export interface GapRepairOptions {
  registry: SubjectRegistry;
  source: ReplaySource;
  bus: Bus;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Most stored events delivered per repair (`SLUICE_GAP_REPAIR_MAX_EVENTS`). */
  maxEvents: number;
  /** Channels read at once (default 8). */
  concurrency?: number;
  /** How long each step (flush, locating the gap, one channel's read) may take (default 5 s). */
  stepTimeoutMs?: number;
  /** How long a whole repair may take; channels not read by then go on live (default 30 s). */
  timeoutMs?: number;
}

export class GapRepair {
  private generation = 0;
  /** The pod's newest sequence when the oldest gap not yet repaired began. */
  private floor: number | null = null;
  private suspendedSinceReconnect = false;

  constructor(private readonly opts: GapRepairOptions) {}

  /** The bus connection dropped. */
  disconnected(): void {
    this.generation++;
    const newest = this.opts.registry.suspend();
    // A gap still being repaired keeps its older floor: the next repair covers both.
    this.floor ??= newest;
    this.suspendedSinceReconnect = true;
  }

  /** The bus connection is back: repairs every waiting channel. Never rejects. */
  reconnected(): Promise<GapRepairResult> {
    // The client always reports the disconnect first; should it not, the positions are taken now.
    if (!this.suspendedSinceReconnect) this.disconnected();
    this.suspendedSinceReconnect = false;
    const generation = ++this.generation;
    return this.run(generation).catch((err: unknown) => {
      this.opts.logger.error({ err }, 'Gap repair failed');
      return 'error' as const;
    });
  }

  private async run(generation: number): Promise<GapRepairResult> {
    const { registry, source, bus, metrics, logger } = this.opts;
    const targets = registry.suspended();
    const floor = this.floor ?? 0;
    if (targets.length === 0) {
      this.floor = null;
      return 'nothing';
    }
    const current = () => generation === this.generation;
    const stepMs = this.opts.stepTimeoutMs ?? 5000;
    const started = Date.now();
    const deadline = started + (this.opts.timeoutMs ?? 30_000);
    metrics.gapRepairs.inc();

    let reader: GapReader;
    try {
      await withTimeout(bus.flush(), stepMs, 'NATS flush');
      reader = await withTimeout(source.gapReader(floor), stepMs, 'locating the gap');
    } catch (err) {
      if (!current()) return 'superseded';
      for (const t of targets) registry.resume(t, [], true);
      this.floor = null;
      return this.incomplete('error', { err, channels: targets.length, floor });
    }
    if (!current()) return 'superseded';
    if (reader.last < floor) {
      // The stream was recreated (NATS lost it): the positions mean nothing there.
      for (const t of targets) registry.resume(t, [], true);
      this.floor = null;
      return this.incomplete('evicted', {
        channels: targets.length,
        floor,
        last: reader.last,
        recreated: true,
      });
    }

    let budget = this.opts.maxEvents;
    let delivered = 0;
    let limited = false;
    let failed = 0;
    // The gap began before the oldest stored event: its start is gone for every channel.
    let evicted = reader.first > floor + 1;
    let firstError: unknown;
    await forEachLimit(targets, this.opts.concurrency ?? 8, async (t) => {
      if (!current()) return;
      let events: readonly StoredEvent[] = [];
      let cut = true;
      if (budget <= 0) limited = true;
      else if (Date.now() >= deadline) failed++;
      else {
        try {
          const read = await withTimeout(reader.read(t.channel, t.after, budget), stepMs, 'a gap read');
          if (!current()) return;
          events = read.events.length > budget ? read.events.slice(0, budget) : read.events;
          cut = !read.complete || events.length < read.events.length;
          budget -= events.length;
          if (cut) limited = true;
        } catch (err) {
          if (!current()) return;
          failed++;
          firstError ??= err;
        }
      }
      const r = registry.resume(t, events, cut);
      delivered += r.delivered;
      metrics.gapRepairedEvents.inc(r.delivered);
      if (r.missing) evicted = true;
    });
    if (!current()) return 'superseded';
    this.floor = null;
    const facts = { channels: targets.length, events: delivered, ms: Date.now() - started, floor };
    if (failed > 0) return this.incomplete('error', { ...facts, failed, err: firstError });
    if (limited) return this.incomplete('limit', { ...facts, maxEvents: this.opts.maxEvents });
    if (evicted) return this.incomplete('evicted', { ...facts, oldest: reader.first });
    logger.info(facts, 'Repaired the events missed while NATS was disconnected');
    return 'complete';
  }

  private incomplete(reason: 'evicted' | 'limit' | 'error', facts: Record<string, unknown>): GapRepairResult {
    this.opts.metrics.gapRepairsIncomplete.labels(reason).inc();
    const why = {
      evicted: 'some were no longer in the replay buffer',
      limit: 'SLUICE_GAP_REPAIR_MAX_EVENTS was reached',
      error: 'NATS or the replay stream failed',
    }[reason];
    this.opts.logger.warn(
      { ...facts, reason },
      `Could not repair every event missed while NATS was disconnected: ${why}`,
    );
    return reason;
  }
}

/** Runs `fn` over `items`, at most `n` at a time. */
async function forEachLimit<T>(
  items: readonly T[],
  n: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
