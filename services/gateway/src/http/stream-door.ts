/**
 * The stream door: looks at the first bytes of each new connection before `node:http` does.
 *
 * A connection that opens with a whole SSE stream request (`GET` on one of the nine streaming
 * paths, no `Upgrade`) is handed to `node:http` through a `SocketTap`, so that the SSE
 * route can take the bare socket once the stream starts (see `socket-tap.ts` for why). Everything
 * else, WebSocket upgrades included, goes to `node:http` itself, the bytes read put back first.
 * Only what decides the branch is read here; parsing, validation, limits and error responses
 * stay `node:http`'s on both branches.
 */
import type { Server } from 'node:http';
import { Socket } from 'node:net';
import type { Logger } from '@sluice/shared';
import { channelNameFromPath } from './routes.js';
import { SocketTap } from './socket-tap.js';

const HEAD_END = Buffer.from('\r\n\r\n');
/** What `node:http` answers when `headersTimeout` passes (the same bytes). */
const REQUEST_TIMEOUT = Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
const UPGRADE_HEADER = /\r\nupgrade[ \t]*:/i;

type ConnectionListener = (this: Server, socket: Socket | SocketTap) => void;

export class StreamDoor {
  /** Client sockets of streams that left `node:http`, until they close. */
  private readonly detached = new Set<Socket>();
  /** One listener for every detached socket (`this` is the socket): no closure per stream. */
  private readonly forget: (this: Socket) => void;

  private constructor(
    private readonly server: Server,
    private readonly httpConnection: ConnectionListener,
  ) {
    const detached = this.detached;
    this.forget = function (this: Socket) {
      detached.delete(this);
    };
  }

  /**
   * Puts the door in front of `server`'s own connection handling. If `node:http` is not wired as
   * expected (one `connection` listener), the server is left as it is: streams then stay in
   * `node:http`, correct but heavier.
   */
  static install(server: Server, logger: Logger): StreamDoor | null {
    const listeners = server.listeners('connection');
    if (listeners.length !== 1) {
      logger.warn('node:http has an unexpected connection handler; SSE streams stay in node:http');
      return null;
    }
    const door = new StreamDoor(server, listeners[0] as ConnectionListener);
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => door.accept(socket));
    return door;
  }

  /** Number of streams held outside `node:http` (a gauge, and tests). */
  get detachedCount(): number {
    return this.detached.size;
  }

  /** Destroys the sockets of detached streams (the end of a shutdown, as `closeAllConnections`). */
  destroyDetached(): void {
    for (const socket of this.detached) socket.destroy();
    this.detached.clear();
  }

  private accept(socket: Socket): void {
    // A stream a test or embedder emitted (not a TCP or UNIX socket) goes to node:http as is.
    if (!(socket instanceof Socket)) {
      this.httpConnection.call(this.server, socket);
      return;
    }
    // A client that connects and says nothing is node:http's `headersTimeout` case; it is not
    // node:http's yet, so the door applies the same limit.
    const limit = this.server.headersTimeout;
    const timer = limit > 0 ? setTimeout(() => socket.end(REQUEST_TIMEOUT).destroySoon(), limit) : undefined;
    const onError = () => socket.destroy();
    const onClose = () => clearTimeout(timer);
    // Closed its side without a request: node:http would end the connection too.
    const onEnd = () => socket.end();
    socket.on('error', onError);
    socket.once('close', onClose);
    socket.once('end', onEnd);
    socket.once('data', (first: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onEnd);
      if (isStreamRequest(first)) {
        const tap = new SocketTap(socket, first, (s) => this.keep(s));
        this.httpConnection.call(this.server, tap);
      } else {
        socket.unshift(first);
        this.httpConnection.call(this.server, socket);
        socket.resume();
      }
    });
  }

  private keep(socket: Socket): void {
    this.detached.add(socket);
    // `on`, not `once`: a socket closes once, and `once` costs a wrapper closure per stream.
    socket.on('close', this.forget);
  }
}

/**
 * True when `first` holds a whole `GET` request head for one of the SSE stream paths with no
 * `Upgrade` header. A head split over several reads (rare: clients and proxies send it in one)
 * takes the `node:http` branch, which serves it the same way. So does `HEAD`: `node:http` sends
 * a HEAD response's headers only when it ends, so that stream has nothing to hand over.
 */
export function isStreamRequest(first: Buffer): boolean {
  if (first[0] !== 0x47 /* G */) return false;
  const end = first.indexOf(HEAD_END);
  if (end < 0) return false;
  const head = first.toString('latin1', 0, end + 2);
  if (!head.startsWith('GET ')) return false;
  const lineEnd = head.indexOf('\r\n');
  const target = head.slice(4, head.lastIndexOf(' ', lineEnd));
  const q = target.indexOf('?');
  if (channelNameFromPath(q < 0 ? target : target.slice(0, q), {}) === undefined) return false;
  return !UPGRADE_HEADER.test(head);
}
