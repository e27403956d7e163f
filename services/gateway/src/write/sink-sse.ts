import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { httpChunk } from '../encode/index.js';
import type { EndReason, Sink } from './sink.js';
import { TurnCork } from './turn-cork.js';
import { WireCache } from './wire-cache.js';

const THUMP = Buffer.from(':thump\n\n');
/** The end of a chunked body, as `res.end()` writes it. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** Every recipient of a frame shares its HTTP chunk. */
const chunks = new WireCache(httpChunk);

/**
 * Server-Sent Events over a `node:http` response whose headers (and the `:)` preamble) the route
 * has written. From then on frames go to the socket as ready-made HTTP chunks, the bytes
 * `res.write` would produce. A HEAD request gets the headers and no body, as `node:http` does.
 *
 * Two phases: while the response is `node:http`'s, `node:http` keeps the end of the response
 * (`res.end()` writes the last chunk). After `detach(socket)` (the stream door took the socket
 * out of `node:http`, see `http/socket-tap.ts`) the sink owns the bare socket: it writes the
 * last chunk itself and closes the connection.
 */
export class SseSink implements Sink {
  readonly type = 'eventsource' as const;
  private cork: TurnCork;
  /** Null once detached. */
  private res: ServerResponse | null;
  private socket: Writable;
  private chunked = true;
  private ended = false;

  constructor(
    res: ServerResponse,
    socket: Writable,
    private readonly bodyless = false,
  ) {
    this.res = res;
    this.socket = socket;
    this.cork = new TurnCork(socket);
  }

  /**
   * The stream now owns `socket` (the response's headers are written, `node:http` is being cut
   * off). Frames held for this turn go out first, to the old target, which forwards them in order.
   */
  detach(socket: Socket): void {
    this.chunked = this.res?.chunkedEncoding ?? this.chunked;
    this.cork.release();
    this.res = null;
    this.socket = socket;
    this.cork = new TurnCork(socket);
  }

  /** True after `end()`: the server ended the stream (the request log says "completed"). */
  get endedByServer(): boolean {
    return this.ended;
  }

  buffered(): number {
    return this.cork.unread();
  }

  write(frame: Buffer): void {
    if (this.bodyless || !this.isOpen()) return;
    this.cork.hold();
    const res = this.res;
    // Before the headers (not a path the route takes) `node:http` must write them first.
    if (res && !res.headersSent) res.write(frame);
    // The route sets `Transfer-Encoding: chunked`; `chunkedEncoding` says `node:http` agreed.
    else this.socket.write((res ? res.chunkedEncoding : this.chunked) ? chunks.get(frame) : frame);
  }

  heartbeat(): void {
    this.write(THUMP);
  }

  end(_reason: EndReason): void {
    if (this.res) {
      if (!this.res.writableEnded) this.res.end();
      return;
    }
    if (this.ended) return;
    this.ended = true;
    if (!this.bodyless && this.chunked) this.socket.write(LAST_CHUNK);
    this.socket.end();
  }

  abort(): void {
    if (this.res) this.res.destroy();
    else this.socket.destroy();
  }

  isOpen(): boolean {
    if (this.res) return !this.res.writableEnded && !this.res.destroyed && this.socket.writable;
    return !this.ended && this.socket.writable;
  }
}
