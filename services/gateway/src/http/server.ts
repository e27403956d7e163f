/**
 * The HTTP server: plain `node:http`, routed in Mastodon's order (spec §3.1):
 *   request id and common headers → CORS preflight → favicon / health / metrics (+ /livez,
 *   /readyz) → the nine SSE paths (anything else: 400 before authentication).
 * Upgrades go to the WebSocket handler whatever their path.
 */
import { chmodSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Errors, type Logger } from '@sluice/shared';
import type { Probes } from './probes.js';
import type { RequestLog } from './request-log.js';
import { commonHeaders, preflight, sendError, sendSpec } from './respond.js';
import { channelNameFromPath, fixedRoute, requestContext } from './routes.js';
import type { SseRoute } from './sse-route.js';
import type { WsUpgrade } from './ws-upgrade.js';

export interface HttpServerOptions {
  probes: Probes;
  sse: SseRoute;
  upgrade: WsUpgrade;
  requestLog: RequestLog;
  logger: Logger;
}

export function createHttpServer(opts: HttpServerOptions): Server {
  const server = createServer();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => handleRequest(opts, req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    opts.upgrade.handle(req, socket, head).catch((err: unknown) => {
      opts.logger.error({ err }, 'Upgrade failed');
      socket.destroy();
    });
  });
  return server;
}

function handleRequest(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): void {
  const ctx = requestContext(req);
  commonHeaders(res, ctx.requestId);
  opts.requestLog.attach(req, res, ctx);
  if (req.method === 'OPTIONS') {
    preflight(req, res);
    return;
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    switch (fixedRoute(ctx.path)) {
      case 'favicon':
        opts.probes.favicon(res);
        return;
      case 'health':
        opts.probes.health(res);
        return;
      case 'metrics':
        opts.probes.metrics(res);
        return;
      case 'livez':
        opts.probes.livez(res);
        return;
      case 'readyz':
        opts.probes.readyz(res);
        return;
    }
  }
  const name = channelNameFromPath(ctx.path, ctx.query);
  if (name === undefined) {
    sendSpec(res, Errors.UnknownChannel);
    return;
  }
  opts.sse.handle(req, res, ctx, name).catch((err: unknown) => {
    opts.logger.error({ err, requestId: ctx.requestId }, 'Eventsource request failed');
    sendError(res, err);
  });
}

/**
 * `SOCKET` (a UNIX socket, chmod 0666 once listening) or `PORT` on `BIND`; logs Mastodon's
 * `Streaming API now listening on …` line, which Mastodon's test harness waits for.
 */
export function listen(
  server: Server,
  cfg: { socket?: string; port: number; bind: string },
  logger: Logger,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.removeListener('error', onError);
      let where: string;
      if (cfg.socket) {
        chmodSync(cfg.socket, 0o666);
        where = cfg.socket;
      } else {
        const a = server.address() as AddressInfo;
        where = `${a.address}:${a.port}`;
      }
      logger.info(`Streaming API now listening on ${where}`);
      resolve(where);
    };
    if (cfg.socket) server.listen(cfg.socket, done);
    else server.listen(cfg.port, cfg.bind, done);
  });
}
