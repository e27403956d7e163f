/**
 * SSE resume with `Last-Event-ID`: the events a client missed on its channels, then the live ones,
 * with no gap and no duplicate.
 *
 *   1. the subscription is already live, with its connection holding live frames back
 *      (`conn.held`), before this runs;
 *   2. flush the bus, so the server has our subscriptions: everything stored from now on also
 *      arrives live;
 *   3. replay stored events with sequence > id, up to the stream's end, through the filter;
 *   4. release the held live frames whose sequence is past what the client has seen.
 *
 * An id older than the stream's first sequence (the events are gone) or newer than its last (a
 * different stream) resumes live only. When a channel's oldest events were evicted by the
 * per-subject cap, what is left is replayed and the resume counted as `partial`. Every outcome is
 * counted (`sluice_gateway_replay_total{result}`).
 */
import type { Logger } from '@sluice/shared';
import type { GatewayMetrics } from '../metrics.js';
import type { Subscription } from '../model.js';
import { type PaceOptions, sendPaced } from '../write/index.js';
import type { Bus, BusMessage } from './bus.js';
import type { ReplaySource } from './replay.js';

export type ResumeResult = 'replayed' | 'partial' | 'current' | 'too_old' | 'ahead' | 'error';

export interface ResumerOptions {
  source: ReplaySource;
  bus: Bus;
  /** Writes one stored event to one subscription; false once the connection is gone. */
  replay: (sub: Subscription, channel: string, msg: BusMessage, seq: number) => Promise<boolean>;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Most events replayed per resume. */
  limit?: number;
  /** How long reaching NATS (flush, stream bounds) may take before resuming live. */
  timeoutMs?: number;
  /** Pacing of the held live frames (the replay itself is paced by `replay`). */
  pace?: PaceOptions;
}

export class Resumer {
  constructor(private readonly opts: ResumerOptions) {}

  /** Parses `Last-Event-ID` (header, else `lastEventId` query): a positive integer or null. */
  static parseId(header: string | string[] | undefined, query: string | string[] | undefined): number | null {
    const raw =
      typeof header === 'string' && header !== '' ? header : typeof query === 'string' ? query : undefined;
    if (raw === undefined || !/^\d{1,16}$/.test(raw.trim())) return null;
    const id = Number(raw.trim());
    return Number.isSafeInteger(id) ? id : null;
  }

  async resume(sub: Subscription, lastId: number): Promise<ResumeResult> {
    const conn = sub.conn;
    const { source, bus, metrics, logger } = this.opts;
    const limit = this.opts.limit ?? 10_000;
    // Held live frames the client has already: at or below its id, or just replayed. (A set, not
    // the highest replayed sequence: channels are read one after the other, so a live event of
    // one channel may be older than the last replayed event of another.)
    let floor = 0;
    const replayed = new Set<number>();
    let result: ResumeResult;
    try {
      const { first, last } = await withTimeout(
        bus.flush().then(() => source.bounds()),
        this.opts.timeoutMs ?? 5000,
      );
      if (lastId > last) result = 'ahead';
      else if (lastId + 1 < first) result = 'too_old';
      else if (lastId === last) {
        result = 'current';
        floor = lastId;
      } else {
        floor = lastId;
        const { events, complete } = await source.read(sub.channels, lastId + 1, limit);
        for (const e of events) {
          if (!(await this.opts.replay(sub, e.channel, e, e.seq))) break;
          replayed.add(e.seq);
          metrics.replayedEvents.inc();
        }
        // Partial: a channel's oldest events were evicted (per-subject cap) or the limit cut in.
        result = complete ? 'replayed' : 'partial';
      }
    } catch (err) {
      logger.error({ err, requestId: conn.requestId, lastId }, 'SSE resume failed; continuing live');
      result = 'error';
    }
    // Release the held live frames, paced; frames arriving meanwhile are held and released too,
    // so live order is kept until the hold ends.
    while (conn.held !== null && conn.held.length > 0 && !conn.closed) {
      const batch = conn.held;
      conn.held = [];
      conn.heldBytes = 0;
      for (const h of batch) {
        if (h.seq !== null && (h.seq <= floor || replayed.has(h.seq))) continue;
        if (!(await sendPaced(conn, h.frame, this.opts.pace))) break;
      }
    }
    conn.held = null;
    conn.heldBytes = 0;
    metrics.resumes.labels(result).inc();
    return result;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`NATS did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
