/**
 * Ordered, pipelined, bounded JetStream publishing.
 *
 * - Pipelined: up to `maxInFlight` publishes await their PubAck at once (one awaited publish at
 *   a time manages only a few thousand per second).
 * - Ordered: messages leave in the order Redis delivered them. When a publish fails, sending
 *   pauses until every in-flight publish has settled; the failed ones go back to the head of
 *   the queue, in order, and are retried with the same `Nats-Msg-Id`, so a copy that did reach
 *   the stream is acknowledged as a duplicate rather than stored twice.
 * - Bounded: while NATS is away messages wait in the queue up to `bufferMessages` /
 *   `bufferBytes`; past that, new messages are dropped and counted, never an unbounded queue.
 */
import type { Logger } from '@sluice/shared';
import type { IngestMetrics, PublishErrorKind } from '../metrics.js';

export interface Outgoing {
  subject: string;
  data: Uint8Array;
  msgId: string;
  /** Opaque headers object for the bus (nats.js MsgHdrs). */
  headers: unknown;
  receivedAt: number;
  /** Called once with the outcome (for the per-message trace span). */
  done?: (outcome: { duplicate: boolean } | { dropped: true }) => void;
}

export interface PublishAck {
  duplicate: boolean;
}

/** The JetStream side, as the publisher needs it. */
export interface StreamBus {
  publish(msg: Outgoing): Promise<PublishAck>;
  /** Classifies a publish failure. */
  classify(err: unknown): PublishErrorKind;
  /** Re-creates the stream if it is missing. */
  ensureStream(): Promise<void>;
  /** Resolves once the connection is usable again. */
  waitConnected(): Promise<void>;
  connected(): boolean;
}

export interface PublisherOptions {
  maxInFlight: number;
  bufferMessages: number;
  bufferBytes: number;
  /**
   * Hold messages this long after start before the first publish. Stream order is the order of
   * first arrival of either replica's copy; a replica that joins while another lags would
   * otherwise store its first (newer) messages before the lagging replica's older ones.
   * Holding back for longer than the peers' lag keeps the stream in Redis order.
   */
  joinDelayMs?: number;
}

/** Consecutive non-transient rejections of one message before it is dropped. */
const MAX_REJECTIONS = 5;

export class Publisher {
  private readonly attempts = new WeakMap<Outgoing, number>();
  private queue: Outgoing[] = [];
  private head = 0;
  private queuedBytes = 0;
  /**
   * In-flight messages in send order, with their outcome once settled, from `windowHead` on.
   * Acknowledged slots leave from the front by moving `windowHead`, and the array is compacted
   * now and then: a `splice(0, n)` per acknowledgement (V8 does not always trim an array's front
   * in place, and then moves all of it) was 3% of ingest's busy time in a t5 profile.
   */
  private window: ({ msg: Outgoing; state: 'pending' | 'ok' | 'failed' } | undefined)[] = [];
  private windowHead = 0;
  private inFlight = 0;
  private recovering = false;
  private lastError: PublishErrorKind | null = null;
  /** Retry rounds in a row that had failed publishes, with no acknowledgement since. */
  private failStreak = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private holding = false;

  constructor(
    private readonly bus: StreamBus,
    private readonly opts: PublisherOptions,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
  ) {
    const delay = opts.joinDelayMs ?? 0;
    if (delay > 0) {
      this.holding = true;
      setTimeout(() => {
        this.holding = false;
        this.pump();
      }, delay).unref();
    }
  }

  /** Queues a message; returns false when it was dropped because the buffer is full. */
  enqueue(msg: Outgoing): boolean {
    const waiting = this.queue.length - this.head;
    if (
      waiting >= this.opts.bufferMessages ||
      this.queuedBytes + msg.data.byteLength > this.opts.bufferBytes
    ) {
      this.metrics.dropped.inc({ reason: 'buffer_full' });
      msg.done?.({ dropped: true });
      return false;
    }
    this.queue.push(msg);
    this.queuedBytes += msg.data.byteLength;
    this.gauges();
    this.pump();
    return true;
  }

  /** Messages queued or in flight. */
  depth(): number {
    return this.queue.length - this.head + this.inFlight;
  }

  /** Called by the owner when the connection comes back, to resume at once. */
  resume(): void {
    this.pump();
  }

