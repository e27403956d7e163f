/**
 * Replay from JetStream. The conduit stream numbers every event (`Nats-Sequence`, the SSE `id:`)
 * but keeps only a few; the replay stream (`<stream>_REPLAY`) captures the republished events on
 * their `ev` subjects, headers included, for `SLUICE_STREAM_MAX_AGE_SECONDS` and up to
 * `SLUICE_STREAM_MAX_MSGS_PER_SUBJECT` per channel (shared/src/stream.ts). nats-server 2.9 allows
 * one filter subject per consumer, so a `Last-Event-ID` read gives each channel its own consumer
 * and merges the lists by conduit sequence; a gap repair scans the whole stream after its floor
 * with one consumer instead.
 */
import type {
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  MsgRequest,
  StoredMsg,
} from '@nats-io/jetstream';
import { allSubjects, channelToSubject, readSequence, readSequenced, subjectToChannel } from '@sluice/shared';
import {
  type GapReader,
  type GapScan,
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

/** Messages a gap scan reads per step (`GapScan.next`), and pulls from the server at a time. */
const SCAN_STEP = 500;
const SCAN_PULL = 1000;

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
   * floor is located once by bisection over replay sequences (`next_by_subj` gets, no consumer);
   * the scan then reads every message from there to the stream's current end through one ordered
   * consumer (a pull consumer, filter `<prefix>.ev.>`, start sequence, no acks): a few requests
   * per repair plus one pull per `SCAN_PULL` messages, however many channels are waiting.
   */
  async gapReader(floor: number): Promise<GapReader> {
    const { first, last, replayFirst, replayLast } = await this.state();
    const start =
      floor + 1 <= first
        ? replayFirst
        : floor >= last
          ? replayLast + 1
          : await this.locate(floor, replayFirst, replayLast);
    return { first, last, scan: (limit, wanted) => this.scan(start, replayLast, limit, wanted) };
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

  /** Replay-stream messages `start`..`end`, at most `limit`, through one ordered consumer. */
  private scan(start: number, end: number, limit: number, wanted: (channel: string) => boolean): GapScan {
    const { js, replayStream, prefix } = this.opts;
    /** Subject -> its channel if wanted, null if not (a channel's messages come in numbers). */
    const channels = new Map<string, string | null>();
    const channelOf = (subject: string): string | null => {
      let channel = channels.get(subject);
      if (channel === undefined) {
        try {
          channel = subjectToChannel(prefix, subject).channel;
          if (!wanted(channel)) channel = null;
        } catch {
          channel = null;
        }
        channels.set(subject, channel);
      }
      return channel;
    };
    let scanned = 0;
    let complete = true;
    let done = start > end || limit <= 0;
    if (start <= end && limit <= 0) complete = false;
    let opening: Promise<AsyncIterator<JsMsg> | null> | null = null;
    let messages: ConsumerMessages | null = null;
    let deleteConsumer: (() => void) | null = null;
    let closed = false;
    const close = () => {
      closed = true;
      done = true;
      messages?.stop();
      deleteConsumer?.();
      deleteConsumer = null;
    };
    const open = async (): Promise<AsyncIterator<JsMsg> | null> => {
      const consumer = await js.consumers.get(replayStream, {
        filter_subjects: allSubjects(prefix, 'ev'),
        opt_start_seq: start,
      });
      deleteConsumer = () => void consumer.delete().catch(() => {});
      if (closed) {
        close();
        return null;
      }
      // Nothing stored from `start` on any more (trimmed meanwhile): a pull would only wait.
      if ((await consumer.info(true)).num_pending === 0) return null;
      messages = await consumer.consume({ max_messages: Math.min(limit, SCAN_PULL) });
      if (closed) {
        close();
        return null;
      }
      return messages[Symbol.asyncIterator]();
    };
    return {
      get complete() {
        return complete;
      },
      get scanned() {
        return scanned;
      },
      close,
      next: async () => {
        if (done) return null;
        opening ??= open();
        const it = await opening;
        const out: StoredEvent[] = [];
        if (it === null) {
          done = true;
          return out;
        }
        for (let n = 0; n < SCAN_STEP && !done; n++) {
          const r = await it.next();
          if (closed) return null;
          if (r.done) throw new Error('the replay stream consumer stopped');
          const m = r.value;
          if (m.seq > end) {
            done = true;
            break;
          }
          scanned++;
          if (m.seq === end || m.info.pending === 0) done = true;
          else if (scanned >= limit) {
            done = true;
            complete = false;
          }
          const channel = channelOf(m.subject);
          if (channel === null) continue;
          const pos = readSequenced(m.headers);
          if (pos !== null) {
            out.push({ seq: pos.seq, lastSeq: pos.lastSeq, channel, data: m.data, headers: m.headers });
          }
        }
        if (done) close();
        return out;
      },
    };
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
