import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TurnCork } from './turn-cork.js';

/** A connected pair of real TCP sockets on loopback. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  return {
    server,
    client,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('TurnCork', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('holds a turn of writes in one kernel write and releases them after the turn', async () => {
    const pair = await socketPair();
    close = pair.close;
    const writev: number[] = [];
    const socket = pair.server as Socket & { _writev: (chunks: unknown[], cb: () => void) => void };
    const original = socket._writev.bind(socket);
    socket._writev = (chunks, cb) => {
      writev.push(chunks.length);
      original(chunks, cb);
    };
    const cork = new TurnCork(socket);
    for (const part of ['a', 'b', 'c']) {
      cork.hold();
      socket.write(part);
    }
    expect(cork.holding).toBe(true);
    expect(socket.writableCorked).toBe(1);
    const received = once(pair.client, 'data');
    await nextTurn();
    expect(cork.holding).toBe(false);
    expect(socket.writableCorked).toBe(0);
    expect(writev).toEqual([3]);
    expect(String((await received)[0])).toBe('abc');
  });

  it('does not count the held turn as unread, only what the kernel had not taken before it', async () => {
    const pair = await socketPair();
    close = pair.close;
    const cork = new TurnCork(pair.server);
    cork.hold();
    pair.server.write(Buffer.alloc(64 * 1024));
    expect(pair.server.writableLength).toBe(64 * 1024);
    expect(cork.unread()).toBe(0);
    await nextTurn();
    expect(cork.unread()).toBe(pair.server.writableLength);
  });

  it('is harmless on a socket destroyed while held', async () => {
    const pair = await socketPair();
    close = pair.close;
    const cork = new TurnCork(pair.server);
    cork.hold();
    pair.server.write('x');
    pair.server.destroy();
    await nextTurn();
    expect(cork.holding).toBe(false);
  });
});
