/**
 * The write seam: where a connection's bytes go. One implementation per transport (`sink-ws.ts`,
 * `sink-sse.ts`) and a memory one for tests (`sink-memory.ts`).
 */
import type { TransportType } from '../model.js';

/** Why the server ends a connection. */
export type EndReason =
  /** `kill` on a system channel: SSE `res.end()`, WebSocket empty close frame (spec §5.7). */
  | 'kill'
  /** Graceful drain on SIGTERM: SSE `res.end()`, WebSocket close 1012. */
  | 'drain';

export interface Sink {
  readonly type: TransportType;
  /** Bytes accepted but not yet handed to the kernel. */
  buffered(): number;
  /** Queues one ready-made frame (an SSE event, or a WebSocket text message). */
  write(frame: Buffer): void;
  /** SSE: `:thump\n\n`; WebSocket: an empty ping. */
  heartbeat(): void;
  /** Ends the connection politely. */
  end(reason: EndReason): void;
  /** Drops the connection at once (slow client, missed pong): WS terminate, SSE destroy. */
  abort(): void;
  /** True while frames can still be written. */
  isOpen(): boolean;
}
