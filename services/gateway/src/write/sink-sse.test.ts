import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseSink } from './sink-sse.js';

/** Resolves once `done()` holds, checked after each chunk the socket receives. */
function until(socket: Socket, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!done()) return;
      socket.off('data', check);
      resolve();
    };
    socket.on('data', check);
    check();
  });
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A server whose every response starts an event stream as the SSE route does, and a raw client
 * socket that sends `method` and collects every byte.
 */
async function stream(
  method: string,
): Promise<{ res: ServerResponse; socket: Socket; received: () => string; server: Server; client: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const request = once(server, 'request') as Promise<[IncomingMessage, ServerResponse]>;
  const client = connect(port, '127.0.0.1');
  let bytes = '';
  client.on('data', (d: Buffer) => {
    bytes += d.toString('latin1');
  });
  client.write(`${method} /api/v1/streaming/public HTTP/1.1\r\nHost: x\r\n\r\n`);
  const [, res] = await request;
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Transfer-Encoding', 'chunked');
  res.write(':)\n');
  return { res, socket: res.socket!, received: () => bytes, server, client };
}

describe('SseSink', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('puts on the wire exactly the bytes node:http writes for the same frames', async () => {
    const frames = ['event: update\ndata: {"id":"1"}\n\n', `data: ${'é'.repeat(3000)}\n\n`, ':thump\n\n'];
    const viaHttp = await stream('GET');
    const viaSink = await stream('GET');
    cleanups.push(() => {
      for (const s of [viaHttp, viaSink]) {
        s.client.destroy();
        s.server.close();
      }
    });
    const sink = new SseSink(viaSink.res, viaSink.socket);
    for (const f of frames) viaHttp.res.write(Buffer.from(f));
    for (const f of frames.slice(0, 2)) sink.write(Buffer.from(f));
    sink.heartbeat();
    viaHttp.res.end();
    sink.end('kill');
    // The response is complete once its last chunk arrived (the keep-alive socket stays open).
    await Promise.all(
      [viaHttp, viaSink].map((s) => until(s.client, () => s.received().endsWith('0\r\n\r\n'))),
    );
    const body = (raw: string) => raw.slice(raw.indexOf('\r\n\r\n'));
    expect(body(viaSink.received())).toBe(body(viaHttp.received()));
    expect(body(viaSink.received())).toContain('0\r\n\r\n');
  });

  it('writes no body for a HEAD request', async () => {
    const head = await stream('HEAD');
    cleanups.push(() => {
      head.client.destroy();
      head.server.close();
    });
    const sink = new SseSink(head.res, head.socket, true);
    const before = head.socket.bytesWritten;
    sink.write(Buffer.from('event: update\ndata: {}\n\n'));
    sink.heartbeat();
    await nextTurn();
    expect(head.socket.bytesWritten).toBe(before);
    expect(sink.isOpen()).toBe(true);
  });
});
