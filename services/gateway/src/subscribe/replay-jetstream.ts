/**
 * Replay from JetStream. The conduit stream numbers every event (`Nats-Sequence`, the SSE `id:`)
 * but keeps only a few; the replay stream (`<stream>_REPLAY`) captures the republished events on
 * their `ev` subjects, headers included, for `SLUICE_STREAM_MAX_AGE_SECONDS` and up to
 * `SLUICE_STREAM_MAX_MSGS_PER_SUBJECT` per channel (shared/src/stream.ts). nats-server 2.9 allows
 * one filter subject per consumer, so each channel is read by its own consumer and the lists are
 * merged by conduit sequence.
 */
import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg } from '@nats-io/jetstream';
import { allSubjects, channelToSubject, readSequence, readSequenced } from '@sluice/shared';
import {
  type GapReader,
  mergeBySequence,
  type ReplayRead,
  type ReplaySource,
  type StoredEvent,
} from './replay.js';

/**
 * How far before the located floor a gap read starts, in replay-stream messages: RePublish may
 * store a few events slightly out of conduit order (docs/streams.md §2).
 */
const LOCATE_MARGIN = 64;

export interface JetStreamReplayOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The conduit stream: its last sequence is the newest SSE id. */
  stream: string;
  /** The replay stream: what is read. */
  replayStream: string;
  prefix: string;
  /** The replay stream's `max_msgs_per_subject`: a channel holding that many may have lost older ones. */
  maxMsgsPerSubject: number;
  /** How long one fetch may wait for messages the consumer reported pending. */
  fetchTimeoutMs?: number;
}

export class JetStreamReplay implements ReplaySource {
  constructor(private readonly opts: JetStreamReplayOptions) {}

  async bounds(): Promise<{ first: number; last: number }> {
    const { first, last } = await this.state();
    return { first, last };
  }

  /**
   * Gap repair. The replay stream numbers its messages itself, in (nearly) conduit order, so the
   * floor is located once by bisection over replay sequences; each channel is then read with
   * `next_by_subj` gets from there: one request when the channel missed nothing, one more per
   * missed event, no consumer (nats-server 2.9 allows one filter subject per consumer).
   */
  async gapReader(floor: number): Promise<GapReader> {
    const { first, last, replayFirst, replayLast } = await this.state();
    const start =
      floor + 1 <= first
        ? replayFirst
        : floor >= last
          ? replayLast + 1
          : await this.locate(floor, replayFirst, replayLast);
    return { first, last, read: (channel, after, limit) => this.readAfter(channel, start, after, limit) };
  }

  /** Conduit bounds (`first`, `last`) and the replay stream's own first and last sequence. */
  private async state(): Promise<{ first: number; last: number; replayFirst: number; replayLast: number }> {
    const { jsm, stream, replayStream } = this.opts;
    const [conduit, replay] = await Promise.all([jsm.streams.info(stream), jsm.streams.info(replayStream)]);
    const last = conduit.state.last_seq;
    const replayFirst = replay.state.first_seq;
    const replayLast = replay.state.last_seq;
    if (replay.state.messages === 0) return { first: last + 1, last, replayFirst, replayLast };
    const oldest = await jsm.streams.getMessage(replayStream, { seq: replay.state.first_seq });
    const first = oldest ? readSequence(oldest.header) : null;
    return { first: first ?? last + 1, last, replayFirst, replayLast };
  }

  /** The replay sequence where events after conduit sequence `floor` begin (less a margin). */
  private async locate(floor: number, lo: number, hi: number): Promise<number> {
    const { jsm, replayStream, prefix } = this.opts;
    const all = allSubjects(prefix, 'ev');
    const from = lo;
    // Smallest replay sequence whose next stored message is past the floor (hi + 1: none is).
    let end = hi + 1;
    while (lo < end) {
      const mid = Math.floor((lo + end) / 2);
      const m = await nextBySubject(jsm, replayStream, mid, all);
      const seq = m ? readSequence(m.header) : null;
      if (m === null || (seq !== null && seq > floor)) end = mid;
      else lo = Math.min(m.seq + 1, end);
    }
    return Math.max(from, lo - LOCATE_MARGIN);
  }

  private async readAfter(channel: string, start: number, after: number, limit: number): Promise<ReplayRead> {
    const { jsm, replayStream, prefix } = this.opts;
    const subject = channelToSubject(prefix, 'ev', channel);
    const events: StoredEvent[] = [];
    let complete = true;
    for (let seq = start; ; ) {
      const m = await nextBySubject(jsm, replayStream, seq, subject);
      if (m === null) break;
      seq = m.seq + 1;
      const pos = readSequenced(m.header);
      if (pos === null || pos.seq <= after) continue;
      if (events.length >= limit) {
        complete = false;
        break;
      }
      events.push({ seq: pos.seq, lastSeq: pos.lastSeq, channel, data: m.data, headers: m.header });
    }
    events.sort((a, b) => a.seq - b.seq);
    return { events, complete };
  }

  async read(channels: readonly string[], from: number, limit: number): Promise<ReplayRead> {
    const reads = await Promise.all(channels.map((channel) => this.readChannel(channel, from)));
    const all = mergeBySequence(
      reads.map((r) => r.events),
      Number.POSITIVE_INFINITY,
    );
    const events = all.length > limit ? all.slice(0, limit) : all;
    const complete = !reads.some((r) => r.capped) && events.length === all.length;
    return { events, complete };
  }

  private async readChannel(
    channel: string,
    from: number,
  ): Promise<{ events: StoredEvent[]; capped: boolean }> {
    const { js, replayStream, prefix } = this.opts;
    const consumer = await js.consumers.get(replayStream, {
      filter_subjects: channelToSubject(prefix, 'ev', channel),
    });
    const events: StoredEvent[] = [];
    try {
      const pending = (await consumer.info(true)).num_pending;
      if (pending === 0) return { events, capped: false };
      const messages = await consumer.fetch({
        max_messages: pending,
        expires: this.opts.fetchTimeoutMs ?? 2000,
      });
      let oldest: number | null = null;
      let seen = 0;
      for await (const m of messages) {
        seen++;
        const seq = readSequence(m.headers);
        if (seq !== null) {
          oldest ??= seq;
          if (seq >= from) events.push({ seq, channel, data: m.data, headers: m.headers });
        }
        if (seen >= pending || m.info.pending === 0) break;
      }
      // Sorted by conduit sequence: RePublish may store two replicas' events slightly out of order.
      events.sort((a, b) => a.seq - b.seq);
      // The channel is full and its oldest kept event is newer than what the client needs: older
      // ones were evicted.
      const capped = pending >= this.opts.maxMsgsPerSubject && oldest !== null && oldest > from;
      return { events, capped };
    } finally {
      consumer.delete().catch(() => {});
    }
  }
}

/**
 * The first message at or after replay sequence `seq` on `subject` (wildcards allowed), or null.
 * `STREAM.MSG.GET` (served by the stream leader, so never behind) accepts `next_by_subj` since
 * nats-server 2.9 (checked on 2.9.10), but nats.js types that request as seq or last_by_subj only.
 */
function nextBySubject(
  jsm: JetStreamManager,
  stream: string,
  seq: number,
  subject: string,
): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as MsgRequest);
}
