import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { httpChunk } from '../encode/index.js';
import type { EndReason, Sink } from './sink.js';
import { TurnCork } from './turn-cork.js';
import { WireCache } from './wire-cache.js';

const THUMP = Buffer.from(':thump\n\n');

/** Every recipient of a frame shares its HTTP chunk. */
const chunks = new WireCache(httpChunk);

/**
 * Server-Sent Events over a `node:http` response whose headers (and the `:)` preamble) the route
 * has written. From then on frames go to the socket as ready-made HTTP chunks, the bytes
 * `res.write` would produce; `node:http` keeps the end of the response (`res.end()` writes the
 * last chunk). A HEAD request gets the headers and no body, as `node:http` does.
 */
export class SseSink implements Sink {
  readonly type = 'eventsource' as const;
  private readonly cork: TurnCork;

  constructor(
    private readonly res: ServerResponse,
    private readonly socket: Socket,
    private readonly bodyless = false,
  ) {
    this.cork = new TurnCork(socket);
  }

  buffered(): number {
    return this.cork.unread();
  }

  write(frame: Buffer): void {
    if (this.bodyless || !this.isOpen()) return;
    this.cork.hold();
    // Before the headers (not a path the route takes) `node:http` must write them first.
    if (!this.res.headersSent) this.res.write(frame);
    // The route sets `Transfer-Encoding: chunked`; `chunkedEncoding` says `node:http` agreed.
    else this.socket.write(this.res.chunkedEncoding ? chunks.get(frame) : frame);
  }

  heartbeat(): void {
    this.write(THUMP);
  }

  end(_reason: EndReason): void {
    if (!this.res.writableEnded) this.res.end();
  }

  abort(): void {
    this.res.destroy();
  }

  isOpen(): boolean {
    return !this.res.writableEnded && !this.res.destroyed && this.socket.writable;
  }
}
