/**
 * The nine SSE paths (spec §3.1 step 6 onwards, §3.3, §3.4): authenticate, check scopes,
 * subscribe the system channels, resolve the stream, and only then write the headers, the `:)`
 * preamble and register the subscription, all in one tick. With `Last-Event-ID` the missed
 * events are replayed first (see `subscribe/resume.ts`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Span } from '@opentelemetry/api';
import { Errors, type Logger, StreamingError } from '@sluice/shared';
import { type Authoriser, endSpan } from '../authorise/index.js';
import type { AuthContext, ResolvedStream } from '../model.js';
import { Resumer, type Subscriber } from '../subscribe/index.js';
import { type Connections, SseSink } from '../write/index.js';
import type { RequestLog } from './request-log.js';
import { CACHE_CONTROL, expressNotFound, sendError } from './respond.js';
import type { RequestContext } from './routes.js';
import { SocketTap } from './socket-tap.js';

const PREAMBLE = Buffer.from(':)\n');

export interface SseRouteOptions {
  authoriser: Authoriser;
  subscriber: Subscriber;
  connections: Connections;
  /** Absent: `Last-Event-ID` is ignored (no replay source). */
  resumer?: Resumer;
  isDraining: () => boolean;
  requestLog: RequestLog;
  logger: Logger;
}

export class SseRoute {
  constructor(private readonly opts: SseRouteOptions) {}

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, name: string): Promise<void> {
    const span = this.opts.authoriser.connectSpan('eventsource');
    span.setAttribute('sluice.stream', name);
    try {
      endSpan(span, await this.open(req, res, ctx, name, span));
    } catch (err) {
      endSpan(span, 500, err);
      throw err;
    }
  }

  /** Resolves to the status the request got (200: the stream started). */
  private async open(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    name: string,
    span: Span,
  ): Promise<number> {
    const { authoriser, subscriber, connections, logger } = this.opts;
    let auth: AuthContext;
    try {
      auth = await authoriser.authenticate(req.headers, ctx.query, 'eventsource', span);
      authoriser.checkScopes(auth, name);
    } catch (err) {
      logger.error({ err, requestId: ctx.requestId }, err instanceof Error ? err.message : String(err));
      return sendError(res, err);
    }
    const socket = res.socket;
    if (res.destroyed || res.writableEnded || !socket) return 499;
    // Express: a valid stream path with another method passes authentication, then finds no route.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      expressNotFound(req, res, ctx.path);
      return 404;
    }
    if (this.opts.isDraining()) return sendError(res, new StreamingError(Errors.Draining));

    const sink = new SseSink(res, socket, req.method === 'HEAD');
    const conn = connections.create(sink, auth, ctx.requestId);
    subscriber.openSystem(conn);
    const gone = () => connections.close(conn, 'gone');
    res.once('close', gone);

    let resolved: ResolvedStream;
    try {
      resolved = await authoriser.resolve(auth, name, ctx.query);
    } catch (err) {
      logger.info({ err, requestId: ctx.requestId }, 'Eventsource subscription error');
      connections.close(conn, 'gone');
      return sendError(res, err);
    }
    // The client left, or a `kill` ended the response, while the stream was being resolved.
    if (conn.closed) return 499;

    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', CACHE_CONTROL);
    res.setHeader('Transfer-Encoding', 'chunked');
    res.write(PREAMBLE);
    // (HEAD stays: node:http writes a HEAD response's headers only when it ends.)
    if (socket instanceof SocketTap && req.method === 'GET') {
      if (!this.leaveHttp(res, socket, sink, gone)) return 499;
    } else {
      flattenHeaderString(res);
    }

    const lastId = this.opts.resumer
      ? Resumer.parseId(req.headers['last-event-id'], ctx.query['lastEventId'])
      : null;
    if (lastId !== null) conn.held = [];
    const sub = subscriber.attach(conn, resolved);
    connections.add(conn);
    if (sub && lastId !== null) void this.opts.resumer!.resume(sub, lastId);
    else conn.held = null;
    return 200;
  }

  /**
   * The stream door let node:http see this connection through a tap: the stream takes the bare
   * socket and node:http forgets the request (see socket-tap.ts). False when the client had
   * already gone (its 'close' came while the tap still held the socket): cleaned up here.
   */
  private leaveHttp(res: ServerResponse, tap: SocketTap, sink: SseSink, gone: () => void): boolean {
    res.removeListener('close', gone);
    const logEnd = this.opts.requestLog.handOver(res);
    sink.detach(tap.socket);
    const client = tap.detach();
    if (client.closed) {
      logEnd(false);
      gone();
      return false;
    }
    // `on`, not `once`, here: each event comes once, and `once` costs a wrapper per stream.
    client.on('close', () => {
      logEnd(sink.endedByServer);
      gone();
    });
    // A client that half-closes has left; anything else it sends is not read by anyone. A reset
    // or other socket error is followed by 'close', which cleans up.
    client.on('end', destroySocket);
    client.on('data', discard);
    client.on('error', discard);
    client.resume();
    return true;
  }
}

function discard(): void {}

function destroySocket(this: Socket): void {
  this.destroy();
}

/**
 * `node:http` keeps the response's header block (`_header`) for the life of the response, built
 * by concatenation: a tree of ~30 string pieces (~1 KB) per SSE connection. An equal flat copy
 * costs a third of that; measured with `bench/dist/memory/conn-memory.js` (docs/benchmarks.md).
 */
function flattenHeaderString(res: ServerResponse): void {
  const r = res as unknown as { _header?: unknown };
  if (typeof r._header === 'string') r._header = JSON.parse(JSON.stringify(r._header)) as string;
}
