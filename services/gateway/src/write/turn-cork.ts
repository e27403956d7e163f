/**
 * Frames written to one socket within one turn of the event loop leave in one kernel write.
 *
 * Why: in the `t2` benchmark profile (docs/benchmarks.md) a third of the gateway's wall time was
 * the kernel `writev` of each frame, one per delivery. Now the first frame of a turn corks the
 * socket, and one `setImmediate` per process (it runs after every I/O callback of the turn: NATS
 * messages, filter results, heartbeats) uncorks every socket written to. A lightly loaded gateway
 * still writes one frame per socket per turn, as before, with no delay beyond the turn itself; a
 * loaded one carries more frames per turn, so the cost per frame falls as the load rises instead
 * of a backlog building up.
 */
import type { Writable } from 'node:stream';

export class TurnCork {
  /** What the kernel had not taken when this turn's first frame came; -1 while not corked. */
  private unreadBefore = -1;

  constructor(private readonly socket: Writable) {}

  /** Call before each write: the first one in a turn corks the socket until the turn ends. */
  hold(): void {
    if (this.unreadBefore >= 0) return;
    this.unreadBefore = this.socket.writableLength;
    this.socket.cork();
    held.push(this);
    if (!scheduled) {
      scheduled = true;
      setImmediate(releaseAll);
    }
  }

  /**
   * Bytes the client has not taken. This turn's frames do not count: they wait for the uncork,
   * not for the client, and a burst must not make a client that reads well look slow.
   */
  unread(): number {
    return this.unreadBefore >= 0 ? this.unreadBefore : this.socket.writableLength;
  }

  /** True while this turn's frames are held back. */
  get holding(): boolean {
    return this.unreadBefore >= 0;
  }

  /** Hands this turn's frames to the kernel (harmless on a destroyed socket). */
  release(): void {
    if (this.unreadBefore < 0) return;
    this.unreadBefore = -1;
    this.socket.uncork();
  }
}

let held: TurnCork[] = [];
let spare: TurnCork[] = [];
let scheduled = false;

function releaseAll(): void {
  scheduled = false;
  // Swap first: a write during an uncork (an `error`/`drain` listener) starts the next turn's list.
  const list = held;
  held = spare;
  spare = list;
  for (const cork of list) cork.release();
  list.length = 0;
}
