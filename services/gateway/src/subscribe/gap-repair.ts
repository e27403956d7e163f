/**
 * Gap repair after a lost NATS connection. Core NATS does not keep what is published while a
 * subscriber is away (a network blip, nats-server cutting a slow consumer, a NATS pod restart);
 * the replay stream does. So:
 *
 *   1. disconnect: the registry records each held channel's position (the last conduit sequence
 *      it delivered) and queues its live messages from then on (`SubjectRegistry.suspend`);
 *   2. reconnect: flush the bus (the server has our subscriptions again: everything stored from
 *      now on also arrives live), locate the gap in the replay stream, and scan the stream ONCE
 *      from there to its end at that moment, in stored order, collecting for each waiting channel
 *      its events after its position (other channels' messages are skipped);
 *   3. then, for every waiting channel: deliver those events, then the queued live messages,
 *      skipping the ones the repair already delivered (`SubjectRegistry.resume`).
 *
 * What a repair costs is O(messages stored during the gap), not O(channels held): a few requests
 * to locate the gap, one consumer, then pulls of up to 1,000 messages, whether 10 or 25,000
 * channels wait (with 12 pods after a NATS restart: 12 scans, not a request per channel per pod).
 *
 * Bounded: at most `maxEvents` stored messages scanned per repair, each step (the flush, locating
 * the gap, each stretch of the scan) has a timeout, and so does the whole repair; channels wait
 * (their live messages in memory) for at most that long. A repair that could not deliver
 * everything (the limit, events evicted from the replay buffer, a failed or slow scan) delivers
 * what it collected, is counted by reason and logged; the channels go on live either way. A
 * disconnect during a repair supersedes it: the next repair starts from the same positions and
 * covers both gaps. Channels acquired during the outage have no position and are not repaired;
 * released ones are skipped.
 */
import type { Logger } from '@sluice/shared';
import type { GatewayMetrics } from '../metrics.js';
import type { Bus } from './bus.js';
import type { GapReader, GapScan, ReplaySource, StoredEvent } from './replay.js';
import type { GapTarget, SubjectRegistry } from './subject-registry.js';

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
  /** Most replay-stream messages scanned per repair (`SLUICE_GAP_REPAIR_MAX_EVENTS`). */
  maxEvents: number;
  /**
   * How long each step (flush, locating the gap, one stretch of the scan) may take (default 5 s).
   */
  stepTimeoutMs?: number;
  /** How long a whole repair may take; the channels then go on live with what was read (default 30 s). */
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
    const { registry, source, bus, metrics } = this.opts;
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

    // The gap began before the oldest stored event: its start is gone for every channel.
    const evictedBefore = reader.first > floor + 1;
    const waiting = new Map<string, { target: GapTarget; events: StoredEvent[] }>();
    for (const t of targets) waiting.set(t.channel, { target: t, events: [] });
    const scan = reader.scan(this.opts.maxEvents, (channel) => waiting.has(channel));
    let failure: unknown;
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the repair took longer than ${this.opts.timeoutMs ?? 30_000} ms`);
        const batch = await withTimeout(scan.next(), Math.min(stepMs, left), 'a step of the gap scan');
        if (!current()) return 'superseded';
        if (batch === null) break;
        for (const e of batch) {
          const w = waiting.get(e.channel);
          if (w !== undefined && e.seq > w.target.after) w.events.push(e);
        }
      }
    } catch (err) {
      if (!current()) return 'superseded';
      failure = err ?? new Error('the gap scan failed');
    } finally {
      scan.close();
    }
    return this.resumeAll(waiting.values(), scan, failure, {
      floor,
      started,
      evictedBefore,
      oldest: reader.first,
    });
  }

  /** Delivers what the scan collected to every waiting channel, then counts and logs the repair. */
  private resumeAll(
    waiting: Iterable<{ target: GapTarget; events: StoredEvent[] }>,
    scan: GapScan,
    failure: unknown,
    gap: { floor: number; started: number; evictedBefore: boolean; oldest: number },
  ): GapRepairResult {
    const { registry, metrics, logger } = this.opts;
    const limited = failure === undefined && !scan.complete;
    // Events after the last one read may be missing: the live messages do not wait for them.
    const cut = failure !== undefined || limited;
    let channels = 0;
    let delivered = 0;
    let evicted = gap.evictedBefore;
    for (const { target, events } of waiting) {
      channels++;
      // RePublish may have stored a channel's events slightly out of conduit order.
      events.sort((a, b) => a.seq - b.seq);
      const r = registry.resume(target, events, cut);
      delivered += r.delivered;
      if (r.missing) evicted = true;
    }
    metrics.gapRepairedEvents.inc(delivered);
    this.floor = null;
    const facts = {
      channels,
      events: delivered,
      scanned: scan.scanned,
      ms: Date.now() - gap.started,
      floor: gap.floor,
    };
    if (failure !== undefined) return this.incomplete('error', { ...facts, err: failure });
    if (limited) return this.incomplete('limit', { ...facts, maxEvents: this.opts.maxEvents });
    if (evicted) return this.incomplete('evicted', { ...facts, oldest: gap.oldest });
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

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
