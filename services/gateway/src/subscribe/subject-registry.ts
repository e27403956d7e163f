/**
 * One bus subscription per subject per process, reference-counted (DESIGN decision 3; spec
 * §7.2): the first holder of a channel subscribes its `ev` subject, the last one to leave drops
 * it. A channel's first use is reported so that interest reaches ingest at once.
 *
 * Messages pass through shared `SubjectReorderer` first: nats-server 2.9 can republish two
 * ingest replicas' messages out of stream order, and `Nats-Last-Sequence` lets us restore each
 * channel's order (holding a message at most `reorderHoldMs` for its predecessor).
 *
 * Some channels share a wildcard subscription instead (`sharedSubject` in shared/src/channels.ts):
 * every system channel (`kill` / `filters_changed`, two per connection) rides on two wildcards,
 * and a user's home and notifications timelines on one `user.<id>.*`. Each NATS subscription
 * costs the client ~1.2 KB of heap, so per-connection subscriptions were a third of an idle
 * connection's memory (docs/benchmarks.md). A shared subscription is held while any of its
 * channels is, and routes by subject to the channels held; the rest is dropped.
 *
 * Gap repair (driven by `gap-repair.ts`): when the bus connection drops, `suspend` records each
 * held channel's position (the last sequence delivered) and from then on queues its live messages;
 * `resume` delivers the channel's stored events after that position, then the queued live ones,
 * each sequence once and in order.
 */
import {
  ChannelMappingError,
  channelToSubject,
  isSystemChannel,
  type Logger,
  readSequenced,
  type Sequenced,
  SubjectReorderer,
  sharedSubject,
  subjectToChannel,
} from '@sluice/shared';
import type { Bus, BusMessage, BusSubscription } from './bus.js';
import type { StoredEvent } from './replay.js';

export interface SubjectRegistryOptions {
  bus: Bus;
  prefix: string;
  logger: Logger;
  /** Every message of a held channel. */
  onMessage: (channel: string, msg: BusMessage) => void;
  /** A (non-system) channel gained its first holder on this process. */
  onFirstUse?: (channel: string) => void;
  /** The number of held channels, or of bus subscriptions, changed. */
  onCount?: (channels: number, subscriptions: number) => void;
  /** How long a message may wait for its predecessor on the same channel (default 100 ms). */
  reorderHoldMs?: number;
  /** A predecessor never came: `held` messages were released after the hold. */
  onGap?: (channel: string, held: number) => void;
}

/** A channel waiting for its gap to be repaired. */
export interface GapTarget {
  readonly channel: string;
  /** The last sequence delivered on the channel before the gap: the repair reads after it. */
  readonly after: number;
}

interface Queued {
  readonly pos: Sequenced | null;
  readonly msg: BusMessage;
}

interface Gap extends GapTarget {
  /** Live messages that arrived since the connection dropped (and what the reorderer held). */
  readonly queue: Queued[];
}

interface Entry {
  refs: number;
  /**
   * The channel's own subscription; null when it rides on a shared one (`shared`) or cannot be a
   * subject at all (too long: held, never receives).
   */
  sub: BusSubscription | null;
  /** The shared wildcard subject the channel is held through, if any. */
  shared: string | null;
  /** The pod's newest sequence when the channel was acquired. */
  readonly newestAtAcquire: number;
  /** Non-null from a dropped connection until the channel's gap is repaired. */
  gap: Gap | null;
  /**
   * Sequences the last repair delivered (a live copy arriving later is skipped), until a live
   * message past `repairedMax` shows the live stream has moved beyond them.
   */
  repaired: Set<number> | null;
  repairedMax: number;
}

export interface ResumeOutcome {
  /** Stored events delivered. */
  readonly delivered: number;
  /** A delivered event's predecessor on the channel was neither delivered nor read (evicted). */
  readonly missing: boolean;
}

