import type { HeaderSource } from '@sluice/shared';
import { mergeBySequence, type ReplayRead, type ReplaySource, type StoredEvent } from './replay.js';

/** A stream in memory: append events, trim the head to simulate retention. */
export class MemoryReplay implements ReplaySource {
  private events: StoredEvent[] = [];
  /** Per-channel cap, like `max_msgs_per_subject`. */
  perChannelCap = Number.POSITIVE_INFINITY;
  private nextSeq = 1;
  private firstSeq = 1;
  fail: Error | null = null;
  reads = 0;

  append(channel: string, data: string | Uint8Array, headers?: HeaderSource): StoredEvent {
    const e: StoredEvent = {
      seq: this.nextSeq++,
      channel,
      data: typeof data === 'string' ? Buffer.from(data) : data,
      headers,
    };
    this.events.push(e);
    const same = this.events.filter((x) => x.channel === channel);
    if (same.length > this.perChannelCap) this.events.splice(this.events.indexOf(same[0]!), 1);
    return e;
  }

  /** Drops everything before `seq` (retention). */
  trimBefore(seq: number): void {
    this.events = this.events.filter((e) => e.seq >= seq);
    this.firstSeq = Math.max(this.firstSeq, seq);
  }

  async bounds(): Promise<{ first: number; last: number }> {
    if (this.fail) throw this.fail;
    return { first: this.firstSeq, last: this.nextSeq - 1 };
  }

  async read(channels: readonly string[], from: number, limit: number): Promise<ReplayRead> {
    if (this.fail) throw this.fail;
    this.reads++;
    const lists = channels.map((c) => this.events.filter((e) => e.channel === c && e.seq >= from));
    const capped = lists.some((l) => l.length >= this.perChannelCap);
    const events = mergeBySequence(lists, limit);
    return { events, complete: !capped && events.length === lists.reduce((n, l) => n + l.length, 0) };
  }
}
