/**
 * A stand-in socket that lets `node:http` parse and answer a request on a client socket it never
 * holds, so that a long-lived SSE stream can leave `node:http` once its headers are written.
 *
 * Why: `node:http` keeps, for as long as a response is open, the connection's HTTP parser
 * (~2.5 KB of native memory), the request, the response and their per-connection state: an SSE
 * stream cost ~8.5 KB more RSS than the same socket held bare (docs/benchmarks.md, "SSE detached
 * from node:http"). A WebSocket upgrade releases all of that; a response has no public way to.
 * So the stream door (`stream-door.ts`) hands `node:http` this tap instead of the socket: bytes
 * from the client are pushed into it, bytes `node:http` writes go straight to the client socket
 * (synchronously, so nothing reorders). Error responses, keep-alive and timeouts work as they do
 * on a real socket. When the SSE route has written the headers it calls `detach()`: the tap is
 * flushed and destroyed, `node:http` frees its parser and forgets the request, and the route
 * keeps the bare client socket.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

export class SocketTap extends Duplex {
  private cut = false;
  private readonly onData = (chunk: Buffer) => {
    if (!this.push(chunk)) this.socket.pause();
  };
  private readonly onEnd = () => this.push(null);
  private readonly onClose = () => this.destroy();
  private readonly onError = (err: Error) => this.destroy(err);
  private readonly onTimeout = () => this.emit('timeout');

  /**
   * @param socket the client socket, paused, with `first` already read from it
   * @param onDetached told of the socket once the stream owns it (the door keeps it for shutdown)
   */
  constructor(
    readonly socket: Socket,
    first: Buffer,
    private readonly onDetached: (socket: Socket) => void,
  ) {
    super({ allowHalfOpen: true });
    this.push(first);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
    socket.resume();
  }

  // What `node:http` and the request log read from a socket.
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  /** `node:http` sets its keep-alive and server timeouts through this; they run on the socket. */
  setTimeout(ms: number, callback?: () => void): this {
    this.socket.setTimeout(ms);
    if (callback) this.once('timeout', callback);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }

  /** True once `detach()` handed the socket over. */
  get detached(): boolean {
    return this.cut;
  }

  /**
   * Hands the client socket over: what `node:http` wrote is flushed to it, the tap stops
   * forwarding and is destroyed (`node:http` then releases the parser, request and response; the
   * caller removes its own listeners from them first). The socket is left paused with no
   * listeners of the tap's; the caller reads it from then on and must listen for 'error' (a
   * client reset is emitted as one, and an unheard 'error' ends the process).
   */
  detach(): Socket {
    // `node:http` corks its socket for the rest of the tick after a write: flush that now.
    while (this.writableCorked > 0) this.uncork();
    this.cut = true;
    const socket = this.socket;
    socket.pause();
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('close', this.onClose);
    socket.removeListener('error', this.onError);
    socket.removeListener('timeout', this.onTimeout);
    socket.setTimeout(0);
    this.destroy();
    this.onDetached(socket);
    return socket;
  }

  override _read(): void {
    if (!this.cut) this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (!this.cut) this.socket.write(chunk, encoding);
    callback();
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (err?: Error | null) => void,
  ): void {
    if (!this.cut) for (const c of chunks) this.socket.write(c.chunk, c.encoding);
    callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.cut) this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.cut) this.socket.destroy(err ?? undefined);
    callback(err);
  }
}
