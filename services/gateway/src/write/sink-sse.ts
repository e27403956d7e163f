import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { EndReason, Sink } from './sink.js';
import { TurnCork } from './turn-cork.js';

const THUMP = Buffer.from(':thump\n\n');

/**
 * Server-Sent Events over a `node:http` response (headers already written by the route).
 * `node:http` leaves a socket that is already corked alone, so a turn's events (each a chunk of
 * the chunked response) leave in one kernel write, see `turn-cork.ts`.
 */
export class SseSink implements Sink {
  readonly type = 'eventsource' as const;
  private readonly cork: TurnCork;

  constructor(
    private readonly res: ServerResponse,
    socket: Socket,
  ) {
    this.cork = new TurnCork(socket);
  }

  buffered(): number {
    return this.cork.unread();
  }

  write(frame: Buffer): void {
    this.cork.hold();
    this.res.write(frame);
  }

  heartbeat(): void {
    this.cork.hold();
    this.res.write(THUMP);
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
