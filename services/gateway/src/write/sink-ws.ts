import type { Duplex } from 'node:stream';
import { CloseCode } from '@sluice/shared';
import { WebSocket } from 'ws';
import { wsTextFrame } from '../encode/index.js';
import type { EndReason, Sink } from './sink.js';
import { TurnCork } from './turn-cork.js';
import { WireCache } from './wire-cache.js';

const EMPTY = Buffer.alloc(0);

/** Every recipient of a message shares its wire frame. */
const wire = new WireCache(wsTextFrame);

/**
 * A `ws` WebSocket (`noServer`, no compression). Messages go to the socket as ready-made wire
 * frames; `ws` keeps the handshake, the reading side, pings and close frames. That is safe
 * because without permessage-deflate `ws` writes its own frames straight to the socket too, so
 * both kinds of writes stay in order.
 */
export class WsSink implements Sink {
  readonly type = 'websocket' as const;
  private readonly cork: TurnCork;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
  ) {
    this.cork = new TurnCork(socket);
  }

  buffered(): number {
    return this.cork.unread();
  }

  write(message: Buffer): void {
    if (!this.isOpen()) return;
    this.cork.hold();
    this.socket.write(wire.get(message));
  }

  heartbeat(): void {
    if (!this.isOpen()) return;
    this.cork.hold();
    this.ws.ping(EMPTY, false);
  }

  end(reason: EndReason): void {
    if (reason === 'kill') {
      // Mastodon calls close() without a code: an empty close frame (spec §4.7).
      this.ws.close();
    } else {
      this.ws.close(CloseCode.Restart.code, CloseCode.Restart.reason);
    }
  }

  abort(): void {
    this.ws.terminate();
  }

  isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.socket.writable;
  }
}