  /** Resolves when nothing is queued or in flight (or after `timeoutMs`). */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.depth() === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.closed = true;
  }

  private pump(): void {
    while (
      !this.holding &&
      !this.recovering &&
      !this.closed &&
      this.inFlight < this.opts.maxInFlight &&
      this.head < this.queue.length
    ) {
      if (!this.bus.connected()) {
        this.recover('disconnected');
        return;
      }
      const msg = this.queue[this.head]!;
      this.queue[this.head] = undefined as unknown as Outgoing;
      this.head++;
      this.queuedBytes -= msg.data.byteLength;
      this.send(msg);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.gauges();
    if (this.depth() === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private send(msg: Outgoing): void {
    const slot = { msg, state: 'pending' as 'pending' | 'ok' | 'failed' };
    this.window.push(slot);
    this.inFlight++;
    this.bus.publish(msg).then(
      (ack) => {
        slot.state = 'ok';
        this.failStreak = 0;
        if (ack.duplicate) this.metrics.duplicates.inc();
        else this.metrics.published.inc();
        this.metrics.publishLatency.observe((Date.now() - msg.receivedAt) / 1000);
        msg.done?.(ack);
        this.settled();
      },
      (err: unknown) => {
        const kind = this.bus.classify(err);
        this.metrics.publishErrors.inc({ kind });
        // A message the server keeps refusing while the connection is fine would hold up every
        // message behind it forever: give up on it after a few tries, counted and logged.
        const attempts = (this.attempts.get(msg) ?? 0) + 1;
        this.attempts.set(msg, attempts);
        if (kind === 'other' && attempts >= MAX_REJECTIONS) {
          slot.state = 'ok';
          this.metrics.dropped.inc({ reason: 'rejected' });
          this.log.error(
            { err, subject: msg.subject, attempts },
            'JetStream keeps rejecting a message; dropped',
          );
          msg.done?.({ dropped: true });
          this.settled();
          return;
        }
        slot.state = 'failed';
        if (!this.recovering)
          this.log.warn({ err, kind }, 'JetStream publish failed; pausing to retry in order');
        this.recovering = true;
        this.lastError = kind;
        this.settled();
      },
    );
  }

  private settled(): void {
    this.inFlight--;
    // Drop acknowledged slots from the front; keep order for anything behind a pending one.
    const w = this.window;
    let i = this.windowHead;
    while (i < w.length && w[i]!.state === 'ok') w[i++] = undefined;
    this.windowHead = i;
    if (i > 1024 && i * 2 > w.length) {
      this.window = w.slice(i);
      this.windowHead = 0;
    }
    if (this.recovering) {
      if (this.inFlight === 0) this.requeueFailed();
      return;
    }
    this.pump();
  }

  /** All in-flight publishes settled after a failure: put the failed ones back, in order. */
  private requeueFailed(): void {
    const failed: Outgoing[] = [];
    for (let i = this.windowHead; i < this.window.length; i++) {
      const slot = this.window[i]!;
      if (slot.state === 'failed') failed.push(slot.msg);
    }
    this.window = [];
    this.windowHead = 0;
    const rest = this.queue.slice(this.head);
    this.queue = failed.concat(rest);
    this.head = 0;
    for (const m of failed) this.queuedBytes += m.data.byteLength;
    if (failed.length > 0) this.failStreak++;
    this.gauges();
    void this.recoverAfter(this.lastError ?? 'other');
  }

  private recover(kind: PublishErrorKind): void {
    if (this.recovering) return;
    this.recovering = true;
    this.lastError = kind;
    if (this.inFlight === 0) this.requeueFailed();
  }

  private async recoverAfter(kind: PublishErrorKind): Promise<void> {
    let delay = 100;
    // Waiting for a reconnect is pause enough: the first round after it is retried at once.
    if (!this.bus.connected()) this.failStreak = 0;
    while (!this.closed) {
      try {
        await this.bus.waitConnected();
        if (kind === 'no_stream' || kind === 'timeout' || kind === 'other') await this.bus.ensureStream();
        // The first retry after a failure is immediate; when publishes keep failing with the
        // connection up (e.g. a message the server refuses every time), back off so a retry
        // loop of instant rejections cannot starve the event loop.
        if (this.failStreak > 1)
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (this.failStreak - 2), 2000)));
        break;
      } catch (err) {
        this.log.warn({ err }, 'Waiting for NATS/JetStream to come back');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
    this.recovering = false;
    this.lastError = null;
    this.log.info({ queued: this.depth() }, 'Resuming JetStream publishing');
    this.pump();
  }

  private gauges(): void {
    this.metrics.bufferMessages.set(this.queue.length - this.head);
    this.metrics.bufferBytes.set(this.queuedBytes);
    this.metrics.inFlight.set(this.inFlight);
  }
}
