/**
 * WebSocket upgrades on any path (spec §4.1): authentication runs before the handshake; a failure
 * gets the raw `HTTP/1.1 401` response with `X-Error-Message`. Then `ws` validates the handshake
 * (its own 400/405 answers), echoes the first offered subprotocol (browsers send the token as
 * one and need it back) and the 101 carries `X-Request-Id`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Span } from '@opentelemetry/api';
import { Errors, type Logger, publicError } from '@sluice/shared';
import { WebSocketServer } from 'ws';
import { type Authoriser, endSpan } from '../authorise/index.js';
import type { AuthContext } from '../model.js';
import type { RequestLog } from './request-log.js';
import { refuseUpgrade } from './respond.js';
import { parseQuery } from './routes.js';
import type { WsSessions } from './ws-session.js';

export interface WsUpgradeOptions {
  authoriser: Authoriser;
  sessions: WsSessions;
  requestLog: RequestLog;
  isDraining: () => boolean;
  logger: Logger;
  maxPayload: number;
}

export class WsUpgrade {
  private readonly wss: WebSocketServer;
  private readonly requestIds = new WeakMap<IncomingMessage, string>();

  constructor(private readonly opts: WsUpgradeOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: opts.maxPayload,
    });
    this.wss.on('headers', (headers, req) => {
      const id = this.requestIds.get(req);
      if (id) headers.push(`X-Request-Id: ${id}`);
    });
  }

  async handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const span = this.opts.authoriser.connectSpan('websocket');
    try {
      endSpan(span, await this.upgrade(req, socket, head, span));
    } catch (err) {
      endSpan(span, 500, err);
      throw err;
    }
  }

  /** Resolves to the status of the answer (101: handed to `ws`). */
  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, span: Span): Promise<number> {
    const { logger, requestLog } = this.opts;
    const requestId = randomUUID();
    this.requestIds.set(req, requestId);
    logger.info({ req: requestLog.serialize(req, { requestId }) }, 'HTTP Upgrade Requested');
    const onSocketError = (err: Error) => logger.error({ err, requestId }, err.message);
    socket.on('error', onSocketError);

    if (this.opts.isDraining()) {
      refuseUpgrade(socket, requestId, Errors.Draining.status, Errors.Draining.message);
      return Errors.Draining.status;
    }
    const query = parseQuery(req.url);
    let auth: AuthContext;
    try {
      auth = await this.opts.authoriser.authenticate(req.headers, query, 'websocket', span);
    } catch (err) {
      const e = publicError(err);
      refuseUpgrade(socket, requestId, e.status, e.message);
      logger.error({ err, requestId, res: { statusCode: e.status } }, e.message);
      return e.status;
    }
    if (socket.destroyed || !socket.writable) return 499;
    if (this.opts.isDraining()) {
      refuseUpgrade(socket, requestId, Errors.Draining.status, Errors.Draining.message);
      return Errors.Draining.status;
    }
    socket.removeListener('error', onSocketError);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      logger.info(
        { requestId, accountId: auth.accountId },
        'Authenticated request & upgraded to WebSocket connection',
      );
      this.opts.sessions.open(ws, socket, auth, requestId, query);
    });
    return 101;
  }
}
