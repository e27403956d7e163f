/**
 * One bus subscription per subject per process, reference-counted (DESIGN decision 3; spec
 * §7.2): the first holder of a channel subscribes its `ev` subject, the last one to leave drops
 * it. A channel's first use is reported so that interest reaches ingest at once.
 *
 * Messages pass through shared `SubjectReorderer` first: nats-server 2.9 can republish two
 * ingest replicas' messages out of stream order, and `Nats-Last-Sequence` lets us restore each
 * channel's order (holding a message at most `reorderHoldMs` for its predecessor).
 */
import {
  ChannelMappingError,
  channelToSubject,
  isSystemChannel,
  type Logger,
  readSequenced,
  SubjectReorderer,
} from '@sluice/shared';
import type { Bus, BusMessage, BusSubscription } from './bus.js';

export interface SubjectRegistryOptions {
  bus: Bus;
  prefix: string;
  logger: Logger;
  /** Every message of a held channel. */
  onMessage: (channel: string, msg: BusMessage) => void;
  /** A (non-system) channel gained its first holder on this process. */
  onFirstUse?: (channel: string) => void;
  /** The number of held subjects changed. */
  onCount?: (n: number) => void;
  /** How long a message may wait for its predecessor on the same channel (default 100 ms). */
  reorderHoldMs?: number;
  /** A predecessor never came: `held` messages were released after the hold. */
  onGap?: (channel: string, held: number) => void;
}

interface Entry {
  refs: number;
  /** Null when the channel cannot be a subject (too long): held, never receives. */
  sub: BusSubscription | null;
}

export class SubjectRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly reorder: SubjectReorderer<BusMessage>;

  constructor(private readonly opts: SubjectRegistryOptions) {
    this.reorder = new SubjectReorderer<BusMessage>({
      holdMs: opts.reorderHoldMs ?? 100,
      deliver: opts.onMessage,
      ...(opts.onGap ? { onGap: opts.onGap } : {}),
    });
  }

  acquire(channel: string): void {
    const entry = this.entries.get(channel);
    if (entry) {
      entry.refs++;
      return;
    }
    this.entries.set(channel, { refs: 1, sub: this.subscribe(channel) });
    this.opts.onCount?.(this.entries.size);
    if (!isSystemChannel(channel)) this.opts.onFirstUse?.(channel);
  }

  release(channel: string): void {
    const entry = this.entries.get(channel);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.entries.delete(channel);
    entry.sub?.unsubscribe();
    this.reorder.forget(channel);
    this.opts.onCount?.(this.entries.size);
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

  private subscribe(channel: string): BusSubscription | null {
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
    const reorder = this.reorder;
    return this.opts.bus.subscribe(subject, (msg) => reorder.push(channel, readSequenced(msg.headers), msg));
  }
}
