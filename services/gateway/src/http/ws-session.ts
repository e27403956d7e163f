/**
 * A WebSocket connection after the handshake (spec §4.2–§4.7): system channels at once, the
 * `stream` query parameter as a first subscribe, then `subscribe` / `unsubscribe` messages.
 * Listeners are shared functions (the connection hangs off the socket), not closures per socket.
 */
import type { Duplex } from 'node:stream';
import { CloseCode, type Logger, publicError } from '@sluice/shared';
import type { RawData, WebSocket } from 'ws';
import type { Query } from '../authorise/index.js';
import { wsErrorFrame } from '../encode/index.js';
import type { GatewayMetrics } from '../metrics.js';
import type { AuthContext, StreamParams } from '../model.js';
import type { Subscriber } from '../subscribe/index.js';
import { type Connection, type Connections, WsSink } from '../write/index.js';
import { firstParam } from './routes.js';

const kConn = Symbol('sluice.connection');
type Socket = WebSocket & { [kConn]?: Connection };

export interface WsSessionsOptions {
  connections: Connections;
  subscriber: Subscriber;
  metrics: GatewayMetrics;
  logger: Logger;
}

export class WsSessions {
  private readonly onMessage: (this: Socket, data: RawData, isBinary: boolean) => void;
  private readonly onClose: (this: Socket) => void;
  private readonly onPong: (this: Socket) => void;
  private readonly onError: (this: Socket, err: Error) => void;

  constructor(private readonly opts: WsSessionsOptions) {
    const sessions = this;
    this.onMessage = function (data, isBinary) {
      const conn = this[kConn];
      if (conn) sessions.message(this, conn, data, isBinary);
    };
    this.onClose = function () {
      const conn = this[kConn];
      if (conn) opts.connections.close(conn, 'gone');
      this[kConn] = undefined;
    };
    this.onPong = function () {
      const conn = this[kConn];
      if (conn) conn.alive = true;
    };
    this.onError = function (err) {
      opts.logger.error({ err, requestId: this[kConn]?.requestId }, err.message);
    };
  }

  open(ws: Socket, socket: Duplex, auth: AuthContext, requestId: string, query: Query): Connection {
    const { connections, subscriber } = this.opts;
    const conn = connections.create(new WsSink(ws, socket), auth, requestId);
    ws[kConn] = conn;
    ws.on('message', this.onMessage);
    ws.on('close', this.onClose);
    ws.on('pong', this.onPong);
    ws.on('error', this.onError);
    connections.add(conn);
    subscriber.openSystem(conn);
    const stream = query['stream'];
    if (stream) this.subscribe(conn, firstParam(stream), query);
    return conn;
  }

  private message(ws: Socket, conn: Connection, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.opts.logger.warn({ requestId: conn.requestId }, 'Received binary data, closing connection');
      ws.close(CloseCode.Unsupported.code, CloseCode.Unsupported.reason);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(
        Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data as Buffer).toString('utf8'),
      );
    } catch (err) {
      this.opts.logger.error(
        { err, requestId: conn.requestId },
        `Error parsing message from user ${conn.auth.accountId}`,
      );
      return;
    }
    if (json === null || typeof json !== 'object') return;
    const { type, stream, ...params } = json as Record<string, unknown>;
    if (type === 'subscribe') this.subscribe(conn, firstParam(stream), params);
    else if (type === 'unsubscribe') this.unsubscribe(conn, firstParam(stream), params);
    // Unknown types are ignored; there are no acknowledgements.
  }

  subscribe(conn: Connection, stream: unknown, params: StreamParams): void {
    const name = typeof stream === 'string' ? stream : '';
    this.opts.subscriber.subscribe(conn, name, params).catch((err: unknown) => {
      const e = publicError(err);
      this.opts.logger.error({ err, requestId: conn.requestId }, 'Websocket subscription error');
      this.sendError(conn, wsErrorFrame(e.message, e.status));
    });
  }

  unsubscribe(conn: Connection, stream: unknown, params: StreamParams): void {
    const name = typeof stream === 'string' ? stream : '';
    this.opts.subscriber.unsubscribe(conn, name, params).catch((err: unknown) => {
      this.opts.logger.error({ err, requestId: conn.requestId }, 'Websocket unsubscribe error');
      this.sendError(conn, UNSUBSCRIBE_ERROR);
    });
  }

  /** Only while the socket is open and considered alive (spec §4.5). Errors never close it. */
  private sendError(conn: Connection, frame: Buffer): void {
    if (conn.closed || !conn.alive || !conn.sink.isOpen()) return;
    if (conn.send(frame)) this.opts.metrics.framesWritten.websocket.inc();
  }
}

const UNSUBSCRIBE_ERROR = wsErrorFrame('Error unsubscribing from channel');
