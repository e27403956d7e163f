import { CloseCode } from '@sluice/shared';
import { WebSocket } from 'ws';
import type { EndReason, Sink } from './sink.js';

/** Frames are JSON text: send as text frames even though they are Buffers. */
const TEXT = { binary: false } as const;
const EMPTY = Buffer.alloc(0);

/** A `ws` WebSocket (no compression, `noServer`). */
export class WsSink implements Sink {
  readonly type = 'websocket' as const;

  constructor(private readonly ws: WebSocket) {}

  buffered(): number {
    return this.ws.bufferedAmount;
  }

  write(frame: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame, TEXT);
  }

  heartbeat(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping(EMPTY, false);
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
    return this.ws.readyState === WebSocket.OPEN;
  }
}