/** A shared wildcard subscription and how many held channels ride on it. */
interface Shared {
  readonly sub: BusSubscription;
  channels: number;
}

export class SubjectRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Shared wildcard subscriptions by subject, while any of their channels is held. */
  private readonly shared = new Map<string, Shared>();
  /** Bus subscriptions of single channels (the shared ones not counted). */
  private ownSubs = 0;
  private readonly onShared = (msg: BusMessage, subject: string) => this.receiveShared(msg, subject);
  private readonly reorder: SubjectReorderer<BusMessage>;
  /** The highest sequence received on any channel. */
  private newest = 0;

  constructor(private readonly opts: SubjectRegistryOptions) {
    this.reorder = new SubjectReorderer<BusMessage>({
      holdMs: opts.reorderHoldMs ?? 100,
      deliver: opts.onMessage,
      ...(opts.onGap ? { onGap: opts.onGap } : {}),
    });
  }

  acquire(channel: string): void {
    const existing = this.entries.get(channel);
    if (existing) {
      existing.refs++;
      return;
    }
    const entry: Entry = {
      refs: 1,
      sub: null,
      shared: null,
      newestAtAcquire: this.newest,
      gap: null,
      repaired: null,
      repairedMax: 0,
    };
    this.entries.set(channel, entry);
    entry.shared = sharedSubject(this.opts.prefix, channel);
    if (entry.shared !== null) this.holdShared(entry.shared);
    else {
      entry.sub = this.subscribe(channel, entry);
      if (entry.sub !== null) this.ownSubs++;
    }
    this.reportCount();
    if (!isSystemChannel(channel)) this.opts.onFirstUse?.(channel);
  }

  release(channel: string): void {
    const entry = this.entries.get(channel);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.entries.delete(channel);
    if (entry.shared !== null) this.releaseShared(entry.shared);
    else if (entry.sub !== null) {
      entry.sub.unsubscribe();
      this.ownSubs--;
    }
    entry.gap = null;
    entry.repaired = null;
    this.reorder.forget(channel);
    this.reportCount();
  }

  refs(channel: string): number {
    return this.entries.get(channel)?.refs ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Channels whose interest ingest must keep alive (system channels need no `subscribed:` key). */
  *interestChannels(): Iterable<string> {
    for (const channel of this.entries.keys()) if (!isSystemChannel(channel)) yield channel;
  }

  /**
   * The bus connection dropped: every held channel with a known position queues its live
   * messages until `resume`. A channel that has delivered nothing yet takes the pod's newest
   * sequence as its position if that arrived after the channel was acquired (so everything later
   * on it was published while it was held); otherwise nothing is known and nothing is repaired.
   * A channel already waiting (a repair was under way) keeps its position and queue. Returns the
   * pod's newest sequence.
   */
  suspend(): number {
    for (const [channel, entry] of this.entries) {
      if ((entry.sub === null && entry.shared === null) || entry.gap !== null) continue;
      const delivered = this.reorder.lastDelivered(channel);
      const after = delivered ?? (this.newest > entry.newestAtAcquire ? this.newest : 0);
      if (after === 0) continue;
      // Messages held for a predecessor that will now come from the repair (or not at all).
      const queue: Queued[] = this.reorder
        .takeHeld(channel)
        .map((h) => ({ pos: { seq: h.seq, lastSeq: h.lastSeq }, msg: h.item }));
      entry.gap = { channel, after, queue };
      entry.repaired = null;
    }
    return this.newest;
  }

  /** The channels waiting for a repair. */
  suspended(): GapTarget[] {
    const out: GapTarget[] = [];
    for (const entry of this.entries.values()) if (entry.gap !== null) out.push(entry.gap);
    return out;
  }

  /**
   * Ends a channel's gap: delivers `events` (its stored events after `target.after`, ascending),
   * then the live messages that waited, skipping those the events already covered. `cut` means
   * events after the last of `events` may be missing (repair limit, failed read): the live
   * messages are then delivered without waiting for them. Does nothing when the channel was
   * released (or released and acquired again) meanwhile.
   */
  resume(target: GapTarget, events: readonly StoredEvent[], cut: boolean): ResumeOutcome {
    const channel = target.channel;
    const entry = this.entries.get(channel);
    if (entry === undefined || entry.gap !== target) return { delivered: 0, missing: false };
    const gap = entry.gap;
    entry.gap = null;
    const repaired = new Set<number>();
    let prev = gap.after;
    let missing = false;
    for (const e of events) {
      if (e.seq <= prev) continue;
      if (e.lastSeq !== undefined && e.lastSeq > prev) missing = true;
      repaired.add(e.seq);
      prev = e.seq;
      // In order, with everything before it delivered or gone: no reorder hold (lastSeq 0).
      this.reorder.push(channel, { seq: e.seq, lastSeq: 0 }, { data: e.data, headers: e.headers });
      // A delivery can release the channel (a repaired `kill` closes its connections).
      if (this.entries.get(channel) !== entry) return { delivered: repaired.size, missing };
    }
    entry.repaired = repaired.size > 0 ? repaired : null;
    entry.repairedMax = prev;
    const live = gap.queue.filter((q) => q.pos === null || !repaired.has(q.pos.seq));
    if (cut) {
      // The first live message's predecessor may be among the events the repair did not get.
      let first: Sequenced | null = null;
      for (const q of live) if (q.pos !== null && (first === null || q.pos.seq < first.seq)) first = q.pos;
      if (first !== null) this.reorder.skipTo(channel, first.lastSeq);
    }
    for (const q of live) {
      this.reorder.push(channel, q.pos, q.msg);
      if (this.entries.get(channel) !== entry) break;
    }
    return { delivered: repaired.size, missing };
  }

  private subscribe(channel: string, entry: Entry): BusSubscription | null {
    let subject: string;
    try {
      subject = channelToSubject(this.opts.prefix, 'ev', channel);
    } catch (err) {
      if (!(err instanceof ChannelMappingError)) throw err;
      this.opts.logger.warn(
        { err, channel: channel.slice(0, 200) },
        'Channel cannot be mapped to a subject; it will receive nothing',
      );
      return null;
    }
    return this.opts.bus.subscribe(subject, (msg) => this.receive(channel, entry, msg));
  }

  private reportCount(): void {
    this.opts.onCount?.(this.entries.size, this.ownSubs + this.shared.size);
  }

  /** One message of a held channel: queued during a gap, skipped if a repair delivered it. */
  private receive(channel: string, entry: Entry, msg: BusMessage): void {
    const pos = readSequenced(msg.headers);
    if (pos !== null && pos.seq > this.newest) this.newest = pos.seq;
    if (entry.gap !== null) {
      entry.gap.queue.push({ pos, msg });
      return;
    }
    if (entry.repaired !== null && pos !== null) {
      if (entry.repaired.has(pos.seq)) return;
      if (pos.seq > entry.repairedMax) entry.repaired = null;
    }
    this.reorder.push(channel, pos, msg);
  }

  private holdShared(subject: string): void {
    const held = this.shared.get(subject);
    if (held) held.channels++;
    else this.shared.set(subject, { sub: this.opts.bus.subscribe(subject, this.onShared), channels: 1 });
  }

  private releaseShared(subject: string): void {
    const held = this.shared.get(subject);
    if (!held || --held.channels > 0) return;
    this.shared.delete(subject);
    held.sub.unsubscribe();
  }

  /** A shared subscription's message: on to the channel its subject names, if held here. */
  private receiveShared(msg: BusMessage, subject: string): void {
    let channel: string;
    try {
      channel = subjectToChannel(this.opts.prefix, subject).channel;
    } catch {
      return;
    }
    const entry = this.entries.get(channel);
    if (entry !== undefined) this.receive(channel, entry, msg);
  }
}
