import type { ServerResponse } from 'node:http';
import type { EndReason, Sink } from './sink.js';

const THUMP = Buffer.from(':thump\n\n');

/** Server-Sent Events over a `node:http` response (headers already written by the route). */
export class SseSink implements Sink {
  readonly type = 'eventsource' as const;

  constructor(private readonly res: ServerResponse) {}

  buffered(): number {
    // Outgoing data not yet written to the socket plus the socket's own queue.
    return this.res.writableLength;
  }

  write(frame: Buffer): void {
    this.res.write(frame);
    this.flush();
  }

  heartbeat(): void {
    this.res.write(THUMP);
    this.flush();
  }

  /**
   * `node:http` corks the socket until the next tick on every response write; a burst written in
   * one tick would then count as unsent in {@link buffered} and could cut off a client that reads
   * perfectly well. Uncorking hands each frame to the kernel at once, as `ws` does, so the bound
   * measures only what the client has not taken.
   */
  private flush(): void {
    const socket = this.res.socket;
    if (socket && socket.writableCorked > 0) socket.uncork();
  }

  end(_reason: EndReason): void {
    if (!this.res.writableEnded) this.res.end();
  }

  abort(): void {
    this.res.destroy();
  }

  isOpen(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }
}

/** Size of the heartbeat frame, for the buffer bound. */
export const SSE_HEARTBEAT_BYTES = THUMP.length;
