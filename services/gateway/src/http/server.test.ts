import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway, waitUntil as until } from '../testing.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: gw.port, path, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An SSE stream: collects the body until closed. */
function stream(path: string, headers: Record<string, string> = {}) {
  let body = '';
  let status = 0;
  let resHeaders: http.IncomingHttpHeaders = {};
  let ended = false;
  const req = http.get({ host: '127.0.0.1', port: gw.port, path, headers }, (res) => {
    status = res.statusCode!;
    resHeaders = res.headers;
    res.setEncoding('utf8');
    res.on('data', (d) => {
      body += d;
    });
    res.on('end', () => {
      ended = true;
    });
  });
  req.on('error', () => {});
  return {
    get body() {
      return body;
    },
    get status() {
      return status;
    },
    get headers() {
      return resHeaders;
    },
    get ended() {
      return ended;
    },
    close: () => req.destroy(),
  };
}

describe('http - routing and errors', () => {
  it('answers health, favicon and metrics like Mastodon', async () => {
    gw = await startTestGateway();
    const health = await request('/api/v1/streaming/health');
    expect(health).toMatchObject({ status: 200, body: 'OK' });
    expect(health.headers).toMatchObject({
      'content-type': 'text/plain',
      'cache-control': 'private, no-store',
      'access-control-allow-origin': '*',
      'x-powered-by': 'Express',
    });
    expect(health.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await request('/API/V1/streaming/health/')).status).toBe(200);
    expect(await request('/favicon.ico')).toMatchObject({ status: 404, body: '' });
    const metrics = await request('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.headers['cache-control']).toBe('private, no-store');
    expect(metrics.body).toContain('connected_channels{type="websocket",channel="hashtag:local"} 0');
    expect(metrics.body).toContain('redis_messages_received_total 0');
    expect(metrics.body).toContain('pg_pool_waiting_queries 0');
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    expect(await request('/livez')).toMatchObject({ status: 200 });
    expect(await request('/readyz')).toMatchObject({ status: 200 });
  });

  it('a fresh request id per request, whatever the client sends', async () => {
    gw = await startTestGateway();
    const a = await request('/api/v1/streaming/health', { headers: { 'X-Request-Id': 'mine' } });
    const b = await request('/api/v1/streaming/health');
    expect(a.headers['x-request-id']).not.toBe('mine');
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('answers any OPTIONS as a CORS preflight', async () => {
    gw = await startTestGateway();
    const r = await request('/whatever', {
      method: 'OPTIONS',
      headers: { 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(r.status).toBe(204);
    expect(r.headers).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET,HEAD,PUT,PATCH,POST,DELETE',
      'access-control-allow-headers': 'authorization',
      vary: 'Access-Control-Request-Headers',
      'content-length': '0',
    });
  });

  it('rejects unknown paths with 400 before authentication', async () => {
    gw = await startTestGateway();
    for (const path of [
      '/api/v1/streaming',
      '/api/v1/streaming/',
      '/api/v1/streaming/user/',
      '/api/v1/streaming/USER',
      '/x',
    ]) {
      const r = await request(path);
      expect([path, r.status, r.body]).toEqual([path, 400, '{"error":"Unknown channel requested"}']);
      expect(r.headers['content-type']).toBe('application/json');
    }
    expect((await request('/api/v1/streaming/health', { method: 'POST' })).status).toBe(400);
    expect(gw.store.tokenQueries).toEqual([]);
  });

  it('answers authentication and resolution errors as JSON', async () => {
    gw = await startTestGateway();
    const cases: [string, number, string][] = [
      ['/api/v1/streaming/user', 401, 'Missing access token'],
      ['/api/v1/streaming/user?access_token=nope', 401, 'Invalid access token'],
      ['/api/v1/streaming/user?access_token=tok-revoked', 401, 'Invalid access token'],
      [
        '/api/v1/streaming/public?access_token=tok-profile',
        401,
        'Access token does not have the required scopes',
      ],
      [
        '/api/v1/streaming/user/notification?access_token=tok-statuses',
        401,
        'Access token does not have the required scopes',
      ],
      ['/api/v1/streaming/public?access_token=tok-null', 500, 'An unexpected error occurred'],
      ['/api/v1/streaming/hashtag?access_token=tok-read', 400, 'Missing tag name parameter'],
      ['/api/v1/streaming/hashtag?access_token=tok-read&tag=a&tag=b', 500, 'An unexpected error occurred'],
      ['/api/v1/streaming/list?access_token=tok-read', 400, 'Missing list name parameter'],
      ['/api/v1/streaming/list?access_token=tok-read&list=43', 401, 'Not authorized to stream this list'],
    ];
    for (const [path, status, error] of cases) {
      const r = await request(path);
      expect([path, r.status, JSON.parse(r.body)]).toEqual([path, status, { error }]);
    }
    const bearer = await request('/api/v1/streaming/user', { headers: { Authorization: 'Bearer nope' } });
    expect(bearer.status).toBe(401);
  });

  it("answers other methods on a stream path with Express's 404 page after authentication", async () => {
    gw = await startTestGateway();
    expect((await request('/api/v1/streaming/user', { method: 'POST' })).status).toBe(401);
    const r = await request('/api/v1/streaming/user?access_token=tok-read', { method: 'POST' });
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('<pre>Cannot POST /api/v1/streaming/user</pre>');
  });
});

describe('http - SSE', () => {
  it('writes headers and preamble, then events with ids', async () => {
    gw = await startTestGateway();
    const s = stream('/api/v1/streaming/public/local?access_token=tok-read');
    await until(() => s.body.startsWith(':)\n'));
    expect(s.status).toBe(200);
    expect(s.headers).toMatchObject({
      'content-type': 'text/event-stream',
      'cache-control': 'private, no-store',
      'transfer-encoding': 'chunked',
      'access-control-allow-origin': '*',
    });
    gw.publish('timeline:public:local', 'update', '{"id":"1"}', { 'Sluice-Local': '1' });
    gw.publish('timeline:public:local', 'delete', '1');
    gw.publish('timeline:public:local', 'filters_changed', '');
    await until(() => s.body.includes('delete'));
    expect(s.body).toBe(':)\nid: 1\nevent: update\ndata: {"id":"1"}\n\nid: 2\nevent: delete\ndata: 1\n\n');
    s.close();
  });

  it('picks media channels with a truthy only_media', async () => {
    gw = await startTestGateway();
    const media = stream('/api/v1/streaming/public?access_token=tok-read&only_media=no');
    const plain = stream('/api/v1/streaming/public?access_token=tok-read&only_media=false');
    await until(() => media.body.length > 0 && plain.body.length > 0);
    gw.publish('timeline:public:media', 'delete', 'm');
    gw.publish('timeline:public', 'delete', 'p');
    await until(() => media.body.includes('data') && plain.body.includes('data'));
    expect(media.body).toContain('data: m');
    expect(plain.body).toContain('data: p');
    expect(media.body).not.toContain('data: p');
    media.close();
    plain.close();
  });

  it('delivers user notifications only with a notifications scope', async () => {
    gw = await startTestGateway();
    const full = stream('/api/v1/streaming/user?access_token=tok-read');
    const statuses = stream('/api/v1/streaming/user?access_token=tok-statuses');
    await until(() => full.body.length > 0 && statuses.body.length > 0);
    gw.publish('timeline:101:notifications', 'notification', '{"id":"n"}');
    gw.publish('timeline:101', 'update', '{"id":"h"}');
    await until(() => full.body.includes('"h"') && statuses.body.includes('"h"'));
    expect(full.body).toContain('{"id":"n"}');
    expect(statuses.body).not.toContain('{"id":"n"}');
    full.close();
    statuses.close();
  });

  it('ends the response on kill and cleans up', async () => {
    gw = await startTestGateway();
    const s = stream('/api/v1/streaming/direct?access_token=tok-read');
    await until(() => s.body.length > 0);
    // System channels ride on two wildcard subscriptions shared by every connection.
    expect(gw.bus.subjects().sort()).toEqual([
      'test.ev.access_token.*',
      'test.ev.direct.101',
      'test.ev.system.*',
    ]);
    gw.publish('timeline:access_token:11', 'kill', '');
    await until(() => s.ended);
    expect(gw.bus.subjects()).toEqual([]);
    expect(gw.gateway.connections.size).toBe(0);
  });

  it('cleans up when the client goes away', async () => {
    gw = await startTestGateway();
    const s = stream('/api/v1/streaming/public?access_token=tok-read');
    await until(() => s.body.length > 0);
    s.close();
    await until(() => gw.bus.subjects().length === 0);
  });

  it('sends :thump heartbeats', async () => {
    gw = await startTestGateway({ config: { sseHeartbeatMs: 20 } });
    const s = stream('/api/v1/streaming/public?access_token=tok-read');
    await until(() => s.body.includes(':thump\n\n:thump\n\n'));
    s.close();
  });

  it('resumes from Last-Event-ID with no gap and no duplicate', async () => {
    gw = await startTestGateway();
    const first = stream('/api/v1/streaming/public/local?access_token=tok-read');
    await until(() => first.body.length > 0);
    for (let i = 1; i <= 5; i++) gw.publish('timeline:public:local', 'delete', String(i));
    await until(() => first.body.includes('data: 5'));
    first.close();
    await until(() => gw.bus.subjects().length === 0);
    for (let i = 6; i <= 10; i++) gw.publish('timeline:public:local', 'delete', String(i));
    gw.publish('timeline:public', 'delete', 'other');
    const again = stream('/api/v1/streaming/public/local?access_token=tok-read', { 'Last-Event-ID': '5' });
    await until(() => again.body.includes('data: 10'));
    gw.publish('timeline:public:local', 'delete', '12');
    await until(() => again.body.includes('data: 12'));
    const ids = [...again.body.matchAll(/^data: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([6, 7, 8, 9, 10, 12]);
    again.close();
  });
});
