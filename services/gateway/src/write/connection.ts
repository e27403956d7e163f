/**
 * One client connection: a small state holder (STYLE: connection objects attract everything;
 * keep this one small). Lifecycle lives in `connections.ts`, subscriptions in `subscribe/`.
 */
import type { AuthContext, Subscription, TransportType } from '../model.js';
import type { Sink } from './sink.js';
import { StreamSet } from './stream-set.js';

/** What a connection needs from its owner: the one place that closes connections. */
export interface ConnectionOwner {
  /** Called when a write would overflow the send buffer. */
  overflow(conn: Connection): void;
}

/** A frame held back while an SSE resume replays missed events. */
export interface HeldFrame {
  readonly seq: number | null;
  readonly frame: Buffer;
}

let nextId = 1;

export class Connection {
  readonly id = nextId++;
  readonly type: TransportType;
  /** Stream subscriptions by key (`channels.join(';')`). */
  readonly subscriptions = new StreamSet<Subscription>();
  /** The system listener (both system channels), kept apart from the streams. */
  system: Subscription | null = null;
  closed = false;
  /** WebSocket keep-alive: cleared on each ping, set again by the pong. */
  alive = true;
  /** Non-null while an SSE resume replays: live frames wait here (see `subscribe/resume.ts`). */
  held: HeldFrame[] | null = null;
  heldBytes = 0;

  constructor(
    readonly sink: Sink,
    readonly auth: AuthContext,
    readonly requestId: string,
    private readonly owner: ConnectionOwner,
    private readonly maxBuffered: number,
  ) {
    this.type = sink.type;
  }

  /** True when `bytes` more would stay within the send buffer bound. */
  fits(bytes: number): boolean {
    return this.sink.buffered() + bytes <= this.maxBuffered;
  }

  /**
   * Queues a frame unless the send buffer would pass its bound; then the owner disconnects the
   * client (counted) and this returns false. Never blocks, never queues without bound.
   */
  send(frame: Buffer): boolean {
    if (this.closed) return false;
    if (!this.fits(frame.length)) {
      this.owner.overflow(this);
      return false;
    }
    this.sink.write(frame);
    return true;
  }

  /** Live delivery: held back during a resume (within the same bound), written otherwise. */
  deliver(frame: Buffer, seq: number | null): boolean {
    if (this.held === null) return this.send(frame);
    if (this.closed) return false;
    this.heldBytes += frame.length;
    if (this.heldBytes > this.maxBuffered) {
      this.owner.overflow(this);
      return false;
    }
    this.held.push({ seq, frame });
    return true;
  }
}
