import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway, waitUntil as until } from '../testing.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

interface Client {
  ws: WebSocket;
  messages: unknown[];
  headers: Record<string, string | string[] | undefined>;
  closed: { code: number; reason: string } | null;
}

function connect(
  path = '/api/v1/streaming',
  protocols?: string | string[],
  headers: Record<string, string> = {},
): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}${path}`, protocols, { headers });
    const client: Client = { ws, messages: [], headers: {}, closed: null };
    ws.on('upgrade', (res) => {
      client.headers = res.headers;
    });
    ws.on('message', (d) => client.messages.push(JSON.parse(d.toString())));
    ws.on('close', (code, reason) => {
      client.closed = { code, reason: reason.toString() };
    });
    ws.on('open', () => resolve(client));
    ws.on('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error('refused'), { status: res.statusCode, headers: res.headers })),
    );
    ws.on('error', () => {});
  });
}

/** The raw bytes of a refused upgrade. */
function rawUpgrade(path: string, extra = ''): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(gw.port, '127.0.0.1', () => {
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
    let out = '';
    sock.on('data', (d) => {
      out += d.toString();
    });
    sock.on('close', () => resolve(out));
  });
}

const send = (c: Client, msg: unknown) => c.ws.send(JSON.stringify(msg));

describe('ws - upgrade and authentication', () => {
  it('authenticates by subprotocol and echoes it, with a request id on the 101', async () => {
    gw = await startTestGateway();
    const c = await connect('/any/path', 'tok-read');
    expect(c.ws.protocol).toBe('tok-read');
    expect(c.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    c.ws.close();
  });

  it('authenticates by Authorization header and access_token query', async () => {
    gw = await startTestGateway();
    const a = await connect('/api/v1/streaming', undefined, { Authorization: 'Bearer tok-read' });
    const b = await connect('/api/v1/streaming/?access_token=tok-read');
    a.ws.close();
    b.ws.close();
  });

  it('refuses a bad token before the handshake with the raw 401', async () => {
    gw = await startTestGateway();
    const raw = await rawUpgrade('/api/v1/streaming?access_token=nope');
    expect(raw).toMatch(
      /^HTTP\/1\.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text\/plain\r\nContent-Length: 0\r\nX-Request-Id: [0-9a-f-]{36}\r\nX-Error-Message: Invalid access token\r\n\r\n$/,
    );
    expect(await rawUpgrade('/api/v1/streaming')).toContain('X-Error-Message: Missing access token');
    // The Authorization header wins even when wrong.
    expect(await rawUpgrade('/?access_token=tok-read', 'Authorization: Bearer nope\r\n')).toContain(
      '401 Unauthorized',
    );
    expect(await rawUpgrade('/?access_token=tok-null')).toContain('HTTP/1.1 500 Internal Server Error');
  });

  it('subscribes to the stream query parameter at open, with the other params', async () => {
    gw = await startTestGateway();
    const c = await connect('/api/v1/streaming?stream=hashtag&tag=Foo&access_token=tok-read');
    await until(() => gw.bus.subjects().includes('test.ev.hashtag.foo'));
    gw.publish('timeline:hashtag:foo', 'delete', '5');
    await until(() => c.messages.length > 0);
    expect(c.messages).toEqual([{ stream: ['hashtag', 'Foo'], event: 'delete', payload: '5' }]);
    c.ws.close();
  });
});

describe('ws - multiplexing', () => {
  it('subscribes, labels as sent, deduplicates and unsubscribes', async () => {
    gw = await startTestGateway();
    const c = await connect('/api/v1/streaming', 'tok-read');
    send(c, { type: 'subscribe', stream: 'public:local' });
    send(c, { type: 'subscribe', stream: ['hashtag', 'ignored'], tag: '#Café' });
    send(c, { type: 'subscribe', stream: 'hashtag', tag: 'cafe' });
    send(c, { type: 'subscribe', stream: 'list', list: 42 });
    send(c, { type: 'hello' });
    c.ws.send('{not json');
    await until(() => gw.bus.subjects().length === 5);
    gw.publish('timeline:public:local', 'update', '{"id":"1"}', { 'Sluice-Local': '1' });
    gw.publish('timeline:hashtag:cafe', 'delete', '2');
    gw.publish('timeline:list:42', 'delete', '3');
    await until(() => c.messages.length === 3);
    expect(c.messages).toEqual([
      { stream: ['public:local'], event: 'update', payload: '{"id":"1"}' },
      { stream: ['hashtag', '#Café'], event: 'delete', payload: '2' },
      { stream: ['list', 42], event: 'delete', payload: '3' },
    ]);
    send(c, { type: 'unsubscribe', stream: 'public:local' });
    send(c, { type: 'unsubscribe', stream: 'hashtag', tag: 'CAFE' });
    await until(() => gw.bus.subjects().length === 3);
    gw.publish('timeline:public:local', 'delete', '4');
    gw.publish('timeline:list:42', 'delete', '5');
    await until(() => c.messages.length === 4);
    expect(c.messages[3]).toEqual({ stream: ['list', 42], event: 'delete', payload: '5' });
    c.ws.close();
  });

  it('answers subscription errors with error frames and stays open', async () => {
    gw = await startTestGateway();
    const weak = await connect('/api/v1/streaming', 'tok-profile');
    send(weak, { type: 'subscribe', stream: 'public:local' });
    send(weak, { type: 'subscribe', stream: 'nonsense' });
    await until(() => weak.messages.length === 2);
    expect(weak.messages).toEqual([
      { error: 'Access token does not have the required scopes', status: 401 },
      { error: 'Access token does not have the required scopes', status: 401 },
    ]);
    const c = await connect('/api/v1/streaming', 'tok-read');
    send(c, { type: 'subscribe', stream: 'nonsense' });
    send(c, { type: 'subscribe', stream: 'hashtag' });
    send(c, { type: 'subscribe', stream: 'list' });
    send(c, { type: 'subscribe', stream: 'list', list: '43' });
    send(c, { type: 'unsubscribe', stream: 'list', list: '43' });
    send(c, { type: 'unsubscribe', stream: 'public' });
    await until(() => c.messages.length === 5);
    expect(c.messages).toEqual([
      { error: 'Unknown stream type', status: 400 },
      { error: 'Missing tag name parameter', status: 400 },
      { error: 'Missing list name parameter', status: 400 },
      { error: 'Not authorized to stream this list', status: 401 },
      { error: 'Error unsubscribing from channel' },
    ]);
    expect(c.closed).toBeNull();
    weak.ws.close();
    c.ws.close();
  });

  it('closes with 1003 on a binary frame', async () => {
    gw = await startTestGateway();
    const c = await connect('/api/v1/streaming', 'tok-read');
    c.ws.send(Buffer.from([1, 2, 3]));
    await until(() => c.closed !== null);
    expect(c.closed).toEqual({
      code: 1003,
      reason: 'The mastodon streaming server does not support binary messages',
    });
  });

  it('closes with an empty close frame on kill, on every connection of the token', async () => {
    gw = await startTestGateway();
    const a = await connect('/api/v1/streaming', 'tok-read');
    const b = await connect('/api/v1/streaming', 'tok-statuses');
    gw.publish('timeline:access_token:11', 'kill', '');
    await until(() => a.closed !== null);
    expect(a.closed!.code).toBe(1005);
    expect(b.closed).toBeNull();
    gw.publish('timeline:system:101', 'kill', '');
    await until(() => b.closed !== null);
    await until(() => gw.bus.subjects().length === 0);
  });

  it('pings and terminates a client that stopped answering', async () => {
    gw = await startTestGateway({ config: { wsPingMs: 30 } });
    const c = await connect('/api/v1/streaming', 'tok-read');
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await until(() => pings >= 2);
    expect(c.closed).toBeNull();
    // Stop answering pings: pause reading so no pong goes out.
    (c.ws as unknown as { _socket: net.Socket })._socket.pause();
    await until(() => gw.gateway.connections.size === 0, 3000);
  });
});
