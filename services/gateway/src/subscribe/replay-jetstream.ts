/**
 * Replay from JetStream. The conduit stream numbers every event (`Nats-Sequence`, the SSE `id:`)
 * but keeps only a few; the replay stream (`<stream>_REPLAY`) captures the republished events on
 * their `ev` subjects, headers included, for `SLUICE_STREAM_MAX_AGE_SECONDS` and up to
 * `SLUICE_STREAM_MAX_MSGS_PER_SUBJECT` per channel (shared/src/stream.ts). nats-server 2.9 allows
 * one filter subject per consumer, so each channel is read by its own consumer and the lists are
 * merged by conduit sequence.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { channelToSubject, readSequence } from '@sluice/shared';
import { mergeBySequence, type ReplayRead, type ReplaySource, type StoredEvent } from './replay.js';

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
    const { jsm, stream, replayStream } = this.opts;
    const [conduit, replay] = await Promise.all([jsm.streams.info(stream), jsm.streams.info(replayStream)]);
    const last = conduit.state.last_seq;
    if (replay.state.messages === 0) return { first: last + 1, last };
    const oldest = await jsm.streams.getMessage(replayStream, { seq: replay.state.first_seq });
    const first = oldest ? readSequence(oldest.header) : null;
    return { first: first ?? last + 1, last };
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
