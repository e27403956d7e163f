import type { HeaderSource } from '@sluice/shared';
import { MemoryHeaders } from './bus-memory.js';
import {
  type GapReader,
  mergeBySequence,
  type ReplayRead,
  type ReplaySource,
  type StoredEvent,
} from './replay.js';

/** A stream in memory: append events, trim the head to simulate retention. */
export class MemoryReplay implements ReplaySource {
  private events: StoredEvent[] = [];
  /** Per-channel cap, like `max_msgs_per_subject`. */
  perChannelCap = Number.POSITIVE_INFINITY;
  private nextSeq = 1;
  private firstSeq = 1;
  /** The last sequence appended per channel (`Nats-Last-Sequence` of the next one). */
  private readonly lastByChannel = new Map<string, number>();
  fail: Error | null = null;
  /** `read` calls (SSE `Last-Event-ID`). */
  reads = 0;
  /** Gap scans started, and the `next` calls they answered (the requests a repair made). */
  scans = 0;
  scanSteps = 0;
  /** Messages per scan step. */
  scanBatch = 100;
  /** How far before the floor a gap scan starts, in sequences (the JetStream reader's margin). */
  gapMargin = 64;

  /**
   * Stores an event as the replay stream would: with its conduit sequence and, for
   * `MemoryHeaders`, a copy of the headers carrying `Nats-Sequence` and `Nats-Last-Sequence`.
   */
  append(channel: string, data: string | Uint8Array, headers?: HeaderSource): StoredEvent {
    const seq = this.nextSeq++;
    const lastSeq = this.lastByChannel.get(channel) ?? 0;
    this.lastByChannel.set(channel, seq);
    const e: StoredEvent = {
      seq,
      lastSeq,
      channel,
      data: typeof data === 'string' ? Buffer.from(data) : data,
      headers:
        headers instanceof MemoryHeaders
          ? headers.with({ 'Nats-Sequence': String(seq), 'Nats-Last-Sequence': String(lastSeq) })
          : headers,
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

  async gapReader(floor: number): Promise<GapReader> {
    if (this.fail) throw this.fail;
    const first = this.firstSeq;
    const last = this.nextSeq - 1;
    return {
      first,
      last,
      scan: (limit, wanted) => {
        this.scans++;
        let cursor = Math.max(0, floor - this.gapMargin);
        let scanned = 0;
        let complete = true;
        let closed = false;
        return {
          get complete() {
            return complete;
          },
          get scanned() {
            return scanned;
          },
          close: () => {
            closed = true;
          },
          next: async () => {
            if (this.fail) throw this.fail;
            if (closed) return null;
            this.scanSteps++;
            const out: StoredEvent[] = [];
            let n = 0;
            for (const e of this.events) {
              if (e.seq <= cursor) continue;
              if (e.seq > last || n >= this.scanBatch) break;
              if (scanned >= limit) {
                complete = false;
                break;
              }
              cursor = e.seq;
              scanned++;
              n++;
              if (wanted(e.channel)) out.push(e);
            }
            if (n === 0) closed = true;
            return closed ? null : out;
          },
        };
      },
    };
  }
}
