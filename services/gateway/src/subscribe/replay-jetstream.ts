/**
 * Replay from the JetStream stream. nats-server 2.9 allows one filter subject per consumer, so
 * each channel gets its own ordered consumer starting at `from` on its `in` subject (where the
 * stream stores it), and the lists are merged by sequence.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { channelToSubject } from '@sluice/shared';
import { mergeBySequence, type ReplayRead, type ReplaySource, type StoredEvent } from './replay.js';

export interface JetStreamReplayOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  /** The stream's `max_msgs_per_subject`: a channel holding that many may have lost older ones. */
  maxMsgsPerSubject: number;
  /** How long one fetch may wait for messages the consumer reported pending. */
  fetchTimeoutMs?: number;
}

export class JetStreamReplay implements ReplaySource {
  constructor(private readonly opts: JetStreamReplayOptions) {}

  async bounds(): Promise<{ first: number; last: number }> {
    const info = await this.opts.jsm.streams.info(this.opts.stream);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  async read(channels: readonly string[], from: number, limit: number): Promise<ReplayRead> {
    const reads = await Promise.all(channels.map((channel) => this.readChannel(channel, from, limit)));
    const events = mergeBySequence(
      reads.map((r) => r.events),
      limit,
    );
    const total = reads.reduce((n, r) => n + r.pending, 0);
    const capped = reads.some((r) => r.pending >= this.opts.maxMsgsPerSubject);
    return { events, complete: !capped && events.length === total };
  }

  private async readChannel(
    channel: string,
    from: number,
    limit: number,
  ): Promise<{ events: StoredEvent[]; pending: number }> {
    const { js, stream, prefix } = this.opts;
    const consumer = await js.consumers.get(stream, {
      filter_subjects: channelToSubject(prefix, 'in', channel),
      opt_start_seq: from,
    });
    const events: StoredEvent[] = [];
    try {
      const pending = (await consumer.info(true)).num_pending;
      const wanted = Math.min(pending, limit);
      if (wanted === 0) return { events, pending };
      const messages = await consumer.fetch({
        max_messages: wanted,
        expires: this.opts.fetchTimeoutMs ?? 2000,
      });
      for await (const m of messages) {
        events.push({ seq: m.seq, channel, data: m.data, headers: m.headers });
        if (events.length >= wanted || m.info.pending === 0) break;
      }
      return { events, pending };
    } finally {
      consumer.delete().catch(() => {});
    }
  }
}
