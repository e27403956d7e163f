import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLogger, startTestGateway, type TestGateway, waitUntil as until } from '../testing.js';
import { isStreamRequest, StreamDoor } from './stream-door.js';

let gw: TestGateway;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await gw?.close();
});

/** A raw client: what it sent is exactly what the server read; every byte it gets is kept. */
function client(): { socket: Socket; bytes: () => string; closed: Promise<void> } {
  const socket = connect(gw.port, '127.0.0.1');
  sockets.push(socket);
  let bytes = '';
  socket.on('data', (d: Buffer) => {
    bytes += d.toString('latin1');
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, bytes: () => bytes, closed };
}

const head = (path: string, method = 'GET', extra = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: sluice.test\r\n${extra}\r\n`;

/** The bytes with the headers that differ per response (date, request id) blanked. */
const stable = (s: string) =>
  s.replace(/\r\nDate: [^\r]*/, '\r\nDate: -').replace(/\r\nX-Request-Id: [^\r]*/, '\r\nX-Request-Id: -');

const logLines = (msg: string) => gw.lines.filter((l) => l['msg'] === msg);

describe('isStreamRequest', () => {
  it.each([
    ['GET /api/v1/streaming/user HTTP/1.1\r\nHost: x\r\n\r\n', true],
    ['GET /api/v1/streaming/public/local?only_media=1 HTTP/1.1\r\nHost: x\r\n\r\n', true],
    // HEAD: node:http sends its headers only at the end; nothing to hand over.
    ['HEAD /api/v1/streaming/public HTTP/1.1\r\nHost: x\r\n\r\n', false],
    ['GET /api/v1/streaming/hashtag?tag=a&access_token=t HTTP/1.1\r\n\r\n', true],
    // Not whole yet: node:http takes it.
    ['GET /api/v1/streaming/user HTTP/1.1\r\nHost: x\r\n', false],
    // WebSocket upgrades, whatever the case of the header name.
    ['GET /api/v1/streaming/user HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', false],
    ['GET /api/v1/streaming/user HTTP/1.1\r\nUPGRADE:websocket\r\n\r\n', false],
    // Not one of the nine stream paths (exact, as the route table).
    ['GET /api/v1/streaming/health HTTP/1.1\r\n\r\n', false],
    ['GET /api/v1/streaming/user/ HTTP/1.1\r\n\r\n', false],
    ['GET /api/v1/streaming HTTP/1.1\r\n\r\n', false],
    ['POST /api/v1/streaming/user HTTP/1.1\r\n\r\n', false],
    ['GET /api/v1/streaming/user\r\n\r\n', false],
    ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', false],
  ])('%j → %s', (text, expected) => {
    expect(isStreamRequest(Buffer.from(text, 'latin1'))).toBe(expected);
  });
});

describe('StreamDoor.install', () => {
  it('leaves a server alone, and says so, when node:http is not wired as expected', () => {
    const { logger, lines } = memoryLogger();
    const server = createServer();
    const extra = () => {};
    server.on('connection', extra);
    expect(StreamDoor.install(server, logger)).toBeNull();
    expect(server.listeners('connection')).toHaveLength(2);
    expect(lines.at(-1)?.['msg']).toBe(
      'node:http has an unexpected connection handler; SSE streams stay in node:http',
    );
    const plain = createServer();
    expect(StreamDoor.install(plain, logger)).not.toBeNull();
    expect(plain.listeners('connection')).toHaveLength(1);
  });
});

describe('stream door - SSE streams leave node:http', () => {
  it('puts the same bytes on the wire as a stream served inside node:http', async () => {
    gw = await startTestGateway();
    const path = '/api/v1/streaming/public/local?access_token=tok-read';
    // Opened with the stream request: detached.
    const detached = client();
    detached.socket.write(head(path));
    // Opened with another request on a keep-alive connection: the stream stays in node:http.
    const inside = client();
    inside.socket.write(head('/api/v1/streaming/health'));
    await until(() => inside.bytes().endsWith('\r\n0\r\n\r\n'));
    const healthBytes = inside.bytes().length;
    inside.socket.write(head(path));
    await until(() => detached.bytes().includes(':)\n') && inside.bytes().includes(':)\n', healthBytes));
    expect(gw.gateway.door?.detachedCount).toBe(1);

    gw.publish('timeline:public:local', 'update', '{"id":"1","content":"é"}', { 'Sluice-Local': '1' });
    gw.publish('timeline:public:local', 'delete', '1');
    await until(() => detached.bytes().includes('data: 1\n') && inside.bytes().includes('data: 1\n'));
    expect(detached.bytes()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(detached.bytes()).toContain('\r\nTransfer-Encoding: chunked\r\n');
    expect(detached.bytes()).toContain('id: 2\nevent: delete\ndata: 1\n\n\r\n');
    expect(stable(detached.bytes())).toBe(stable(inside.bytes().slice(healthBytes)));
  });

  it('cleans up and logs the request as aborted when the client leaves', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/public?access_token=tok-read'));
    await until(() => c.bytes().includes(':)\n'));
    expect(gw.gateway.door?.detachedCount).toBe(1);
    const gauge = () =>
      gw.gateway.metrics.registry.getSingleMetricAsString('sluice_gateway_sse_detached_streams');
    expect(await gauge()).toMatch(/^sluice_gateway_sse_detached_streams 1$/m);
    expect(logLines('request aborted')).toHaveLength(0);
    c.socket.destroy();
    await until(() => gw.gateway.connections.size === 0 && gw.bus.subjects().length === 0);
    await until(() => gw.gateway.door?.detachedCount === 0);
    expect(await gauge()).toMatch(/^sluice_gateway_sse_detached_streams 0$/m);
    const [line] = logLines('request aborted');
    expect(line?.['res']).toMatchObject({ statusCode: 200 });
    expect(line?.['req']).toMatchObject({
      method: 'GET',
      url: '/api/v1/streaming/public?access_token=[Redacted]',
    });
    expect(line?.['responseTime']).toEqual(expect.any(Number));
  });

  it('survives a client that resets the connection', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/public?access_token=tok-read'));
    await until(() => c.bytes().includes(':)\n'));
    c.socket.resetAndDestroy();
    await until(() => gw.gateway.connections.size === 0 && gw.gateway.door?.detachedCount === 0);
    const next = client();
    next.socket.write(head('/api/v1/streaming/public?access_token=tok-read'));
    await until(() => next.bytes().includes(':)\n'));
  });

  it('a half-closed client has left', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/public?access_token=tok-read'));
    await until(() => c.bytes().includes(':)\n'));
    c.socket.end();
    await c.closed;
    await until(() => gw.gateway.connections.size === 0);
  });

  it('ends the chunked body and closes when the server ends the stream; logs it as completed', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/direct?access_token=tok-read'));
    await until(() => c.bytes().includes(':)\n'));
    gw.publish('timeline:access_token:11', 'kill', '');
    await c.closed;
    expect(c.bytes().endsWith('\r\n:)\n\r\n0\r\n\r\n')).toBe(true);
    await until(() => logLines('request completed').length === 1);
    expect(gw.gateway.connections.size).toBe(0);
  });

  it('a HEAD stream stays in node:http (its headers wait for the end, as in Mastodon)', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/direct?access_token=tok-read', 'HEAD'));
    await until(() => gw.gateway.connections.size === 1);
    expect(gw.gateway.door?.detachedCount).toBe(0);
    gw.publish('timeline:access_token:11', 'kill', '');
    await until(() => c.bytes().includes('\r\n\r\n'));
    expect(c.bytes()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
  });

  it('answers errors through node:http and keeps the connection alive for the next request', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/user?access_token=nope'));
    await until(() => c.bytes().endsWith('\r\n0\r\n\r\n'));
    expect(c.bytes()).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(c.bytes()).toContain('{"error":"Invalid access token"}');
    const first = c.bytes().length;
    c.socket.write(head('/api/v1/streaming/health'));
    await until(() => c.bytes().endsWith('\r\nOK\r\n0\r\n\r\n'));
    expect(c.bytes().slice(first)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(gw.gateway.door?.detachedCount).toBe(0);
  });

  it('ignores what a client sends once the stream has started', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.write(head('/api/v1/streaming/public?access_token=tok-read'));
    await until(() => c.bytes().includes(':)\n'));
    c.socket.write('garbage\r\n\r\n');
    c.socket.write(head('/api/v1/streaming/health'));
    gw.publish('timeline:public', 'delete', '9');
    await until(() => c.bytes().includes('data: 9'));
    expect(c.bytes()).not.toContain('400 Bad Request');
    expect(gw.gateway.connections.size).toBe(1);
  });

  it('a request head sent in two writes still starts a stream', async () => {
    gw = await startTestGateway();
    const c = client();
    // The server may read the two writes together (detached) or apart (node:http): both serve it.
    c.socket.write('GET /api/v1/streaming/public?access_token=tok-read HTTP/1.1\r\n');
    await new Promise<void>((r) => c.socket.write('', () => r()));
    c.socket.write('Host: x\r\n\r\n');
    await until(() => c.bytes().includes(':)\n'));
    gw.publish('timeline:public', 'delete', '3');
    await until(() => c.bytes().includes('data: 3'));
  });

  it('ends a connection whose client half-closes before sending a request', async () => {
    gw = await startTestGateway();
    const c = client();
    c.socket.end();
    await c.closed;
    expect(c.bytes()).toBe('');
  });

  it("answers a client that sends nothing within headersTimeout with node:http's 408", async () => {
    gw = await startTestGateway();
    gw.gateway.server.headersTimeout = 50;
    const c = client();
    await c.closed;
    expect(c.bytes()).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  });
});
