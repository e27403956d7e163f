/**
 * Every live connection of this process, and the one place that closes them. Keep-alive runs as
 * two process-wide intervals (SSE heartbeats, WebSocket pings), never one timer per connection.
 */
import type { Logger } from '@sluice/shared';
import type { GatewayMetrics } from '../metrics.js';
import type { AuthContext, TransportType } from '../model.js';
import { Connection, type ConnectionOwner } from './connection.js';
import type { EndReason, Sink } from './sink.js';

/**
 * `kill`/`drain`: ended politely by the server; `slow`: send buffer full; `dead`: no pong to the
 * last ping; `gone`: the client (or the network) closed it.
 */
export type CloseReason = EndReason | 'slow' | 'dead' | 'gone';

export interface ConnectionsOptions {
  metrics: GatewayMetrics;
  logger: Logger;
  sendBufferBytes: number;
  /** Cleanup after a connection closed (unsubscribe everything). */
  onClosed: (conn: Connection) => void;
}

export class Connections implements ConnectionOwner {
  private readonly live: Record<TransportType, Set<Connection>> = {
    websocket: new Set(),
    eventsource: new Set(),
  };
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: ConnectionsOptions) {}

  /** A connection object; it counts as connected only after {@link add}. */
  create(sink: Sink, auth: AuthContext, requestId: string): Connection {
    return new Connection(sink, auth, requestId, this, this.opts.sendBufferBytes);
  }

  add(conn: Connection): void {
    if (conn.closed) return;
    this.live[conn.type].add(conn);
    this.opts.metrics.connectedClients.labels(conn.type).inc();
  }

  get size(): number {
    return this.live.websocket.size + this.live.eventsource.size;
  }

  count(type: TransportType): number {
    return this.live[type].size;
  }

  /** A snapshot of every connection (for drain). */
  all(): Connection[] {
    return [...this.live.websocket, ...this.live.eventsource];
  }

  /** Idempotent: the first reason wins. */
  close(conn: Connection, reason: CloseReason): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.held = null;
    const { metrics } = this.opts;
    if (this.live[conn.type].delete(conn)) metrics.connectedClients.labels(conn.type).dec();
    switch (reason) {
      case 'kill':
      case 'drain':
        conn.sink.end(reason);
        if (reason === 'drain') metrics.drainClosed.labels(conn.type).inc();
        break;
      case 'slow':
        metrics.slowDisconnects[conn.type].inc();
        this.opts.logger.warn(
          { connection: conn.id, requestId: conn.requestId, type: conn.type },
          'Client too slow: send buffer full, disconnecting',
        );
        conn.sink.abort();
        break;
      case 'dead':
        conn.sink.abort();
        break;
      case 'gone':
        break;
    }
    this.opts.onClosed(conn);
  }

  overflow(conn: Connection): void {
    this.close(conn, 'slow');
  }

  /** One pass of SSE heartbeats: `:thump\n\n` to every SSE connection. */
  sseHeartbeat(): void {
    const max = this.opts.sendBufferBytes;
    const frames = this.opts.metrics.framesWritten.eventsource;
    let n = 0;
    for (const conn of this.live.eventsource) {
      if (conn.sink.buffered() > max) {
        this.close(conn, 'slow');
        continue;
      }
      conn.sink.heartbeat();
      n++;
    }
    frames.inc(n);
  }

  /** One pass of WebSocket keep-alive: terminate who missed the last pong, ping the rest (spec §4.6). */
  wsPing(): void {
    const frames = this.opts.metrics.framesWritten.websocket;
    let n = 0;
    for (const conn of this.live.websocket) {
      if (!conn.alive) {
        this.close(conn, 'dead');
        continue;
      }
      conn.alive = false;
      conn.sink.heartbeat();
      n++;
    }
    frames.inc(n);
  }

  startKeepAlive(sseHeartbeatMs: number, wsPingMs: number): void {
    this.stopKeepAlive();
    this.timers = [
      setInterval(() => this.sseHeartbeat(), sseHeartbeatMs),
      setInterval(() => this.wsPing(), wsPingMs),
    ];
    for (const t of this.timers) t.unref();
  }

  stopKeepAlive(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
